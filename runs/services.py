"""Writes of runs: create, start, count, finish, cancel, recover. The lifecycle of a run is here,
never in a backend or a job: jobs compute and call these to store what they computed.

Arguments are typed and already validated (runs.serializers.RunRequestSerializer).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from market_data.selectors import coins_with_bars
from strategies.models import Strategy
from strategies.services import strategy_rules_snapshot

from . import events
from .backends import BackendUnavailable, backend
from .db import rows_insert, rows_update
from .models import METRIC_FIELDS, BacktestRun, RunResult

logger = logging.getLogger(__name__)

Status = BacktestRun.Status
State = RunResult.State


class TooManyRuns(Exception):
    """BACKTEST_MAX_CONCURRENT_RUNS runs are pending or running (HTTP 429)."""

    retry_after = 5

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"{limit} runs are already in progress; try again in a few seconds")


class ClientTooManyRuns(TooManyRuns):
    """The client already holds BACKTEST_CLIENT_CONCURRENCY runs in progress (HTTP 429)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        Exception.__init__(
            self,
            f"you already have {limit} runs in progress, the most one client may hold; "
            "try again when one has finished (or cancel one)",
        )


def client_share_check(client: str, held: int) -> None:
    """Refuse with ClientTooManyRuns when `client` already holds its share of the concurrency limit."""
    limit = settings.BACKTEST_CLIENT_CONCURRENCY
    if client and held >= limit:
        raise ClientTooManyRuns(limit)


class RunNotCancellable(Exception):
    """The run has already finished (HTTP 409)."""


@dataclass(frozen=True)
class Window:
    """The inclusive window of a run, and the dates as requested (echoed in events)."""

    start: dt.datetime | None
    end: dt.datetime | None
    start_text: str = ""
    end_text: str = ""


# --- Services ---------------------------------------------------------------------


# Any constant: the key of the advisory lock that serialises run creation on PostgreSQL.
_RUN_CREATE_LOCK_KEY = 0x62745F72756E73  # "bt_runs"


