"""Read-only strategy catalogue: GET /api/strategies/ and /api/strategies/{id}/ (?all=1 includes inactive ones)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets

from .selectors import strategy_list
from .serializers import StrategySerializer

ALL_PARAMETER = OpenApiParameter(
    "all", OpenApiTypes.BOOL, description="1 includes inactive strategies and parameter definitions"
)


@extend_schema_view(list=extend_schema(parameters=[ALL_PARAMETER]), retrieve=extend_schema(parameters=[ALL_PARAMETER]))
class StrategyViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = StrategySerializer
    pagination_class = None  # six strategies

    def get_queryset(self):
        include_inactive = self.request.query_params.get("all", "").lower() in {"1", "true", "yes"}
        return strategy_list(include_inactive=include_inactive)
