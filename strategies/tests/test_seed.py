"""The data migration seeds exactly the strategies and parameter definitions of spec/ENGINE.md."""

from decimal import Decimal

import pytest

from strategies.models import Strategy, StrategyParameter

pytestmark = pytest.mark.django_db

# Written out from spec/ENGINE.md, "Parameters", independently of the engine's registry.
SL = ("stop_loss_threshold", "number", "10", "0.1", "100", "")
SPEC = {
    1: [
        ("rsi_period", "integer", "14", "2", "500", ""),
        ("oversold_threshold", "number", "30", "0", "100", ""),
        ("overbought_threshold", "number", "70", "0", "100", ""),
        ("rsi_smoothing", "select", "sma", None, None, '["sma", "wilder"]'),
        SL,
    ],
    2: [("fast_ma_period", "integer", "10", "1", "1000", ""), ("slow_ma_period", "integer", "30", "2", "2000", ""), SL],
    3: [
        ("macd_fast_period", "integer", "12", "1", "500", ""),
        ("macd_slow_period", "integer", "26", "2", "1000", ""),
        ("macd_signal_period", "integer", "9", "1", "500", ""),
        SL,
    ],
    4: [
        ("stoch_k_period", "integer", "14", "1", "500", ""),
        ("stoch_d_period", "integer", "3", "1", "100", ""),
        ("oversold_threshold", "number", "20", "0", "100", ""),
        ("overbought_threshold", "number", "80", "0", "100", ""),
        SL,
    ],
    5: [("bb_period", "integer", "20", "2", "1000", ""), ("bb_std_multiplier", "number", "2", "0.1", "10", ""), SL],
    6: [("mr_period", "integer", "20", "2", "1000", ""), ("mr_threshold", "number", "5", "0.01", "100", ""), SL],
}


def test_six_strategies_seeded():
    assert list(Strategy.objects.values_list("id", "key", "is_active")) == [
        (1, "rsi", True),
        (2, "ma_crossover", True),
        (3, "macd", True),
        (4, "stochastic", True),
        (5, "bollinger_bands", True),
        (6, "mean_reversion", True),
    ]


@pytest.mark.parametrize("strategy_id", sorted(SPEC))
def test_seeded_definitions_are_exactly_the_specs(strategy_id):
    rows = StrategyParameter.objects.filter(strategy_id=strategy_id).order_by("parameter_name")
    seeded = [(r.parameter_name, r.parameter_type, r.default_value, r.min_value, r.max_value, r.options) for r in rows]
    expected = sorted(
        (n, t, d, None if lo is None else Decimal(lo), None if hi is None else Decimal(hi), o)
        for n, t, d, lo, hi, o in SPEC[strategy_id]
    )
    assert seeded == expected
    assert all(r.is_active and r.display_name for r in rows)


def test_new_strategies_get_ids_after_the_seeded_ones():
    assert Strategy.objects.create(key="custom", name="Custom").id > 6  # a sequence never rolls back: not exactly 7
