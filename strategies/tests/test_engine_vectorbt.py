"""With stop-loss 100 (never reached) and no fees, the engine equals vectorbt's
`Portfolio.from_signals` on the same entry and exit signals: fills at the close,
all-in, long only. One module-scoped portfolio holds every case as a column, so
vectorbt compiles once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from strategies.engine import STRATEGIES, BacktestResult, parameters_resolve
from strategies.engine.signals import Prices, strategy_signals

from .test_engine_support import run

BARS = 3000
SEEDS = (11, 12, 13)
PARAMS: dict[str, dict[str, Any]] = {
    "rsi": {"rsi_period": 7, "rsi_smoothing": "wilder"},
    "ma_crossover": {"fast_ma_period": 5, "slow_ma_period": 20},
    "macd": {},
    "stochastic": {"stoch_k_period": 10},
    "bollinger_bands": {"bb_period": 15, "bb_std_multiplier": 1.5},
    "mean_reversion": {"mr_period": 10, "mr_threshold": 2.0},
}
CASES = [(key, seed) for key in STRATEGIES for seed in SEEDS]


def series(seed: int) -> Prices:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.015, BARS)))
    return Prices(
        close=close, high=close * (1 + rng.uniform(0, 0.01, BARS)), low=close * (1 - rng.uniform(0, 0.01, BARS))
    )


def engine_run(key: str, seed: int) -> BacktestResult:
    p = series(seed)
    return run(key, p.close, {**PARAMS[key], "stop_loss_threshold": 100}, high=p.high, low=p.low)


@pytest.fixture(scope="module")
def portfolio() -> vbt.Portfolio:
    """One column per case; signals before the warm-up are dropped, as the engine never
    evaluates those bars. A bar with both signals acts on the one opposite to the
    position, as the engine does (flat: entry, long: exit)."""
    closes, entries, exits = {}, {}, {}
    for key, seed in CASES:
        p = series(seed)
        resolved = parameters_resolve(key, {**PARAMS[key], "stop_loss_threshold": 100})
        entry, exit_ = strategy_signals(key, p, resolved)
        warmup = STRATEGIES[key].warmup(resolved)
        entry[:warmup] = exit_[:warmup] = False
        closes[(key, seed)], entries[(key, seed)], exits[(key, seed)] = p.close, entry, exit_
    index = pd.date_range("2024-01-01", periods=BARS, freq="h")
    frame = lambda d: pd.DataFrame(d, index=index)  # noqa: E731
    return vbt.Portfolio.from_signals(
        frame(closes), frame(entries), frame(exits), init_cash=1.0, fees=0.0, upon_long_conflict="opposite", freq="1h"
    )


@pytest.mark.parametrize(("key", "seed"), CASES)
def test_engine_equals_vectorbt_from_signals(portfolio: vbt.Portfolio, key: str, seed: int) -> None:
    ours = engine_run(key, seed).metrics
    theirs = portfolio[(key, seed)]
    assert ours["total_trades"] == theirs.trades.count() > 5
    assert ours["total_return"] == pytest.approx(theirs.total_return() * 100, rel=1e-9, abs=1e-9)
    assert ours["max_drawdown"] == pytest.approx(theirs.max_drawdown() * 100, rel=1e-9, abs=1e-9)


def test_equity_curves_are_identical(portfolio: vbt.Portfolio) -> None:
    key, seed = CASES[0]
    np.testing.assert_allclose(engine_run(key, seed).equity, portfolio[(key, seed)].value().to_numpy(), rtol=1e-12)


# --- next-open fills: vectorbt on the signals shifted one bar, filled at the open ------------


def series_with_open(seed: int) -> tuple[Prices, np.ndarray]:
    p = series(seed)
    rng = np.random.default_rng(seed + 100)
    open_ = np.concatenate([[p.close[0]], p.close[:-1]]) * (1 + rng.normal(0, 0.004, BARS))
    return Prices(close=p.close, high=np.maximum(p.high, open_), low=np.minimum(p.low, open_)), open_


@pytest.fixture(scope="module")
def next_open_portfolio() -> vbt.Portfolio:
    """The spec: with fill="next_open" and stops off, the trades equal from_signals on the
    signals shifted one bar with price=open (a decision at bar i's close is an order at
    bar i+1's open; one decided on the last bar has no bar to fill in)."""
    closes, opens, entries, exits = {}, {}, {}, {}
    for key, seed in CASES:
        p, open_ = series_with_open(seed)
        resolved = parameters_resolve(key, {**PARAMS[key], "stop_loss_threshold": 100})
        entry, exit_ = strategy_signals(key, p, resolved)
        warmup = STRATEGIES[key].warmup(resolved)
        entry[:warmup] = exit_[:warmup] = False
        closes[(key, seed)], opens[(key, seed)] = p.close, open_
        entries[(key, seed)] = np.concatenate([[False], entry[:-1]])
        exits[(key, seed)] = np.concatenate([[False], exit_[:-1]])
    index = pd.date_range("2024-01-01", periods=BARS, freq="h")
    frame = lambda d: pd.DataFrame(d, index=index)  # noqa: E731
    return vbt.Portfolio.from_signals(
        frame(closes),
        frame(entries),
        frame(exits),
        price=frame(opens),
        init_cash=1.0,
        fees=0.0,
        upon_long_conflict="opposite",
        freq="1h",
    )


@pytest.mark.parametrize(("key", "seed"), CASES)
def test_next_open_fills_equal_vectorbt_on_shifted_signals_at_the_open(
    next_open_portfolio: vbt.Portfolio, key: str, seed: int
) -> None:
    p, open_ = series_with_open(seed)
    ours = run(
        key, p.close, {**PARAMS[key], "stop_loss_threshold": 100}, high=p.high, low=p.low, open=open_,
        fill="next_open",
    )  # fmt: skip
    theirs = next_open_portfolio[(key, seed)]
    records = theirs.trades.records_readable
    index = theirs.wrapper.index
    assert len(ours.trades) == len(records) > 5
    assert [t["entry_index"] for t in ours.trades] == [index.get_loc(t) for t in records["Entry Timestamp"]]
    assert [t["exit_index"] for t in ours.trades] == [index.get_loc(t) for t in records["Exit Timestamp"]]
    np.testing.assert_allclose([t["entry_price"] for t in ours.trades], records["Avg Entry Price"], rtol=1e-12)
    np.testing.assert_allclose([t["exit_price"] for t in ours.trades], records["Avg Exit Price"], rtol=1e-12)
    assert ours.metrics["total_return"] == pytest.approx(theirs.total_return() * 100, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(ours.equity, theirs.value().to_numpy(), rtol=1e-12)
