"""The thread pool and the per-coin job.

A module-level pool of BACKTEST_WORKERS threads. A job is a module-level function of ids
(run id, coin id), so another executor (Celery on Redis) could run it elsewhere. Each job:

1. checks its database connection (`close_old_connections`; kept between jobs, runs.db);
2. skips the coin if the run was cancelled (or has ended);
3. loads the coin's bars through `prices_get` (Redis cache-aside) and runs the engine;
4. saves the coin's RunResult (metrics at full precision, trades, equity curve);
5. under the run's lock: counts the coin (one UPDATE ... RETURNING), publishes `result` or
   `error` and `progress`; the job that counts the last coin finishes the run (a conditional
   update from running) and publishes `complete`.

The numpy engine releases the GIL in its compiled kernels, so the threads run in parallel.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from market_data.selectors import prices_get

from . import events
from .db import thread_connection_prepare
from .equity import equity_curve, equity_pack
from .models import INTEGER_METRICS, METRIC_FIELDS, BacktestRun, RunResult

logger = logging.getLogger(__name__)

pool = ThreadPoolExecutor(max_workers=settings.BACKTEST_WORKERS, thread_name_prefix="backtest")

_futures_lock = threading.Lock()
_futures: dict[str, set[Future]] = {}  # in-flight jobs per run, for tests and shutdown

Status = BacktestRun.Status
State = RunResult.State


def _engine():
    from strategies.engine import EngineError, backtest_arrays

    return backtest_arrays, EngineError


def submit_run(*, run_id: Any, crypto_ids: Sequence[int]) -> None:
    """Queue one job per coin. Raises RuntimeError when the pool is shut down."""
    key = str(run_id)
    for crypto_id in crypto_ids:
        future = pool.submit(run_coin, key, crypto_id)
        with _futures_lock:
            _futures.setdefault(key, set()).add(future)
        future.add_done_callback(lambda f, key=key, crypto_id=crypto_id: _job_done(f, key, crypto_id))


def _job_done(future: Future, run_id: str, crypto_id: int) -> None:
    with _futures_lock:
        jobs = _futures.get(run_id)
        if jobs is not None:
            jobs.discard(future)
            if not jobs:
                del _futures[run_id]
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        logger.error("Backtest job of run %s, coin %s failed", run_id, crypto_id, exc_info=exc)


def wait_idle(run_id: Any = None, timeout: float = 30.0) -> bool:
    """Wait until the jobs of one run (or of every run) have finished; True if they did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _futures_lock:
            busy = bool(_futures.get(str(run_id))) if run_id is not None else bool(_futures)
        if not busy:
            return True
        time.sleep(0.01)
    return False


def active_run_ids() -> list[str]:
    with _futures_lock:
        return [key for key, jobs in _futures.items() if jobs]


# --- The job ----------------------------------------------------------------------


def run_coin(run_id: str, crypto_id: int) -> None:
    """Backtest one coin of a run (see the module docstring)."""
    close_old_connections()
    try:
        thread_connection_prepare()
        _run_coin(run_id, crypto_id)
    finally:
        close_old_connections()


# What a job reads, in one query: its coin's row and the run's settings.
_JOB_FIELDS = {
    "state": "state",
    "crypto_symbol": "crypto_symbol",
    "crypto_name": "crypto_name",
    "status": "run__status",
    "strategy": "run__strategy__key",
    "parameters": "run__parameters",
    "window_start": "run__window_start",
    "window_end": "run__window_end",
    "interval": "run__interval",
    "fee_pct": "run__fee_pct",
}


def _run_coin(run_id: str, crypto_id: int) -> None:
    job = RunResult.objects.filter(run_id=run_id, crypto_id=crypto_id).values(*_JOB_FIELDS.values()).first()
    if job is None:
        return
    job = {name: job[column] for name, column in _JOB_FIELDS.items()}
    if job["state"] != State.PENDING:
        return  # done already (a job that ran twice)
    if job["status"] == Status.CANCELLED:
        _skip_coin(run_id, crypto_id)
        return
    if job["status"] not in BacktestRun.IN_PROGRESS:
        return  # ended (interrupted/failed) while this job waited
    if job["status"] == Status.PENDING:
        BacktestRun.objects.filter(id=run_id, status=Status.PENDING).update(
            status=Status.RUNNING, started_at=timezone.now()
        )

    started = time.perf_counter()
    fields, error = _backtest(job, crypto_id)
    fields["duration_ms"] = (time.perf_counter() - started) * 1000
    fields["finished_at"] = timezone.now()
    fields["state"] = State.FAILED if error else State.DONE
    fields["error"] = error or ""
    # Conditional: a job that ran twice for the same coin counts it once.
    if not RunResult.objects.filter(run_id=run_id, crypto_id=crypto_id, state=State.PENDING).update(**fields):
        return
    _count_and_publish(run_id, job["crypto_symbol"], job["crypto_name"], fields, error)


