"""The indicator series a strategy decides on, for charts (spec/ENGINE.md, "The six strategies").

    strategy_indicators("rsi", {"rsi_period": 14}, open=o, high=h, low=l, close=c)
    -> [{"name": "rsi", "label": "RSI 14", "pane": "lower", "values": float64 array, "levels": [30.0, 70.0]}]

`pane` is "price" for lines drawn on the candles (moving averages, bands, the mean-reversion
entry line) and "lower" for an oscillator under them; `levels` are its thresholds. The values
come from indicators.py, the expressions the signals are proven equal to
(tests/test_engine_kernels.py), so a chart shows the numbers the trades were decided on.
NaN where an indicator is undefined (the warm-up).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import indicators as ind
from .backtest import _read_only
from .errors import InvalidPriceData
from .registry import parameters_resolve
from .signals import NEEDS_HIGH_LOW


def strategy_indicators(
    key: str,
    params: Mapping[str, Any] | None,
    open: np.ndarray | None = None,  # noqa: A002 - named as the price column; no strategy reads it
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    close: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The series strategy `key` decides on, with its parameters resolved (InvalidParameters)."""
    p = parameters_resolve(key, params)
    if close is None:
        raise InvalidPriceData("the prices have no 'close' column")
    c = _column(close)
    if key in NEEDS_HIGH_LOW and (high is None or low is None):
        raise InvalidPriceData(f"strategy {key!r} needs high and low prices")
    if key == "rsi":
        n = p["rsi_period"]
        rsi = ind.rsi_sma(c, n) if p["rsi_smoothing"] == "sma" else ind.rsi_wilder(c, n)
        label = f"RSI {n}" + (" (Wilder)" if p["rsi_smoothing"] == "wilder" else "")
        return [_line("rsi", label, "lower", rsi, [p["oversold_threshold"], p["overbought_threshold"]])]
    if key == "ma_crossover":
        fast, slow = p["fast_ma_period"], p["slow_ma_period"]
        return [
            _line("sma_fast", f"SMA {fast}", "price", ind.sma(c, fast)),
            _line("sma_slow", f"SMA {slow}", "price", ind.sma(c, slow)),
        ]
    if key == "macd":
        fast, slow, signal = p["macd_fast_period"], p["macd_slow_period"], p["macd_signal_period"]
        macd = ind.ema_difference(c, fast, slow)
        return [
            _line("macd", f"MACD {fast}/{slow}", "lower", macd, [0.0]),
            _line("macd_signal", f"Signal {signal}", "lower", ind.ema(macd, signal)),
        ]
    if key == "stochastic":
        k, d = p["stoch_k_period"], p["stoch_d_period"]
        pct_k, pct_d = ind.stochastic(_column(high), _column(low), c, k, d)
        levels = [p["oversold_threshold"], p["overbought_threshold"]]
        return [_line("stoch_k", f"%K {k}", "lower", pct_k, levels), _line("stoch_d", f"%D {d}", "lower", pct_d)]
    if key == "bollinger_bands":
        n, m = p["bb_period"], p["bb_std_multiplier"]
        mid, std = ind.sma_and_std(c, n)
        width = m * std
        return [
            _line("bb_upper", f"Upper band (+{m:g} sd)", "price", mid + width),
            _line("bb_middle", f"SMA {n}", "price", mid),
            _line("bb_lower", f"Lower band (-{m:g} sd)", "price", mid - width),
        ]
    if key == "mean_reversion":
        n, threshold = p["mr_period"], p["mr_threshold"]
        mid = ind.sma(c, n)
        return [
            _line("sma", f"SMA {n}", "price", mid),
            _line("mr_entry", f"Entry line (SMA -{threshold:g} %)", "price", mid * (1.0 - threshold / 100.0)),
        ]
    raise AssertionError(key)  # parameters_resolve knows every key


def _column(values: Any) -> np.ndarray:
    """Contiguous float64 and read-only, as backtest_arrays hands its kernels (one compilation)."""
    return _read_only(np.ascontiguousarray(values, dtype=np.float64))


def _line(name: str, label: str, pane: str, values: np.ndarray, levels: list[float] | None = None) -> dict[str, Any]:
    return {"name": name, "label": label, "pane": pane, "values": values, "levels": [float(v) for v in levels or ()]}
