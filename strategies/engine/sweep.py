"""Many parameter sets (cells) of one built-in strategy on one coin's windows of bars, in one compiled
call per coin (kernels/sweep.py): what a parameter sweep computes, without a Python call per backtest.

    cells = sweep_cells("ma_crossover", [{"fast_ma_period": 5, "slow_ma_period": 60}, ...], fee_pct=0.1)
    metrics = sweep_coin(cells, [(0, n, False), (split, n, True)], times=t, open=o, high=h, low=l, close=c)
    metrics[c, w]  # METRIC_NAMES order, float64; NaN where the backtest has too few bars

Each value equals the single backtest's: `backtest_arrays` with the cell's parameters on the
window's bars, and for a warm window (a sweep's out-of-sample test) on the bars from W before its
first bar, measured from that bar (`windows.window_metrics`); a profit factor of None is +inf.
The same kernels on the same bars in the same order: the signals kernel of the strategy (the MA
crossover and the mean reversion from plain means shared by the cells of a window), the position
model, the metrics kernel. `sweep_cells` is None for what it does not cover (a rule strategy, a
cell the engine refuses); `sweep_coin` is None for a coin whose prices fail a check somewhere
(a window may hold only good bars): the caller then backtests each cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backtest import (
    _as_prices,
    _as_times,
    _check_values,
    _read_only,
    check_fee_pct,
    check_fill,
    check_interval,
    check_slippage_pct,
    check_stop_mode,
)
from .errors import EngineError
from .kernels.metrics import KERNEL_METRICS
from .kernels.sweep import PARAM_COLUMNS, SHARED_MEANS, STRATEGY_CODES, sweep_coin_kernel
from .metrics import INTERVAL_MINUTES, METRIC_NAMES
from .registry import parameters_resolve, strategy_spec, warmup_bars

_TO_METRIC_NAMES = np.array([KERNEL_METRICS.index(name) for name in METRIC_NAMES])
_NONE = _read_only(np.empty(0))
_NEVER = 2**62  # the W of a refused cell: more bars than any window has


@dataclass(frozen=True, eq=False)
class SweepCells:
    """The cells of one strategy with the run options, as the compiled sweep reads them."""

    strategy: str
    params: np.ndarray  # (cells, 4) float64: PARAM_COLUMNS, a select as its option's index
    warmups: np.ndarray  # (cells,) int64: W
    stops: np.ndarray  # (cells,) float64: stop_loss_threshold
    lengths: np.ndarray  # (lengths,) int64: the distinct lengths of the shared means
    rows: np.ndarray  # (cells, 2) int64: the rows of `lengths` of each cell's shared means
    fee: float
    slip: float
    fill: str
    stop_mode: str
    minutes: int


def sweep_cells(
    strategy: Any,
    cells: Sequence[Mapping[str, Any]],
    *,
    fee_pct: float = 0.0,
    interval: str = "1h",
    fill: str = "close",
    stop_mode: str = "close",
    slippage_pct: float = 0.0,
) -> SweepCells | None:
    """The cells resolved and encoded once (for every coin); None when the compiled sweep does not
    cover them: a rule strategy, or options the engine refuses. A cell the engine refuses (every
    backtest of it raises) is NaN on every window."""
    if not isinstance(strategy, str) or strategy not in PARAM_COLUMNS:
        return None
    try:
        fee, slip = check_fee_pct(fee_pct), check_slippage_pct(slippage_pct)
        options = (check_interval(interval), check_fill(fill), check_stop_mode(stop_mode))
    except EngineError:
        return None
    resolved, refused = [], []
    for cell in cells:
        try:
            resolved.append(parameters_resolve(strategy, cell))
        except EngineError:
            resolved.append(parameters_resolve(strategy, {}))
            refused.append(len(resolved) - 1)
    warmups = np.array([warmup_bars(strategy, p) for p in resolved], dtype=np.int64)
    warmups[refused] = _NEVER
    spec = strategy_spec(strategy)
    columns = PARAM_COLUMNS[strategy]
    params = np.zeros((len(resolved), 4))
    for j, name in enumerate(columns):
        choices = spec.param(name).options
        params[:, j] = [choices.index(p[name]) if choices else p[name] for p in resolved]
    shared = SHARED_MEANS.get(strategy, ())
    lengths = sorted({int(p[name]) for p in resolved for name in shared})
    rows = np.zeros((len(resolved), 2), dtype=np.int64)
    for j, name in enumerate(shared):
        rows[:, j] = [lengths.index(int(p[name])) for p in resolved]
    return SweepCells(
        strategy=strategy,
        params=params,
        warmups=warmups,
        stops=np.array([p["stop_loss_threshold"] for p in resolved], dtype=np.float64),
        lengths=np.array(lengths, dtype=np.int64),
        rows=rows,
        fee=fee / 100.0,
        slip=slip / 100.0,
        fill=options[1],
        stop_mode=options[2],
        minutes=INTERVAL_MINUTES[options[0]],
    )


def sweep_coin(
    cells: SweepCells,
    windows: Sequence[tuple[int, int, bool]],
    *,
    times: Any,
    close: Any,
    open: Any | None = None,  # noqa: A002 - named as the price column
    high: Any | None = None,
    low: Any | None = None,
    volume: Any | None = None,
) -> np.ndarray | None:
    """(cells, windows, METRIC_NAMES) float64: every cell on each window (first bar, one past the
    last, warm) of one coin's bars; None when the coin's prices fail backtest_arrays' checks."""
    try:
        stamps = _as_times(times)
        prices = _as_prices(
            cells.strategy,
            stamps.shape[0],
            close=close,
            open_=open,
            high=high,
            low=low,
            volume=volume,
            fill=cells.fill,
            stop_mode=cells.stop_mode,
        )
        _check_values(stamps, prices)
    except EngineError:
        return None
    out = np.empty((cells.params.shape[0], len(windows), len(KERNEL_METRICS)))
    sweep_coin_kernel(
        STRATEGY_CODES.index(cells.strategy),
        _NONE if prices.open is None else prices.open,
        _NONE if prices.high is None else prices.high,
        _NONE if prices.low is None else prices.low,
        prices.close,
        cells.params,
        cells.warmups,
        cells.stops,
        cells.lengths,
        cells.rows,
        np.array([w[0] for w in windows], dtype=np.int64),
        np.array([w[1] for w in windows], dtype=np.int64),
        np.array([bool(w[2]) for w in windows], dtype=np.bool_),
        cells.fee,
        cells.slip,
        cells.fill == "next_open",
        cells.stop_mode == "intrabar",
        cells.minutes,
        out,
    )
    return out[:, :, _TO_METRIC_NAMES]
