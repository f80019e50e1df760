"""Bad run requests that used to reach a 500 (or be taken for something else): a 4xx naming the field.

Deep JSON, datetimes that leave the calendar once converted to UTC, NUL bytes (PostgreSQL refuses
them in any string), strategy_id 1.5, misspelt fields, a body that is not application/json.
Both endpoints share one validation, so each case is asked of both.
"""

from __future__ import annotations

import json

import pytest
from django.test import AsyncClient
from rest_framework.test import APIClient

from market_data.models import Cryptocurrency
from runs.models import BacktestRun
from tests.support import run_async

VALID = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}
DEEP = "[" * 1000 + "]" * 1000


@pytest.fixture
def catalogue(db, seeded):
    for symbol in ("AAA", "BBB"):
        Cryptocurrency.objects.create(symbol=symbol, name=symbol.title())


def _both(raw: str, content_type: str = "application/json") -> list[tuple[int, dict]]:
    """The answers of POST /api/runs/ and of the original endpoint to one raw body."""
    api = APIClient().post("/api/runs/", data=raw, content_type=content_type)
    original = run_async(AsyncClient().post, "/api/crypto/backtest/stream", data=raw, content_type=content_type)
    assert not original.streaming
    return [(api.status_code, api.json()), (original.status_code, original.json())]


@pytest.mark.parametrize(
    "raw",
    [
        DEEP,
        json.dumps({**VALID, "parameters": {"rsi_period": "X"}}).replace('"X"', DEEP),
        '{"strategy_id": 1, "symbols": ' + "[" * 100 + "]" * 100 + "}",
    ],
    ids=["top", "in-parameters", "100-levels"],
)
def test_deeply_nested_json_is_a_400(catalogue, raw):
    for status, body in _both(raw):
        assert status == 400, body
        assert "nested too deeply" in body["errors"]["non_field_errors"][0]
    assert not BacktestRun.objects.exists()


CASES = [
    ({"end_date": "9999-12-31T23:59:59-23:59"}, "end_date", "outside the years 1-9999"),
    ({"start_date": "0001-01-01T00:00:00+01:00"}, "start_date", "outside the years 1-9999"),
    ({"symbols": ["AAA", "B\x00B"]}, "symbols", "not coin symbols"),
    ({"symbols": "AAA,B\x00B"}, "symbols", "not coin symbols"),
    ({"symbols": ["A" * 500]}, "symbols", "not coin symbols"),
    ({"strategy_id": 1.5}, "strategy_id", "must be an integer, got 1.5"),
    ({"strategy_id": "1.5"}, "strategy_id", "must be an integer"),
    ({"strategy_id": 10**30}, "strategy_id", "unknown strategy"),
    ({"strategy_id": -(10**30)}, "strategy_id", "unknown strategy"),
    ({"strategy_id": "9" * 5000}, "strategy_id", "must be an integer"),
    ({"strategy_id": "1\x00"}, "strategy_id", "must be an integer"),
    ({"stratgy_id": 1}, "stratgy_id", "unknown field"),
    ({"fees": 0.1}, "fees", "unknown field"),
]


@pytest.mark.parametrize(("change", "field", "message"), CASES)
def test_bad_field_is_a_400_naming_it_on_both_endpoints(catalogue, change, field, message):
    for status, body in _both(json.dumps({**VALID, **change})):
        assert status == 400, body
        assert any(message in m for m in body["errors"][field]), body
    assert not BacktestRun.objects.exists()


def test_nan_and_infinity_strategy_ids_are_refused(catalogue):
    for raw in ('{"strategy_id": NaN}', '{"strategy_id": Infinity}', '{"strategy_id": 1e400}'):
        for status, body in _both(raw):
            assert status == 400 and "strategy_id" in body["errors"], body


def test_a_whole_float_strategy_id_is_still_that_strategy(catalogue):
    response = APIClient().post("/api/runs/", {**VALID, "strategy_id": 1.0}, format="json")
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_body_that_is_not_application_json_is_415_on_both_endpoints(catalogue, content_type):
    """text/plain is what any web page can make its visitors' browsers POST without a preflight."""
    answers = _both(
        json.dumps(VALID), content_type=content_type + ("; boundary=x" if "multipart" in content_type else "")
    )
    assert [status for status, _ in answers] == [415, 415]
    assert not BacktestRun.objects.exists()


@pytest.mark.parametrize("symbol", ["B%00B", "AA%2FA", "A" * 300])
def test_a_result_of_an_impossible_symbol_is_a_404(catalogue, symbol):
    run = BacktestRun.objects.create(strategy_id=1, status="completed")
    assert APIClient().get(f"/api/runs/{run.id}/results/{symbol}/").status_code == 404