def runs_create_lock() -> None:
    """Serialise "count the runs in progress, then insert" across processes and threads.

    On PostgreSQL concurrent transactions would each see a count under the limit; a
    transaction-scoped advisory lock makes them take turns (released at commit). SQLite's
    IMMEDIATE transactions already hold the write lock from their start.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RUN_CREATE_LOCK_KEY])


def run_create(
    *,
    strategy: Strategy,
    parameters: Mapping[str, Any],
    window: Window,
    fee_pct: float,
    interval: str,
    symbols: Sequence[str] = (),
    fill: str = "close",
    stop_mode: str = "close",
    slippage_pct: float = 0.0,
    portfolio_slots: int | None = None,
    name: str = "",
    note: str = "",
    created_by: Any = None,
    cancel_token_hash: str = "",
    client: str = "",
    start: bool = True,
) -> BacktestRun:
    """Store a validated run, with one pending result row per coin.

    1. Refuse with ClientTooManyRuns when `client` holds BACKTEST_CLIENT_CONCURRENCY runs in
       progress, and with TooManyRuns when BACKTEST_MAX_CONCURRENT_RUNS runs are.
    2. Pick the coins: active, with bars of the interval in the window (and in `symbols`).
    3. Store the run and its result rows in one transaction.
    4. With start=True, `run_start` once the transaction commits. The original endpoint
       passes start=False: it subscribes to the run's events first, then starts it.
    """
    wanted = list(symbols)
    with transaction.atomic():
        runs_create_lock()
        if client:
            client_share_check(client, BacktestRun.objects.in_progress().filter(client=client).count())
        limit = settings.BACKTEST_MAX_CONCURRENT_RUNS
        if BacktestRun.objects.in_progress().count() >= limit:
            raise TooManyRuns(limit)
        coins = coins_with_bars(interval=interval, start=window.start, end=window.end, symbols=wanted or None)
        run = BacktestRun.objects.create(
            created_by=created_by,
            cancel_token_hash=cancel_token_hash,
            client=client,
            strategy=strategy,
            parameters=dict(parameters),
            rules=strategy_rules_snapshot(strategy=strategy),
            start_date=window.start_text,
            end_date=window.end_text,
            window_start=window.start,
            window_end=window.end,
            interval=interval,
            fee_pct=fee_pct,
            fill=fill,
            stop_mode=stop_mode,
            slippage_pct=slippage_pct,
            portfolio_slots=portfolio_slots,
            symbols=wanted,
            total=len(coins),
            name=name,
            note=note,
        )
        # one pending row per coin: what is not given is NULL (bars, metrics) or given as its default
        pending = {"state": State.PENDING, "error": "", **_EMPTY_RESULT}
        rows_insert(
            RunResult,
            fields=["run", "crypto", "crypto_symbol", "crypto_name", "is_demo", *pending],
            rows=[
                {"run": run.id, "crypto": c.id, "crypto_symbol": c.symbol, "crypto_name": c.name, "is_demo": c.is_demo}
                | pending
                for c in coins
            ],
        )
        if start:
            run_id = run.id
            transaction.on_commit(lambda: run_start(run_id=run_id))
    return run


# The fewest coins of a chunk while each worker still gets one (chunks_of).
CHUNK_MIN = 12


def chunks_of(crypto_ids: Sequence[int], *, workers: int, max_size: int) -> list[list[int]]:
    """The coins of a run in chunks, one job each.

    A chunk pays its round trips (the pending rows, the versions, the write, the count, the
    events' commit) once, so chunks are as large as keeps every worker busy to the end: about
    four per worker, at most `max_size` coins, and at least CHUNK_MIN while that still gives each
    worker one. The first chunk of each worker is a quarter of that size, so the first results
    arrive as early as with small chunks. A run of no more coins than workers goes coin by coin.
    """
    n = len(crypto_ids)
    size = max(1, min(max_size, max(math.ceil(n / (4 * workers)), min(CHUNK_MIN, math.ceil(n / workers)))))
    first = math.ceil(size / 4)
    cuts = [min(n, first * k) for k in range(workers + 1)]
    cuts += range(cuts[-1] + size, n + size, size)
    return [list(crypto_ids[a:b]) for a, b in itertools.pairwise(cuts) if a < b]


def run_start(*, run_id: Any) -> None:
    """Publish `start` and submit the run's chunks to the backend; a run of no coins completes at once."""
    run = BacktestRun.objects.select_related("strategy").get(id=run_id)
    events.publish(
        run.id,
        events.start_payload(
            run_id=run.id,
            total=run.total,
            strategy_id=run.strategy_id,
            start_date=run.start_date,
            end_date=run.end_date,
            interval=run.interval,
        ),
    )
    if run.total == 0:
        run_finish(run_id=run.id, message=_no_bars_message(run))
        return
    crypto_ids = list(RunResult.objects.filter(run=run).order_by("crypto_symbol").values_list("crypto_id", flat=True))
    owner = backend().owner()
    if not owner:  # workers elsewhere store their events at once: `start` must be stored before theirs
        events.channel_writer.wait_idle(timeout=5.0)
    BacktestRun.objects.filter(id=run.id).update(owner=owner, heartbeat_at=timezone.now())
    chunks = chunks_of(crypto_ids, workers=settings.BACKTEST_WORKERS, max_size=settings.BACKTEST_CHUNK_MAX)
    try:
        for chunk in chunks:
            backend().submit("run_chunk", batch_id=str(run.id), args=[str(run.id), chunk])
    except BackendUnavailable:  # the broker is down: the run ends failed, the request answers 503
        logger.exception("Could not submit run %s", run.id)
        BacktestRun.objects.filter(id=run.id, status__in=BacktestRun.IN_PROGRESS).update(
            status=Status.FAILED, finished_at=timezone.now()
        )
        raise
    except RuntimeError:  # the backend is shut down: the server is stopping
        logger.exception("Could not submit run %s", run.id)
        BacktestRun.objects.filter(id=run.id, status__in=BacktestRun.IN_PROGRESS).update(
            status=Status.FAILED, finished_at=timezone.now()
        )


def run_mark_running(*, run_id: Any) -> None:
    """The first job of a run: pending becomes running (conditional, so it happens once)."""
    now = timezone.now()
    BacktestRun.objects.filter(id=run_id, status=Status.PENDING).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    )


# The values of a result row before its coin is done (what a failed coin keeps).
_EMPTY_RESULT: dict[str, Any] = {"trade_log": b"", "equity": b""}


