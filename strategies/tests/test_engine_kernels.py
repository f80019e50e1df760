"""The compiled signal kernels against the indicator expressions they fuse.

Each strategy's signals are one compiled call, and several decide on a cheap running
value, computing the exact one only where the decision is close (engine README, "Proofs of
exactness", decision means). They must still be the spec's expressions over the public
indicators, bar for bar: on ordinary walks, and on series built to make the cheap path
wrong if its bound were: prices on a coarse grid (exact ties between averages),
moves of one unit in the last place, long flat stretches, and crashes by many orders of
magnitude inside a window.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.engine import indicators as ind
from strategies.engine.signals import Prices, crossings, strategy_signals

SETTINGS = settings(
    max_examples=int(os.environ.get("ENGINE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def expected_signals(key: str, prices: Prices, p: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The spec's rule of `key` written over the indicators module."""
    close = prices.close
    with np.errstate(invalid="ignore", divide="ignore"):
        if key == "macd":
            macd = ind.ema_difference(close, p["macd_fast_period"], p["macd_slow_period"])
            return crossings(macd, ind.ema(macd, p["macd_signal_period"]))
        if key == "ma_crossover":
            return crossings(ind.sma(close, p["fast_ma_period"]), ind.sma(close, p["slow_ma_period"]))
        if key == "stochastic":
            k, d = ind.stochastic(prices.high, prices.low, close, p["stoch_k_period"], p["stoch_d_period"])
            return crossings(k, d, up_below=p["oversold_threshold"], down_above=p["overbought_threshold"])
        if key == "bollinger_bands":
            mid, std = ind.sma_and_std(close, p["bb_period"])
            width = p["bb_std_multiplier"] * std
            return close <= mid - width, close >= mid + width
        if key == "mean_reversion":
            mid = ind.sma(close, p["mr_period"])
            return (close - mid) / mid * 100.0 <= -p["mr_threshold"], close >= mid
        rsi = (ind.rsi_wilder if p["rsi_smoothing"] == "wilder" else ind.rsi_sma)(close, p["rsi_period"])
        return rsi < p["oversold_threshold"], rsi > p["overbought_threshold"]


