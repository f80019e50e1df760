"""Writes of sweeps: create (the cells expanded and stored), start, store a chunk of cells, finish
(robustness, the best cell, its deflated Sharpe, the walk-forward folds), cancel, resume.

A sweep is a batch of many cells (ARCHITECTURE.md, "The unit of work"): its jobs run on the same
backends as a run's, through `runs.backends`, and its events go through `runs.events.publish` on
the stored channel `sweep-<uuid>`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from market_data.selectors import coins_with_bars
from runs import events
from runs.backends import backend
from runs.db import rows_update
from runs.services import TooManyRuns, Window, client_share_check, runs_create_lock
from strategies.engine import InvalidParameters
from strategies.models import Strategy
from strategies.services import strategy_parameter_check, strategy_parameters_resolve, strategy_rules_snapshot

from .grid import Axis, GridError, axis_values, cells_build
from .models import Sweep, SweepCell

logger = logging.getLogger(__name__)

Status = Sweep.Status
State = SweepCell.State


def channel_name(sweep_id: Any) -> str:
    return f"sweep-{sweep_id}"


def publish(sweep_id: Any, payload: dict[str, Any]) -> None:
    events.publish(sweep_id, payload, channel=channel_name(sweep_id))


class SweepNotResumable(Exception):
    """Only an interrupted sweep continues (HTTP 409)."""


class SweepNotCancellable(Exception):
    """The sweep has already finished (HTTP 409)."""


def grid_cells(
    *,
    strategy: Strategy,
    fixed: Mapping[str, Any],
    grid: Mapping[str, Any],
    search: tuple[str, int | None, int | None],
):
    """The sweep's cells from its request. Raises GridError naming the field and the rule.

    1. Each swept parameter is an active parameter of the strategy, not also fixed; each of
       its values passes the parameter's own checks (type, min..max): else a 400 names it.
    2. Each fixed parameter likewise.
    3. Every combination (or the random subset) is resolved with the fixed ones and the
       defaults; one that breaks a cross-field rule (fast >= slow) is skipped and counted.
    """
    if not isinstance(grid, Mapping) or not grid:
        raise GridError("grid", "must name at least one parameter to sweep")
    strategy.definition_rows = list(strategy.parameters.filter(is_active=True).order_by("display_order", "id"))
    kinds = {row.parameter_name: row.parameter_type for row in strategy.definition_rows}
    checked_fixed: dict[str, Any] = {}
    for name, value in fixed.items():
        if name in grid:
            raise GridError(f"grid.{name}", "is both fixed (parameters) and swept (grid)")
        try:
            checked_fixed[name] = strategy_parameter_check(strategy=strategy, name=name, value=value)
        except InvalidParameters as exc:
            raise GridError(f"parameters.{exc.parameter}", exc.rule) from None
    axes = []
    for name, spec in grid.items():
        if name not in kinds:
            raise GridError(
                f"grid.{name}", f"unknown parameter for strategy {strategy.key!r}; known: {', '.join(kinds)}"
            )
        values = axis_values(name, kinds[name], spec)
        canonical = []
        for value in values:
            try:
                canonical.append(strategy_parameter_check(strategy=strategy, name=name, value=value))
            except InvalidParameters as exc:
                raise GridError(f"grid.{name}", f"{value!r}: {exc.rule}") from None
        axes.append(Axis(name, tuple(canonical)))

    def resolve(combo: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return strategy_parameters_resolve(strategy=strategy, params={**checked_fixed, **combo})
        except InvalidParameters:  # every value passed alone: a cross-field rule is broken
            return None

    cells = cells_build(axes, search=search, resolve=resolve)
    if not cells.parameters:
        raise GridError("grid", f"every one of the {cells.skipped:,} combinations breaks a cross-field rule")
    return cells, checked_fixed


def sweep_create(
    *,
    strategy: Strategy,
    fixed: Mapping[str, Any],
    grid: Mapping[str, Any],
    search: Any,
    search_parsed: tuple[str, int | None, int | None],
    objective: str,
    window: Window,
    test_start: dt.datetime | None,
    walk_forward: Mapping[str, Any] | None,
    fee_pct: float,
    interval: str,
    symbols: Sequence[str] = (),
    fill: str = "close",
    stop_mode: str = "close",
    slippage_pct: float = 0.0,
    created_by: Any = None,
    cancel_token_hash: str = "",
    client: str = "",
    start: bool = True,
) -> Sweep:
    """Store a validated sweep with one pending row per cell; start it on commit.

    Raises GridError (HTTP 400) and runs.services.TooManyRuns (429: runs and sweeps share the
    concurrency limit)."""
    cells, checked_fixed = grid_cells(strategy=strategy, fixed=fixed, grid=grid, search=search_parsed)
    wanted = list(symbols)
    with transaction.atomic():
        runs_create_lock()
        from runs.models import BacktestRun

        if client:  # the client's share counts its runs and its sweeps, as the limit does
            held = BacktestRun.objects.in_progress().filter(client=client).count()
            client_share_check(client, held + Sweep.objects.in_progress().filter(client=client).count())
        limit = settings.BACKTEST_MAX_CONCURRENT_RUNS
        if BacktestRun.objects.in_progress().count() + Sweep.objects.in_progress().count() >= limit:
            raise TooManyRuns(limit)
        coins = coins_with_bars(interval=interval, start=window.start, end=window.end, symbols=wanted or None)
        sweep = Sweep.objects.create(
            created_by=created_by,
            cancel_token_hash=cancel_token_hash,
            client=client,
            strategy=strategy,
            fixed=checked_fixed,
            rules=strategy_rules_snapshot(strategy=strategy),
            grid=dict(grid),
            search=search if search is not None else "grid",
            objective=objective,
            axes=[{"name": a.name, "values": list(a.values)} for a in cells.axes],
            start_date=window.start_text,
            end_date=window.end_text,
            window_start=window.start,
            window_end=window.end,
            test_start=test_start,
            walk_forward=dict(walk_forward) if walk_forward else None,
            interval=interval,
            fee_pct=fee_pct,
            fill=fill,
            stop_mode=stop_mode,
            slippage_pct=slippage_pct,
            symbols=wanted,
            coins=[[c.id, c.symbol, c.name] for c in coins],
            total=len(cells.parameters),
            skipped=cells.skipped,
        )
        SweepCell.objects.bulk_create(
            (
                SweepCell(sweep=sweep, n=n, coordinate=list(coord), parameters=params)
                for n, (params, coord) in enumerate(zip(cells.parameters, cells.coordinates, strict=True))
            ),
            batch_size=2000,
        )
        if start:
            sweep_id = sweep.id
            transaction.on_commit(lambda: sweep_start(sweep_id=sweep_id))
    return sweep


def chunk_size(*, cells: int, coins: int, windows: int, workers: int) -> int:
    """Cells per job: about 2,000 single backtests a job (tens to hundreds of milliseconds, so
    the first cells reach the page at once), and at least four jobs per worker."""
    by_work = max(1, 2000 // max(1, coins * windows))
    by_balance = max(1, math.ceil(cells / (4 * workers)))
    return max(1, min(by_work, by_balance, 500))


def chunks_ramped(numbers: Sequence[int], *, size: int, workers: int) -> list[list[int]]:
    """The cells in chunks of `size`, the first one per worker an eighth of that: the first cells
    reach the heatmap at once, the rest pay their round trips over many cells."""
    first = max(1, size // 8)
    out, i = [], 0
    for _ in range(workers):
        if i >= len(numbers):
            break
        out.append(list(numbers[i : i + first]))
        i += first
    out.extend(list(numbers[k : k + size]) for k in range(i, len(numbers), size))
    return out


def sweep_start(*, sweep_id: Any, only_pending: bool = False) -> None:
    """Publish `start` and submit the sweep's pending cells in chunks."""
    sweep = Sweep.objects.get(id=sweep_id)
    numbers = list(SweepCell.objects.filter(sweep=sweep, state=State.PENDING).order_by("n").values_list("n", flat=True))
    publish(
        sweep.id,
        {
            "type": "start",
            "sweep_id": str(sweep.id),
            "total": sweep.total,
            "pending": len(numbers),
            "skipped": sweep.skipped,
            "coins": len(sweep.coins),
            "axes": sweep.axes,
            "objective": sweep.objective,
        },
    )
    if not sweep.coins or not numbers:
        sweep_finish(sweep_id=sweep.id)
        return
    windows = 1 + (sweep.test_start is not None) + 2 * int((sweep.walk_forward or {}).get("folds", 0))
    size = chunk_size(cells=len(numbers), coins=len(sweep.coins), windows=windows, workers=settings.BACKTEST_WORKERS)
    Sweep.objects.filter(id=sweep.id).update(owner=backend().owner(), heartbeat_at=timezone.now())
    try:
        for chunk in chunks_ramped(numbers, size=size, workers=settings.BACKTEST_WORKERS):
            backend().submit("sweep_chunk", batch_id=str(sweep.id), args=[str(sweep.id), chunk])
    except RuntimeError:
        logger.exception("Could not submit sweep %s", sweep.id)
        Sweep.objects.filter(id=sweep.id, status__in=Sweep.IN_PROGRESS).update(
            status=Status.FAILED, finished_at=timezone.now()
        )


