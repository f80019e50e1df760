"""strategy_parameters_resolve: the admin's definitions narrow the engine's, the engine has the last word."""

import pytest

from strategies.engine import InvalidParameters
from strategies.models import Strategy, StrategyParameter
from strategies.selectors import strategy_get
from strategies.services import strategy_parameters_resolve

pytestmark = pytest.mark.django_db


def resolve(strategy_id, params=None):
    return strategy_parameters_resolve(strategy=Strategy.objects.get(id=strategy_id), params=params)


def edit(strategy_id, name, **fields):
    StrategyParameter.objects.filter(strategy_id=strategy_id, parameter_name=name).update(**fields)


def refused(strategy_id, params) -> tuple[str, str]:
    with pytest.raises(InvalidParameters) as info:
        resolve(strategy_id, params)
    return info.value.parameter, info.value.rule


def test_no_params_gives_the_seeded_defaults_in_their_types():
    assert resolve(1) == {
        "rsi_period": 14,
        "oversold_threshold": 30.0,
        "overbought_threshold": 70.0,
        "rsi_smoothing": "sma",
        "stop_loss_threshold": 10.0,
    }
    assert isinstance(resolve(1)["rsi_period"], int)


def test_given_params_override_defaults():
    assert resolve(1, {"rsi_period": 21, "rsi_smoothing": "wilder"}) | {} == resolve(1) | {
        "rsi_period": 21,
        "rsi_smoothing": "wilder",
    }


def test_admin_defaults_override_the_engines():
    edit(1, "rsi_period", default_value="21")
    edit(6, "mr_threshold", default_value="7.5")
    assert resolve(1)["rsi_period"] == 21
    assert resolve(6)["mr_threshold"] == 7.5


def test_admin_min_and_max_narrow_the_engines_range():
    edit(1, "rsi_period", min_value=10, max_value=30)
    assert resolve(1, {"rsi_period": 30})["rsi_period"] == 30
    assert refused(1, {"rsi_period": 31}) == ("rsi_period", "must be <= 30")
    assert refused(1, {"rsi_period": 9}) == ("rsi_period", "must be >= 10")


def test_the_engines_range_still_applies_where_the_admin_sets_none():
    edit(1, "rsi_period", min_value=None, max_value=None)
    assert refused(1, {"rsi_period": 501}) == ("rsi_period", "must be <= 500")


def test_admin_options_narrow_a_select():
    edit(1, "rsi_smoothing", options='["wilder"]', default_value="wilder")
    assert resolve(1)["rsi_smoothing"] == "wilder"
    assert refused(1, {"rsi_smoothing": "sma"}) == ("rsi_smoothing", "must be one of ['wilder']")


def test_an_inactive_definition_is_unknown_and_takes_the_engines_default():
    edit(1, "rsi_smoothing", is_active=False, default_value="wilder", options='["wilder"]')
    parameter, rule = refused(1, {"rsi_smoothing": "wilder"})
    assert parameter == "rsi_smoothing" and "unknown parameter" in rule
    assert resolve(1)["rsi_smoothing"] == "sma"


def test_an_unknown_parameter_is_refused_by_name():
    parameter, rule = refused(2, {"fast_ma_period": 5, "typo_period": 3})
    assert parameter == "typo_period" and "unknown parameter" in rule


@pytest.mark.parametrize(
    ("params", "parameter", "rule"),
    [
        ({"rsi_period": "14"}, "rsi_period", "must be an integer"),
        ({"rsi_period": 14.5}, "rsi_period", "must be an integer"),
        ({"oversold_threshold": True}, "oversold_threshold", "must be a number"),
        ({"oversold_threshold": 80}, "oversold_threshold", "must be less than Overbought threshold (80 ≥ 70)"),
        ({"stop_loss_threshold": 0}, "stop_loss_threshold", "must be >= 0.1"),
    ],
)
def test_wrong_types_ranges_and_cross_field_rules_are_refused(params, parameter, rule):
    assert refused(1, params) == (parameter, rule)


def test_integral_floats_are_accepted_as_integers():
    assert resolve(2, {"fast_ma_period": 5.0})["fast_ma_period"] == 5


def test_a_cross_field_rule_sees_the_admin_defaults():
    edit(2, "slow_ma_period", default_value="12")
    assert refused(2, {"fast_ma_period": 15}) == ("fast_ma_period", "must be less than Slow MA period (15 ≥ 12)")


def test_works_with_the_prefetched_strategy_too():
    edit(3, "macd_signal_period", is_active=False)
    strategy = strategy_get(strategy_id=3)
    assert strategy_parameters_resolve(strategy=strategy, params={"macd_fast_period": 5})["macd_fast_period"] == 5
    with pytest.raises(InvalidParameters):
        strategy_parameters_resolve(strategy=strategy, params={"macd_signal_period": 5})
