"""The sweep API's input validation and output shapes. A sweep takes the run body (runs.serializers:
the same checks and messages) plus its grid, search, objective, test split and walk-forward."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.urls import reverse
from rest_framework import serializers

from runs.serializers import BodySerializer, batch_parse, date_parse

from . import analysis
from .grid import GridError, search_parse
from .models import Sweep

MAX_FOLDS = 20


def _test_start_parse(value: Any, window, errors: dict[str, list[str]]):
    try:
        moment, text = date_parse(value, end_of_day=False)
    except ValueError as exc:
        errors["test_start"] = [str(exc)]
        return None
    if moment is None:
        return None
    if window.start is not None and moment <= window.start:
        errors["test_start"] = [f"must be after start_date ({text} <= {window.start_text})"]
    elif window.end is not None and moment > window.end:
        errors["test_start"] = [f"must not be after end_date ({text} > {window.end_text})"]
    return moment


def _walk_forward_parse(value: Any, errors: dict[str, list[str]]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) - {"folds", "mode"} or "folds" not in value:
        errors["walk_forward"] = ['must be {"folds": k, "mode": "rolling" | "anchored"}']
        return None
    folds, mode = value["folds"], value.get("mode", "rolling")
    if isinstance(folds, bool) or not isinstance(folds, int) or not 1 <= folds <= MAX_FOLDS:
        errors["walk_forward"] = [f"folds must be an integer from 1 to {MAX_FOLDS}"]
        return None
    if mode not in ("rolling", "anchored"):
        errors["walk_forward"] = ['mode must be "rolling" or "anchored"']
        return None
    return {"folds": folds, "mode": mode}


class SweepRequestSerializer(BodySerializer):
    """The body of POST /api/sweeps/: the run body (strategy_id, parameters for the fixed ones, dates,
    interval, fee and fill options, symbols) plus grid, search, objective, test_start, walk_forward.
    Every field is checked, every error collected; the grid's are checked by the service."""

    strategy_id = serializers.IntegerField()
    parameters = serializers.DictField(required=False, help_text="the fixed parameters; the others take defaults")
    grid = serializers.DictField(help_text='parameter -> {"from": a, "to": b, "step": s} (inclusive) or a list')
    search = serializers.JSONField(required=False, help_text='"grid" (default) or {"random": N, "seed": S}')
    objective = serializers.ChoiceField(choices=analysis.AGGREGATES, required=False)
    test_start = serializers.CharField(required=False, allow_null=True, help_text="out-of-sample split date")
    walk_forward = serializers.JSONField(required=False, help_text='{"folds": k, "mode": "rolling" | "anchored"}')
    start_date = serializers.CharField(required=False, allow_null=True)
    end_date = serializers.CharField(required=False, allow_null=True)
    fee_pct = serializers.FloatField(required=False)
    fill = serializers.CharField(required=False)
    stop_mode = serializers.CharField(required=False)
    slippage_pct = serializers.FloatField(required=False)
    interval = serializers.CharField(required=False)
    symbols = serializers.ListField(child=serializers.CharField(), required=False)

    def body_parse(self, data: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
        batch = batch_parse(data, errors)
        fixed = data.get("parameters")
        if fixed is None:
            fixed = {}
        elif not isinstance(fixed, Mapping):
            errors["parameters"] = ["must be an object of parameter names and values"]
            fixed = {}
        grid = data.get("grid")
        if not isinstance(grid, Mapping) or not grid:
            errors["grid"] = ["is required: an object of swept parameters"]
        try:
            search = search_parse(data.get("search"))
        except GridError as exc:
            errors[exc.field] = [exc.message]
            search = ("grid", None, None)
        objective = data.get("objective") or analysis.DEFAULT_OBJECTIVE
        if objective not in analysis.AGGREGATES:
            errors["objective"] = [f"must be one of {', '.join(analysis.AGGREGATES)}, got {objective!r}"]
        test_start = _test_start_parse(data.get("test_start"), batch["window"], errors)
        walk_forward = _walk_forward_parse(data.get("walk_forward"), errors)
        if test_start is not None and walk_forward is not None:
            errors["walk_forward"] = ["cannot be combined with test_start: each fold has its own test segment"]
        return {
            **batch,
            "fixed": dict(fixed),
            "grid": dict(grid) if isinstance(grid, Mapping) else {},  # the value is dropped with errors
            "search": data.get("search"),
            "search_parsed": search,
            "objective": objective,
            "test_start": test_start,
            "walk_forward": walk_forward,
        }


def sweep_links(sweep_id: Any) -> dict[str, str]:
    return {
        "url": reverse("sweeps:sweep-detail", kwargs={"sweep_id": sweep_id}),
        "events_url": reverse("sweeps:sweep-events", kwargs={"sweep_id": sweep_id}),
        "page_url": f"/sweeps/{sweep_id}/",
    }


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def sweep_row(sweep: Sweep) -> dict[str, Any]:
    return _finite(
        {
            "id": str(sweep.id),
            "strategy": {"id": sweep.strategy_id, "key": sweep.strategy.key, "name": sweep.strategy.name},
            "fixed": sweep.fixed,
            "grid": sweep.grid,
            "axes": sweep.axes,
            "search": sweep.search,
            "objective": sweep.objective,
            "start_date": sweep.start_date or None,
            "end_date": sweep.end_date or None,
            "test_start": sweep.test_start.isoformat().replace("+00:00", "Z") if sweep.test_start else None,
            "walk_forward": sweep.walk_forward,
            "interval": sweep.interval,
            "fee_pct": sweep.fee_pct,
            "fill": sweep.fill,
            "stop_mode": sweep.stop_mode,
            "slippage_pct": sweep.slippage_pct,
            "symbols": sweep.symbols,
            "coins": [{"crypto_id": c[0], "crypto_symbol": c[1], "crypto_name": c[2]} for c in sweep.coins],
            "status": sweep.status,
            "created_at": sweep.created_at,
            "finished_at": sweep.finished_at,
            "elapsed_time": None if sweep.elapsed_time is None else round(sweep.elapsed_time, 2),
            "total": sweep.total,
            "completed": sweep.completed,
            "skipped": sweep.skipped,
            "summary": sweep.summary,
            **sweep_links(sweep.id),
        }
    )


def cell_row(cell: Mapping[str, Any], swept: list[str]) -> dict[str, Any]:
    return _finite(
        {
            "n": cell["n"],
            "coordinate": cell["coordinate"],
            "parameters": {name: cell["parameters"][name] for name in swept},
            "aggregates": cell["aggregates"],
            "test_aggregates": cell["test_aggregates"],
            "robustness": cell["robustness"],
            "folds": cell["folds"],
        }
    )
