"""Entry and exit signals of the six strategies (spec/ENGINE.md, "The six strategies").

Each function takes the validated price arrays and the resolved parameters and
returns two boolean arrays, entry and exit, one value per bar. They are pure array
expressions; whether a signal is acted on (warm-up, position, stop-loss) is the
simulation's business. A comparison with NaN is false, so no signal fires while an
indicator is undefined.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import indicators as ind

Signals = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, slots=True)
class Prices:
    """The arrays a strategy may read; high and low are None when not supplied."""

    close: np.ndarray
    high: np.ndarray | None = None
    low: np.ndarray | None = None


def crosses_above(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a[i-1] <= b[i-1] and a[i] > b[i]; False at bar 0."""
    out = np.zeros(a.shape[0], dtype=np.bool_)
    np.logical_and(a[:-1] <= b[:-1], a[1:] > b[1:], out=out[1:])
    return out


def crosses_below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a[i-1] >= b[i-1] and a[i] < b[i]; False at bar 0."""
    out = np.zeros(a.shape[0], dtype=np.bool_)
    np.logical_and(a[:-1] >= b[:-1], a[1:] < b[1:], out=out[1:])
    return out


def rsi_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """Enter below the oversold threshold, exit above the overbought one."""
    rsi_fn = ind.rsi_wilder if p["rsi_smoothing"] == "wilder" else ind.rsi_sma
    rsi = rsi_fn(prices.close, p["rsi_period"])
    return rsi < p["oversold_threshold"], rsi > p["overbought_threshold"]


def ma_crossover_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """Fast SMA crossing above / below the slow SMA."""
    fast = ind.sma(prices.close, p["fast_ma_period"])
    slow = ind.sma(prices.close, p["slow_ma_period"])
    return crosses_above(fast, slow), crosses_below(fast, slow)


def macd_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """MACD line (fast EMA - slow EMA) crossing above / below its signal line."""
    macd = ind.ema_difference(prices.close, p["macd_fast_period"], p["macd_slow_period"])
    signal = ind.ema(macd, p["macd_signal_period"])
    return crosses_above(macd, signal), crosses_below(macd, signal)


def stochastic_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """%K crossing above %D while below oversold; crossing below %D while above overbought."""
    assert prices.high is not None and prices.low is not None  # checked by the caller
    k, d = ind.stochastic(prices.high, prices.low, prices.close, p["stoch_k_period"], p["stoch_d_period"])
    entry = crosses_above(k, d) & (k < p["oversold_threshold"])
    exit_ = crosses_below(k, d) & (k > p["overbought_threshold"])
    return entry, exit_


def bollinger_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """Close at or below the lower band / at or above the upper band."""
    close = prices.close
    mid, std = ind.sma_and_std(close, p["bb_period"])
    width = p["bb_std_multiplier"] * std
    return close <= mid - width, close >= mid + width


def mean_reversion_signals(prices: Prices, p: Mapping[str, Any]) -> Signals:
    """Close the threshold % (or more) below its SMA / back at or above the SMA."""
    close = prices.close
    mid = ind.sma(close, p["mr_period"])
    deviation_pct = (close - mid) / mid * 100.0
    return deviation_pct <= -p["mr_threshold"], close >= mid


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


def strategy_signals(key: str, prices: Prices, params: Mapping[str, Any]) -> Signals:
    """Entry and exit arrays of strategy `key` (already resolved parameters)."""
    return SIGNALS[key](prices, params)
