"""Read-only coin catalogue: GET /api/cryptocurrencies/[{symbol}/[prices/|quality/]]."""

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from .models import Cryptocurrency, Price
from .quality import quality_report
from .selectors import coin_get, prices_get
from .serializers import (
    CryptocurrencySerializer,
    PriceBarSerializer,
    PriceQuerySerializer,
    QualityQuerySerializer,
    QualitySerializer,
)

SYMBOL_PARAMETER = OpenApiParameter(
    "symbol", str, OpenApiParameter.PATH, description="coin symbol, any case", examples=[OpenApiExample("BTC", "BTC")]
)


def _whole_number(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:  # also a number too long to convert
        return None


class PricePagination(PageNumberPagination):
    """?page (from 1, or "last") and ?page_size (from 1; above PRICES_MAX_PAGE_SIZE, 2,000 by
    default, it is capped: the size bounds what one answer costs the server's memory).

    A malformed value is a 400 naming the parameter (DRF would silently use the default
    page size, and answer a bad page number with a bare "Invalid page."); a page past the
    last one is a 404 that names the page.
    """

    page_size = 1000
    page_size_query_param = "page_size"
    page_size_query_description = "Bars per page, 1,000 by default; above PRICES_MAX_PAGE_SIZE (2,000) it is capped."
    invalid_page_message = "Invalid page {page_number}: {message}"

    def get_page_size(self, request) -> int:
        limit = settings.PRICES_MAX_PAGE_SIZE
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return min(self.page_size, limit)
        size = _whole_number(raw)
        if size is None or size < 1:
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1 is required, got {raw!r}."]})
        return min(size, limit)

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param, "")
        if raw == "" or raw in self.last_page_strings:
            return super().get_page_number(request, paginator)
        number = _whole_number(raw)
        if number is None or number < 1:
            raise ValidationError(
                {self.page_query_param: [f'A whole number from 1 (or "last") is required, got {raw!r}.']}
            )
        return number


@extend_schema_view(retrieve=extend_schema(parameters=[SYMBOL_PARAMETER]))
class CryptocurrencyViewSet(viewsets.ReadOnlyModelViewSet):
    """Every coin with, per interval, its bar count and first/last bar time."""

    queryset = Cryptocurrency.objects.all()
    serializer_class = CryptocurrencySerializer
    lookup_field = "symbol"
    pagination_class = None  # tens of coins

    def get_object(self) -> Cryptocurrency:
        coin = coin_get(symbol=self.kwargs["symbol"])
        if coin is None:
            raise Http404(f"No coin with symbol {self.kwargs['symbol']!r}.")
        return coin

    def list(self, request, *args, **kwargs):
        coins = self.get_queryset().with_interval_stats()
        return Response(self.get_serializer(coins, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        (coin,) = self.get_queryset().filter(pk=self.get_object().pk).with_interval_stats()
        return Response(self.get_serializer(coin).data)

    @extend_schema(parameters=[SYMBOL_PARAMETER, PriceQuerySerializer], responses=PriceBarSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=PricePagination, filter_backends=[])
    def prices(self, request, *args, **kwargs):
        """Bars of the coin, ascending, paginated (?page, ?page_size up to PRICES_MAX_PAGE_SIZE, 2,000 by
        default; a larger one is capped); 400 naming the bad parameter."""
        query = PriceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        coin = self.get_object()
        bars = Price.objects.bars(crypto_id=coin.id, **query.validated_data)
        page = self.paginate_queryset(bars)
        return self.get_paginated_response(PriceBarSerializer(page, many=True).data)

    @extend_schema(parameters=[SYMBOL_PARAMETER, QualityQuerySerializer], responses=QualitySerializer)
    @action(detail=True, methods=["get"], filter_backends=[])
    def quality(self, request, *args, **kwargs):
        """Coverage, gaps, zero-volume bars, flat runs and jumps of the coin's bars (stored or derived) in a window."""
        query = QualityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        options = query.validated_data
        coin = self.get_object()
        series = prices_get(crypto_id=coin.id, interval=options["interval"], start=options["start"], end=options["end"])
        report = quality_report(
            series.times,
            series.close,
            series.volume,
            interval=options["interval"],
            flat_run_bars=options["flat_run_bars"],
            jump_threshold=options["jump_threshold"],
        )
        return Response({"symbol": coin.symbol, **report})
