"""The metrics of one result, as the spec's table defines them (full precision)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .simulation import Simulation

# Minutes per bar of each interval the engine accepts; sets the Sharpe annualisation.
INTERVAL_MINUTES: dict[str, int] = {
    "1m": 1,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "4h": 240,
    "1d": 1440,
    "1w": 10080,
}
MINUTES_PER_YEAR = 525_600  # 365 days of a 24/7 market


def periods_per_year(interval: str) -> float:
    """P of the Sharpe ratio: bars a year at this interval (1h: 8760)."""
    return MINUTES_PER_YEAR / INTERVAL_MINUTES[interval]


def sharpe_ratio(mean_b: float, std_b: float, interval: str) -> float:
    """mean(b) / std(b, ddof=1) * sqrt(P) of the equity curve's bar returns b.

    0 when the standard deviation is 0 or undefined (fewer than two returns).
    """
    if not std_b > 0.0 or not math.isfinite(std_b):
        return 0.0
    return mean_b / std_b * math.sqrt(periods_per_year(interval))


def compute_metrics(close: np.ndarray, sim: Simulation, interval: str) -> dict[str, Any]:
    """Every field of the spec's metrics table, as Python floats and ints."""
    # b = equity[i] / equity[i-1] - 1 and drawdown = min(equity / running max - 1), from
    # the simulation's own pass over its curve (kernels._equity_stats)
    total = int(sim.returns.shape[0])
    profitable = int(sim.profitable)
    bars = close.shape[0]
    return {
        "total_return": (float(sim.equity[-1]) - 1.0) * 100.0,
        "total_trades": total,
        "profitable_trades": profitable,
        "losing_trades": total - profitable,
        "win_rate": profitable / total * 100.0 if total else 0.0,
        "buy_hold_return": (float(close[-1]) / float(close[0]) - 1.0) * 100.0,
        "sharpe_ratio": sharpe_ratio(sim.bar_return_mean, sim.bar_return_std, interval),
        "max_drawdown": sim.drawdown * 100.0,
        "exposure_pct": sim.bars_in_position / bars * 100.0,
        "stop_loss_exits": int(sim.stop_loss_exits),
    }