def run_results_store(
    *, run_id: Any, coins: Mapping[int, tuple[str, str]], results: Sequence[Mapping[str, Any]]
) -> None:
    """Store a chunk's results and publish their events, in order; the chunk that counts the
    run's last coin finishes it.

    1. In one transaction: write the chunk's rows that are still pending in one statement (a
       job delivered twice finds none left and stores nothing; UPDATE ... RETURNING says which
       were written, and locks them), and count them in one more (UPDATE ... RETURNING).
    2. Under the run's lock: for each stored coin in order, `result` or `error`, then `progress`.

    On PostgreSQL the run's lock is taken after the write, for the count, the commit and the
    events: the chunks of a run write their rows (their trades and equity, most of a run's
    bytes) at the same time, and still count and publish one after the other. On SQLite, where
    a transaction holds the database's one write lock from its start, it is taken before the
    transaction, as everywhere else: taken inside, it could wait on a holder of the run's lock
    that waits for the write lock (run_results_skip, batches_interrupt).
    """
    by_coin = {int(r["crypto_id"]): r for r in results}
    now = timezone.now()
    # In a Celery worker the events are stored in the same transaction (events.ChannelWriter).
    inside = events.channel_writer.synchronous
    lock_first = connection.vendor != "postgresql"
    with ExitStack() as ordered:  # the run's lock, once taken, is held to the end: commit and publish
        if lock_first:
            ordered.enter_context(events.run_lock(run_id))
        with transaction.atomic():
            fields = sorted({name for r in results for name in r} - {"crypto_id"})
            # Only the rows still pending are written (and locked to the commit): a job delivered twice
            # finds none left and stores nothing. A failed coin has no metrics: it keeps the pending
            # row's empty values.
            stored = rows_update(
                RunResult,
                fields=[*fields, "finished_at"],
                rows=[
                    (
                        crypto_id,
                        {**{name: fields_of.get(name, _EMPTY_RESULT.get(name)) for name in fields}, "finished_at": now},
                    )
                    for crypto_id, fields_of in sorted(by_coin.items())  # one order: two deliveries lock alike
                ],
                key="crypto",
                where={"run": run_id, "state": State.PENDING},
                returning=True,
            )
            if not stored:
                return
            ok = sum(1 for c in stored if by_coin[c]["state"] == State.DONE)
            if not lock_first:
                ordered.enter_context(events.run_lock(run_id))
            counts = _run_count(run_id, completed=len(stored), successful=ok, failed=len(stored) - ok)
            if counts is None:  # the run has ended (the watchdog, a shutdown): a late job adds nothing
                logger.warning("Run %s ended while a job computed %d coin(s); not stored", run_id, len(stored))
                transaction.set_rollback(True)
                return
            if inside:
                with events.stored_batch():
                    _results_publish(run_id, stored, ok, counts, coins, by_coin)
        if not inside:
            _results_publish(run_id, stored, ok, counts, coins, by_coin)


def _results_publish(
    run_id: Any, stored: Sequence[int], ok: int, counts: dict, coins: Mapping, by_coin: Mapping
) -> None:
    """The events of a chunk's stored coins in symbol order; finish the run if they were its last."""
    completed = counts["completed"] - len(stored)
    successful = counts["successful"] - ok
    for crypto_id in sorted(stored, key=lambda c: coins[c][0]):
        symbol, name = coins[crypto_id]
        fields_of = by_coin[crypto_id]
        completed += 1
        if fields_of["state"] == State.DONE:
            successful += 1
            events.publish(run_id, events.result_payload(symbol=symbol, name=name, metrics=fields_of))
        else:
            events.publish(run_id, events.error_payload(symbol=symbol, name=name, error=fields_of["error"]))
        events.publish(
            run_id, events.progress_payload(completed=completed, total=counts["total"], successful=successful)
        )
    if counts["completed"] + counts["skipped"] >= counts["total"]:
        run_finish(run_id=run_id)


def run_results_skip(*, run_id: Any, crypto_ids: Sequence[int]) -> None:
    """Coins of a cancelled run that had not started: mark them skipped, count them, maybe finish."""
    with events.run_lock(run_id), transaction.atomic():  # skipped, counted (and finished) together
        skipped = RunResult.objects.filter(run_id=run_id, crypto_id__in=list(crypto_ids), state=State.PENDING).update(
            state=State.SKIPPED, finished_at=timezone.now()
        )
        if not skipped:
            return
        counts = _run_count(run_id, skipped=skipped)
        if counts is None:  # ended meanwhile: nothing to count
            transaction.set_rollback(True)
            return
        if counts["completed"] + counts["skipped"] >= counts["total"]:
            run_finish(run_id=run_id)


