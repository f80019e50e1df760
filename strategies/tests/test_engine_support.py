"""Helpers for the engine tests, and a slow reference model written straight from the spec.

The reference model is deliberately naive: pandas and plain-Python indicators and a
per-bar Python loop that follows spec/ENGINE.md line by line. The property tests check that the
fast engine agrees with it on random series; the tests at the bottom check the
reference itself on a series worked out by hand, so the two are not merely
consistent with each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from strategies.engine import (
    BacktestResult,
    backtest_arrays,
    parameters_resolve,
    periods_per_year,
    warmup_bars,
)

HOUR_NS = 3_600_000_000_000
START_2024_NS = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z


def hourly_times(bars: int) -> np.ndarray:
    """int64 ns timestamps, one an hour from 2024-01-01 00:00 UTC."""
    return START_2024_NS + HOUR_NS * np.arange(bars, dtype=np.int64)


def run(
    key: str,
    close: Sequence[float],
    params: Mapping[str, Any] | None = None,
    *,
    high: Sequence[float] | None = None,
    low: Sequence[float] | None = None,
    fee_pct: float = 0.0,
    interval: str = "1h",
) -> BacktestResult:
    """backtest_arrays on hourly bars; high and low default to the close."""
    c = np.asarray(close, dtype=np.float64)
    return backtest_arrays(
        key,
        times=hourly_times(len(c)),
        open=c,
        high=c if high is None else np.asarray(high, dtype=np.float64),
        low=c if low is None else np.asarray(low, dtype=np.float64),
        close=c,
        params=params,
        fee_pct=fee_pct,
        interval=interval,
    )


def trade_tuples(result: BacktestResult) -> list[tuple[int, int, str]]:
    return [(t["entry_index"], t["exit_index"], t["reason"]) for t in result.trades]


# --- the reference model -------------------------------------------------------------


def ref_mean(x: pd.Series, n: int) -> pd.Series:
    """The mean of each window, correctly rounded (exact rational arithmetic).

    pandas' rolling mean (a compensated running sum) lands within a unit in the last
    place of this, not always on it; where a decision hangs on that last bit (a %K of
    99.99999999999999 against a %D of 100) the spec's "mean of the last n values" is
    this one, and the engine follows it.
    """
    values = x.to_numpy(dtype=float)
    out = np.full(len(values), np.nan)
    for i in range(n - 1, len(values)):
        window = values[i - n + 1 : i + 1]
        if not np.isnan(window).any():
            out[i] = float(sum(Fraction(v) for v in window) / n)
    return pd.Series(out, index=x.index)


def ref_std(close: pd.Series, n: int) -> pd.Series:
    """Two-pass sample standard deviation of each window; exactly 0 for equal values."""
    out = np.full(len(close), np.nan)
    if len(close) >= n:
        windows = sliding_window_view(close.to_numpy(), n)
        flat = (windows == windows[:, :1]).all(axis=1)
        out[n - 1 :] = np.where(flat, 0.0, windows.std(axis=1, ddof=1))
    return pd.Series(out, index=close.index)


def ref_rsi(close: pd.Series, n: int, smoothing: str) -> pd.Series:
    d = close.diff()
    up = d.where(d > 0, 0.0)
    down = (-d).where(d < 0, 0.0)
    if smoothing == "sma":
        gain = ref_mean(up, n)
        loss = ref_mean(down, n)
    else:
        gain, loss = (ref_wilder(s.to_numpy(), n) for s in (up, down))
    gain[:n] = np.nan  # n changes need n + 1 closes
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100 - 100 / (1 + gain / loss)


def ref_wilder(x: np.ndarray, n: int) -> pd.Series:
    out = np.full(len(x), np.nan)
    if len(x) > n:
        avg = x[1 : n + 1].mean()
        out[n] = avg
        for i in range(n + 1, len(x)):
            avg = (avg * (n - 1) + x[i]) / n
            out[i] = avg
    return pd.Series(out)


def ref_signals(key: str, df: pd.DataFrame, p: Mapping[str, Any]) -> tuple[pd.Series, pd.Series]:
    """The spec's table of entry and exit rules, with pandas."""
    c = df["close"]

    def above(a: pd.Series, b: pd.Series) -> pd.Series:
        return (a.shift(1) <= b.shift(1)) & (a > b)

    def below(a: pd.Series, b: pd.Series) -> pd.Series:
        return (a.shift(1) >= b.shift(1)) & (a < b)

    if key == "rsi":
        rsi = ref_rsi(c, p["rsi_period"], p["rsi_smoothing"])
        return rsi < p["oversold_threshold"], rsi > p["overbought_threshold"]
    if key == "ma_crossover":
        f, s = ref_mean(c, p["fast_ma_period"]), ref_mean(c, p["slow_ma_period"])
        return above(f, s), below(f, s)
    if key == "macd":

        def ema(x: pd.Series, n: int) -> pd.Series:
            return x.ewm(span=n, adjust=False).mean()

        macd = ema(c, p["macd_fast_period"]) - ema(c, p["macd_slow_period"])
        sig = ema(macd, p["macd_signal_period"])
        return above(macd, sig), below(macd, sig)
    if key == "stochastic":
        k, d = p["stoch_k_period"], p["stoch_d_period"]
        hh, ll = df["high"].rolling(k).max(), df["low"].rolling(k).min()
        pct_k = (100 * (c - ll) / (hh - ll)).where(hh != ll)
        pct_d = ref_mean(pct_k, d)
        return (
            above(pct_k, pct_d) & (pct_k < p["oversold_threshold"]),
            below(pct_k, pct_d) & (pct_k > p["overbought_threshold"]),
        )
    if key == "bollinger_bands":
        mid, sd = ref_mean(c, p["bb_period"]), ref_std(c, p["bb_period"])
        m = p["bb_std_multiplier"]
        return c <= mid - m * sd, c >= mid + m * sd
    if key == "mean_reversion":
        mid = ref_mean(c, p["mr_period"])
        return (c - mid) / mid * 100 <= -p["mr_threshold"], c >= mid
    raise AssertionError(key)


