"""The strategy catalogue API: typed parameter definitions, active ones unless ?all=1, read-only."""

import pytest
from rest_framework.test import APIClient

from strategies.models import Strategy, StrategyParameter

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def test_list_gives_the_six_strategies_with_their_definitions(api, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        body = api.get("/api/strategies/").json()
    assert [(s["id"], s["key"]) for s in body] == [
        (1, "rsi"),
        (2, "ma_crossover"),
        (3, "macd"),
        (4, "stochastic"),
        (5, "bollinger_bands"),
        (6, "mean_reversion"),
    ]
    assert set(body[0]) == {
        "id",
        "key",
        "kind",
        "name",
        "description",
        "is_active",
        "entry_rule",
        "exit_rule",
        "parameters",
    }
    assert (body[0]["kind"], body[0]["entry_rule"], body[0]["exit_rule"]) == ("builtin", "", "")


def test_definitions_are_typed(api):
    params = {p["name"]: p for p in api.get("/api/strategies/1/").json()["parameters"]}
    assert params["rsi_period"] == {
        "name": "rsi_period",
        "display_name": "RSI period",
        "type": "integer",
        "default": 14,
        "min": 2,
        "max": 500,
        "options": None,
        "order": 1,
        "is_active": True,
    }
    assert params["oversold_threshold"]["default"] == 30.0 and params["oversold_threshold"]["type"] == "number"
    assert params["rsi_smoothing"] | {} == {
        "name": "rsi_smoothing",
        "display_name": "RSI smoothing",
        "type": "select",
        "default": "sma",
        "min": None,
        "max": None,
        "options": ["sma", "wilder"],
        "order": 4,
        "is_active": True,
    }
    assert params["stop_loss_threshold"]["min"] == 0.1


def test_definitions_come_in_display_order(api):
    StrategyParameter.objects.filter(strategy_id=2, parameter_name="stop_loss_threshold").update(display_order=0)
    names = [p["name"] for p in api.get("/api/strategies/2/").json()["parameters"]]
    assert names == ["stop_loss_threshold", "fast_ma_period", "slow_ma_period"]


def test_a_boolean_default_is_a_json_boolean(api):
    # No seeded parameter is boolean; the JSON shape is checked on a row written directly.
    StrategyParameter.objects.filter(strategy_id=6, parameter_name="mr_threshold").update(
        parameter_type="boolean", default_value="true", min_value=None, max_value=None
    )
    (row,) = [p for p in api.get("/api/strategies/6/").json()["parameters"] if p["name"] == "mr_threshold"]
    assert row["default"] is True


def test_inactive_strategies_and_definitions_are_hidden_unless_all(api):
    Strategy.objects.filter(id=4).update(is_active=False)
    StrategyParameter.objects.filter(strategy_id=1, parameter_name="rsi_smoothing").update(is_active=False)
    assert 4 not in [s["id"] for s in api.get("/api/strategies/").json()]
    assert api.get("/api/strategies/4/").status_code == 404
    assert "rsi_smoothing" not in [p["name"] for p in api.get("/api/strategies/1/").json()["parameters"]]

    everything = api.get("/api/strategies/?all=1").json()
    assert [s["id"] for s in everything] == [1, 2, 3, 4, 5, 6]
    assert everything[3]["is_active"] is False
    rsi = {p["name"]: p for p in api.get("/api/strategies/1/?all=1").json()["parameters"]}
    assert rsi["rsi_smoothing"]["is_active"] is False


def test_unknown_strategy_is_404(api):
    assert api.get("/api/strategies/99/").status_code == 404


def test_strategies_cannot_be_written_over_the_api(api, admin_user):
    assert api.post("/api/strategies/", {"name": "x"}).status_code == 403
    api.force_authenticate(admin_user)
    assert api.post("/api/strategies/", {"name": "x"}).status_code == 405
    assert api.patch("/api/strategies/1/", {"name": "x"}).status_code == 405
    assert api.delete("/api/strategies/1/").status_code == 405
    assert Strategy.objects.get(id=1).name == "RSI Mean Reversion"
