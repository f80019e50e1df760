"""Rule strategies in the admin, the catalogue API, the services, export and import."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from market_data.models import Cryptocurrency
from market_data.services import demo_universe_load
from strategies.engine import InvalidParameters, backtest_arrays
from strategies.engine.rules import RuleStrategy
from strategies.models import Strategy
from strategies.services import (
    rules_from_snapshot,
    strategy_engine_get,
    strategy_import,
    strategy_parameters_resolve,
    strategy_rules_snapshot,
)

pytestmark = pytest.mark.django_db

ENTRY = "rsi(close, rsi_period) < oversold and close > sma(close, trend_period)"
EXIT = "crosses_above(rsi(close, rsi_period), overbought)"
PARAMETERS = [
    {
        "parameter_name": "rsi_period",
        "parameter_type": "integer",
        "default_value": "14",
        "min_value": "2",
        "max_value": "500",
        "display_order": 1,
    },
    {
        "parameter_name": "oversold",
        "parameter_type": "number",
        "default_value": "30",
        "min_value": "0",
        "max_value": "100",
        "display_order": 2,
    },
    {
        "parameter_name": "overbought",
        "parameter_type": "number",
        "default_value": "70",
        "min_value": "0",
        "max_value": "100",
        "display_order": 3,
    },
    {
        "parameter_name": "trend_period",
        "parameter_type": "integer",
        "default_value": "200",
        "min_value": "1",
        "max_value": "2000",
        "display_order": 4,
    },
]


def _add(admin_client, *, entry=ENTRY, exit_=EXIT, parameters=PARAMETERS, name="Trend-filtered RSI", **extra):
    data = {
        "name": name,
        "kind": "rules",
        "description": "RSI dips in an up-trend",
        "is_active": "on",
        "entry_rule": entry,
        "exit_rule": exit_,
        "parameters-TOTAL_FORMS": str(len(parameters)),
        "parameters-INITIAL_FORMS": "0",
        "parameters-MIN_NUM_FORMS": "0",
        "parameters-MAX_NUM_FORMS": "1000",
        **extra,
    }
    for i, row in enumerate(parameters):
        for field, value in {"is_active": "on", "display_name": row["parameter_name"], **row}.items():
            data[f"parameters-{i}-{field}"] = value
    return admin_client.post("/admin/strategies/strategy/add/", data, follow=True)


@pytest.fixture
def added(admin_client, plain_static) -> Strategy:
    response = _add(admin_client)
    assert response.status_code == 200 and not response.context.get("errors"), response.content[:3000]
    return Strategy.objects.get(name="Trend-filtered RSI")


def test_a_rule_strategy_added_in_the_admin_is_saved_with_a_stop_loss_and_said_understood(added, admin_client):
    assert added.is_rules and added.key.startswith("rules-")
    assert added.entry_rule == ENTRY and added.exit_rule == EXIT
    names = list(added.parameters.order_by("display_order").values_list("parameter_name", flat=True))
    assert names == ["rsi_period", "oversold", "overbought", "trend_period", "stop_loss_threshold"]
    page = admin_client.get(f"/admin/strategies/strategy/{added.id}/change/").content.decode()
    assert "warm-up 200 bars at the defaults" in page
    assert "indicators: rsi, sma" in page
    assert "parameters used: overbought, oversold, rsi_period, trend_period" in page
    assert "Try on one coin" in page
    assert "crosses_above(a, b)" in page  # the help beside the fields


def test_the_save_message_says_what_was_understood(admin_client, plain_static):
    extra = [
        *PARAMETERS,
        {"parameter_name": "spare", "parameter_type": "number", "default_value": "1", "display_order": 5},
    ]
    response = _add(admin_client, parameters=extra)
    text = " ".join(str(m) for m in response.context["messages"])
    assert "Rules understood as: warm-up 200 bars" in text
    assert "defined but unused: spare" in text


@pytest.mark.parametrize(
    ("entry", "field", "words", "caret"),
    [
        (
            "rsi(close, rsi_period) < oversold and close.real > 1",
            "entry_rule",
            "attribute access",
            "rsi(close, rsi_period) &lt; oversold and close.real &gt; 1\n" + " " * 38 + "^",
        ),
        (
            "rsi(close, rsi_periodd) < oversold",
            "entry_rule",
            "unknown name",
            "rsi(close, rsi_periodd) &lt; oversold\n" + " " * 11 + "^",
        ),
        (
            "sma(close, oversold) > close",
            "entry_rule",
            "is a period",
            "sma(close, oversold) &gt; close\n" + " " * 11 + "^",
        ),
    ],
)
def test_a_bad_rule_is_refused_under_its_field_with_a_caret(admin_client, plain_static, entry, field, words, caret):
    response = _add(admin_client, entry=entry)
    assert not Strategy.objects.filter(name="Trend-filtered RSI").exists()
    errors = response.context["adminform"].form.errors
    assert words in str(errors[field])
    assert caret in response.content.decode()


def test_a_rule_using_an_inactive_or_select_parameter_is_refused(admin_client, plain_static):
    rows = [dict(PARAMETERS[0]), *PARAMETERS[1:]]
    rows[3] = {**rows[3], "is_active": ""}
    response = _add(admin_client, parameters=rows)
    assert "unknown name &#x27;trend_period&#x27;" in str(response.context["adminform"].form.errors["entry_rule"])
    select = [
        *PARAMETERS,
        {
            "parameter_name": "mode",
            "parameter_type": "select",
            "default_value": "a",
            "options": '["a", "b"]',
            "display_order": 9,
        },
    ]
    response = _add(admin_client, parameters=select, exit_=EXIT + " and mode > 1")
    assert "select parameter" in str(response.context["adminform"].form.errors["exit_rule"])
    assert not Strategy.objects.filter(kind="rules").exists()


def test_a_bad_definition_is_refused_on_its_field(admin_client, plain_static):
    rows = [*PARAMETERS[:3], {**PARAMETERS[3], "default_value": "3000"}]
    response = _add(admin_client, parameters=rows)
    formset = response.context["inline_admin_formsets"][0].formset
    assert any("outside min..max" in str(f.errors) for f in formset.forms)
    assert not Strategy.objects.filter(kind="rules").exists()


def test_a_builtin_keeps_its_key_and_has_no_rules(admin_client, plain_static, save_strategy):
    response = save_strategy(2, entry_rule="close > 1")
    assert response.status_code == 200
    assert "only rule strategies have rules" in str(response.context["adminform"].form.errors["entry_rule"])


def test_a_rule_strategy_cannot_become_a_builtin(added, save_strategy):
    response = save_strategy(added.id, kind="builtin", entry_rule="", exit_rule="")
    assert response.status_code == 200
    assert "cannot become a built-in" in str(response.context["adminform"].form.errors["kind"])
    assert Strategy.objects.get(id=added.id).is_rules


def test_editing_the_rules_changes_what_runs(added, admin_client, save_strategy):
    response = save_strategy(added.id, entry_rule="close > sma(close, trend_period)")
    assert response.status_code == 302
    rules = strategy_engine_get(strategy=Strategy.objects.get(id=added.id))
    assert isinstance(rules, RuleStrategy) and rules.entry_rule == "close > sma(close, trend_period)"
    assert rules.summary()["parameters_unused"] == ["oversold"]


def test_try_on_one_coin_shows_trades_and_return(added, admin_client):
    demo_universe_load(symbols=["BTC"])
    page = admin_client.get(f"/admin/strategies/strategy/{added.id}/try/")
    assert page.status_code == 200 and "BTC" in page.content.decode()
    response = admin_client.get(f"/admin/strategies/strategy/{added.id}/try/", {"coin": "BTC"})
    result = response.context["result"]
    assert result.metrics["total_trades"] > 0
    html = response.content.decode()
    assert f"Return {result.metrics['total_return']:.2f} %" in html
    assert html.count("<tr><td>") == result.metrics["total_trades"]
    assert (
        "unknown coin"
        in admin_client.get(f"/admin/strategies/strategy/{added.id}/try/", {"coin": "NOPE"}).content.decode()
    )


def test_the_catalogue_lists_rule_strategies_with_rules_and_parameters(added):
    body = APIClient().get("/api/strategies/").json()
    mine = next(s for s in body if s["id"] == added.id)
    assert mine["kind"] == "rules" and mine["entry_rule"] == ENTRY and mine["exit_rule"] == EXIT
    assert [p["name"] for p in mine["parameters"]][-1] == "stop_loss_threshold"
    builtin = next(s for s in body if s["key"] == "rsi")
    assert builtin["kind"] == "builtin" and builtin["entry_rule"] == ""


def test_parameters_resolve_for_a_rule_strategy(added):
    resolved = strategy_parameters_resolve(strategy=added, params={"rsi_period": 21})
    assert resolved == {
        "rsi_period": 21,
        "oversold": 30.0,
        "overbought": 70.0,
        "trend_period": 200,
        "stop_loss_threshold": 10.0,
    }
    for bad, name in (({"rsi_period": 1}, "rsi_period"), ({"nope": 1}, "nope"), ({"oversold": 10**400}, "oversold")):
        with pytest.raises(InvalidParameters) as caught:
            strategy_parameters_resolve(strategy=added, params=bad)
        assert caught.value.parameter == name


def test_a_snapshot_keeps_the_rules_a_run_ran_with(added, save_strategy):
    snapshot = json.loads(json.dumps(strategy_rules_snapshot(strategy=added)))  # as stored in a JSON field
    assert save_strategy(added.id, exit_rule="close < sma(close, trend_period)").status_code == 302
    old, new = rules_from_snapshot(snapshot), strategy_engine_get(strategy=Strategy.objects.get(id=added.id))
    assert old.exit_rule == EXIT and new.exit_rule == "close < sma(close, trend_period)"
    assert old.key == new.key and old.parameters_resolve({}) == new.parameters_resolve({})
    assert strategy_rules_snapshot(strategy=Strategy.objects.get(key="rsi")) is None


def test_the_engine_object_of_a_row_runs(added):
    demo_universe_load(symbols=["ETH"])
    from market_data.selectors import prices_get

    prices = prices_get(crypto_id=Cryptocurrency.objects.get(symbol="ETH").id)
    engine = strategy_engine_get(strategy=added)
    result = backtest_arrays(engine, times=prices.times, close=prices.close, params={"trend_period": 50})
    assert result.warmup == 50 and result.strategy == added.key
    assert strategy_engine_get(strategy=Strategy.objects.get(key="rsi")) == "rsi"


# --- export and import --------------------------------------------------------------------------


def _export(strategy_id: int) -> dict:
    out = io.StringIO()
    call_command("strategy_export", str(strategy_id), stdout=out)
    return json.loads(out.getvalue())


def test_export_import_round_trip(added, tmp_path):
    exported = _export(added.id)
    assert exported["entry_rule"] == ENTRY and exported["parameters"][0] == {
        "name": "rsi_period",
        "display_name": "rsi_period",
        "type": "integer",
        "default": 14,
        "min": 2,
        "max": 500,
        "options": None,
        "order": 1,
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps({**exported, "name": "Copy"}))
    call_command("strategy_import", str(path), stdout=io.StringIO())
    copy = Strategy.objects.get(name="Copy")
    assert _export(copy.id) == {**exported, "name": "Copy"}
    assert copy.key != added.key


def test_import_refuses_an_existing_name_unless_replace(added, tmp_path):
    exported = _export(added.id)
    path = tmp_path / "s.json"
    path.write_text(json.dumps({**exported, "exit_rule": "close < sma(close, trend_period)"}))
    with pytest.raises(CommandError, match="name: a strategy named 'Trend-filtered RSI' exists"):
        call_command("strategy_import", str(path))
    call_command("strategy_import", str(path), "--replace", stdout=io.StringIO())
    assert Strategy.objects.get(id=added.id).exit_rule == "close < sma(close, trend_period)"
    assert Strategy.objects.filter(name="Trend-filtered RSI").count() == 1


def test_import_without_stop_loss_adds_it():
    strategy = strategy_import(
        data={"name": "Plain", "entry_rule": "close > sma(close, 5)", "exit_rule": "close < sma(close, 5)"}
    )
    assert list(strategy.parameters.values_list("parameter_name", flat=True)) == ["stop_loss_threshold"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"entry_rule": "close +"}, "entry_rule"),
        ({"exit_rule": "nope > 1"}, "exit_rule"),
        ({"name": ""}, "name"),
        ({"active": "yes"}, "active"),
        ({"colour": "red"}, "colour"),
        ({"parameters": {}}, "parameters"),
        (
            {"parameters": [{"name": "rsi_period", "type": "integer", "default": 1, "min": 2, "max": 9}]},
            "parameters[0].default",
        ),
        ({"parameters": [{"name": "rsi period", "type": "integer", "default": 3}]}, "parameters[0].name"),
        ({"parameters": [{"name": "x", "type": "integer", "default": 3, "min": "2"}]}, "parameters[0].min"),
    ],
)
def test_a_bad_file_is_refused_whole_naming_the_field(tmp_path, change, field):
    data = {
        "name": "Bad",
        "description": "",
        "active": True,
        "entry_rule": "rsi(close, rsi_period) < 30",
        "exit_rule": "rsi(close, rsi_period) > 70",
        "parameters": [
            {
                "name": "rsi_period",
                "display_name": "RSI",
                "type": "integer",
                "default": 14,
                "min": 2,
                "max": 500,
                "options": None,
                "order": 1,
            }
        ],
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**data, **change}))
    before = (Strategy.objects.count(), Strategy.objects.filter(kind="rules").count())
    with pytest.raises(CommandError) as caught:
        call_command("strategy_import", str(path))
    assert str(caught.value).startswith(f"{field}:"), str(caught.value)
    assert (Strategy.objects.count(), Strategy.objects.filter(kind="rules").count()) == before


def test_import_refuses_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{nope")
    with pytest.raises(CommandError, match="not JSON"):
        call_command("strategy_import", str(path))


def test_export_refuses_a_builtin_and_an_unknown_id():
    with pytest.raises(CommandError, match="built-in"):
        call_command("strategy_export", "1")
    with pytest.raises(CommandError, match="no strategy"):
        call_command("strategy_export", "999")


def test_a_view_only_staff_sees_a_rule_strategy_and_cannot_change_it(added, django_user_model, client):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_strategy", "view_strategyparameter"]))
    client.force_login(staff)
    page = client.get(f"/admin/strategies/strategy/{added.id}/change/")
    assert page.status_code == 200 and ENTRY.replace("<", "&lt;").replace(">", "&gt;") in page.content.decode()
    post = client.post(f"/admin/strategies/strategy/{added.id}/change/", {"name": "x", "entry_rule": "close > 1"})
    assert post.status_code == 403 and Strategy.objects.get(id=added.id).entry_rule == ENTRY
