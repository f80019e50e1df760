"""Read-only coin catalogue: GET /api/cryptocurrencies/[{symbol}/[prices/]]."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from .models import Cryptocurrency, Price
from .serializers import CryptocurrencySerializer, PriceBarSerializer, PriceQuerySerializer


class PricePagination(PageNumberPagination):
    page_size = 1000
    page_size_query_param = "page_size"
    max_page_size = 10_000  # a year of hourly bars in one request, for the candlestick chart


class CryptocurrencyViewSet(viewsets.ReadOnlyModelViewSet):
    """Every coin with, per interval, its bar count and first/last bar time."""

    queryset = Cryptocurrency.objects.all()
    serializer_class = CryptocurrencySerializer
    lookup_field = "symbol"
    pagination_class = None  # tens of coins

    def get_object(self) -> Cryptocurrency:
        coin = self.get_queryset().filter(symbol__iexact=self.kwargs["symbol"]).first()
        if coin is None:
            raise Http404(f"No coin with symbol {self.kwargs['symbol']!r}.")
        return coin

    def list(self, request, *args, **kwargs):
        coins = self.get_queryset().with_interval_stats()
        return Response(self.get_serializer(coins, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        (coin,) = self.get_queryset().filter(pk=self.get_object().pk).with_interval_stats()
        return Response(self.get_serializer(coin).data)

    @extend_schema(parameters=[PriceQuerySerializer], responses=PriceBarSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=PricePagination, filter_backends=[])
    def prices(self, request, *args, **kwargs):
        """Bars of the coin, ascending, paginated (?page, ?page_size up to 10,000); 400 on a bad date or interval."""
        query = PriceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        coin = self.get_object()
        bars = Price.objects.bars(crypto_id=coin.id, **query.validated_data)
        page = self.paginate_queryset(bars)
        return self.get_paginated_response(PriceBarSerializer(page, many=True).data)