def _backtest(run: dict[str, Any], crypto_id: int) -> tuple[dict[str, Any], str | None]:
    """Load the bars and run the engine. Returns (RunResult fields, error message or None)."""
    backtest_arrays, EngineError = _engine()
    bars = None
    try:
        prices = prices_get(
            crypto_id=crypto_id, interval=run["interval"], start=run["window_start"], end=run["window_end"]
        )
        bars = len(prices)
        result = backtest_arrays(
            run["strategy"],
            times=prices.times,
            open=prices.open,
            high=prices.high,
            low=prices.low,
            close=prices.close,
            params=run["parameters"],
            fee_pct=run["fee_pct"],
            interval=run["interval"],
        )
    except EngineError as exc:
        return {"bars": bars}, str(exc)
    except Exception as exc:  # a bug or a database error: this coin fails, the run goes on
        logger.exception("Backtest of coin %s in run failed unexpectedly", crypto_id)
        return {"bars": bars}, f"Internal error: {exc.__class__.__name__}: {exc}"
    fields: dict[str, Any] = {"bars": bars}
    for name in METRIC_FIELDS:
        value = result.metrics.get(name)
        fields[name] = None if value is None else int(value) if name in INTEGER_METRICS else float(value)
    fields["trades"] = trades_serialize(result.trades)
    fields["equity"] = equity_pack(equity_curve(prices.times, result.equity, prices.close))
    return fields, None


def _iso(ns: Sequence[int]) -> list[str]:
    stamps = np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")
    return [s + "Z" for s in np.datetime_as_string(stamps, unit="s").tolist()]


def trades_serialize(trades: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The engine's trades as stored: times ISO 8601 UTC, prices and net return_pct at full precision."""
    if not trades:
        return []
    entry = _iso([t["entry_time"] for t in trades])
    exit_ = _iso([t["exit_time"] for t in trades])
    return [
        {
            "entry_time": et,
            "entry_price": float(t["entry_price"]),
            "exit_time": xt,
            "exit_price": float(t["exit_price"]),
            "return_pct": float(t["return_pct"]),
            "reason": t["reason"],
        }
        for t, et, xt in zip(trades, entry, exit_, strict=True)
    ]


def _skip_coin(run_id: str, crypto_id: int) -> None:
    """A coin of a cancelled run that had not started: mark it skipped, count it, maybe finish."""
    if not RunResult.objects.filter(run_id=run_id, crypto_id=crypto_id, state=State.PENDING).update(
        state=State.SKIPPED, finished_at=timezone.now()
    ):
        return
    with events.run_lock(run_id):
        counts = _count(run_id, skipped=1)
        if counts["completed"] + counts["skipped"] >= counts["total"]:
            run_finish(run_id=run_id)


def _count_and_publish(run_id: str, symbol: str, name: str, fields: dict[str, Any], error: str | None) -> None:
    """Count the coin and publish its events, in order, under the run's lock."""
    ok = error is None
    with events.run_lock(run_id):
        counts = _count(run_id, completed=1, successful=int(ok), failed=int(not ok))
        if ok:
            events.publish(run_id, events.result_payload(symbol=symbol, name=name, metrics=fields))
        else:
            events.publish(run_id, events.error_payload(symbol=symbol, name=name, error=error))
        events.publish(
            run_id,
            events.progress_payload(
                completed=counts["completed"], total=counts["total"], successful=counts["successful"]
            ),
        )
        if counts["completed"] + counts["skipped"] >= counts["total"]:
            run_finish(run_id=run_id)


def _count(run_id: str, *, completed: int = 0, successful: int = 0, failed: int = 0, skipped: int = 0) -> dict:
    """Add to the run's coin counts and read them back, in one statement (UPDATE ... RETURNING,
    PostgreSQL and SQLite >= 3.35): atomic across threads and processes, and one round trip
    while the run's lock is held."""
    table = connection.ops.quote_name(BacktestRun._meta.db_table)
    pk = BacktestRun._meta.pk.get_db_prep_value(uuid.UUID(str(run_id)), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET completed = completed + %s, successful = successful + %s, "
            "failed = failed + %s, skipped = skipped + %s WHERE id = %s "
            "RETURNING total, completed, successful, failed, skipped",
            [completed, successful, failed, skipped, pk],
        )
        row = cursor.fetchone()
    return dict(zip(("total", "completed", "successful", "failed", "skipped"), row, strict=True))


def run_finish(*, run_id: Any, message: str | None = None) -> bool:
    """End a run whose coins are all done: completed (or cancelled, if it was), summary stored,
    `complete` published. Conditional, so it happens once; returns whether this call did it."""
    now = timezone.now()
    with events.run_lock(run_id):
        run = BacktestRun.objects.values("status", "created_at", "total", "failed").get(id=run_id)
        if run["status"] == Status.CANCELLED:
            final, allowed = Status.CANCELLED, [Status.CANCELLED]
        else:
            final, allowed = Status.COMPLETED, [Status.PENDING, Status.RUNNING]
        elapsed = (now - run["created_at"]).total_seconds()
        rows = RunResult.objects.filter(run_id=run_id, state=State.DONE).values(
            "crypto_symbol", "crypto_name", *METRIC_FIELDS
        )
        summary = events.summary_build(
            total=run["total"], rows=rows, failed=run["failed"], status=final, message=message
        )
        finished = BacktestRun.objects.filter(id=run_id, status__in=allowed, finished_at__isnull=True).update(
            status=final, finished_at=now, elapsed_time=elapsed, summary=summary
        )
        if finished:
            events.publish(run_id, events.complete_payload(summary=summary, elapsed_time=elapsed))
    if finished:
        events.run_forget(run_id)
    return bool(finished)


def shutdown(*, wait: bool = False) -> list[str]:
    """Stop taking jobs (server shutdown): drop queued jobs and mark this process's runs
    `interrupted` (what they finished stays stored). Returns the ids of those runs."""
    run_ids = active_run_ids()
    pool.shutdown(wait=wait, cancel_futures=True)
    if run_ids:
        BacktestRun.objects.filter(id__in=run_ids, status__in=BacktestRun.IN_PROGRESS).update(
            status=Status.INTERRUPTED, finished_at=timezone.now()
        )
    return run_ids
