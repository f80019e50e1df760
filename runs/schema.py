"""The event streams in /api/schema/ (a drf-spectacular postprocessing hook).

The original `POST /api/crypto/backtest/stream` and the two stored streams (`GET /api/runs/<id>/events/`,
`GET /api/sweeps/<id>/events/`) are not DRF views, so drf-spectacular cannot see them. This hook adds
them: the request body (the same component as POST /api/runs/), the `text/event-stream` answer, each
event's payload as a schema (the `data:` JSON of one event), and examples built by the same payload
functions the streams use (runs.events), so the documentation cannot drift from what is sent.
"""

from __future__ import annotations

import json
from typing import Any

from .events import (
    ORIGINAL_SUMMARY_FIELDS,
    SUMMARY_AVERAGES,
    error_payload,
    original_payload,
    progress_payload,
    result_payload,
    start_payload,
    summary_build,
)
from .models import INTEGER_METRICS, METRIC_FIELDS, ORIGINAL_METRIC_FIELDS

TOO_FEW = "Insufficient data for backtest: 10 bars, need at least 16"
RUN_ID = "5b3f6a0e-8c1d-4c7e-9f0a-2d6b1e4a7c90"
_METRICS_EXAMPLE = {
    "total_return": 12.5,
    "win_rate": 55.0,
    "total_trades": 20,
    "profitable_trades": 11,
    "losing_trades": 9,
    "buy_hold_return": 8.1,
    "sharpe_ratio": 1.21,
    "max_drawdown": -9.4,
    "exposure_pct": 41.3,
    "stop_loss_exits": 2,
    "cagr": 12.5,
    "sortino_ratio": 1.6,
    "calmar_ratio": 1.33,
    "profit_factor": 1.8,
    "avg_trade_return": 0.6,
    "best_trade": 7.9,
    "worst_trade": -5.2,
    "avg_bars_held": 18.4,
    "max_consecutive_losses": 3,
    "max_drawdown_duration": 610,
}


def _number(name: str) -> dict[str, Any]:
    kind = "integer" if name in INTEGER_METRICS else "number"
    return {"type": kind, "nullable": True}


def _object(properties: dict[str, Any], *, required: list[str] | None = None, description: str = "") -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def _type(value: str) -> dict[str, Any]:
    return {"type": "string", "enum": [value]}


def _result_data(fields) -> dict[str, Any]:
    return _object(
        {
            "success": {"type": "boolean"},
            "crypto_symbol": {"type": "string"},
            "crypto_name": {"type": "string"},
            **{name: _number(name) for name in fields},
        },
        required=["success", "crypto_symbol", "crypto_name"],
        description="one coin's result: its metrics rounded to 2 decimals (spec/ENGINE.md; /methods/)",
    )