def sweep_mark_running(*, sweep_id: Any) -> None:
    now = timezone.now()
    Sweep.objects.filter(id=sweep_id, status=Status.PENDING).update(status=Status.RUNNING, started_at=now)


def _sweep_count(sweep_id: Any, *, completed: int = 0, cancelled: int = 0) -> dict[str, int] | None:
    """Add to the sweep's counts and read them back in one statement; renews its heartbeat.

    Only a sweep still in progress (or cancelled and draining) is counted; None for one that has
    ended (interrupted, failed, finished): the caller rolls back, so a late chunk stores and
    publishes nothing after the sweep's `complete` (a resume computes those cells again)."""
    table = connection.ops.quote_name(Sweep._meta.db_table)
    pk = Sweep._meta.pk.get_db_prep_value(uuid.UUID(str(sweep_id)), connection)
    now = Sweep._meta.get_field("heartbeat_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET completed = completed + %s, cancelled_cells = cancelled_cells + %s, "
            "heartbeat_at = %s WHERE id = %s AND (status IN (%s, %s) OR (status = %s AND finished_at IS NULL)) "
            "RETURNING total, completed, cancelled_cells",
            [completed, cancelled, now, pk, Status.PENDING, Status.RUNNING, Status.CANCELLED],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip(("total", "completed", "cancelled"), row, strict=True))


