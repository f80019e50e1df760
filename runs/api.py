"""The run API: validate, call one service or selector, serialize (runs/CONTRACT.md)."""

from __future__ import annotations

import uuid
from typing import Any

import django_filters
from django.conf import settings
from django.db.models import Prefetch, Q
from django.http import Http404
from django.utils.decorators import method_decorator
from django.views.decorators.gzip import gzip_page
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from backtest_site.authentication import CSRF_PROTECTED
from backtest_site.cache import cache_guard
from market_data.models import SYMBOL_RE

from . import access, selectors, services
from .backends import BackendUnavailable
from .charts import result_chart
from .compare import MAX_RUNS, runs_compare
from .models import BacktestRun, RunResult
from .serializers import (
    BodyError,
    DetailSerializer,
    ResultDetailSerializer,
    RunCreatedSerializer,
    RunDetailSerializer,
    RunRequestSerializer,
    RunSerializer,
    RunStatusSerializer,
    RunUpdateSerializer,
    ValidationErrorsSerializer,
    json_body_parse,
    portfolio_detail,
    result_detail,
    run_links,
)

# The owner's proof of an anonymously created run or sweep (runs.access), documented on its writes.
CANCEL_TOKEN = OpenApiParameter(
    access.TOKEN_HEADER,
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="the cancel_token of the 201 answer that created it (anonymous owners; else 403)",
)


class RunCreateThrottle(SimpleRateThrottle):
    """Creating runs, per user (or client address): RUNS_THROTTLE_RATE, e.g. "60/min".

    The rate is read from settings on every request (DRF's own scoped throttle reads it
    once at import), so it can be changed in tests and by the environment alike.
    """

    scope = "runs"

    def get_rate(self) -> str | None:
        return settings.RUNS_THROTTLE_RATE

    def allow_request(self, request, view) -> bool:
        """Let requests through while the cache (Redis) is down: runs must still start.

        The outage is noted on the cache guard (backtest_site.cache), which logs it once and
        keeps later calls off the cache until it is retried.
        """
        allowed = cache_guard.call(super().allow_request, request, view)
        return True if allowed is None else allowed

    def get_cache_key(self, request, view) -> str:
        user = getattr(request, "user", None)
        ident = user.pk if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


def throttle_wait(request) -> float | None:
    """None if the request may create a run now, else the seconds to wait (works on a plain
    Django request too: the original endpoint is not a DRF view)."""
    throttle = RunCreateThrottle()
    if throttle.allow_request(request, None):
        return None
    return throttle.wait() or 1.0


