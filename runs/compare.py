"""Runs compared side by side: metrics as rows and runs as columns (the best of each row marked),
what changed between them, their accounts' equity rebased to 100, and per-coin deltas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strategies.engine import PORTFOLIO_METRICS
from strategies.models import StrategyParameter

from .models import METRIC_DISPLAY, METRIC_FIELDS, BacktestRun, RunResult
from .serializers import RunSerializer, portfolio_detail

MAX_RUNS = 6
# The per-coin figures compared: the first run's value ("base") and each other run's change from it.
DELTA_FIELDS = ("total_return", "max_drawdown", "total_trades")
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
# The coins' rows: the run summary's field, the metric it ranks like, and its label.
COIN_ROWS: tuple[tuple[str, str, str], ...] = (
    ("avg_return", "total_return", "Average coin: total return"),
    ("avg_sharpe_ratio", "sharpe_ratio", "Average coin: Sharpe"),
    ("avg_max_drawdown", "max_drawdown", "Average coin: max drawdown"),
    ("avg_win_rate", "win_rate", "Average coin: win rate"),
    ("beat_buy_hold", "beat_buy_hold", "Coins that beat buy-and-hold"),
)
_UNITS = {"pct": "%", "ratio": "", "int": "int", "bars": ""}
_PORTFOLIO_DISPLAY = {
    m.name: {"label": m.label, "title": m.description, "unit": _UNITS[m.kind]} for m in PORTFOLIO_METRICS
}


def _display(name: str) -> dict[str, Any]:
    shown = METRIC_DISPLAY.get(name) or _PORTFOLIO_DISPLAY.get(name) or {"label": name, "title": "", "unit": ""}
    return {"label": shown["label"], "title": shown.get("title", ""), "unit": shown["unit"]}


def better(name: str) -> str | None:
    """Which way a metric row is better: "higher", "lower", or None when no best is marked."""
    if name in NOT_RANKED:
        return None
    return "lower" if name in LOWER_IS_BETTER else "higher"


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


def changes(inputs: Sequence[dict[str, Any]], parameter_labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every input whose value is not the same in all the runs, with each run's value. A parameter is
    labelled by its display name (parameter_labels), else by its name."""
    names = list(dict.fromkeys(name for one in inputs for name in one))
    labels = dict(INPUTS)
    parameter_labels = parameter_labels or {}
    out = []
    for name in names:
        values = [one.get(name) for one in inputs]
        if any(v != values[0] for v in values[1:]):
            key = name.split(".", 1)[-1]
            label = labels.get(name) or f"Parameter: {parameter_labels.get(key) or key}"
            out.append({"input": name, "label": label, "values": values})
    return out


def _parameter_labels(runs: Sequence[BacktestRun]) -> dict[str, str]:
    """Display names of the runs' parameters (the first run's strategy naming one wins)."""
    order = {run.strategy_id: k for k, run in reversed(list(enumerate(runs)))}
    rows = StrategyParameter.objects.filter(strategy_id__in=order).values_list(
        "strategy_id", "parameter_name", "display_name"
    )
    labels: dict[str, str] = {}
    for _, name, display in sorted(rows, key=lambda r: -order[r[0]]):
        if display:
            labels[name] = display
    return labels


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
    changed = changes(inputs, _parameter_labels(runs))
    portfolios = [getattr(run, "portfolio", None) for run in runs]
    metric_rows = []
    for name in (*METRIC_FIELDS, "skipped_entries"):
        values = [None if p is None else p.metrics.get(name) for p in portfolios]
        values = [None if v is None else round(float(v), 2) for v in values]
        metric_rows.append(
            {"metric": name, **_display(name), "better": better(name), "values": values, "best": best_of(name, values)}
        )
    for key, name, label in COIN_ROWS:
        values = [None if not run.summary else run.summary.get(key) for run in runs]
        unit = "int" if key == "beat_buy_hold" else _display(name)["unit"]
        metric_rows.append(
            {
                "metric": f"coins.{key}",
                "label": label,
                "title": "Over the coins traded one by one, each on its own capital",
                "unit": unit,
                "better": better(name),
                "values": values,
                "best": best_of(name, values),
            }
        )
    first = rows_by_run[runs[0].id]
    shared = [s for s in first if all(s in rows_by_run[run.id] for run in runs[1:])]
    deltas = []
    for symbol in sorted(shared):
        base = first[symbol]
        entry: dict[str, Any] = {
            "crypto_symbol": symbol,
            "base": {k: base[k] if k == "total_trades" else round(base[k], 2) for k in DELTA_FIELDS},
        }
        for run in runs[1:]:
            row = rows_by_run[run.id][symbol]
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
