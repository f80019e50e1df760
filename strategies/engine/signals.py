"""Entry and exit signals of the six strategies (spec/ENGINE.md, "The six strategies").

Each function takes the validated price arrays and the resolved parameters and
returns two boolean arrays, entry and exit, one value per bar. They are pure array
expressions; whether a signal is acted on (warm-up, position, stop-loss) is the
simulation's business. A comparison with NaN is false, so no signal fires while an
indicator is undefined.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .kernels import (
    bollinger_signals_kernel,
    crossings_kernel,
    ma_crossover_signals_kernel,
    macd_signals_kernel,
    mean_reversion_signals_kernel,
    rsi_sma_signals_kernel,
    rsi_wilder_kernel,
    stochastic_signals_kernel,
    thresholds_kernel,
)

Signals = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, slots=True)
class Prices:
    """The arrays a backtest reads; the ones not needed (or not supplied) are None."""

    close: np.ndarray
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    open: np.ndarray | None = None  # read by the execution options and by rule strategies
    volume: np.ndarray | None = None  # read by rule strategies only


def crossings(a: np.ndarray, b: np.ndarray, *, up_below: float = math.inf, down_above: float = -math.inf) -> Signals:
    """(a crosses above b, a crosses below b), the spec's "crosses": a[i-1] <= b[i-1] and
    a[i] > b[i] (mirrored for below); False at bar 0. Optionally only an up-cross with
    a[i] < up_below and a down-cross with a[i] > down_above (the Stochastic's zones)."""
    return crossings_kernel(a, b, float(up_below), float(down_above))


def rsi_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """Enter below the oversold threshold, exit above the overbought one."""
    below, above = float(p["oversold_threshold"]), float(p["overbought_threshold"])
    if p["rsi_smoothing"] == "sma":
        # ind.rsi_sma(close, n) < below, > above, in one compiled call
        return rsi_sma_signals_kernel(_f64(prices.close), int(p["rsi_period"]), below, above)
    return thresholds_kernel(rsi_wilder_kernel(_f64(prices.close), int(p["rsi_period"])), below, above)


def ma_crossover_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """Fast SMA crossing above / below the slow SMA."""
    # crossings(ind.sma(close, fast), ind.sma(close, slow)) in one compiled call
    return ma_crossover_signals_kernel(_f64(prices.close), int(p["fast_ma_period"]), int(p["slow_ma_period"]))


def macd_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """MACD line (fast EMA - slow EMA) crossing above / below its signal line."""
    # macd = ind.ema_difference(close, fast, slow); crossings(macd, ind.ema(macd, signal)),
    # in one compiled call
    return macd_signals_kernel(
        _f64(prices.close), int(p["macd_fast_period"]), int(p["macd_slow_period"]), int(p["macd_signal_period"])
    )


def stochastic_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """%K crossing above %D while below oversold; crossing below %D while above overbought."""
    assert prices.high is not None and prices.low is not None  # checked by the caller
    # crossings(*ind.stochastic(...), up_below=..., down_above=...) in one compiled call
    return stochastic_signals_kernel(
        _f64(prices.high),
        _f64(prices.low),
        _f64(prices.close),
        int(p["stoch_k_period"]),
        int(p["stoch_d_period"]),
        float(p["oversold_threshold"]),
        float(p["overbought_threshold"]),
    )


def bollinger_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """Close at or below the lower band / at or above the upper band."""
    # mid, std = ind.sma_and_std(close, n); width = multiplier * std;
    # close <= mid - width, close >= mid + width, in one compiled call
    return bollinger_signals_kernel(_f64(prices.close), int(p["bb_period"]), float(p["bb_std_multiplier"]))


def mean_reversion_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """Close the threshold % (or more) below its SMA / back at or above the SMA."""
    # mid = ind.sma(close, n); (close - mid) / mid * 100.0 <= -threshold, close >= mid
    return mean_reversion_signals_kernel(_f64(prices.close), int(p["mr_period"]), float(p["mr_threshold"]))


def _f64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


SIGNALS: dict[str, Callable[[Prices, Mapping[str, Any]], Signals]] = {
    "rsi": rsi_signals,
    "ma_crossover": ma_crossover_signals,
    "macd": macd_signals,
    "stochastic": stochastic_signals,
    "bollinger_bands": bollinger_signals,
    "mean_reversion": mean_reversion_signals,
}

# Strategies that read high and low besides the close.
NEEDS_HIGH_LOW = frozenset({"stochastic"})


def strategy_signals(key: Any, prices: Prices, params: Mapping[str, Any]) -> Signals:
    """Entry and exit arrays of strategy `key` (already resolved parameters); `key` may be a
    rule strategy (strategies.engine.rules), which computes its own."""
    if not isinstance(key, str):
        columns = {"open": prices.open, "high": prices.high, "low": prices.low, "volume": prices.volume}
        return key.signals({**columns, "close": prices.close}, params)
    return SIGNALS[key](prices, params)