CELL_FIELDS = ("aggregates", "test_aggregates", "folds", "objective", "coin_metrics", "test_coin_metrics")


def sweep_cells_store(*, sweep_id: Any, results: Sequence[Mapping[str, Any]]) -> None:
    """Store a chunk's cells (only those still pending: a chunk delivered twice stores each cell
    once), count them, publish a `cell` event per cell and one `progress`; the chunk that counts
    the last cell finishes the sweep."""
    by_n = {int(r["n"]): r for r in results}
    with events.run_lock(sweep_id):
        with transaction.atomic():
            pending = list(
                SweepCell.objects.select_for_update()
                .filter(sweep_id=sweep_id, n__in=list(by_n), state=State.PENDING)
                .only("id", "n", "coordinate", "parameters")
            )
            if not pending:
                return
            rows_update(
                SweepCell,
                fields=[*CELL_FIELDS, "state"],
                rows=[
                    (row.id, {**{name: by_n[row.n][name] for name in CELL_FIELDS}, "state": State.DONE})
                    for row in pending
                ],
            )
            counts = _sweep_count(sweep_id, completed=len(pending))
            if counts is None:  # the sweep has ended (a shutdown, its lease lost): a late chunk adds nothing
                logger.warning("Sweep %s ended while a chunk computed %d cell(s); not stored", sweep_id, len(pending))
                transaction.set_rollback(True)
                return
        swept = [a["name"] for a in Sweep.objects.values_list("axes", flat=True).get(id=sweep_id)]
        for row in sorted(pending, key=lambda r: r.n):
            publish(
                sweep_id,
                {
                    "type": "cell",
                    "n": row.n,
                    "coordinate": row.coordinate,
                    "parameters": {name: row.parameters[name] for name in swept},
                    "aggregates": _rounded(by_n[row.n]["aggregates"]),
                    "test_aggregates": _rounded(by_n[row.n]["test_aggregates"]),
                },
            )
        publish(sweep_id, _progress(counts))
        if counts["completed"] + counts["cancelled"] >= counts["total"]:
            sweep_finish(sweep_id=sweep_id)


def _progress(counts: Mapping[str, int]) -> dict[str, Any]:
    done = counts["completed"] + counts["cancelled"]
    percent = round(done / counts["total"] * 100, 1) if counts["total"] else 100.0
    return {"type": "progress", "completed": counts["completed"], "total": counts["total"], "percent": percent}


def _rounded(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in values.items()}