def assert_same_signals(key: str, prices: Prices, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    entry, exit_ = expected_signals(key, prices, params)
    got_entry, got_exit = strategy_signals(key, prices, params)
    np.testing.assert_array_equal(got_entry, entry, err_msg=f"{key} entry")
    np.testing.assert_array_equal(got_exit, exit_, err_msg=f"{key} exit")
    return entry, exit_


DEFAULTS = {
    "macd": {"macd_fast_period": 12, "macd_slow_period": 26, "macd_signal_period": 9},
    "ma_crossover": {"fast_ma_period": 10, "slow_ma_period": 30},
    "stochastic": {"stoch_k_period": 14, "stoch_d_period": 3, "oversold_threshold": 20.0, "overbought_threshold": 80.0},
    "bollinger_bands": {"bb_period": 20, "bb_std_multiplier": 2.0},
    "mean_reversion": {"mr_period": 20, "mr_threshold": 1.0},
    "rsi": {"rsi_period": 14, "oversold_threshold": 30.0, "overbought_threshold": 70.0, "rsi_smoothing": "sma"},
}


def _walk_with_flat_stretches(seed: int) -> Prices:
    rng = np.random.default_rng(seed)
    moves = rng.normal(0, 0.01, 3000) * (rng.random(3000) < 0.7)  # 30% of bars unchanged
    close = 250 * np.exp(np.cumsum(moves))
    spread = rng.uniform(0, 0.01, 3000) * (moves != 0)
    return Prices(close, close * (1 + spread), close * (1 - spread))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("key", list(DEFAULTS))
def test_signal_kernels_equal_the_indicator_expressions(key: str, seed: int) -> None:
    entry, exit_ = assert_same_signals(key, _walk_with_flat_stretches(seed), DEFAULTS[key])
    assert entry.any() and exit_.any()  # the comparison saw both kinds of signal


@st.composite
def hard_prices(draw: st.DrawFn) -> Prices:
    """Short series that put the cheap paths on their edges: grid prices (so averages
    tie exactly), last-place moves, flat runs and crashes of up to 10**9 inside a window."""
    size = draw(st.integers(2, 260))
    kind = draw(st.sampled_from(["grid", "ulp", "crash", "walk"]))
    if kind == "grid":
        close = np.array(draw(st.lists(st.integers(1, 6), min_size=size, max_size=size)), dtype=np.float64) * 0.1
    elif kind == "ulp":
        steps = draw(st.lists(st.integers(-2, 2), min_size=size, max_size=size))
        close = np.array([100.0])
        for step in steps[1:]:
            close = np.append(close, close[-1] + step * np.spacing(close[-1]))
    else:
        moves = np.array(
            draw(st.lists(st.sampled_from([0.0, 0.0, 0.01, -0.01, 0.2, -0.2]), min_size=size, max_size=size))
        )
        if kind == "crash":
            at = draw(st.integers(0, size - 1))
            moves[at] -= draw(st.sampled_from([3.0, 9.0, 20.0]))  # e**-20: a fall of 10**9
        close = 50 * np.exp(np.cumsum(moves))
    spread = np.array(draw(st.lists(st.sampled_from([0.0, 0.0, 0.001, 0.03]), min_size=size, max_size=size)))
    return Prices(close, close * (1 + spread), close * (1 - spread))


@st.composite
def small_params(draw: st.DrawFn, key: str) -> dict[str, Any]:
    n = st.integers(1, 40)
    if key == "ma_crossover":
        fast = draw(n)
        return {"fast_ma_period": fast, "slow_ma_period": draw(st.integers(fast + 1, 60))}
    if key == "mean_reversion":
        return {
            "mr_period": draw(st.integers(2, 40)),
            "mr_threshold": draw(st.sampled_from([0.01, 0.5, 5.0, 100.0 / 3])),
        }
    if key == "bollinger_bands":
        # 1/sqrt(2) with a 2-bar window puts the newest close on a band to rounding:
        # (b - a) / 2 against sqrt(1/2) * |b - a| / sqrt(2)
        mult = draw(st.sampled_from([0.1, 1.0, 2.0, 3.0, 0.5**0.5]))
        return {"bb_period": draw(st.sampled_from([2, 2, 3, draw(st.integers(2, 40))])), "bb_std_multiplier": mult}
    if key == "stochastic":
        return {
            "stoch_k_period": draw(n),
            "stoch_d_period": draw(st.integers(1, 12)),
            "oversold_threshold": draw(st.sampled_from([20.0, 50.0, 100.0])),
            "overbought_threshold": draw(st.sampled_from([0.0, 50.0, 80.0])),
        }
    if key == "macd":
        fast = draw(n)
        return {
            "macd_fast_period": fast,
            "macd_slow_period": draw(st.integers(fast + 1, 60)),
            "macd_signal_period": draw(n),
        }
    return {
        "rsi_period": draw(st.integers(2, 30)),
        "oversold_threshold": draw(st.sampled_from([30.0, 50.0])),
        "overbought_threshold": draw(st.sampled_from([50.0, 70.0])),
        "rsi_smoothing": draw(st.sampled_from(["sma", "wilder"])),
    }


@pytest.mark.parametrize("key", list(DEFAULTS))
@SETTINGS
@given(data=st.data())
def test_signal_kernels_equal_the_expressions_on_hard_series(key: str, data: st.DataObject) -> None:
    assert_same_signals(key, data.draw(hard_prices()), data.draw(small_params(key)))


def test_exact_path_decides_exact_ties() -> None:
    # 0.1-grid prices: the 2-bar and 4-bar means of (0.1, 0.3, 0.2, 0.2) are both 0.2,
    # up to the rounding of sums of 0.1s. The plain running mean cannot tell which side
    # it is on; the exact mean of each window says there is no crossing.
    close = np.array([0.3, 0.1, 0.3, 0.2, 0.2, 0.1, 0.3, 0.2, 0.2, 0.4, 0.1, 0.1, 0.3]) * 1.0
    params = {"fast_ma_period": 2, "slow_ma_period": 4}
    assert_same_signals("ma_crossover", Prices(close), params)
    sma2, sma4 = ind.sma(close, 2), ind.sma(close, 4)
    assert (sma2[3:] == sma4[3:]).any()  # the series does hold an exact tie


def test_non_positive_prices_take_the_exact_composition() -> None:
    # The engine refuses such prices before any signal, but the kernels stay correct
    # for direct callers: the running bound needs positive values, so they fall back.
    close = np.array([5.0, -1.0, 2.0, 0.0, 3.0, 4.0, -2.0, 6.0, 1.0, 2.0, 3.0, 5.0])
    for key in ("ma_crossover", "mean_reversion", "bollinger_bands"):
        params = {**DEFAULTS[key], **{"fast_ma_period": 2, "slow_ma_period": 3, "mr_period": 2, "bb_period": 3}}
        params = {name: params[name] for name in DEFAULTS[key]}
        assert_same_signals(key, Prices(close), params)