def _run_count(
    run_id: Any, *, completed: int = 0, successful: int = 0, failed: int = 0, skipped: int = 0
) -> dict | None:
    """Add to the run's coin counts and read them back, in one statement (UPDATE ... RETURNING,
    PostgreSQL and SQLite >= 3.35): atomic across threads and processes. It also renews the
    run's heartbeat: a run whose jobs store results is alive.

    Only a run still in progress (or cancelled and draining) is counted; None for one that has
    ended (interrupted, failed, finished): the caller rolls back, so nothing of a late job is
    stored or published after the run's `complete`. The run's row lock orders this against
    `batches_interrupt`."""
    table = connection.ops.quote_name(BacktestRun._meta.db_table)
    pk = BacktestRun._meta.pk.get_db_prep_value(uuid.UUID(str(run_id)), connection)
    now = BacktestRun._meta.get_field("heartbeat_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET completed = completed + %s, successful = successful + %s, "
            "failed = failed + %s, skipped = skipped + %s, heartbeat_at = %s WHERE id = %s "
            "AND (status IN (%s, %s) OR (status = %s AND finished_at IS NULL)) "
            "RETURNING total, completed, successful, failed, skipped",
            [completed, successful, failed, skipped, now, pk, Status.PENDING, Status.RUNNING, Status.CANCELLED],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip(("total", "completed", "successful", "failed", "skipped"), row, strict=True))


def _draining() -> Q:
    """Runs whose jobs may still store coins: pending, running, or cancelled and not yet finished."""
    return Q(status__in=BacktestRun.IN_PROGRESS) | Q(status=Status.CANCELLED, finished_at__isnull=True)


def run_finish_if_done(*, run_id: Any) -> bool:
    """Finish a run whose coins are all counted but that is still in progress: its finish was lost
    (the connection dropped between the last count and the finish). From a job tried again, and
    from the tick (`runs_finish_lost`). Returns whether this call finished it."""
    done = (
        BacktestRun.objects.filter(_draining(), id=run_id, total__gt=0)
        .filter(completed__gte=F("total") - F("skipped"))
        .exists()
    )
    return run_finish(run_id=run_id) if done else False


def runs_finish_lost(*, settled_before: dt.datetime) -> int:
    """`run_finish_if_done` for every run in progress whose coins are all counted and whose last
    count is older than `settled_before` (so the job that counted it has had its time to finish
    it first). Returns how many it finished."""
    ids = (
        BacktestRun.objects.filter(_draining(), total__gt=0, heartbeat_at__lt=settled_before)
        .filter(completed__gte=F("total") - F("skipped"))
        .values_list("id", flat=True)
    )
    finished = sum(run_finish_if_done(run_id=run_id) for run_id in list(ids))
    if finished:
        logger.warning("Finished %d run(s) whose coins were all done but whose finish was lost", finished)
    return finished


def run_finish(*, run_id: Any, message: str | None = None) -> bool:
    """End a run whose coins are all done: completed (or cancelled, if it was), summary stored,
    `complete` published. Conditional, so it happens once; returns whether this call did it."""
    now = timezone.now()
    with events.run_lock(run_id):
        run = BacktestRun.objects.values("status", "created_at", "total", "failed", "skipped").get(id=run_id)
        if run["status"] == Status.CANCELLED:
            final, allowed = Status.CANCELLED, [Status.CANCELLED]
        else:
            final, allowed = Status.COMPLETED, [Status.PENDING, Status.RUNNING]
        elapsed = (now - run["created_at"]).total_seconds()
        if final == Status.COMPLETED and run["status"] in allowed:
            _portfolio_publish(run_id)
        rows = RunResult.objects.filter(run_id=run_id, state=State.DONE).values(
            "crypto_symbol", "crypto_name", *METRIC_FIELDS
        )
        summary = events.summary_build(
            total=run["total"], rows=rows, failed=run["failed"], status=final, message=message, skipped=run["skipped"]
        )
        bars = RunResult.objects.filter(run_id=run_id).aggregate(first=Min("first_bar"), last=Max("last_bar"))
        finished = BacktestRun.objects.filter(id=run_id, status__in=allowed, finished_at__isnull=True).update(
            status=final,
            finished_at=now,
            elapsed_time=elapsed,
            summary=summary,
            first_bar=bars["first"],
            last_bar=bars["last"],
        )
        if finished:
            events.publish(run_id, events.complete_payload(summary=summary, elapsed_time=elapsed))
    if finished:
        events.run_forget(run_id)
    return bool(finished)


