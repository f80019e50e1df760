"""A sweep's cells in one compiled call per coin (strategies.engine.sweep) equal single backtests:
every strategy, every execution option, whole windows and warm (out-of-sample) ones, cells the
engine refuses, windows too short; and what it leaves to the caller (rule strategies, bad prices)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.engine import (
    METRIC_NAMES,
    EngineError,
    backtest_arrays,
    parameters_resolve,
    warmup_bars,
)
from strategies.engine.rules import compile_rules
from strategies.engine.sweep import sweep_cells, sweep_coin
from strategies.engine.windows import window_metrics

from .test_engine_portfolio import OPTIONS, walk

GRIDS = {
    "ma_crossover": [
        {"fast_ma_period": f, "slow_ma_period": s} for f in (1, 3, 12, 80) for s in (2, 20, 60, 450)
    ],  # fast >= slow: refused
    "mean_reversion": [{"mr_period": n, "mr_threshold": t} for n in (2, 15, 90) for t in (0.5, 3.0)],
    "rsi": [{"rsi_period": n, "rsi_smoothing": s} for n in (2, 14, 60) for s in ("sma", "wilder")],
    "macd": [{"macd_fast_period": f, "macd_slow_period": 26, "macd_signal_period": 9} for f in (3, 12)],
    "stochastic": [{"stoch_k_period": k, "stoch_d_period": d} for k in (5, 14) for d in (1, 3)],
    "bollinger_bands": [{"bb_period": n, "bb_std_multiplier": m} for n in (5, 20) for m in (0.5, 2.0)],
}
BARS = 400
# (first bar, one past the last, warm): whole, a train part, warm test parts (one reaching back
# past bar 0), one too short for any cell, an empty one
WINDOWS = [(0, BARS, False), (0, 250, False), (250, BARS, True), (30, BARS, True), (100, 180, False), (395, BARS, True)]


def single(key: str, data: dict, params: dict, window: tuple[int, int, bool], options: dict) -> np.ndarray:
    """The float32 metrics of the backtest a sweep's cell stands for (NaN where it raises)."""
    lo, hi, warm = window
    measure = 0
    try:
        if warm:
            first = max(0, lo - warmup_bars(key, parameters_resolve(key, params)))
            measure, lo = lo - first, first
        result = backtest_arrays(key, **{k: v[lo:hi] for k, v in data.items()}, params=params, **options)
        metrics = window_metrics(result, data["close"][lo:hi], measure) if warm else result.metrics
    except EngineError:
        return np.full(len(METRIC_NAMES), np.nan, dtype=np.float32)
    return np.array([math.inf if metrics[n] is None else metrics[n] for n in METRIC_NAMES], dtype=np.float32)


@pytest.mark.parametrize("options", [OPTIONS[0], OPTIONS[-1], {"stop_mode": "intrabar", "interval": "1w"}])
@pytest.mark.parametrize("key", list(GRIDS))
def test_every_cell_on_every_window_equals_its_single_backtest(key, options) -> None:
    cells = [{**p, "stop_loss_threshold": stop} for p in GRIDS[key] for stop in (3.0, 100.0)]
    compiled = sweep_cells(key, cells, **options)
    for seed in (1, 2):
        data = walk(BARS, seed=seed)
        metrics = sweep_coin(compiled, WINDOWS, **data)
        assert metrics.shape == (len(cells), len(WINDOWS), len(METRIC_NAMES))
        for c, params in enumerate(cells):
            for w, window in enumerate(WINDOWS):
                expected = single(key, data, params, window, options)
                assert np.array_equal(metrics[c, w].astype(np.float32), expected, equal_nan=True), (params, window)
    refused = [c for c, p in enumerate(cells) if key == "ma_crossover" and p["fast_ma_period"] >= p["slow_ma_period"]]
    assert refused == [] or np.isnan(metrics[refused]).all()
    assert not np.isnan(metrics[:, 0]).all()  # the whole window ran for most cells


def test_cells_share_their_means_and_stay_exact_in_any_order() -> None:
    """Two cells sharing a slow mean, in either order and alone, give the same numbers."""
    data = walk(BARS, seed=5)
    cells = [{"fast_ma_period": 4, "slow_ma_period": 40}, {"fast_ma_period": 9, "slow_ma_period": 40}]
    both = sweep_coin(sweep_cells("ma_crossover", cells), WINDOWS, **data)
    reversed_ = sweep_coin(sweep_cells("ma_crossover", cells[::-1]), WINDOWS, **data)
    alone = sweep_coin(sweep_cells("ma_crossover", cells[1:]), WINDOWS, **data)
    assert np.array_equal(both, reversed_[::-1], equal_nan=True)
    assert np.array_equal(both[1:], alone, equal_nan=True)


def test_what_the_compiled_sweep_leaves_to_single_backtests() -> None:
    rules = compile_rules(entry_rule="close > sma(close, 5)", exit_rule="close < sma(close, 5)")
    assert sweep_cells(rules, [{}]) is None  # a rule strategy
    assert sweep_cells("rsi", [{}], fee_pct=9) is None  # options every backtest refuses
    data = walk(BARS, seed=3)
    data["close"] = data["close"].copy()
    data["close"][300] = np.nan  # a window before bar 300 is still good: the caller decides per window
    assert sweep_coin(sweep_cells("rsi", [{}]), WINDOWS, **data) is None
    assert sweep_coin(sweep_cells("stochastic", [{}]), WINDOWS, **walk(BARS, seed=3) | {"high": None}) is None
