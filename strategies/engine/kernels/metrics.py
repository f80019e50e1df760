"""The metrics of a result from its curve's statistics and its trades: the spec's two tables in one
compiled call, so that a single backtest (metrics.result_metrics) and a sweep's cells
(kernels/sweep.py, many per call) compute them with the same operations in the same order."""

from __future__ import annotations

import numpy as np
from numba import njit

from .equity import trade_stats_kernel

# The order of metric_values' output; metrics.py maps it to METRIC_NAMES by name.
KERNEL_METRICS: tuple[str, ...] = (
    "total_return",
    "total_trades",
    "profitable_trades",
    "losing_trades",
    "win_rate",
    "buy_hold_return",
    "sharpe_ratio",
    "max_drawdown",
    "exposure_pct",
    "stop_loss_exits",
    "cagr",
    "sortino_ratio",
    "calmar_ratio",
    "profit_factor",
    "avg_trade_return",
    "best_trade",
    "worst_trade",
    "avg_bars_held",
    "max_consecutive_losses",
    "max_drawdown_duration",
)
MINUTES_PER_YEAR = 525_600  # 365 days of a 24/7 market


@njit(cache=True, nogil=True, error_model="numpy")
def metric_values_kernel(
    out: np.ndarray,
    final: float,
    bars: int,
    mean_b: float,
    std_b: float,
    drawdown: float,
    downside: float,
    duration: int,
    returns: np.ndarray,
    reason: np.ndarray,
    entry_index: np.ndarray,
    exit_index: np.ndarray,
    exposed: int,
    buy_hold_return: float,
    minutes: int,
    stop_code: int,
) -> None:  # pragma: no cover - compiled
    """Fill `out` (KERNEL_METRICS order, float64) with every metric (spec: the two tables):
    the counts as floats, a profit factor of "no losing trade" (null in the API) as +inf.

    1. the trades in one pass (trade_stats_kernel): counts, win rate, profit factor, average,
       best and worst trade, bars held, the longest losing run;
    2. the curve: total return, Sharpe (0 when the deviation is 0 or undefined), drawdown,
       exposure, CAGR (a growth that overflows a float is inf), Sortino, Calmar."""
    periods = MINUTES_PER_YEAR / minutes
    total = returns.shape[0]
    profitable, stops, gains, losses, sum_r, best, worst, held, longest = trade_stats_kernel(
        returns, reason, entry_index, exit_index, stop_code
    )
    if gains == 0.0:
        profit_factor = 0.0
    elif losses == 0.0:
        profit_factor = np.inf
    else:
        profit_factor = gains / losses
    max_drawdown = drawdown * 100.0
    sharpe = mean_b / std_b * np.sqrt(periods) if std_b > 0.0 and std_b < np.inf else 0.0
    years = bars * minutes / MINUTES_PER_YEAR
    cagr = (final ** (1.0 / years) - 1.0) * 100.0
    out[0] = (final - 1.0) * 100.0
    out[1] = total
    out[2] = profitable
    out[3] = total - profitable
    out[4] = profitable / total * 100.0 if total else 0.0
    out[5] = buy_hold_return
    out[6] = sharpe
    out[7] = max_drawdown
    out[8] = exposed / bars * 100.0
    out[9] = stops
    out[10] = cagr
    out[11] = mean_b / downside * np.sqrt(periods) if downside > 0.0 else 0.0
    out[12] = cagr / abs(max_drawdown) if max_drawdown != 0.0 else 0.0
    out[13] = profit_factor
    out[14] = sum_r / total * 100.0 if total else 0.0
    out[15] = best * 100.0
    out[16] = worst * 100.0
    out[17] = held / total if total else 0.0
    out[18] = longest
    out[19] = duration
