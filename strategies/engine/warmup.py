"""Load (or compile) every compiled kernel the engine's entry points use, before a request needs it."""

from __future__ import annotations

import time

import numpy as np

from .backtest import backtest_arrays
from .charts import strategy_indicators
from .portfolio import backtest_portfolio_arrays
from .registry import STRATEGIES
from .sweep import sweep_cells, sweep_coin


def warm_up() -> float:
    """Run every entry point on a small synthetic series: backtest_arrays of each strategy
    with the default options and with next-open fills and an intrabar stop, the portfolio
    (coins with the same bars and with different ones), strategy_indicators, a sweep's cells
    (strategies.engine.sweep); each with
    writable and read-only arrays (numba compiles per array type; the engine hands its
    kernels read-only views, so both must load the same code). Returns the seconds it took."""
    started = time.perf_counter()
    n = 400
    close = 100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, n)))
    times = (np.arange(n, dtype=np.int64) + 1_700_000_000 // 3600) * 3_600_000_000_000
    writable = {"times": times, "open": close * 1.001, "high": close * 1.01, "low": close * 0.99, "close": close}
    readonly = {}
    for name, array in writable.items():
        view = array.view()
        view.flags.writeable = False
        readonly[name] = view
    for bars in (writable, readonly):
        prices = {k: v for k, v in bars.items() if k != "times"}
        later = {**bars, "times": bars["times"][50:], **{k: v[50:] for k, v in prices.items()}}
        for key in STRATEGIES:
            backtest_arrays(key, **bars)
            backtest_arrays(key, **bars, fill="next_open", stop_mode="intrabar", slippage_pct=0.05)
            backtest_portfolio_arrays(key, {"A": bars, "B": bars}, {})
            backtest_portfolio_arrays(key, {"A": bars, "B": later}, {}, fill="next_open", stop_mode="intrabar")
            strategy_indicators(key, {}, **prices)
            cells = sweep_cells(key, [{}], fill="next_open", stop_mode="intrabar")
            sweep_coin(cells, [(0, n, False), (200, n, True)], **bars)
    return time.perf_counter() - started
