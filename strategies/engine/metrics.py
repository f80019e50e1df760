"""The metrics of one result, as the spec's two tables define them (full precision), and
METRICS, the one list of their names, labels, kinds and definitions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .kernels import REASON_STOP_LOSS
from .kernels.metrics import KERNEL_METRICS, MINUTES_PER_YEAR, metric_values_kernel
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


def periods_per_year(interval: str) -> float:
    """P of the Sharpe ratio: bars a year at this interval (1h: 8760)."""
    return MINUTES_PER_YEAR / INTERVAL_MINUTES[interval]


def compute_metrics(close: np.ndarray, sim: Simulation, interval: str) -> dict[str, Any]:
    """Every field of the spec's two metrics tables, as Python floats and ints (METRICS order)."""
    # b = equity[i] / equity[i-1] - 1, the drawdown, the downside deviation and the drawdown
    # duration come from the simulation's own pass over its curve (kernels.equity._equity_stats)
    return result_metrics(
        final=float(sim.equity[-1]),
        bars=close.shape[0],
        stats=(sim.bar_return_mean, sim.bar_return_std, sim.drawdown, sim.downside, sim.drawdown_duration),
        trades=(sim.returns, sim.reason, sim.entry_index, sim.exit_index),
        exposed=sim.bars_in_position,
        buy_hold_return=(float(close[-1]) / float(close[0]) - 1.0) * 100.0,
        interval=interval,
    )


def result_metrics(
    *,
    final: float,
    bars: int,
    stats: tuple[float, float, float, float, int],
    trades: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    exposed: int,
    buy_hold_return: float,
    interval: str,
) -> dict[str, Any]:
    """The metrics of any result, a coin's or a portfolio's: its final equity, its bar count N,
    its curve's statistics (bar-return mean and std, drawdown, downside deviation, drawdown
    duration: kernels.equity._equity_stats), its trades (returns, reasons, entry and exit
    bars, in the order they closed), the bars with a position at the close, and buy & hold.

    One compiled call (kernels.metrics.metric_values_kernel, the one a sweep makes per cell);
    its values become Python ints and floats here, a profit factor of +inf (no losing trade) None."""
    mean_b, std_b, drawdown, downside, duration = stats
    out = np.empty(len(KERNEL_METRICS))
    metric_values_kernel(
        out,
        float(final),
        int(bars),
        float(mean_b),
        float(std_b),
        float(drawdown),
        float(downside),
        int(duration),
        *trades,
        int(exposed),
        float(buy_hold_return),
        INTERVAL_MINUTES[interval],
        REASON_STOP_LOSS,
    )
    values = dict(zip(KERNEL_METRICS, out.tolist(), strict=True))
    metrics: dict[str, Any] = {}
    for name in METRIC_NAMES:
        value = values[name]
        if name in INTEGER_METRICS:
            metrics[name] = int(value)
        elif name == "profit_factor" and value == math.inf:
            metrics[name] = None
        else:
            metrics[name] = value
    return metrics


@dataclass(frozen=True)
class Metric:
    """One metric of a result: its field name, a label for tables, how to show it ("pct": a
    percentage, "ratio": a plain number, "int": a count, "bars": a number of bars), what it
    means in words and its formula (spec/ENGINE.md)."""

    name: str
    label: str
    kind: str
    description: str
    formula: str


# Both tables of the spec, in the order `result.metrics` has them.
METRICS: tuple[Metric, ...] = (
    Metric("total_return", "Total return", "pct", "Growth of the account over the window, compounded over all trades",
           "(final equity - 1) * 100"),
    Metric("total_trades", "Trades", "int", "Closed trades, the one closed by the end of the data included",
           "count of trades"),
    Metric("profitable_trades", "Winning trades", "int", "Trades with a positive net return", "count of r > 0"),
    Metric("losing_trades", "Losing trades", "int", "Trades with a net return of zero or less", "count of r <= 0"),
    Metric("win_rate", "Win rate", "pct", "Share of trades that made money",
           "profitable_trades / total_trades * 100 (0 with no trades)"),
    Metric("buy_hold_return", "Buy & hold", "pct", "Return of holding the coin over the whole window",
           "(last close / first close - 1) * 100"),
    Metric("sharpe_ratio", "Sharpe", "ratio", "Mean bar return over its deviation, annualised by bars a year (24/7)",
           "mean(b) / std(b, ddof=1) * sqrt(P); 0 when std is 0"),
    Metric("max_drawdown", "Max drawdown", "pct", "Deepest fall of equity from its running high",
           "min(equity / running max - 1) * 100"),
    Metric("exposure_pct", "Exposure", "pct", "Share of bars in which a position is held at the close",
           "bars in a position / bars * 100"),
    Metric("stop_loss_exits", "Stop-loss exits", "int", "Trades closed by the stop-loss", "count of stop_loss exits"),
    Metric("cagr", "CAGR", "pct", "Compound annual growth rate of the equity",
           "(final equity ** (1 / years) - 1) * 100, years = N * interval minutes / 525600"),
    Metric("sortino_ratio", "Sortino", "ratio", "Mean bar return over its downside deviation, annualised",
           "mean(b) / sqrt(mean(min(b, 0)**2)) * sqrt(P); 0 when no b is negative"),
    Metric("calmar_ratio", "Calmar", "ratio", "CAGR over the depth of the worst drawdown",
           "cagr / abs(max_drawdown); 0 when max_drawdown is 0"),
    Metric("profit_factor", "Profit factor", "ratio", "Gross gains of the winning trades over the gross losses",
           "sum of r > 0 / abs(sum of r < 0); null when no trade lost but one gained; 0 when none gained"),
    Metric("avg_trade_return", "Avg trade", "pct", "Mean net return of a trade", "mean(r) * 100; 0 with no trades"),
    Metric("best_trade", "Best trade", "pct", "Net return of the best trade", "max(r) * 100; 0 with no trades"),
    Metric("worst_trade", "Worst trade", "pct", "Net return of the worst trade", "min(r) * 100; 0 with no trades"),
    Metric("avg_bars_held", "Avg bars held", "bars", "Mean length of a trade in bars",
           "mean(exit bar - entry bar); 0 with no trades"),
    Metric("max_consecutive_losses", "Max losing streak", "int", "Longest run of consecutive trades that lost",
           "longest run of trades with r <= 0"),
    Metric("max_drawdown_duration", "Max drawdown duration", "bars",
           "Most bars from an equity high until equity first gets back to it (or the last bar)",
           "max over i of (i - the last j <= i with equity[j] = running max[i])"),
)  # fmt: skip
METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
assert sorted(METRIC_NAMES) == sorted(KERNEL_METRICS)
# The counts among them: Python ints in a result's metrics.
INTEGER_METRICS = frozenset(m.name for m in METRICS if m.kind == "int") | {"max_drawdown_duration"}
# A portfolio's metrics (spec: "Portfolio of a run"): the same, and the entries refused for want of a slot.
PORTFOLIO_METRICS: tuple[Metric, ...] = (
    *METRICS,
    Metric("skipped_entries", "Skipped entries", "int", "Buys not taken because every slot was in use",
           "count of refused buys (a level rule asks again, and is counted, at every bar)"),
)  # fmt: skip
