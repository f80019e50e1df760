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
    open: Sequence[float] | None = None,  # noqa: A002 - named as the price column
    fee_pct: float = 0.0,
    interval: str = "1h",
    **options: Any,
) -> BacktestResult:
    """backtest_arrays on hourly bars; open, high and low default to the close; options are
    fill, stop_mode and slippage_pct."""
    c = np.asarray(close, dtype=np.float64)
    return backtest_arrays(
        key,
        times=hourly_times(len(c)),
        open=c if open is None else np.asarray(open, dtype=np.float64),
        high=c if high is None else np.asarray(high, dtype=np.float64),
        low=c if low is None else np.asarray(low, dtype=np.float64),
        close=c,
        params=params,
        fee_pct=fee_pct,
        interval=interval,
        **options,
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
    open: Sequence[float] | None = None,  # noqa: A002 - named as the price column
    fee_pct: float = 0.0,
    interval: str = "1h",
    fill: str = "close",
    stop_mode: str = "close",
    slippage_pct: float = 0.0,
) -> dict[str, Any]:
    """The spec, literally ("Position model", "Execution options": the five steps of a bar).

    Returns {"trades": [(entry, exit, reason, r)], "fills": [(entry_price, exit_price)],
    "equity", "metrics"}."""
    p = parameters_resolve(key, params)
    c = [float(x) for x in close]
    lo = [float(x) for x in low] if low is not None else c
    op = [float(x) for x in open] if open is not None else c
    df = pd.DataFrame({"close": c, "high": high if high is not None else c, "low": lo})
    entry, exit_ = (s.fillna(False).astype(bool).tolist() for s in ref_signals(key, df, p))
    w, fee, sl, slip = warmup_bars(key, p), fee_pct / 100, p["stop_loss_threshold"], slippage_pct / 100
    n = len(c)
    cash, units, long, entry_price, entry_i, held = 1.0, 0.0, False, 0.0, -1, 0
    order: tuple[str, str] | None = None  # ("buy", "") or ("sell", reason), waiting for the next open
    trades: list[tuple[int, int, str, float]] = []
    fills: list[tuple[float, float]] = []
    equity: list[float] = []

    def buy(i: int, price: float) -> None:
        nonlocal cash, units, long, entry_price, entry_i
        entry_price = price * (1 + slip)
        units, cash, long, entry_i = cash / (entry_price * (1 + fee)), 0.0, True, i

    def sell(i: int, price: float, reason: str) -> None:
        nonlocal cash, units, long
        exit_price = price * (1 - slip)
        cash, units, long = units * exit_price * (1 - fee), 0.0, False
        trades.append((entry_i, i, reason, exit_price * (1 - fee) / (entry_price * (1 + fee)) - 1))
        fills.append((entry_price, exit_price))

    for i in range(n):
        # 1. the open: an order decided at the last close
        if order is not None:
            if order[0] == "buy":
                buy(i, op[i])
            else:
                sell(i, op[i], order[1])
            order = None
        # 2. the intrabar stop, on a position opened before this close
        if stop_mode == "intrabar" and long:
            stop = entry_price * (1 - sl / 100)
            if lo[i] <= stop:
                sell(i, op[i] if op[i] <= stop else stop, "stop_loss")
        # 3. the close: one decision on the position held now
        if i >= w:
            if not long:
                if entry[i]:
                    if fill == "close":
                        buy(i, c[i])
                    elif i < n - 1:
                        order = ("buy", "")
            else:
                reason = None
                if stop_mode == "close" and (c[i] - entry_price) / entry_price * 100 <= -sl:
                    reason = "stop_loss"
                elif exit_[i]:
                    reason = "signal"
                if reason is not None:
                    if fill == "close":
                        sell(i, c[i], reason)
                    elif i < n - 1:
                        order = ("sell", reason)
        # 4. equity at the close
        held += long
        equity.append(units * c[i] if long else cash)
    # 5. the end of the data
    if long:
        sell(n - 1, c[-1], "end_of_data")
        equity[-1] = cash
    return {
        "trades": trades,
        "fills": fills,
        "equity": np.array(equity),
        "metrics": ref_metrics(c, equity, trades, held, interval),
    }