def components() -> dict[str, dict[str, Any]]:
    """The payloads of every event, as OpenAPI schemas (the run stream's, with the original's subset)."""
    performer = {"allOf": [{"$ref": "#/components/schemas/ResultData"}], "nullable": True}
    summary_props: dict[str, Any] = {
        "total_cryptos": {"type": "integer"},
        "successful": {"type": "integer"},
        "failed": {"type": "integer"},
        "skipped": {"type": "integer", "description": "coins not run because the run was cancelled (run stream)"},
        "avg_return": {"type": "number"},
        "avg_win_rate": {"type": "number"},
        "total_trades": {"type": "integer"},
        "total_winning_trades": {"type": "integer"},
        "total_losing_trades": {"type": "integer"},
        "best_performer": performer,
        "worst_performer": performer,
        "beat_buy_hold": {"type": "integer", "description": "coins whose total_return > buy_hold_return"},
        "status": {"type": "string", "enum": ["completed", "cancelled", "interrupted", "failed"]},
        "message": {"type": "string", "description": "only for a run over a period with no bars"},
    }
    for name in SUMMARY_AVERAGES:
        key = name if name.startswith("avg_") else f"avg_{name}"
        summary_props[key] = {"type": "number", "description": f"mean of the coins' {name} (run stream)"}
    return {
        "ResultData": _result_data(METRIC_FIELDS),
        "RunStartEvent": _object(
            {
                "type": _type("start"),
                "total": {"type": "integer", "description": "coins in the run"},
                "strategy_id": {"type": "integer"},
                "start_date": {"type": "string", "nullable": True},
                "end_date": {"type": "string", "nullable": True},
                "run_id": {"type": "string", "format": "uuid"},
                "interval": {"type": "string"},
            },
            required=["type", "total", "strategy_id", "run_id"],
        ),
        "RunResultEvent": _object(
            {"type": _type("result"), "data": {"$ref": "#/components/schemas/ResultData"}},
            required=["type", "data"],
            description="a coin done; the original endpoint's data carries the ten original metrics only",
        ),
        "RunErrorEvent": _object(
            {
                "type": _type("error"),
                "crypto": {"type": "string"},
                "crypto_name": {"type": "string"},
                "error": {
                    "type": "string",
                    "description": "e.g. Insufficient data for backtest: 10 bars, need at least 16",
                },
            },
            required=["type", "crypto", "error"],
            description="a coin that could not be backtested; the run goes on",
        ),
        "RunProgressEvent": _object(
            {
                "type": _type("progress"),
                "completed": {"type": "integer"},
                "total": {"type": "integer"},
                "successful": {"type": "integer"},
                "percent": {"type": "number"},
            },
            required=["type", "completed", "total", "successful", "percent"],
            description="after each result or error; completed counts 1, 2, 3, ... in order",
        ),
        "RunPortfolioEvent": _object(
            {
                "type": _type("portfolio"),
                "slots": {"type": "integer"},
                "coins": {"type": "integer"},
                "metrics": {"type": "object", "additionalProperties": {"type": "number", "nullable": True}},
                "error": {"type": "string", "nullable": True},
            },
            required=["type", "slots", "coins", "metrics"],
            description="the run's coins as one account, before complete (run stream only)",
        ),
        "RunSummary": _object(summary_props, required=["total_cryptos", "successful", "failed", "status"]),
        "RunCompleteEvent": _object(
            {
                "type": _type("complete"),
                "summary": {"$ref": "#/components/schemas/RunSummary"},
                "elapsed_time": {"type": "number", "description": "seconds"},
            },
            required=["type", "summary"],
            description="the last event; a cancelled or interrupted run ends with one too (summary.status)",
        ),
        "RunEvent": {
            "oneOf": [
                {"$ref": f"#/components/schemas/Run{kind}Event"}
                for kind in ("Start", "Result", "Error", "Progress", "Portfolio", "Complete")
            ],
            "discriminator": {"propertyName": "type"},
            "description": "the JSON of one event's `data:` line",
        },
        "SweepEvent": {
            "oneOf": [
                _object(
                    {
                        "type": _type("start"),
                        "sweep_id": {"type": "string", "format": "uuid"},
                        "total": {"type": "integer"},
                        "pending": {"type": "integer"},
                        "skipped": {"type": "integer"},
                        "coins": {"type": "integer"},
                        "axes": {"type": "object"},
                        "objective": {"type": "string"},
                    },
                    required=["type", "sweep_id", "total"],
                ),
                _object(
                    {
                        "type": _type("cell"),
                        "n": {"type": "integer"},
                        "coordinate": {"type": "array", "items": {"type": "integer"}},
                        "parameters": {"type": "object", "description": "the swept parameters' values"},
                        "aggregates": {"type": "object", "additionalProperties": {"type": "number", "nullable": True}},
                        "test_aggregates": {"type": "object", "nullable": True},
                    },
                    required=["type", "n", "parameters", "aggregates"],
                    description="a finished cell (parameter set) with its aggregates over the coins",
                ),
                _object(
                    {
                        "type": _type("progress"),
                        "completed": {"type": "integer"},
                        "total": {"type": "integer"},
                        "percent": {"type": "number"},
                    },
                    required=["type", "completed", "total", "percent"],
                ),
                _object(
                    {"type": _type("complete"), "summary": {"type": "object"}, "elapsed_time": {"type": "number"}},
                    required=["type", "summary"],
                ),
            ],
            "description": "the JSON of one event's `data:` line",
        },
    }


def _examples() -> tuple[list[dict], list[dict]]:
    """A run's events as the run stream sends them, and as the original endpoint does (its fields only)."""
    metrics = dict(_METRICS_EXAMPLE)
    rows = [{"crypto_symbol": "BTC", "crypto_name": "Bitcoin", **metrics}]
    events = [
        start_payload(
            run_id=RUN_ID, total=2, strategy_id=1, start_date="2024-01-01", end_date="2024-12-31", interval="1h"
        ),
        result_payload(symbol="BTC", name="Bitcoin", metrics=metrics),
        progress_payload(completed=1, total=2, successful=1),
        error_payload(
            symbol="DOGE", name="Dogecoin", error="Insufficient data for backtest: 10 bars, need at least 16"
        ),
        progress_payload(completed=2, total=2, successful=1),
        {
            "type": "complete",
            "summary": summary_build(total=2, rows=rows, failed=1, status="completed"),
            "elapsed_time": 0.42,
        },
    ]
    return events, [original_payload(e) for e in events]


def _original_stream(events: list[dict]) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events)


