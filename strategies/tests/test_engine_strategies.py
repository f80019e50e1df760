"""Entries and exits of the six strategies on small series worked out by hand.

Stop-loss 100 switches the stop off (a close would have to reach 0) wherever a test is
about the signals alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from .test_engine_support import run, trade_tuples

NO_STOP = {"stop_loss_threshold": 100}


# --- 1. RSI -----------------------------------------------------------------------------


def test_rsi_buys_below_oversold_and_sells_above_overbought() -> None:
    # RSI(2): -, -, 50, 0, 50, 100, 100 -> buy bar 3 at 9, sell bar 5 at 11; at bar 6
    # RSI is 100 again but a flat position only looks for an entry.
    result = run("rsi", [10, 11, 10, 9, 10, 11, 12], {"rsi_period": 2, **NO_STOP})
    assert trade_tuples(result) == [(3, 5, "signal")]
    assert result.trades[0]["entry_price"] == 9 and result.trades[0]["exit_price"] == 11
    assert result.metrics["total_return"] == pytest.approx((11 / 9 - 1) * 100)


def test_rsi_thresholds_are_strict() -> None:
    # RSI(2) at bar 2 is exactly 25 (gain .5, loss 1.5), at bar 3 33.3: not below 25.
    close = [10, 11, 8, 9.5]
    assert run("rsi", close, {"rsi_period": 2, "oversold_threshold": 25, **NO_STOP}).trades == []
    assert trade_tuples(run("rsi", close, {"rsi_period": 2, "oversold_threshold": 25.01})) == [(2, 3, "end_of_data")]


def test_rsi_wilder_smoothing_changes_the_signals() -> None:
    # Wilder RSI(2) of 10, 11, 10, 9, 10: 50, 25, 62.5; the SMA RSI: 50, 0, 50.
    close = [10, 11, 10, 9, 10, 9.5]
    params = {"rsi_period": 2, "oversold_threshold": 20, "overbought_threshold": 60, **NO_STOP}
    assert trade_tuples(run("rsi", close, params)) == [(3, 5, "signal")]  # SMA RSI 0, then 66.7
    assert run("rsi", close, {**params, "rsi_smoothing": "wilder"}).trades == []


def test_rsi_on_flat_prices_never_trades() -> None:
    result = run("rsi", [50.0] * 40)
    assert result.trades == [] and result.metrics["total_return"] == 0.0


# --- 2. MA crossover ---------------------------------------------------------------------


def test_ma_crossover_buys_on_the_cross_above_and_sells_on_the_cross_below() -> None:
    # fast = close, slow = SMA(2): fast > slow exactly when the close rose.
    # bar 3: 8 <= 8.5 then 9 > 8.5 -> buy at 9. bar 5: 11 >= 10 then 10 < 10.5 -> sell at 10.
    # bar 6: 10 <= 10.5 then 12 > 11 -> buy at 12 on the last bar -> closed at end of data.
    result = run("ma_crossover", [10, 9, 8, 9, 11, 10, 12], {"fast_ma_period": 1, "slow_ma_period": 2, **NO_STOP})
    assert trade_tuples(result) == [(3, 5, "signal"), (6, 6, "end_of_data")]
    assert [t["return_pct"] for t in result.trades] == [pytest.approx(100 / 9), 0.0]
    assert result.metrics["losing_trades"] == 1  # r = 0 counts as losing


def test_ma_crossover_equal_averages_before_count_as_below() -> None:
    # bar 1: fast 10 == slow 10; bar 2: 11 > 10.5 -> a cross, at the first bar past the warm-up.
    result = run("ma_crossover", [10, 10, 11, 12], {"fast_ma_period": 1, "slow_ma_period": 2})
    assert trade_tuples(result) == [(2, 3, "end_of_data")]


def test_ma_crossover_fast_above_without_a_cross_does_not_buy() -> None:
    # the fast SMA is above the slow one from the warm-up on, but never crosses.
    assert run("ma_crossover", [1, 2, 3, 4, 5, 6, 7], {"fast_ma_period": 1, "slow_ma_period": 2}).trades == []


# --- 3. MACD -----------------------------------------------------------------------------

MACD_1_3_3 = {"macd_fast_period": 1, "macd_slow_period": 3, "macd_signal_period": 3}  # W = 6


def test_macd_buys_on_the_cross_above_and_sells_on_the_cross_below() -> None:
    # EMA(1) is the close, EMA(3) halves the gap (a = .5), the signal line too.
    # slow EMA, bars 7-9: 12, 16, 17 -> MACD 4, 4, 1; signal 2, 3, 2.
    # bar 7: 0 <= 0, 4 > 2 -> buy at 16; bar 9: 4 >= 3, 1 < 2 -> sell at 18.
    result = run("macd", [8] * 7 + [16, 20, 18], {**MACD_1_3_3, **NO_STOP})
    assert trade_tuples(result) == [(7, 9, "signal")]
    assert result.metrics["total_return"] == pytest.approx(12.5)


def test_macd_cross_before_the_warmup_is_ignored() -> None:
    # the spike at bar 2 crosses above at bar 2 (< W = 6); MACD and signal are equal
    # (-0.5) at bar 5 and MACD is above at bar 6: the first entry is bar 6.
    result = run("macd", [8, 8, 16, 8, 8, 8, 8, 8, 8, 8], {**MACD_1_3_3, **NO_STOP})
    assert trade_tuples(result) == [(6, 9, "end_of_data")]


# --- 4. Stochastic -----------------------------------------------------------------------


def stochastic_run(pct_k: list[float], **params: float):
    """%K(1) of a bar with low 100, high 200 and close 100 + K is K."""
    close = [100 + k for k in pct_k]
    n = len(close)
    return run(
        "stochastic",
        close,
        {"stoch_k_period": 1, "stoch_d_period": 2, **NO_STOP, **params},
        high=[200] * n,
        low=[100] * n,
    )


def test_stochastic_buys_on_a_cross_above_in_the_oversold_zone_and_sells_on_a_cross_below_overbought() -> None:
    # %K 50 50 50 10 15 90 85 95, %D = mean of two: - 50 50 30 12.5 52.5 87.5 90.
    # bar 4: 10 <= 30, 15 > 12.5, 15 < 20 -> buy. bar 6: 90 >= 52.5, 85 < 87.5, 85 > 80 -> sell.
    # bar 7 crosses above again but %K 95 is not oversold.
    result = stochastic_run([50, 50, 50, 10, 15, 90, 85, 95])
    assert trade_tuples(result) == [(4, 6, "signal")]
    assert result.trades[0]["entry_price"] == 115 and result.trades[0]["exit_price"] == 185


def test_stochastic_cross_outside_the_zones_does_nothing() -> None:
    # same crosses, but %K at the entry cross is 25 (not < 20): no trade.
    assert stochastic_run([50, 50, 50, 10, 25, 90, 85, 95]).trades == []


def test_stochastic_cross_below_outside_overbought_does_not_sell() -> None:
    # %K falls through %D at bar 6 at 75 (not > 80): held to the end.
    result = stochastic_run([50, 50, 50, 10, 15, 90, 75, 95])
    assert trade_tuples(result) == [(4, 7, "end_of_data")]


def test_stochastic_on_flat_prices_never_trades() -> None:
    assert run("stochastic", [20.0] * 40).trades == []


# --- 5. Bollinger bands ------------------------------------------------------------------


def test_bollinger_buys_at_the_lower_band_and_sells_at_the_upper() -> None:
    # period 3, 1 std. bar 3: (10, 10, 7): mean 9, std sqrt(3) -> lower 7.27, 7 <= it -> buy.
    # bar 4: (10, 7, 8): upper 8.33 + 1.53 = 9.86 > 8. bar 5: (7, 8, 11): upper 8.67 + 2.08 = 10.75 -> sell 11.
    # bar 2 (10, 10, 10) has lower == close, but it is inside the warm-up.
    result = run("bollinger_bands", [10, 10, 10, 7, 8, 11], {"bb_period": 3, "bb_std_multiplier": 1, **NO_STOP})
    assert trade_tuples(result) == [(3, 5, "signal")]
    assert result.metrics["total_return"] == pytest.approx((11 / 7 - 1) * 100)


def test_bollinger_wider_bands_do_not_trade() -> None:
    assert run("bollinger_bands", [10, 10, 10, 7, 8, 11], {"bb_period": 3, "bb_std_multiplier": 1.2}).trades == []


def test_bollinger_on_flat_prices_touches_both_bands() -> None:
    # zero deviation: the close equals both bands, so a flat position buys and a long one sells.
    result = run("bollinger_bands", [10.0] * 7, {"bb_period": 2})
    assert trade_tuples(result) == [(2, 3, "signal"), (4, 5, "signal"), (6, 6, "end_of_data")]


# --- 6. Mean reversion -------------------------------------------------------------------


def test_mean_reversion_buys_below_the_threshold_and_sells_back_at_the_mean() -> None:
    # SMA(2); bar 3: (90 - 95) / 95 = -5.26% <= -5 -> buy. bar 4: 92 >= 91 -> sell.
    # bar 6: (91 - 93) / 93 = -2.2%: no entry.
    result = run("mean_reversion", [100, 100, 100, 90, 92, 95, 91], {"mr_period": 2, "mr_threshold": 5, **NO_STOP})
    assert trade_tuples(result) == [(3, 4, "signal")]


def test_mean_reversion_threshold_is_inclusive() -> None:
    # (95 - 100) / 100 * 100 is exactly -5.
    close = [105, 105, 105, 95, 96]
    assert trade_tuples(run("mean_reversion", close, {"mr_period": 2, "mr_threshold": 5})) == [(3, 4, "signal")]
    assert run("mean_reversion", close, {"mr_period": 2, "mr_threshold": 5.01}).trades == []


def test_mean_reversion_on_flat_prices_never_trades() -> None:
    assert run("mean_reversion", [3.0] * 30).trades == []


@pytest.mark.parametrize("key", ["rsi", "ma_crossover", "macd", "bollinger_bands", "mean_reversion", "stochastic"])
def test_no_signal_while_indicators_are_undefined(key: str) -> None:
    # A crash before the warm-up ends would trigger every strategy's entry if evaluated.
    close = np.concatenate([[100.0] * 3, [60.0] * 3, np.linspace(60, 61, 60)])
    result = run(key, close, high=close * 1.001, low=close * 0.999)
    assert all(t["entry_index"] >= result.warmup for t in result.trades)