def _no_bars_message(run: BacktestRun) -> str:
    where = f" of {', '.join(run.symbols)}" if run.symbols else ""
    start = run.start_date or "the first bar"
    end = run.end_date or "the last bar"
    return f"No bars{where} at interval {run.interval} between {start} and {end}: nothing to backtest"


def _portfolio_publish(run_id: Any) -> None:
    """The run's account (runs.portfolio), stored and published as a `portfolio` event before
    `complete` (the run stream's; the original endpoint's stream does not carry it)."""
    from .portfolio import run_portfolio_store

    try:
        # A savepoint: in a worker the finish runs inside the chunk's transaction, which a failed
        # query would otherwise leave aborted (every later statement of the finish refused).
        with transaction.atomic():
            portfolio = run_portfolio_store(run_id=run_id)
    except Exception:  # the account is an addition: a failure must not keep the run from completing
        logger.exception("Portfolio of run %s failed unexpectedly", run_id)
        return
    if portfolio is not None:
        events.publish(run_id, events.portfolio_payload(portfolio))


def run_cancel(*, run_id: Any) -> BacktestRun:
    """Cancel a pending or running run: coins not yet started are skipped, the run ends `cancelled`
    (its last job publishes `complete`). Raises RunNotCancellable when it has finished."""
    updated = BacktestRun.objects.filter(id=run_id, status__in=BacktestRun.IN_PROGRESS).update(status=Status.CANCELLED)
    run = BacktestRun.objects.get(id=run_id)
    if not updated:
        raise RunNotCancellable(f"run {run_id} is already {run.status}")
    batch_cancel = getattr(backend(), "batch_cancel", None)
    if batch_cancel is not None:  # a queue: drop the chunks not yet started (their coins are skipped)
        batch_cancel(str(run_id))
    return run


class RunInProgress(Exception):
    """The run is still pending or running (HTTP 409): cancel it first."""


def run_update(*, run_id: Any, name: str | None = None, note: str | None = None) -> BacktestRun:
    """Rename a run or change its note (the trader's words; nothing the numbers depend on)."""
    changes = {k: v for k, v in (("name", name), ("note", note)) if v is not None}
    if changes:
        BacktestRun.objects.filter(id=run_id).update(**changes)
    return BacktestRun.objects.select_related("strategy").get(id=run_id)


def run_delete(*, run_id: Any) -> None:
    """Delete a finished run with its results, its account and its stored events.

    A run in progress is refused (RunInProgress): its jobs would write rows and events of a run that
    is gone. Cancel it first; once it has ended (a few seconds) it can be deleted.
    """
    from django_eventstream.models import Event, EventCounter

    with transaction.atomic():
        run = BacktestRun.objects.select_for_update().filter(id=run_id).first()
        if run is None:
            return
        if run.status in BacktestRun.IN_PROGRESS:
            raise RunInProgress(f"run {run_id} is {run.status}: cancel it first, then delete it")
        channel = events.channel_name(run_id)
        Event.objects.filter(channel=channel).delete()
        EventCounter.objects.filter(name=channel).delete()
        run.delete()  # its results and its portfolio go with it (on_delete=CASCADE)


def run_final_payload(run: BacktestRun) -> dict[str, Any]:
    """The `complete` of a run that ended without publishing one (interrupted, failed): the
    contract's {"total_cryptos","successful","failed","status"} summary (or the stored one)."""
    summary = run.summary or {
        "total_cryptos": run.total,
        "successful": run.successful,
        "failed": run.failed,
        "status": run.status,
    }
    return events.complete_payload(summary=summary, elapsed_time=run.elapsed_time or 0.0)


def run_complete_ensure(*, run_id: Any, grace_seconds: float = 0.0) -> bool:
    """Store the final `complete` of a run that is over but whose stored events do not end with one
    (interrupted by a shutdown or the watchdog, or its process died before storing it), so every
    stream of it ends. Under the channel counter's row lock, so it is stored once. A run that ended
    less than `grace_seconds` ago is left to its own process. Returns whether it stored one."""
    return batch_complete_ensure(model=BacktestRun, batch_id=run_id, grace_seconds=grace_seconds)