def ref_metrics(
    close: list[float], equity: list[float], trades: list[tuple[int, int, str, float]], held: int, interval: str
) -> dict[str, Any]:
    eq = pd.Series(equity)
    b = eq.pct_change().iloc[1:]
    sd = b.std(ddof=1)
    r = [t[3] for t in trades]
    wins = sum(1 for x in r if x > 0)
    P = periods_per_year(interval)
    years = len(close) * (525600 / P) / 525600
    with np.errstate(over="ignore"):
        cagr = (float(np.float64(equity[-1]) ** (1 / years)) - 1) * 100
    max_dd = float((eq / eq.cummax() - 1).min() * 100)
    gains, losses = sum(x for x in r if x > 0), -sum(x for x in r if x < 0)
    streak = longest = 0
    for x in r:
        streak = streak + 1 if x <= 0 else 0
        longest = max(longest, streak)
    running = eq.cummax().tolist()
    last_high, j = [], 0  # the last j <= i with equity[j] == running max[i]
    for i in range(len(equity)):
        j = i if equity[i] == running[i] else j
        last_high.append(j)
    return {
        "total_return": (equity[-1] - 1) * 100,
        "total_trades": len(trades),
        "profitable_trades": wins,
        "losing_trades": len(trades) - wins,
        "win_rate": wins / len(trades) * 100 if trades else 0.0,
        "buy_hold_return": (close[-1] / close[0] - 1) * 100,
        "sharpe_ratio": float(b.mean() / sd * np.sqrt(P)) if sd > 0 else 0.0,
        "max_drawdown": max_dd,
        "exposure_pct": held / len(close) * 100,
        "stop_loss_exits": sum(1 for t in trades if t[2] == "stop_loss"),
        "cagr": cagr,
        "sortino_ratio": (
            float(b.mean() / np.sqrt((b.clip(upper=0) ** 2).mean()) * np.sqrt(P)) if (b < 0).any() else 0.0
        ),
        "calmar_ratio": cagr / abs(max_dd) if max_dd != 0 else 0.0,
        "profit_factor": 0.0 if gains == 0 else (None if losses == 0 else gains / losses),
        "avg_trade_return": float(np.mean(r)) * 100 if r else 0.0,
        "best_trade": max(r) * 100 if r else 0.0,
        "worst_trade": min(r) * 100 if r else 0.0,
        "avg_bars_held": float(np.mean([t[1] - t[0] for t in trades])) if trades else 0.0,
        "max_consecutive_losses": longest,
        "max_drawdown_duration": max(i - j for i, j in enumerate(last_high)),
    }


def assert_matches_reference(result: BacktestResult, ref: Mapping[str, Any]) -> None:
    assert trade_tuples(result) == [t[:3] for t in ref["trades"]]
    np.testing.assert_allclose(
        [t["return_pct"] / 100 for t in result.trades], [t[3] for t in ref["trades"]], rtol=1e-12, atol=1e-12
    )
    if "fills" in ref:
        np.testing.assert_allclose(
            np.reshape([(t["entry_price"], t["exit_price"]) for t in result.trades], (-1, 2)),
            np.reshape(ref["fills"], (-1, 2)),
            rtol=1e-12,
        )
    np.testing.assert_allclose(result.equity, ref["equity"], rtol=1e-12)
    for name, value in ref["metrics"].items():
        if value is None:
            assert result.metrics[name] is None, name
        else:
            assert result.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


# --- the reference model against a hand-worked example ------------------------------


def test_reference_model_rsi_example_by_hand() -> None:
    # RSI(2) of 10, 11, 10, 9, 10, 11, 12 is -, -, 50, 0, 50, 100, 100:
    # buy at bar 3 (9), sell at bar 5 (11).
    ref = reference_backtest("rsi", [10, 11, 10, 9, 10, 11, 12], {"rsi_period": 2})
    assert ref["trades"] == [(3, 5, "signal", pytest.approx(11 / 9 - 1))]
    assert ref["metrics"]["exposure_pct"] == pytest.approx(2 / 7 * 100)