def _run_stream(events: list[dict]) -> str:
    return "".join(
        f"event: {e['type']}\nid: run-{RUN_ID}:{n}\ndata: {json.dumps(e)}\n\n" for n, e in enumerate(events, 1)
    )


def _answer(description: str, ref: str = "#/components/schemas/Problem") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def _stream_parameters(name: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
        {
            "name": "lastEventId",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "replay after this event id (`run-<id>:0` from the start)",
        },
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "the same, as a reconnecting EventSource sends it",
        },
    ]


def streams_add(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Add the three streams to the schema, with their events as components."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components())
    schemas.setdefault(
        "Problem",
        {
            "type": "object",
            "properties": {
                "detail": {"type": "string"},
                "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
        },
    )
    events, original = _examples()
    request_ref = next((name for name in ("RunRequestRequest", "RunRequest") if name in schemas), None)
    body_schema = {"$ref": f"#/components/schemas/{request_ref}"} if request_ref else {"type": "object"}
    original_metrics = ", ".join(ORIGINAL_METRIC_FIELDS)
    paths = result.setdefault("paths", {})
    paths["/api/crypto/backtest/stream"] = {
        "post": {
            "operationId": "crypto_backtest_stream",
            "tags": ["runs"],
            "summary": "The original endpoint: start a run and stream its events",
            "description": (
                "Validates the body as POST /api/runs/ does (400 before anything runs), starts the run and answers "
                "`text/event-stream`: each event is one `data: <json>` line and a blank line, in this order: `start`, "
                "per coin a `result` (or an `error`) followed by `progress`, and last `complete`. A comment line "
                "`: keep-alive` comes after 15 s without an event. The events carry the original system's fields "
                f"only (result data: {original_metrics}; summary: {', '.join(sorted(ORIGINAL_SUMMARY_FIELDS))}); "
                "the run stream of /api/runs/<id>/events/ has the same events with every metric. No login and no "
                "CSRF token needed. Headers: Cache-Control: no-cache, X-Accel-Buffering: no, Connection: keep-alive."
            ),
            "requestBody": {"required": True, "content": {"application/json": {"schema": body_schema}}},
            "responses": {
                "200": {
                    "description": "the run's events, as Server-Sent Events",
                    "content": {
                        "text/event-stream": {
                            "schema": {"$ref": "#/components/schemas/RunEvent"},
                            "example": _original_stream(original),
                        }
                    },
                },
                "400": _answer("each bad field with the rule it breaks (`errors`)"),
                "405": _answer("any method but POST"),
                "415": _answer("the body is not application/json"),
                "429": _answer("too many runs in progress, or throttled (see Retry-After)"),
                "503": _answer("the task queue is unreachable (see Retry-After)"),
            },
        }
    }
    stream_errors = {
        "204": {"description": "Last-Event-ID is the last event of a finished run: nothing more will come"},
        "400": _answer("a malformed lastEventId"),
        "404": _answer("no such run or sweep"),
        "429": _answer("too many streams from this client (see Retry-After)"),
        "503": _answer("too many streams on this server process (see Retry-After)"),
    }
    paths["/api/runs/{run_id}/events/"] = {
        "get": {
            "operationId": "runs_events",
            "tags": ["runs"],
            "summary": "A run's stored events, then the live ones (Server-Sent Events)",
            "description": (
                "django-eventstream's format: 2 KB of padding and `event: stream-open` first, then each event as "
                "`event: <type>`, `id: run-<id>:<n>`, `data: <json>`. With `lastEventId=run-<id>:0` every event from "
                "the start; the answer ends after `complete`. An id the store does not hold gives "
                "`event: stream-reset`. "
                "A run that ended without `complete` (interrupted) gets a final one with summary.status interrupted."
            ),
            "parameters": _stream_parameters("run_id"),
            "responses": {
                "200": {
                    "description": "the events: start, result | error, progress, ..., portfolio, complete",
                    "content": {
                        "text/event-stream": {
                            "schema": {"$ref": "#/components/schemas/RunEvent"},
                            "example": _run_stream(events),
                        }
                    },
                },
                **stream_errors,
            },
        }
    }
    paths["/api/sweeps/{sweep_id}/events/"] = {
        "get": {
            "operationId": "sweeps_events",
            "tags": ["sweeps"],
            "summary": "A sweep's stored events, then the live ones (Server-Sent Events)",
            "description": (
                "As the run stream, with ids `sweep-<id>:<n>`: `start`, a `cell` per finished cell, `progress`, "
                "`complete`; `lastEventId=sweep-<id>:0` replays from the start."
            ),
            "parameters": _stream_parameters("sweep_id"),
            "responses": {
                "200": {
                    "description": "the events: start, cell, progress, ..., complete",
                    "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/SweepEvent"}}},
                },
                **stream_errors,
            },
        }
    }
    return result