def sweep_cells_cancel(*, sweep_id: Any, numbers: Sequence[int]) -> None:
    """Cells of a cancelled sweep that had not run: marked cancelled and counted; maybe finish."""
    with events.run_lock(sweep_id):
        with transaction.atomic():
            cancelled = SweepCell.objects.filter(sweep_id=sweep_id, n__in=list(numbers), state=State.PENDING).update(
                state=State.CANCELLED
            )
            if not cancelled:
                return
            counts = _sweep_count(sweep_id, cancelled=cancelled)
            if counts is None:  # ended meanwhile: nothing to count
                transaction.set_rollback(True)
                return
        if counts["completed"] + counts["cancelled"] >= counts["total"]:
            sweep_finish(sweep_id=sweep_id)


def sweep_finish(*, sweep_id: Any) -> bool:
    """End a sweep whose cells are all done (or cancelled): robustness of every cell, the best
    cell, its deflated Sharpe, the walk-forward folds; the summary stored; `complete` published."""
    from .jobs import sweep_conclusions

    now = timezone.now()
    with events.run_lock(sweep_id):
        sweep = Sweep.objects.get(id=sweep_id)
        if sweep.status == Status.CANCELLED:
            final, allowed = Status.CANCELLED, [Status.CANCELLED]
        else:
            final, allowed = Status.COMPLETED, [Status.PENDING, Status.RUNNING]
        if sweep.status not in allowed or sweep.finished_at is not None:
            return False
        summary = sweep_conclusions(sweep)
        summary["status"] = final
        elapsed = (now - sweep.created_at).total_seconds()
        finished = Sweep.objects.filter(id=sweep_id, status__in=allowed, finished_at__isnull=True).update(
            status=final, finished_at=timezone.now(), elapsed_time=elapsed, summary=summary
        )
        if finished:
            publish(sweep_id, {"type": "complete", "summary": summary, "elapsed_time": round(elapsed, 2)})
    if finished:
        events.run_forget(sweep_id)
    return bool(finished)


def sweep_final_payload(sweep: Sweep) -> dict[str, Any]:
    """The `complete` of a sweep that ended without publishing one (interrupted, failed): its stored
    summary, or its status and counts."""
    summary = sweep.summary or {
        "status": sweep.status,
        "total": sweep.total,
        "completed": sweep.completed,
        "cancelled": sweep.cancelled_cells,
    }
    return {
        "type": "complete",
        "summary": {**summary, "status": sweep.status},
        "elapsed_time": round(sweep.elapsed_time or 0.0, 2),
    }


def sweep_cancel(*, sweep_id: Any) -> Sweep:
    updated = Sweep.objects.filter(id=sweep_id, status__in=Sweep.IN_PROGRESS).update(status=Status.CANCELLED)
    sweep = Sweep.objects.get(id=sweep_id)
    if not updated:
        raise SweepNotCancellable(f"sweep {sweep_id} is already {sweep.status}")
    batch_cancel = getattr(backend(), "batch_cancel", None)
    if batch_cancel is not None:  # a queue: drop the chunks not yet started (their cells are cancelled)
        batch_cancel(str(sweep_id))
    return sweep


def sweep_resume(*, sweep_id: Any) -> Sweep:
    """An interrupted sweep continues with its missing cells only (the done ones stay). It starts
    again as a new sweep would: within its client's share and the concurrency limit (TooManyRuns)."""
    with transaction.atomic():
        runs_create_lock()
        from runs.models import BacktestRun

        client = Sweep.objects.filter(id=sweep_id).values_list("client", flat=True).first()
        if client:
            held = BacktestRun.objects.in_progress().filter(client=client).count()
            client_share_check(client, held + Sweep.objects.in_progress().filter(client=client).count())
        limit = settings.BACKTEST_MAX_CONCURRENT_RUNS
        if BacktestRun.objects.in_progress().count() + Sweep.objects.in_progress().count() >= limit:
            raise TooManyRuns(limit)
        updated = Sweep.objects.filter(id=sweep_id, status=Status.INTERRUPTED).update(
            status=Status.RUNNING, finished_at=None, heartbeat_at=timezone.now()
        )
        sweep = Sweep.objects.get(id=sweep_id)
        if not updated:
            raise SweepNotResumable(f"sweep {sweep_id} is {sweep.status}; only an interrupted sweep resumes")
        transaction.on_commit(lambda: sweep_start(sweep_id=sweep_id, only_pending=True))
    return sweep
