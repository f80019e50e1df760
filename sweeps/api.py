"""The sweep API: validate, call one service or selector, serialize."""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtest_site.authentication import CSRF_PROTECTED
from runs import access
from runs.api import CANCEL_TOKEN, RunCreateThrottle, RunRequestParser, refusal
from runs.serializers import DetailSerializer, ValidationErrorsSerializer
from runs.services import TooManyRuns
from runs.streams import batch_events

from . import analysis, services
from .grid import GridError
from .jobs import cell_coins
from .models import Sweep, SweepCell
from .serializers import SweepRequestSerializer, cell_row, sweep_links, sweep_row

PAGE_SIZE = 100
BAD = OpenApiResponse(ValidationErrorsSerializer, description="each bad field with its messages")
CREATED = inline_serializer(
    "SweepCreated",
    {
        "id": serializers.UUIDField(),
        "url": serializers.CharField(),
        "events_url": serializers.CharField(),
        "page_url": serializers.CharField(),
        "cells": serializers.IntegerField(),
        "skipped": serializers.IntegerField(),
        "cancel_token": serializers.CharField(
            allow_null=True,
            help_text="anonymous creators only: send it in the X-Cancel-Token header to cancel or resume",
        ),
    },
)
PREVIEW = inline_serializer(
    "SweepPreview",
    {"cells": serializers.IntegerField(), "skipped": serializers.IntegerField(), "coins": serializers.IntegerField()},
)
STATUS = inline_serializer("SweepStatus", {"id": serializers.UUIDField(), "status": serializers.CharField()})
MAX_PAGE_SIZE = 1000
SORTS = (*analysis.AGGREGATES, "robustness", "n")


def sweep_request_create(data: Any, *, start: bool = True, creator: access.Creator | None = None) -> Sweep:
    """Validate a sweep request and create it, owned by `creator`; ValidationError (400) or TooManyRuns (429)."""
    request = SweepRequestSerializer(data=data)
    request.is_valid(raise_exception=True)
    owner = creator.owner_fields if creator is not None else {}
    try:
        return services.sweep_create(**request.validated_data, **owner, start=start)
    except GridError as exc:
        raise ValidationError({exc.field: [exc.message]}) from None


def _sweep(sweep_id) -> Sweep:
    sweep = Sweep.objects.select_related("strategy").filter(id=sweep_id).first()
    if sweep is None:
        raise Http404
    return sweep


def _sweep_controlled(request: Request, sweep_id, *, action: str) -> None:
    """404 for no such sweep, 403 unless the request is its owner's or staff's (runs.access)."""
    access.controlled(request, Sweep, sweep_id, what="sweep", action=action)


class SweepListCreateApi(APIView):
    """GET: the stored sweeps, newest first. POST: start a sweep (201 {id, url, events_url, page_url,
    cells, skipped})."""

    permission_classes = [AllowAny]
    authentication_classes = CSRF_PROTECTED
    parser_classes = [RunRequestParser]  # JSON only: a cross-site form cannot post one

    def get_throttles(self):
        # Reads get the default read throttle (settings, backtest_site.throttles), creation its own.
        return [RunCreateThrottle()] if self.request.method == "POST" else super().get_throttles()

    @extend_schema(operation_id="sweeps_list", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        sweeps = Sweep.objects.select_related("strategy").order_by("-created_at")[:200]
        return Response({"results": [sweep_row(s) for s in sweeps]})

    @extend_schema(
        operation_id="sweeps_create",
        request=SweepRequestSerializer,
        responses={
            201: CREATED,
            400: BAD,
            429: OpenApiResponse(DetailSerializer, description="too many in progress (in all, or of this client)"),
        },
    )
    def post(self, request: Request) -> Response:
        creator = access.creator(request)
        try:
            sweep = sweep_request_create(request.data, creator=creator)
        except (ParseError, ValidationError, TooManyRuns) as exc:
            return refusal(exc)
        body = {
            "id": str(sweep.id),
            **sweep_links(sweep.id),
            "cells": sweep.total,
            "skipped": sweep.skipped,
            "cancel_token": creator.cancel_token,
        }
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["url"]})


class SweepPreviewApi(APIView):
    """The cells a sweep body would run, without running it: {cells, skipped, coins} or the 400
    the sweep would get (the page shows the counts live while the grid is edited)."""

    permission_classes = [AllowAny]
    authentication_classes = CSRF_PROTECTED
    parser_classes = [RunRequestParser]

    @extend_schema(operation_id="sweeps_preview", request=SweepRequestSerializer, responses={200: PREVIEW, 400: BAD})
    def post(self, request: Request) -> Response:
        try:
            checked = SweepRequestSerializer(data=request.data)
            checked.is_valid(raise_exception=True)
            data = checked.validated_data
            cells, _ = services.grid_cells(
                strategy=data["strategy"], fixed=data["fixed"], grid=data["grid"], search=data["search_parsed"]
            )
        except (ParseError, ValidationError) as exc:
            return refusal(exc)
        except GridError as exc:
            return Response({"errors": {exc.field: [exc.message]}}, status=status.HTTP_400_BAD_REQUEST)
        coins = services.coins_with_bars(
            interval=data["interval"],
            start=data["window"].start,
            end=data["window"].end,
            symbols=data["symbols"] or None,
        )
        return Response({"cells": len(cells.parameters), "skipped": cells.skipped, "coins": len(coins)})


