"""A sweep's cells on one coin in one compiled call: per cell and window, the signals, the position
model and the metrics, the same kernels a single backtest calls on the same bars, without Python in
between; each plain mean the MA crossover and the mean reversion decide on computed once per length
and window of bars, and shared by the cells that use it."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _first_bad_price
from .equity import _equity_stats
from .indicators import rsi_wilder_kernel
from .metrics import metric_values_kernel
from .rolling import _plain_means
from .signals import (
    _ma_crossover_of_means,
    _mean_reversion_of_mean,
    bollinger_signals_kernel,
    ma_crossover_signals_kernel,
    macd_signals_kernel,
    mean_reversion_signals_kernel,
    rsi_sma_signals_kernel,
    stochastic_signals_kernel,
    thresholds_kernel,
)
from .simulation import REASON_END_OF_DATA, REASON_STOP_LOSS, simulate_kernel

# The built-in strategies by code, and the parameters each reads, in the columns of `params`
# (a select by its option's index); strategies.engine.sweep builds them from the resolved cells.
STRATEGY_CODES: tuple[str, ...] = ("rsi", "ma_crossover", "macd", "stochastic", "bollinger_bands", "mean_reversion")
PARAM_COLUMNS: dict[str, tuple[str, ...]] = {
    "rsi": ("rsi_period", "oversold_threshold", "overbought_threshold", "rsi_smoothing"),
    "ma_crossover": ("fast_ma_period", "slow_ma_period"),
    "macd": ("macd_fast_period", "macd_slow_period", "macd_signal_period"),
    "stochastic": ("stoch_k_period", "stoch_d_period", "oversold_threshold", "overbought_threshold"),
    "bollinger_bands": ("bb_period", "bb_std_multiplier"),
    "mean_reversion": ("mr_period", "mr_threshold"),
}
# The lengths whose plain means a strategy's cells share (columns of `params`, in order).
SHARED_MEANS: dict[str, tuple[str, ...]] = {
    "ma_crossover": ("fast_ma_period", "slow_ma_period"),
    "mean_reversion": ("mr_period",),
}
_RSI, _MA, _MACD, _STOCHASTIC, _BOLLINGER, _MEAN_REVERSION = range(6)
_CACHE_BYTES = 64 * 1024 * 1024  # the shared means a call keeps at once


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _shared_mean(
    x: np.ndarray, lengths: np.ndarray, row: int, cache: np.ndarray, ready: np.ndarray
) -> np.ndarray:  # pragma: no cover - compiled
    """_plain_means(x, lengths[row]), computed once per window of bars when the row fits the cache."""
    if row >= cache.shape[0]:
        return _plain_means(x, lengths[row])
    if not ready[row]:
        cache[row, : x.shape[0]] = _plain_means(x, lengths[row])
        ready[row] = True
    return cache[row, : x.shape[0]]


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _cell_signals(
    code: int,
    high: np.ndarray,
    low: np.ndarray,
    x: np.ndarray,
    p: np.ndarray,
    good: bool,
    lengths: np.ndarray,
    rows: np.ndarray,
    cache: np.ndarray,
    ready: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The entry and exit signals of strategy `code` with parameters p (PARAM_COLUMNS) on the bars
    x: signals.strategy_signals' kernel with the same arguments; the MA crossover and the mean
    reversion from the shared plain means where their kernels would compute them (`good`: the
    prices are positive and finite)."""
    size = x.shape[0]
    if code == _MA:
        fast = int(p[0])
        slow = int(p[1])
        if max(fast, slow) < size and good:
            fm = _shared_mean(x, lengths, rows[0], cache, ready)
            sm = _shared_mean(x, lengths, rows[1], cache, ready)
            return _ma_crossover_of_means(x, fm, sm, fast, slow)
        return ma_crossover_signals_kernel(x, fast, slow)
    if code == _MEAN_REVERSION:
        n = int(p[0])
        if n <= size and good:
            return _mean_reversion_of_mean(x, _shared_mean(x, lengths, rows[0], cache, ready), n, p[1])
        return mean_reversion_signals_kernel(x, n, p[1])
    if code == _RSI:
        if p[3] == 0.0:
            return rsi_sma_signals_kernel(x, int(p[0]), p[1], p[2])
        return thresholds_kernel(rsi_wilder_kernel(x, int(p[0])), p[1], p[2])
    if code == _MACD:
        return macd_signals_kernel(x, int(p[0]), int(p[1]), int(p[2]))
    if code == _STOCHASTIC:
        return stochastic_signals_kernel(high, low, x, int(p[0]), int(p[1]), p[2], p[3])
    return bollinger_signals_kernel(x, int(p[0]), p[1])


