"""The indicator series a strategy decides on, for charts (spec/ENGINE.md, "The six strategies").

    strategy_indicators("rsi", {"rsi_period": 14}, open=o, high=h, low=l, close=c)
    -> [{"name": "rsi", "label": "RSI 14", "pane": "lower", "values": float64 array, "levels": [30.0, 70.0]}]

`pane` is "price" for lines drawn on the candles (moving averages, bands, the mean-reversion
entry line) and "lower" for an oscillator under them, `group` names the lower pane a line is drawn
in (lines of one group share a pane and its scale; "" on the candles); `levels` are its thresholds;
`bounds` is the range an oscillator cannot leave ([0, 100] for an RSI or a stochastic), else None. The values
come from indicators.py, the expressions the signals are proven equal to
(tests/test_engine_kernels.py), so a chart shows the numbers the trades were decided on.
NaN where an indicator is undefined (the warm-up).

A rule strategy (rules.RuleStrategy) in place of a key gives each series function its rules call,
with the parameters' values, as the rules engine evaluates it (rule_indicators).
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
    key: Any,
    params: Mapping[str, Any] | None,
    open: np.ndarray | None = None,  # noqa: A002 - named as the price column; no strategy reads it
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    close: np.ndarray | None = None,
    volume: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The series strategy `key` decides on, with its parameters resolved (InvalidParameters).
    `key` is a built-in's key or a compiled rule strategy."""
    if close is None:
        raise InvalidPriceData("the prices have no 'close' column")
    if not isinstance(key, str):
        return rule_indicators(key, params, open=open, high=high, low=low, close=close, volume=volume)
    p = parameters_resolve(key, params)
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


def _line(
    name: str, label: str, pane: str, values: np.ndarray, levels: list[float] | None = None, group: str | None = None
) -> dict[str, Any]:
    group = ("lower" if pane == "lower" else "") if group is None else group
    bounded = name in _BOUNDED_LINES or group == "0-100"
    return {
        "name": name,
        "label": label,
        "pane": pane,
        "group": group,
        "values": values,
        "levels": [float(v) for v in levels or ()],
        "bounds": [0.0, 100.0] if bounded else None,
    }


_BOUNDED_LINES = frozenset({"rsi", "stoch_k", "stoch_d"})  # the built-ins' oscillators of 0..100


# --- Rule strategies ----------------------------------------------------------------------

# Functions whose value is in the units of their series argument (a moving average of the close
# is a price; of the RSI, an RSI); the others have a scale of their own.
_SAME_SCALE = frozenset({"sma", "ema", "highest", "lowest", "shift", "bb_upper", "bb_lower"})
_PRICE_COLUMNS = frozenset({"open", "high", "low", "close"})
_BOUNDED = frozenset({"rsi", "rsi_wilder", "stoch_k", "stoch_d"})  # 0..100


def _scale(tree: tuple) -> str:
    """Which scale a bound series tree is drawn on: "price" (on the candles) or a lower pane's name."""
    from .rules.evaluate import render

    tag = tree[0]
    if tag == "col":
        return "price" if tree[1] in _PRICE_COLUMNS else tree[1]
    if tag == "call":
        name = tree[1]
        if name in _SAME_SCALE:
            return _scale(tree[2])
        if name in _BOUNDED:
            return "0-100"
        if name in ("macd", "macd_signal"):
            return f"macd({render(tree[2])}, {render(tree[3])}, {render(tree[4])})"
        return name  # roc, atr, std: each its own pane
    return render(tree)


def _levels(tree: tuple, found: dict[str, list[float]]) -> None:
    """Numbers a series is compared with (`rsi(close, 14) < 30`, `crosses_above(stoch_k(14), 20)`),
    by the series' text: the thresholds drawn across its pane."""
    from .rules.evaluate import render
    from .rules.language import SERIES_FUNCTIONS

    tag = tree[0]
    pair = None
    if tag == "cmp":
        pair = (tree[2], tree[3])
    elif tag == "call" and tree[1] in ("crosses_above", "crosses_below"):
        pair = (tree[2], tree[3])
    if pair is not None:
        for a, b in (pair, pair[::-1]):
            if a[0] == "call" and a[1] in SERIES_FUNCTIONS and b[0] == "num":
                levels = found.setdefault(render(a), [])
                if float(b[1]) not in levels:
                    levels.append(float(b[1]))
    for part in tree[1:]:
        if isinstance(part, tuple):
            _levels(part, found)


def rule_indicators(
    strategy: Any,
    params: Mapping[str, Any] | None,
    open: np.ndarray | None = None,  # noqa: A002
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    close: np.ndarray | None = None,
    volume: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Each series function a rule strategy calls (`sma(close, 20)`, `rsi(close, 14)`), with the
    parameters resolved, computed by the rules engine's own evaluation (RuleStrategy.indicators:
    the memoised sub-expressions the signals use). A series in price units is drawn on the candles;
    the others in lower panes, one per scale (RSI and stochastics share 0..100, a MACD and its
    signal line one pane), with the numbers the rules compare them with as levels."""
    from .rules.evaluate import bind, series_calls

    resolved = strategy.parameters_resolve(params)
    if strategy.needs_high_low and (high is None or low is None):
        raise InvalidPriceData(f"strategy {strategy.key!r} needs high and low prices")
    columns = {"open": open, "high": high, "low": low, "close": close, "volume": volume}
    columns = {name: None if v is None else _column(v) for name, v in columns.items()}
    values = strategy.indicators(columns, resolved)
    trees: dict[str, tuple] = {}
    levels: dict[str, list[float]] = {}
    for tree in (strategy.entry_tree, strategy.exit_tree):
        bound = bind(tree, resolved)
        series_calls(bound, trees)
        _levels(bound, levels)
    lines = []
    for text, tree in sorted(trees.items(), key=lambda item: item[0]):
        scale = _scale(tree)
        pane = "price" if scale == "price" else "lower"
        line_values = np.asarray(values[text], dtype=np.float64)
        if line_values.ndim == 0:  # a series of a number only (sma(3, 5)): the same at every bar
            line_values = np.full(_length(columns), float(line_values))
        lines.append(_line(text, text, pane, line_values, levels.get(text), "" if pane == "price" else scale))
    return lines


def _length(columns: Mapping[str, np.ndarray | None]) -> int:
    return next(len(v) for v in columns.values() if v is not None)