class SweepDetailApi(APIView):
    """A sweep with its finished cells, sorted by any aggregate (or robustness), a page at a time."""

    @extend_schema(
        operation_id="sweeps_retrieve",
        responses={200: OpenApiTypes.OBJECT, 400: BAD, 404: OpenApiResponse(description="no such sweep")},
        parameters=[
            OpenApiParameter("sort", str, enum=list(SORTS)),
            OpenApiParameter("order", str, enum=["desc", "asc"]),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
            OpenApiParameter("test", bool, description="sort by the test window's aggregate"),
        ],
    )
    def get(self, request: Request, sweep_id) -> Response:
        sweep = _sweep(sweep_id)
        sort = request.query_params.get("sort", sweep.objective)
        order = request.query_params.get("order", "desc")
        errors = {}
        if sort not in SORTS:
            errors["sort"] = [f"must be one of {', '.join(SORTS)}"]
        if order not in ("desc", "asc"):
            errors["order"] = ["must be desc or asc"]
        page, size = _int(request, "page", 1, errors), _int(request, "page_size", PAGE_SIZE, errors)
        if size is not None and not 1 <= size <= MAX_PAGE_SIZE:
            errors["page_size"] = [f"must be from 1 to {MAX_PAGE_SIZE}"]
        if page is not None and page < 1:
            errors["page"] = ["must be 1 or more"]
        if errors:
            return Response({"errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        field = "test_aggregates" if request.query_params.get("test") in ("1", "true") else "aggregates"
        key = F(sort) if sort in ("robustness", "n") else F(f"{field}__{sort}")
        ordering = key.desc(nulls_last=True) if order == "desc" else key.asc(nulls_last=True)
        cells = SweepCell.objects.filter(sweep=sweep, state=SweepCell.State.DONE).order_by(ordering, "n")
        lo = (page - 1) * size
        rows = list(
            cells.values("n", "coordinate", "parameters", "aggregates", "test_aggregates", "robustness", "folds")[
                lo : lo + size + 1
            ]
        )
        swept = [a["name"] for a in sweep.axes]
        body = sweep_row(sweep)
        body["controllable"] = access.may_control(request, sweep)  # may cancel or resume it
        body["cells"] = [cell_row(c, swept) for c in rows[:size]]
        body["next"] = None
        if len(rows) > size:
            body["next"] = f"{body['url']}?sort={sort}&order={order}&page={page + 1}&page_size={size}"
        return Response(body)


def _int(request: Request, name: str, default: int, errors: dict) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        errors[name] = ["must be an integer"]
        return None


class SweepCellApi(APIView):
    """One cell: its parameters, aggregates, and every coin's metrics (train, and test with a split)."""

    @extend_schema(
        operation_id="sweeps_cell_retrieve",
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiResponse(description="no such sweep or cell")},
    )
    def get(self, request: Request, sweep_id, n: int) -> Response:
        sweep = _sweep(sweep_id)
        cell = SweepCell.objects.filter(sweep=sweep, n=n).first()
        if cell is None:
            raise Http404
        swept = [a["name"] for a in sweep.axes]
        body = cell_row(
            {
                "n": cell.n,
                "coordinate": cell.coordinate,
                "parameters": cell.parameters,
                "aggregates": cell.aggregates,
                "test_aggregates": cell.test_aggregates,
                "robustness": cell.robustness,
                "folds": cell.folds,
            },
            swept,
        )
        body["state"] = cell.state
        body["all_parameters"] = cell.parameters  # fixed and defaults too: what "Open as run" sends
        body["coins"] = cell_coins(sweep, cell) if cell.state == SweepCell.State.DONE else []
        return Response(body)


class SweepCancelApi(APIView):
    """Cancel a sweep: its owner or staff (runs.access)."""

    permission_classes = [AllowAny]
    authentication_classes = CSRF_PROTECTED

    @extend_schema(
        operation_id="sweeps_cancel",
        request=None,
        parameters=[CANCEL_TOKEN],
        responses={200: STATUS, 404: OpenApiResponse(description="no such sweep"), 409: DetailSerializer},
    )
    def post(self, request: Request, sweep_id) -> Response:
        _sweep_controlled(request, sweep_id, action="cancel")
        try:
            sweep = services.sweep_cancel(sweep_id=sweep_id)
        except services.SweepNotCancellable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response({"id": str(sweep.id), "status": sweep.status})


class SweepResumeApi(APIView):
    """Resume an interrupted sweep: its owner or staff (runs.access)."""

    permission_classes = [AllowAny]
    authentication_classes = CSRF_PROTECTED

    @extend_schema(
        operation_id="sweeps_resume",
        request=None,
        parameters=[CANCEL_TOKEN],
        responses={
            200: OpenApiTypes.OBJECT,
            404: OpenApiResponse(description="no such sweep"),
            409: DetailSerializer,
            429: OpenApiResponse(DetailSerializer, description="its client's share or the concurrency limit is full"),
        },
    )
    def post(self, request: Request, sweep_id) -> Response:
        _sweep_controlled(request, sweep_id, action="resume")
        try:
            sweep = services.sweep_resume(sweep_id=sweep_id)
        except services.SweepNotResumable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except TooManyRuns as exc:
            headers = {"Retry-After": str(exc.retry_after)}
            return Response({"detail": str(exc)}, status=status.HTTP_429_TOO_MANY_REQUESTS, headers=headers)
        pending = SweepCell.objects.filter(sweep=sweep, state=SweepCell.State.PENDING).count()
        return Response({"id": str(sweep.id), "status": sweep.status, "pending": pending})


async def sweep_events(request: HttpRequest, sweep_id) -> HttpResponse:
    """GET /api/sweeps/<id>/events/: the sweep's stored SSE channel (?lastEventId=sweep-<id>:0 replays),
    served as a run's (runs.streams: ends after `complete`, holds no connection while it waits)."""
    return await batch_events(request, sweep_id, services.channel_name(sweep_id), Sweep)