@njit(cache=True, nogil=True, error_model="numpy")
def sweep_coin_kernel(
    code: int,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    params: np.ndarray,
    warmups: np.ndarray,
    stops: np.ndarray,
    lengths: np.ndarray,
    rows: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    warm: np.ndarray,
    fee: float,
    slip: float,
    next_open: bool,
    intrabar: bool,
    minutes: int,
    out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Fill out[c, w] (KERNEL_METRICS order) with the metrics of cell c on window w of one coin, as
    backtest_arrays and windows.window_metrics give them; NaN where the backtest has too few bars.

    `params` (cells x 4) holds each cell's PARAM_COLUMNS, `warmups` and `stops` its W and stop-loss,
    `rows` (cells x 2) the rows of `lengths` of its shared means. Window w covers bars
    starts[w]:ends[w]; a warm one is backtested from W bars before its first bar (from bar 0 at
    the least) and measured from that bar, as windows.window_metrics measures it (its trades'
    returns as the trade log holds them, in percent and back). `open_`, `high` and `low` may be
    empty when neither the strategy nor the options read them.

    The cells of a warm window are taken in the order of their W, so those that share their bars
    share their means."""
    cells = params.shape[0]
    cap = min(lengths.shape[0], max(1, _CACHE_BYTES // (8 * max(1, close.shape[0]))))
    cache = np.empty((cap, close.shape[0]))
    ready = np.zeros(cap, np.bool_)
    by_warmup = np.argsort(warmups, kind="mergesort")
    for w in range(starts.shape[0]):
        lo_bars = -1
        good = False
        for k in range(cells):
            c = by_warmup[k] if warm[w] else k
            first = starts[w]
            lo = max(0, first - warmups[c]) if warm[w] else first
            hi = ends[w]
            if lo != lo_bars:
                lo_bars = lo
                ready[:] = False
                good = hi > lo and _first_bad_price(close[lo:hi]) < 0
            if hi - lo < warmups[c] + 2:
                out[c, w, :] = np.nan
                continue
            x = close[lo:hi]
            entry, exit_ = _cell_signals(
                code, high[lo:hi], low[lo:hi], x, params[c], good, lengths, rows[c], cache, ready
            )
            sim = simulate_kernel(
                open_[lo:hi], low[lo:hi], x, entry, exit_, warmups[c], stops[c], fee, slip, next_open, intrabar
            )
            equity, entry_index, exit_index, _, _, reason, returns, held, mean, std, drawdown, downside, duration = sim
            if not warm[w]:
                metric_values_kernel(
                    out[c, w],
                    equity[-1],
                    hi - lo,
                    mean,
                    std,
                    drawdown,
                    downside,
                    duration,
                    returns,
                    reason,
                    entry_index,
                    exit_index,
                    held,
                    (x[-1] / x[0] - 1.0) * 100.0,
                    minutes,
                    REASON_STOP_LOSS,
                )
                continue
            measure = first - lo
            tail = equity[measure:]
            mean, std, drawdown, downside, duration = _equity_stats(tail)
            exposed = 0
            for t in range(reason.shape[0]):
                exposed += exit_index[t] - entry_index[t] + (reason[t] == REASON_END_OF_DATA)
            metric_values_kernel(
                out[c, w],
                tail[-1],
                tail.shape[0],
                mean,
                std,
                drawdown,
                downside,
                duration,
                returns * 100.0 / 100.0,
                reason,
                entry_index,
                exit_index,
                exposed,
                (x[-1] / x[measure] - 1.0) * 100.0,
                minutes,
                REASON_STOP_LOSS,
            )
