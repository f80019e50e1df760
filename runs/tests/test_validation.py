"""Requests rejected before anything runs: HTTP 400 naming the field, on both endpoints; 429s."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import AsyncClient
from rest_framework.test import APIClient

from market_data.models import Cryptocurrency
from runs.models import BacktestRun
from runs.serializers import date_parse
from strategies.models import Strategy
from tests.support import run_async


@pytest.fixture
def catalogue(db, seeded):
    """Strategies and three coins, in the test's transaction (nothing here needs the pool)."""
    for symbol in ("AAA", "BBB", "CCC"):
        Cryptocurrency.objects.create(symbol=symbol, name=symbol.title())


VALID = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}

BAD_REQUESTS = [
    # (body changes, the field named, a fragment of the message)
    ({"strategy_id": 99}, "strategy_id", "unknown strategy 99"),
    ({"strategy_id": "rsi"}, "strategy_id", "must be an integer"),
    ({"strategy_id": None}, "strategy_id", "is required"),
    ({"parameters": {"rsi_period": 1}}, "parameters.rsi_period", ">= 2"),
    ({"parameters": {"rsi_period": 14.5}}, "parameters.rsi_period", "integer"),
    ({"parameters": {"rsi_period": "14"}}, "parameters.rsi_period", "integer"),
    ({"parameters": {"nonsense": 1}}, "parameters.nonsense", "unknown parameter"),
    (
        {"parameters": {"oversold_threshold": 80}},
        "parameters.oversold_threshold",
        "less than Overbought threshold (80 ≥ 70)",
    ),
    ({"parameters": {"rsi_smoothing": "ema"}}, "parameters.rsi_smoothing", "one of"),
    ({"parameters": [1, 2]}, "parameters", "must be an object"),
    ({"start_date": "2024-02-30"}, "start_date", "not a valid date"),
    ({"start_date": "yesterday"}, "start_date", "not a valid date"),
    ({"end_date": 20241231}, "end_date", "date string"),
    ({"start_date": "2024-12-31", "end_date": "2024-01-01"}, "start_date", "must not be after end_date"),
    ({"interval": "2h"}, "interval", "must be one of"),
    ({"fee_pct": 5.5}, "fee_pct", "between 0 and 5"),
    ({"fee_pct": -0.1}, "fee_pct", "between 0 and 5"),
    ({"fee_pct": "cheap"}, "fee_pct", "must be a number"),
    ({"fill": "open"}, "fill", "must be one of close, next_open"),
    ({"fill": 1}, "fill", "must be one of close, next_open"),
    ({"stop_mode": "low"}, "stop_mode", "must be one of close, intrabar"),
    ({"slippage_pct": 5.01}, "slippage_pct", "between 0 and 5"),
    ({"slippage_pct": -1}, "slippage_pct", "between 0 and 5"),
    ({"slippage_pct": "some"}, "slippage_pct", "must be a number"),
    ({"symbols": ["AAA", "NOPE", "ZZZ"]}, "symbols", "unknown symbols: NOPE, ZZZ"),
    ({"symbols": [1, 2]}, "symbols", "list of coin symbols"),
]


def _stream_post(body) -> tuple[int, dict, str]:
    response = run_async(
        AsyncClient().post, "/api/crypto/backtest/stream", data=json.dumps(body), content_type="application/json"
    )
    assert not response.streaming
    return response.status_code, response.json(), response["Content-Type"]