def reference_backtest(
    key: str,
    close: Sequence[float],
    params: Mapping[str, Any] | None = None,
    *,
    high: Sequence[float] | None = None,
    low: Sequence[float] | None = None,
    fee_pct: float = 0.0,
    interval: str = "1h",
) -> dict[str, Any]:
    """The spec, literally: returns {"trades": [(entry, exit, reason, r)], "equity", "metrics"}."""
    p = parameters_resolve(key, params)
    c = [float(x) for x in close]
    df = pd.DataFrame({"close": c, "high": high if high is not None else c, "low": low if low is not None else c})
    entry, exit_ = (s.fillna(False).astype(bool).tolist() for s in ref_signals(key, df, p))
    w, fee, sl = warmup_bars(key, p), fee_pct / 100, p["stop_loss_threshold"]
    cash, units, long, entry_price, entry_i, held = 1.0, 0.0, False, 0.0, -1, 0
    trades: list[tuple[int, int, str, float]] = []
    equity: list[float] = []

    def close_trade(i: int, reason: str) -> None:
        nonlocal cash, units, long
        cash, units, long = units * c[i] * (1 - fee), 0.0, False
        trades.append((entry_i, i, reason, c[i] * (1 - fee) / (entry_price * (1 + fee)) - 1))

    for i in range(len(c)):
        if i >= w:
            if not long:
                if entry[i]:
                    units, entry_price, entry_i, long = cash / (c[i] * (1 + fee)), c[i], i, True
            elif (c[i] - entry_price) / entry_price * 100 <= -sl:
                close_trade(i, "stop_loss")
            elif exit_[i]:
                close_trade(i, "signal")
        held += long
        equity.append(units * c[i] if long else cash)
    if long:
        close_trade(len(c) - 1, "end_of_data")
        equity[-1] = cash
    return {"trades": trades, "equity": np.array(equity), "metrics": ref_metrics(c, equity, trades, held, interval)}


def ref_metrics(
    close: list[float], equity: list[float], trades: list[tuple[int, int, str, float]], held: int, interval: str
) -> dict[str, Any]:
    eq = pd.Series(equity)
    b = eq.pct_change().iloc[1:]
    sd = b.std(ddof=1)
    wins = sum(1 for t in trades if t[3] > 0)
    return {
        "total_return": (equity[-1] - 1) * 100,
        "total_trades": len(trades),
        "profitable_trades": wins,
        "losing_trades": len(trades) - wins,
        "win_rate": wins / len(trades) * 100 if trades else 0.0,
        "buy_hold_return": (close[-1] / close[0] - 1) * 100,
        "sharpe_ratio": float(b.mean() / sd * np.sqrt(periods_per_year(interval))) if sd > 0 else 0.0,
        "max_drawdown": float((eq / eq.cummax() - 1).min() * 100),
        "exposure_pct": held / len(close) * 100,
        "stop_loss_exits": sum(1 for t in trades if t[2] == "stop_loss"),
    }


def assert_matches_reference(result: BacktestResult, ref: Mapping[str, Any]) -> None:
    assert trade_tuples(result) == [t[:3] for t in ref["trades"]]
    np.testing.assert_allclose(
        [t["return_pct"] / 100 for t in result.trades], [t[3] for t in ref["trades"]], rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(result.equity, ref["equity"], rtol=1e-12)
    for name, value in ref["metrics"].items():
        assert result.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


# --- the reference model against a hand-worked example ------------------------------


def test_reference_model_rsi_example_by_hand() -> None:
    # RSI(2) of 10, 11, 10, 9, 10, 11, 12 is -, -, 50, 0, 50, 100, 100:
    # buy at bar 3 (9), sell at bar 5 (11).
    ref = reference_backtest("rsi", [10, 11, 10, 9, 10, 11, 12], {"rsi_period": 2})
    assert ref["trades"] == [(3, 5, "signal", pytest.approx(11 / 9 - 1))]
    assert ref["metrics"]["exposure_pct"] == pytest.approx(2 / 7 * 100)
