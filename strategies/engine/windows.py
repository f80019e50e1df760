"""The metrics of the bars of a result from one bar on: an out-of-sample window, measured on its
own bars after a warm-up that only the indicators saw.

A sweep's test window (and each walk-forward fold's) is backtested from W bars before its first
bar, so that the first decision falls on that bar; its metrics must cover only the bars from there
on. Before bar W no decision can be taken (spec: "Position model"), so the curve up to it is flat
at 1.0 and every trade lies after it: the window's metrics are those of the curve `equity[start:]`,
its trades, and buy-and-hold from `close[start]`, as if they were a backtest of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backtest import BacktestResult, _read_only
from .kernels import REASON_END_OF_DATA, _equity_stats
from .metrics import result_metrics


def window_metrics(result: BacktestResult, close: np.ndarray, start: int) -> dict[str, Any]:
    """Every metric of `result` over its bars from index `start` on (start <= result.warmup).

    Raises ValueError when a trade was entered before `start` (the window would cut it)."""
    if not 0 <= start <= result.warmup:
        raise ValueError(f"the window's first bar ({start}) must be within the warm-up ({result.warmup})")
    log = result.trade_log
    if len(log) and int(log.entry_index.min()) < start:
        raise ValueError("a trade was entered before the window's first bar")
    equity = _read_only(np.ascontiguousarray(result.equity[start:]))
    reason = np.ascontiguousarray(log.reason)
    entry = np.ascontiguousarray(log.entry_index, dtype=np.int64)
    exit_ = np.ascontiguousarray(log.exit_index, dtype=np.int64)
    # A bar is in a position after its fill: entry bar to the bar before the exit, and the last bar
    # when only the end of the data closed the position (spec: exposure_pct).
    exposed = int((exit_ - entry).sum()) + int((reason == REASON_END_OF_DATA).sum())
    returns = _read_only(np.ascontiguousarray(log.return_pct / 100.0))
    return result_metrics(
        final=float(equity[-1]),
        bars=int(equity.shape[0]),
        stats=_equity_stats(equity),
        trades=(returns, _read_only(reason), entry, exit_),
        exposed=exposed,
        buy_hold_return=(float(close[-1]) / float(close[start]) - 1.0) * 100.0,
        interval=result.interval,
    )