@pytest.mark.parametrize(("change", "field", "message"), BAD_REQUESTS)
def test_run_api_answers_400_naming_the_field(catalogue, change, field, message):
    response = APIClient().post("/api/runs/", {**VALID, **change}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert field in errors, errors
    assert any(message in m for m in errors[field]), errors
    assert BacktestRun.objects.count() == 0


@pytest.mark.parametrize(("change", "field", "message"), BAD_REQUESTS)
def test_original_endpoint_answers_400_json_before_streaming(catalogue, change, field, message):
    status, body, content_type = _stream_post({**VALID, **change})
    assert status == 400 and content_type == "application/json"
    assert any(message in m for m in body["errors"][field]), body
    assert BacktestRun.objects.count() == 0


def test_inactive_strategy_and_inactive_symbol_are_400(catalogue):
    Strategy.objects.filter(id=3).update(is_active=False)
    Cryptocurrency.objects.filter(symbol="CCC").update(is_active=False)
    status, body, _ = _stream_post({**VALID, "strategy_id": 3})
    assert status == 400 and body["errors"]["strategy_id"] == ["strategy 3 is not active"]
    status, body, _ = _stream_post({**VALID, "symbols": ["CCC"]})
    assert status == 400 and body["errors"]["symbols"] == ["inactive symbols: CCC"]


def test_every_bad_field_is_reported_at_once(catalogue):
    body = {"strategy_id": 1, "parameters": {"rsi_period": 0}, "start_date": "x", "fee_pct": 9, "interval": "7m"}
    response = APIClient().post("/api/runs/", body, format="json")
    assert set(response.json()["errors"]) == {"parameters.rsi_period", "start_date", "fee_pct", "interval"}


def test_body_that_is_not_a_json_object_is_400(catalogue):
    response = run_async(
        AsyncClient().post, "/api/crypto/backtest/stream", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400 and "non_field_errors" in response.json()["errors"]
    status, body, _ = _stream_post([1, 2, 3])
    assert status == 400 and body["errors"] == {"non_field_errors": ["The body must be a JSON object"]}
    response = APIClient().post("/api/runs/", [1, 2], format="json")
    assert response.status_code == 400 and "non_field_errors" in response.json()["errors"]
    response = APIClient().post("/api/runs/", data="{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["errors"]["non_field_errors"][0]


def test_too_many_runs_in_progress_is_429_with_retry_after(catalogue, settings):
    settings.BACKTEST_MAX_CONCURRENT_RUNS = 2
    for _ in range(2):
        BacktestRun.objects.create(strategy_id=1, status="running")
    response = APIClient().post("/api/runs/", VALID, format="json")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    status, body, _ = _stream_post(VALID)
    assert status == 429 and "in progress" in body["detail"]
    assert BacktestRun.objects.count() == 2
    BacktestRun.objects.update(status="completed")
    assert APIClient().post("/api/runs/", VALID, format="json").status_code == 201


def test_run_creation_is_throttled(catalogue, settings):
    settings.RUNS_THROTTLE_RATE = "2/min"
    api = APIClient()
    assert [api.post("/api/runs/", VALID, format="json").status_code for _ in range(2)] == [201, 201]
    response = api.post("/api/runs/", VALID, format="json")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    status, _, _ = _stream_post(VALID)  # the original endpoint shares the budget
    assert status == 429
    assert api.get("/api/runs/").status_code == 200  # reading is not throttled


@pytest.mark.parametrize(
    ("value", "end", "expected", "echo"),
    [
        ("2024-03-05", False, dt.datetime(2024, 3, 5, tzinfo=dt.UTC), "2024-03-05"),
        ("2024-03-05", True, dt.datetime(2024, 3, 5, 23, 59, 59, 999999, tzinfo=dt.UTC), "2024-03-05"),
        ("2024-03-05T10:30:00Z", True, dt.datetime(2024, 3, 5, 10, 30, tzinfo=dt.UTC), "2024-03-05T10:30:00Z"),
        ("2024-03-05T12:00:00+02:00", False, dt.datetime(2024, 3, 5, 10, tzinfo=dt.UTC), "2024-03-05T12:00:00+02:00"),
        ("2024-03-05 10:30", False, dt.datetime(2024, 3, 5, 10, 30, tzinfo=dt.UTC), "2024-03-05 10:30"),
        (None, False, None, ""),
        ("", True, None, ""),
    ],
)
def test_dates_parse_inclusively(value, end, expected, echo):
    assert date_parse(value, end_of_day=end) == (expected, echo)