def batch_complete_ensure(*, model: Any, batch_id: Any, grace_seconds: float = 0.0) -> bool:
    """`run_complete_ensure` for any batch kind of FINALS (a run, a sweep)."""
    from django_eventstream.models import Event as EventRow
    from django_eventstream.models import EventCounter
    from django_eventstream.utils import get_storage

    channel_of, payload_of = FINALS[model]
    batch = model.objects.filter(id=batch_id).first()
    if batch is None or batch.status in BacktestRun.IN_PROGRESS:
        return False
    if batch.status == Status.CANCELLED and batch.finished_at is None:
        return False  # still draining: its last job publishes `complete`
    if grace_seconds and batch.finished_at and (timezone.now() - batch.finished_at).total_seconds() < grace_seconds:
        return False
    channel = channel_of(batch_id)
    payload = payload_of(batch)
    with transaction.atomic():
        counter = EventCounter.objects.select_for_update().filter(name=channel).first()
        if counter is not None:
            last = EventRow.objects.filter(channel=channel, eid=counter.value).values_list("type", flat=True).first()
            if last == "complete":
                return False
        data = json.dumps(payload, cls=DjangoJSONEncoder)
        stored = get_storage().append_event(channel, "complete", data)
    events.streams_notify(channel, "complete", data, stored.id)
    return True


# Each batch kind's channel and the `complete` of one that ended without its own (sweeps add theirs
# at start-up, sweeps.apps).
FINALS: dict[Any, tuple[Callable[[Any], str], Callable[[Any], dict[str, Any]]]] = {
    BacktestRun: (events.channel_name, run_final_payload)
}


def _finals_queue(batch_ids) -> None:
    """Queue the final `complete` of the runs among these batches (stored after the events already
    queued), so their streams end."""
    for run_id in BacktestRun.objects.filter(id__in=list(batch_ids)).values_list("id", flat=True):
        events.channel_writer.put_final(run_id)


# The stored batch kinds whose leases every process keeps: runs, and the kinds other apps register
# at start-up (sweeps.apps). Each has status, created_at, heartbeat_at, owner and finished_at.
BATCH_MODELS: list[Any] = [BacktestRun]


def _in_progress(model):
    return model.objects.filter(status__in=BacktestRun.IN_PROGRESS)


def batches_recover(*, stale_before: dt.datetime) -> int:
    """Mark batches whose jobs nobody is executing any more as `interrupted`; their stored results stay.

    A batch is alive while its heartbeat is fresh: every chunk stored renews it, and so does the
    process whose backend holds the batch's queued jobs (`batches_heartbeat`). So a batch that a live
    worker elsewhere is executing is never touched, and several web processes and workers can
    share one database. A batch that was never beaten counts from its creation.
    """
    stale = Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, created_at__lt=stale_before)
    ids = [i for model in BATCH_MODELS for i in _in_progress(model).filter(stale).values_list("id", flat=True)]
    return batches_interrupt(batch_ids=ids)


def batches_orphans_recover(*, me: str, alive: Callable[[int], bool]) -> int:
    """Mark `interrupted` the batches owned by a process of this host that is gone, at once (no lease
    to wait for): its pid is not alive, or it is this process's pid with another token (a
    restarted container). `me` is this process's id, "host:pid:token"."""
    host, pid, _ = me.split(":")
    orphans = []
    for model in BATCH_MODELS:
        for batch_id, owner in _in_progress(model).filter(owner__startswith=f"{host}:").values_list("id", "owner"):
            _, owner_pid, _ = owner.split(":")
            if owner != me and (owner_pid == pid or not alive(int(owner_pid))):
                orphans.append(batch_id)
    return batches_interrupt(batch_ids=orphans)


def batches_heartbeat(*, batch_ids: Sequence[Any]) -> int:
    """Renew the heartbeat of the batches this process is executing (those still in progress)."""
    if not batch_ids:
        return 0
    now = timezone.now()
    return sum(_in_progress(m).filter(id__in=list(batch_ids)).update(heartbeat_at=now) for m in BATCH_MODELS)


def batches_interrupt(*, batch_ids: Sequence[Any]) -> int:
    """End these batches still in progress `interrupted` (the server is stopping, their executor is
    gone, their jobs are hung); what they finished stays. Each under its lock of this process, so
    the `complete` queued for it comes after the events of a job of it storing right now."""
    count = 0
    now = timezone.now()
    for batch_id in dict.fromkeys(str(b) for b in batch_ids):
        lock = events.run_lock(batch_id)
        locked = lock.acquire(timeout=5.0)  # a job stuck holding it must not stop the interrupt
        try:
            count += sum(
                _in_progress(m).filter(id=batch_id).update(status=Status.INTERRUPTED, finished_at=now)
                for m in BATCH_MODELS
            )
            _finals_queue([batch_id])
        finally:
            if locked:
                lock.release()
    return count