def error_answer(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The HTTP answer to a domain error of a run request, for both run endpoints:
    (status, body, headers). Anything else is not an answer of ours: it is raised again."""
    if isinstance(exc, ParseError):  # a body that is not JSON: the same 400 shape as every other refusal
        return status.HTTP_400_BAD_REQUEST, {"errors": {"non_field_errors": [str(exc.detail)]}}, {}
    if isinstance(exc, ValidationError):
        return status.HTTP_400_BAD_REQUEST, {"errors": exc.detail}, {}
    if isinstance(exc, services.TooManyRuns):
        return status.HTTP_429_TOO_MANY_REQUESTS, {"detail": str(exc)}, {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, BackendUnavailable):  # the run was stored and has ended `failed`
        detail = "Runs cannot be started now: the task queue is unreachable. Try again shortly."
        return status.HTTP_503_SERVICE_UNAVAILABLE, {"detail": detail}, {"Retry-After": "10"}
    raise exc


def refusal(exc: Exception) -> Response:
    """error_answer as a DRF response."""
    code, body, headers = error_answer(exc)
    return Response(body, status=code, headers=headers)


def run_request_create(data: Any, *, start: bool = True, creator: access.Creator | None = None) -> BacktestRun:
    """Validate a run request (RunRequestSerializer) and create the run, owned by `creator`.
    Raises ValidationError or services.TooManyRuns, which `error_answer` turns into HTTP answers."""
    request = RunRequestSerializer(data=data)
    request.is_valid(raise_exception=True)
    owner = creator.owner_fields if creator is not None else {}
    return services.run_create(**request.validated_data, **owner, start=start)


def run_controlled(request: Request, run_id, *, action: str) -> BacktestRun:
    """The run, if the request may `action` it (its owner or staff: runs.access); else 404 or 403."""
    return access.controlled(request, BacktestRun, run_id, what="run", action=action)


class RunRequestParser(JSONParser):
    """DRF's JSON parser with the run request's limits (runs.serializers.json_body_parse)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return json_body_parse(stream.read() if stream is not None else b"")
        except BodyError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


class RunFilter(django_filters.FilterSet):
    strategy = django_filters.NumberFilter(field_name="strategy_id")
    status = django_filters.ChoiceFilter(choices=BacktestRun.Status.choices)
    search = django_filters.CharFilter(
        method="search_filter", max_length=100, help_text="runs whose name (or note) contains this, any case"
    )

    class Meta:
        model = BacktestRun
        fields = ["strategy", "status", "search"]

    def search_filter(self, queryset, name, value):
        text = value.strip().replace("\x00", "")
        return queryset.filter(Q(name__icontains=text) | Q(note__icontains=text)) if text else queryset


class RunListCreateApi(generics.ListAPIView):
    """GET: the stored runs, newest first (filter ?strategy=<id>&status=<status>). POST: start a run."""

    serializer_class = RunSerializer
    filterset_class = RunFilter
    parser_classes = [RunRequestParser]
    # Anyone may start a run, as anyone may POST to the original stream endpoint: a script with
    # an API token or with no cookies, a browser with the CSRF token (backtest_site.authentication).
    permission_classes = [AllowAny]
    authentication_classes = CSRF_PROTECTED

    def get_queryset(self):
        return selectors.run_list().prefetch_related(
            Prefetch("results", queryset=RunResult.objects.only("id", "run_id", "crypto_symbol"))
        )

    def get_throttles(self):
        # Reads get the default read throttle (settings, backtest_site.throttles), creation its own.
        return [RunCreateThrottle()] if self.request.method == "POST" else super().get_throttles()

    @extend_schema(
        request=RunRequestSerializer,
        responses={
            201: RunCreatedSerializer,
            400: OpenApiResponse(ValidationErrorsSerializer, description="each bad field with its messages"),
            429: OpenApiResponse(
                DetailSerializer, description="too many runs in progress (in all, or of this client), or throttled"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        creator = access.creator(request)
        try:
            run = run_request_create(request.data, creator=creator)
        except (ParseError, ValidationError, services.TooManyRuns, BackendUnavailable) as exc:
            return refusal(exc)
        body = {
            "id": str(run.id),
            "status": run.status,
            **run_links(run.id),
            "total": run.total,
            "cancel_token": creator.cancel_token,
        }
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class RunDetailApi(APIView):
    """GET: a run with its summary and one row per coin (rounded metrics). PATCH: its name or note.
    DELETE: a finished run, with its results, account and events (409 while it is in progress).
    Renaming and deleting are its owner's or staff's (runs.access), as cancelling is."""

    permission_classes = [AllowAny]  # the owner check is runs.access
    authentication_classes = CSRF_PROTECTED
    parser_classes = [RunRequestParser]

    def _detail(self, request: Request, run: BacktestRun) -> Response:
        context = {"results": list(selectors.run_result_rows(run=run)), "request": request}
        return Response(RunDetailSerializer(run, context=context).data)

    @extend_schema(responses={200: RunDetailSerializer})
    def get(self, request: Request, run_id) -> Response:
        run = selectors.run_get(run_id=run_id)
        if run is None:
            raise Http404
        return self._detail(request, run)

    @extend_schema(
        request=RunUpdateSerializer,
        parameters=[CANCEL_TOKEN],
        responses={
            200: RunDetailSerializer,
            400: OpenApiResponse(ValidationErrorsSerializer, description="each bad field with its messages"),
        },
    )
    def patch(self, request: Request, run_id) -> Response:
        run_controlled(request, run_id, action="rename")
        try:
            data = request.data
        except ParseError as exc:
            return refusal(exc)
        update = RunUpdateSerializer(data=data)
        if not update.is_valid():
            return Response({"errors": update.errors}, status=status.HTTP_400_BAD_REQUEST)
        services.run_update(run_id=run_id, **update.validated_data)
        return self._detail(request, selectors.run_get(run_id=run_id))

    @extend_schema(
        request=None,
        parameters=[CANCEL_TOKEN],
        responses={
            204: OpenApiResponse(description="deleted, with its results, account and stored events"),
            409: OpenApiResponse(DetailSerializer, description="the run is in progress: cancel it first"),
        },
    )
    def delete(self, request: Request, run_id) -> Response:
        run_controlled(request, run_id, action="delete")
        try:
            services.run_delete(run_id=run_id)
        except services.RunInProgress as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RunResultApi(APIView):
    """One coin's result: metrics, trades and equity curve (at most 2,000 points)."""

    @extend_schema(responses={200: ResultDetailSerializer})
    def get(self, request: Request, run_id, symbol: str) -> Response:
        # A symbol no coin can have (a NUL, which PostgreSQL refuses in any string) is not looked up.
        result = selectors.run_result_get(run_id=run_id, symbol=symbol) if SYMBOL_RE.fullmatch(symbol.upper()) else None
        if result is None:
            raise Http404
        return Response(result_detail(result))


@method_decorator(gzip_page, name="get")
class RunResultChartApi(APIView):
    """What the coin detail draws: the bars the backtest saw, the strategy's indicators from the
    engine (a rule strategy's from the rules the run stored), the trades with their stop levels and
    bars held, the drawdown and the monthly returns (runs.charts)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, run_id, symbol: str) -> Response:
        result = selectors.run_result_get(run_id=run_id, symbol=symbol) if SYMBOL_RE.fullmatch(symbol.upper()) else None
        if result is None:
            raise Http404
        run = selectors.run_get(run_id=run_id)
        return Response(result_chart(run, result))


class RunCancelApi(APIView):
    """Cancel a run: coins not yet started are skipped; the run ends `cancelled`. 409 once finished."""

    # Its owner or staff (runs.access): the page sends the cancel token it kept.
    permission_classes = [AllowAny]
    authentication_classes = CSRF_PROTECTED

    @extend_schema(request=None, parameters=[CANCEL_TOKEN], responses={200: RunStatusSerializer, 409: DetailSerializer})
    def post(self, request: Request, run_id) -> Response:
        run_controlled(request, run_id, action="cancel")
        try:
            run = services.run_cancel(run_id=run_id)
        except services.RunNotCancellable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response({"id": str(run.id), "status": run.status})


class RunPortfolioApi(APIView):
    """A run's coins as one account: slots, metrics, contributions, equity and every trade (404 before it is done)."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: OpenApiResponse(description="no such run or portfolio")})
    def get(self, request: Request, run_id) -> Response:
        run = selectors.run_get(run_id=run_id)
        portfolio = None if run is None else getattr(run, "portfolio", None)
        if portfolio is None:
            raise Http404
        return Response(portfolio_detail(portfolio, trades=True))


class RunCompareApi(APIView):
    """GET /api/runs/compare/?ids=<id>,<id>,...: two to six runs side by side (runs/compare.py)."""

    @extend_schema(
        parameters=[OpenApiParameter("ids", str, required=True, description="2 to 6 run ids, comma-separated")],
        responses={200: OpenApiTypes.OBJECT, 400: ValidationErrorsSerializer},
    )
    def get(self, request: Request) -> Response:
        raw = [part.strip() for part in request.query_params.get("ids", "").split(",") if part.strip()]
        ids: list[uuid.UUID] = []
        errors: list[str] = []
        for part in raw:
            try:
                ids.append(uuid.UUID(part))
            except ValueError:
                errors.append(f"{part[:40]!r} is not a run id")
        ids = list(dict.fromkeys(ids))
        if not errors and not 2 <= len(ids) <= MAX_RUNS:
            errors.append(f"name 2 to {MAX_RUNS} distinct runs, got {len(ids)}")
        runs = (
            {r.id: r for r in selectors.run_list().select_related("portfolio").filter(id__in=ids)} if not errors else {}
        )
        if not errors and (missing := [str(i) for i in ids if i not in runs]):
            errors.append(f"unknown runs: {', '.join(missing)}")
        if errors:
            return Response({"errors": {"ids": errors}}, status=status.HTTP_400_BAD_REQUEST)
        return Response(runs_compare([runs[i] for i in ids]))
