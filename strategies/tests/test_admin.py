"""Admin: strategies with their definitions inline; a definition that cannot work is refused on its field."""

import pytest

from strategies.models import StrategyParameter

from .conftest import field_errors

pytestmark = pytest.mark.django_db


def param(strategy_id, name):
    return StrategyParameter.objects.get(strategy_id=strategy_id, parameter_name=name)


def test_strategy_admin_requires_staff(client):
    response = client.get("/admin/strategies/strategy/1/change/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_change_page_shows_the_definitions_inline(admin_client, plain_static):
    html = admin_client.get("/admin/strategies/strategy/1/change/").content.decode()
    for name in ("rsi_period", "oversold_threshold", "overbought_threshold", "rsi_smoothing", "stop_loss_threshold"):
        assert f'value="{name}"' in html


def test_valid_edits_are_saved(save_strategy):
    response = save_strategy(
        1,
        edits={
            "rsi_period": {
                "display_name": "Period",
                "default_value": "21",
                "min_value": 5,
                "max_value": 50,
                "display_order": 9,
            },
            "rsi_smoothing": {"options": '["wilder"]', "default_value": "wilder"},
            "stop_loss_threshold": {"is_active": False},
        },
    )
    assert response.status_code == 302
    rsi = param(1, "rsi_period")
    assert (rsi.display_name, rsi.default_value, rsi.min_value, rsi.max_value, rsi.display_order) == (
        "Period",
        "21",
        5,
        50,
        9,
    )
    assert param(1, "rsi_smoothing").options == '["wilder"]'
    assert param(1, "stop_loss_threshold").is_active is False


@pytest.mark.parametrize(
    ("name", "edit", "field", "message"),
    [
        ("rsi_period", {"default_value": "1000", "max_value": 100}, "default_value", "outside min..max"),
        ("rsi_period", {"default_value": "3", "min_value": 5}, "default_value", "outside min..max"),
        ("rsi_period", {"min_value": 60, "max_value": 50, "default_value": "55"}, "min_value", "greater than max"),
        ("rsi_smoothing", {"default_value": "ema"}, "default_value", "not one of the options"),
        ("rsi_smoothing", {"options": "sma, wilder"}, "options", "must be a JSON list"),
        ("rsi_smoothing", {"options": '{"a": 1}'}, "options", "must be a JSON list"),
        ("rsi_smoothing", {"options": '["sma", "ema"]'}, "options", "not among the engine's choices"),
        ("rsi_period", {"parameter_name": "rsi_length"}, "parameter_name", "has no parameter 'rsi_length'"),
        ("rsi_period", {"parameter_type": "number"}, "parameter_type", "is of type integer"),
        ("rsi_period", {"default_value": "14.5"}, "default_value", "not an integer"),
        ("oversold_threshold", {"default_value": "low"}, "default_value", "not a number"),
        ("rsi_period", {"min_value": 1}, "min_value", "below the engine's minimum 2"),
        ("rsi_period", {"max_value": 501}, "max_value", "above the engine's maximum 500"),
        ("rsi_period", {"default_value": ""}, "default_value", "required"),
        (
            "oversold_threshold",
            {"default_value": "75"},
            "default_value",
            "must be less than Overbought threshold (75 ≥ 70)",
        ),
    ],
)
def test_a_definition_that_cannot_work_is_refused_on_its_field(save_strategy, name, edit, field, message):
    before = list(StrategyParameter.objects.filter(strategy_id=1).values())
    response = save_strategy(1, edits={name: edit})
    assert response.status_code == 200
    errors = field_errors(response)
    assert list(errors) == [edit.get("parameter_name", name)]
    assert any(message in m for m in errors[edit.get("parameter_name", name)][field]), errors
    assert list(StrategyParameter.objects.filter(strategy_id=1).values()) == before


def test_a_new_definition_for_a_parameter_the_engine_does_not_know_is_refused(save_strategy):
    response = save_strategy(5, new=[{"parameter_name": "bb_width", "parameter_type": "number", "default_value": "1"}])
    assert response.status_code == 200
    assert "has no parameter 'bb_width'" in field_errors(response)["bb_width"]["parameter_name"][0]
    assert not StrategyParameter.objects.filter(parameter_name="bb_width").exists()


def test_a_deleted_definition_can_be_added_back(save_strategy):
    assert save_strategy(5, delete=["bb_std_multiplier"]).status_code == 302
    assert not StrategyParameter.objects.filter(strategy_id=5, parameter_name="bb_std_multiplier").exists()
    response = save_strategy(
        5,
        new=[
            {"parameter_name": "bb_std_multiplier", "parameter_type": "number", "default_value": "2.5", "max_value": 4}
        ],
    )
    assert response.status_code == 302
    assert param(5, "bb_std_multiplier").default_value == "2.5"


def test_a_cross_field_rule_broken_by_defaults_is_refused_on_the_default(save_strategy):
    response = save_strategy(2, edits={"fast_ma_period": {"default_value": "40"}})
    assert response.status_code == 200
    assert "must be less than Slow MA period (40 ≥ 30)" in field_errors(response)["fast_ma_period"]["default_value"][0]
    assert param(2, "fast_ma_period").default_value == "10"


def test_switching_off_a_definition_takes_it_out_of_the_cross_field_check(save_strategy):
    # Inactive: the run uses the engine's default (10), which is below the slow period's 30.
    response = save_strategy(2, edits={"fast_ma_period": {"default_value": "40", "max_value": 40, "is_active": False}})
    assert response.status_code == 302


def test_the_strategy_key_must_name_an_engine(save_strategy):
    response = save_strategy(1, key="turtle")
    assert response.status_code == 200
    assert "key" in response.context["adminform"].form.errors
