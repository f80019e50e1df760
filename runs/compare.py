"""Runs compared side by side: metrics as rows and runs as columns (the best of each row marked),
what changed between them, their accounts' equity rebased to 100, and per-coin deltas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .models import METRIC_FIELDS, BacktestRun, RunResult
from .serializers import RunSerializer, portfolio_detail

MAX_RUNS = 6
# Lower is better for these; higher for every other metric (a drawdown is negative: higher is shallower).
LOWER_IS_BETTER = frozenset({"losing_trades", "max_consecutive_losses", "max_drawdown_duration", "stop_loss_exits"})
# Counts and neutral figures: no best is marked for them.
NOT_RANKED = frozenset({"total_trades", "exposure_pct", "buy_hold_return", "skipped_entries"})
# The inputs of a run, as "what changed" names them.
INPUTS: tuple[tuple[str, str], ...] = (
    ("strategy", "Strategy"),
    ("start_date", "Start"),
    ("end_date", "End"),
    ("interval", "Interval"),
    ("fee_pct", "Fee %"),
    ("fill", "Fills"),
    ("stop_mode", "Stop-loss"),
    ("slippage_pct", "Slippage %"),
    ("portfolio_slots", "Slots"),
    ("coins", "Coins"),
)


def _inputs(run: BacktestRun, coins: list[str]) -> dict[str, Any]:
    return {
        "strategy": run.strategy.name,
        "start_date": run.start_date or None,
        "end_date": run.end_date or None,
        "interval": run.interval,
        "fee_pct": run.fee_pct,
        "fill": run.fill,
        "stop_mode": run.stop_mode,
        "slippage_pct": run.slippage_pct,
        "portfolio_slots": run.portfolio_slots,
        "coins": coins,
        **{f"parameters.{k}": v for k, v in sorted(run.parameters.items())},
    }


def changes(inputs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every input whose value is not the same in all the runs, with each run's value."""
    names = list(dict.fromkeys(name for one in inputs for name in one))
    labels = dict(INPUTS)
    out = []
    for name in names:
        values = [one.get(name) for one in inputs]
        if any(v != values[0] for v in values[1:]):
            label = labels.get(name) or f"Parameter {name.split('.', 1)[1]}"
            out.append({"input": name, "label": label, "values": values})
    return out


def best_of(name: str, values: Sequence[float | None]) -> int | None:
    """The index of the best value of a metric row (None when none or not ranked)."""
    if name in NOT_RANKED:
        return None
    ranked = [(v, k) for k, v in enumerate(values) if v is not None]
    if len(ranked) < 2:
        return None
    pick = min if name in LOWER_IS_BETTER else max
    value = pick(v for v, _ in ranked)
    winners = [k for v, k in ranked if v == value]
    return winners[0] if len(winners) == 1 else None


def runs_compare(runs: Sequence[BacktestRun]) -> dict[str, Any]:
    """The comparison of 2..MAX_RUNS runs, in the order given (the first is the reference of the deltas)."""
    rows_by_run = {
        run.id: {
            r["crypto_symbol"]: r
            for r in RunResult.objects.filter(run=run, state=RunResult.State.DONE).values(
                "crypto_symbol", "total_return", "max_drawdown", "total_trades"
            )
        }
        for run in runs
    }
    coins = {run.id: sorted(RunResult.objects.filter(run=run).values_list("crypto_symbol", flat=True)) for run in runs}
    inputs = [_inputs(run, coins[run.id]) for run in runs]
    changed = changes(inputs)
    portfolios = [getattr(run, "portfolio", None) for run in runs]
    metric_rows = []
    for name in (*METRIC_FIELDS, "skipped_entries"):
        values = [None if p is None else p.metrics.get(name) for p in portfolios]
        values = [None if v is None else round(float(v), 2) for v in values]
        metric_rows.append({"metric": name, "values": values, "best": best_of(name, values)})
    for key in ("avg_return", "avg_sharpe_ratio", "avg_max_drawdown", "avg_win_rate", "beat_buy_hold"):
        values = [None if not run.summary else run.summary.get(key) for run in runs]
        name = {"avg_return": "total_return", "avg_win_rate": "win_rate"}.get(key, key)
        metric_rows.append({"metric": f"coins.{key}", "values": values, "best": best_of(name, values)})
    first = rows_by_run[runs[0].id]
    shared = [s for s in first if all(s in rows_by_run[run.id] for run in runs[1:])]
    deltas = []
    for symbol in sorted(shared):
        entry: dict[str, Any] = {"crypto_symbol": symbol}
        for run in runs[1:]:
            row, base = rows_by_run[run.id][symbol], first[symbol]
            entry.setdefault("runs", []).append(
                {
                    "id": str(run.id),
                    "total_return": round(row["total_return"] - base["total_return"], 2),
                    "max_drawdown": round(row["max_drawdown"] - base["max_drawdown"], 2),
                    "total_trades": row["total_trades"] - base["total_trades"],
                }
            )
        deltas.append(entry)
    return {
        "runs": [
            {**RunSerializer(run).data, "portfolio": None if p is None else portfolio_detail(p, trades=False)}
            for run, p in zip(runs, portfolios, strict=True)
        ],
        "metrics": metric_rows,
        "changes": changed,
        "several_changed": len(changed) > 1,
        "coins": deltas,
    }
