"""Read-only strategy catalogue: GET /api/strategies/ and /api/strategies/{id}/ (?all=1 includes inactive ones)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets

from .selectors import strategy_list
from .serializers import StrategyQuerySerializer, StrategySerializer

ALL_PARAMETER = OpenApiParameter(
    "all", OpenApiTypes.BOOL, description="1 includes inactive strategies and parameter definitions"
)

ID_PARAMETER = OpenApiParameter("id", int, OpenApiParameter.PATH, examples=[OpenApiExample("1", 1)])


@extend_schema_view(
    list=extend_schema(parameters=[ALL_PARAMETER]), retrieve=extend_schema(parameters=[ID_PARAMETER, ALL_PARAMETER])
)
class StrategyViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = StrategySerializer
    pagination_class = None  # six strategies

    def get_queryset(self):
        query = StrategyQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)  # ?all=maybe is a 400 naming "all"
        return strategy_list(include_inactive=bool(query.validated_data.get("all")))
