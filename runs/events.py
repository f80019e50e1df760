"""Every event payload of a run, and the one function that publishes them.

Payloads (identical on both streams; see runs/CONTRACT.md):
  start, result, error, progress, complete.

`publish(run_id, payload)` sends a payload to
1. the in-process listeners of the run (the original POST stream registers one: an
   asyncio queue fed with `loop.call_soon_threadsafe`), at once, and
2. the run's django-eventstream channel `run-<uuid>` (stored by DjangoModelStorage, so a
   late or reconnecting client catches up), through one writer thread per process.
Publishing is serialised per run with a lock, so every client sees the events of a run
in one order (progress counts 1, 2, 3, ... never out of order). The stored write (several
database round trips per event) happens on the writer thread, so it delays neither the
pool's jobs nor the live stream; the channel follows a few milliseconds behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, connection, transaction
from django_eventstream.channelmanager import DefaultChannelManager

from .models import INTEGER_METRICS, METRIC_FIELDS, ORIGINAL_METRIC_FIELDS

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "run-"
# The stored channels of every batch kind: anyone may read them, they are replayable.
BATCH_CHANNEL_PREFIXES = (CHANNEL_PREFIX, "sweep-")


def channel_name(run_id: Any) -> str:
    return f"{CHANNEL_PREFIX}{run_id}"


# --- Payloads ------------------------------------------------------------------


def round_metric(name: str, value: Any) -> Any:
    """A metric as the API shows it: 2 decimals (ints stay ints); NaN/inf become null (not JSON)."""
    if value is None:
        return None
    if name in INTEGER_METRICS:
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, 2)


def rounded_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {name: round_metric(name, metrics.get(name)) for name in METRIC_FIELDS}


def result_data(*, symbol: str, name: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The `data` of a `result` event, as the original's result dict: success, coin, rounded metrics."""
    return {"success": True, "crypto_symbol": symbol, "crypto_name": name, **rounded_metrics(metrics)}


def start_payload(
    *, run_id: Any, total: int, strategy_id: int, start_date: str, end_date: str, interval: str
) -> dict[str, Any]:
    return {
        "type": "start",
        "total": total,
        "strategy_id": strategy_id,
        "start_date": start_date or None,
        "end_date": end_date or None,
        "run_id": str(run_id),
        "interval": interval,
    }


def result_payload(*, symbol: str, name: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "result", "data": result_data(symbol=symbol, name=name, metrics=metrics)}


def error_payload(*, symbol: str, name: str, error: str) -> dict[str, Any]:
    return {"type": "error", "crypto": symbol, "crypto_name": name, "error": error}


def progress_payload(*, completed: int, total: int, successful: int) -> dict[str, Any]:
    percent = round(completed / total * 100, 1) if total else 100.0
    return {"type": "progress", "completed": completed, "total": total, "successful": successful, "percent": percent}


def summary_build(
    *,
    total: int,
    rows: Iterable[Mapping[str, Any]],
    failed: int,
    status: str,
    message: str | None = None,
    skipped: int = 0,
) -> dict[str, Any]:
    """The `complete` event's summary, from the successful coins' full-precision metrics.

    `rows` are dicts with crypto_symbol, crypto_name and the metric fields. Averages are
    taken at full precision, then rounded to 2 decimals; best and worst performer are the
    coins' result data (rounded), as the original sent them. With no successful coin they
    are null (the original sent an empty summary, which its own page could not display).
    """
    rows = list(rows)
    n = len(rows)
    summary: dict[str, Any] = {
        "total_cryptos": total,
        "successful": n,
        "failed": failed,
        "avg_return": round(sum(r["total_return"] for r in rows) / n, 2) if n else 0.0,
        "avg_win_rate": round(sum(r["win_rate"] for r in rows) / n, 2) if n else 0.0,
        "total_trades": sum(int(r["total_trades"]) for r in rows),
        "total_winning_trades": sum(int(r["profitable_trades"]) for r in rows),
        "total_losing_trades": sum(int(r["losing_trades"]) for r in rows),
        "best_performer": None,
        "worst_performer": None,
        "beat_buy_hold": sum(1 for r in rows if r["total_return"] > r["buy_hold_return"]),
        "skipped": skipped,  # coins of a cancelled run that never ran
        "status": status,
    }
    if n:
        # Ties go to the first symbol in alphabetical order, so the summary is deterministic.
        ordered = sorted(rows, key=lambda r: r["crypto_symbol"])
        best = max(ordered, key=lambda r: r["total_return"])
        worst = min(ordered, key=lambda r: r["total_return"])
        summary["best_performer"] = result_data(symbol=best["crypto_symbol"], name=best["crypto_name"], metrics=best)
        summary["worst_performer"] = result_data(
            symbol=worst["crypto_symbol"], name=worst["crypto_name"], metrics=worst
        )
    for name in SUMMARY_AVERAGES:  # over the coins where it is a finite number (a short window's cagr is inf)
        values = [r[name] for r in rows if r.get(name) is not None and math.isfinite(r[name])]
        key = name if name.startswith("avg_") else f"avg_{name}"
        summary[key] = round(sum(values) / len(values), 2) if values else 0.0
    if message:
        summary["message"] = message
    return summary


# Averages of the summary beyond the original's (averaging makes sense for these; a profit factor
# or a best trade does not average into anything a trader reads).
SUMMARY_AVERAGES: tuple[str, ...] = (
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "cagr",
    "exposure_pct",
    "avg_trade_return",
    "buy_hold_return",
)
# The summary fields of the original system (runs/CONTRACT.md), the only ones its stream sends.
ORIGINAL_SUMMARY_FIELDS = frozenset(
    {
        "total_cryptos",
        "successful",
        "failed",
        "avg_return",
        "avg_win_rate",
        "total_trades",
        "total_winning_trades",
        "total_losing_trades",
        "best_performer",
        "worst_performer",
        "beat_buy_hold",
        "status",
        "message",
    }
)


def portfolio_payload(portfolio) -> dict[str, Any]:
    """The `portfolio` event: the run's coins as one account (slots, rounded metrics, skipped entries)."""
    metrics = {name: round_metric(name, value) for name, value in portfolio.metrics.items()}
    return {
        "type": "portfolio",
        "slots": portfolio.slots,
        "coins": portfolio.coins,
        "metrics": metrics,
        "error": portfolio.error or None,
    }


# The event types of the original system's stream (the `portfolio` event is the run stream's only).
ORIGINAL_TYPES = frozenset({"start", "result", "error", "progress", "complete"})


def original_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A payload as the original endpoint sends it: result data and the summary's performers with the
    original's ten metrics, the summary with the original's fields (runs/CONTRACT.md)."""
    kind = payload["type"]
    if kind == "result":
        return {**payload, "data": _original_data(payload["data"])}
    if kind == "complete":
        summary = {k: v for k, v in payload["summary"].items() if k in ORIGINAL_SUMMARY_FIELDS}
        for key in ("best_performer", "worst_performer"):
            if summary.get(key):
                summary[key] = _original_data(summary[key])
        return {**payload, "summary": summary}
    return dict(payload)


def _original_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in METRIC_FIELDS or k in ORIGINAL_METRIC_FIELDS}


def complete_payload(*, summary: Mapping[str, Any], elapsed_time: float) -> dict[str, Any]:
    return {"type": "complete", "summary": dict(summary), "elapsed_time": round(elapsed_time, 2)}


def sse_data(payload: Mapping[str, Any]) -> str:
    """One event of the original stream: `data: {json}\\n\\n` (json.dumps as the original did)."""
    return f"data: {json.dumps(payload, cls=DjangoJSONEncoder)}\n\n"


# --- In-process listeners and the per-run lock -----------------------------------


class StreamListener:
    """Receives a run's payloads on an asyncio loop (the original endpoint's generator)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def deliver(self, payload: dict[str, Any]) -> None:
        # Called from worker threads; FIFO on the loop, so the order of publish is kept.
        self.loop.call_soon_threadsafe(self.queue.put_nowait, payload)


_registry_lock = threading.Lock()
_run_locks: dict[str, threading.RLock] = {}
_listeners: dict[str, list[StreamListener]] = {}


def run_lock(run_id: Any) -> threading.RLock:
    """The lock that orders a run's counting and publishing within this process."""
    key = str(run_id)
    with _registry_lock:
        lock = _run_locks.get(key)
        if lock is None:
            lock = _run_locks[key] = threading.RLock()
        return lock


def run_forget(run_id: Any) -> None:
    """Drop a finished run's lock (its last event is out)."""
    with _registry_lock:
        _run_locks.pop(str(run_id), None)


def subscribe(run_id: Any, listener: StreamListener | None = None) -> StreamListener:
    listener = listener or StreamListener()
    with _registry_lock:
        _listeners.setdefault(str(run_id), []).append(listener)
    return listener


def unsubscribe(run_id: Any, listener: StreamListener) -> None:
    key = str(run_id)
    with _registry_lock:
        listeners = _listeners.get(key, [])
        if listener in listeners:
            listeners.remove(listener)
        if not listeners:
            _listeners.pop(key, None)


def publish(run_id: Any, payload: dict[str, Any], *, channel: str | None = None) -> None:
    """Send one payload to the run's in-process listeners, and queue it for the run's stored channel
    (another batch kind's channel when given: a sweep's is `sweep-<uuid>`).

    Never raises: a failing listener is dropped, and the channel writer logs its own failures,
    so a stream problem cannot stop a run (its results are stored either way). In a Celery
    worker (`channel_writer.synchronous`) a database error storing the event is raised.
    """
    key = str(run_id)
    with run_lock(key):
        with _registry_lock:
            listeners = list(_listeners.get(key, ()))
        for listener in listeners:
            try:
                listener.deliver(payload)
            except RuntimeError:  # its event loop is closed: the client is gone
                unsubscribe(key, listener)
        channel_writer.put(channel or channel_name(key), payload)


FINAL = "final"  # a writer item: store the run's final `complete` if it ended without one
WRITE_ATTEMPTS = 6  # a stored event that fails to write is retried: 0.1 + 0.2 + ... + 1.6 s
WRITE_BACKOFF = 0.1
WRITE_BATCH = 500  # payloads the writer stores in one transaction at most


class ChannelWriter:
    """The one thread of this process that stores published payloads (runs.eventstorage) and tells
    the run streams (runs.streams) that they are there.

    A stored append costs database round trips per event (one on PostgreSQL with
    runs.eventstorage, seven with the stock storage); made by the pool's jobs under a run's lock
    it would queue them all behind the database. Here jobs only enqueue, and this thread stores
    in exactly the order published (one FIFO for the process), so each channel's stored ids
    follow the publish order. A write that fails (the connection was lost) is retried on a fresh
    connection, WRITE_ATTEMPTS times with backoff; then the stream of this process is woken, and
    with EVENTSTREAM_REDIS the others through Redis (as django_eventstream.send_event does).
    The thread starts on first use and keeps its database connection while it has work.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.failures = 0  # events given up on after every attempt (the /metrics counter)

        # A Celery worker (runs.tasks) stores each event in the calling thread, inside the
        # transaction that stores its result: a worker killed at any point has stored both or
        # neither, and the events of a run stay in count order across processes (the run's row
        # is locked by the count until the commit). A failure to store one is a database error
        # like any other of the chunk: it is raised, the chunk's transaction rolls back and the
        # task is tried again.
        self.synchronous = False

    def put(self, channel: str, payload: dict[str, Any]) -> None:
        if self.synchronous:
            send_event(channel, payload["type"], payload)
            return
        self._ensure_thread()
        self._queue.put((channel, payload))

    def put_final(self, run_id: Any) -> None:
        """After the events queued so far: store the run's `complete` if it ended without one."""
        self._ensure_thread()
        self._queue.put((FINAL, str(run_id)))

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._start_lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="eventstream-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < WRITE_BATCH:  # what else is queued already is stored with it
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(items)
            finally:
                for _ in items:
                    self._queue.task_done()
            if self._queue.empty():
                close_old_connections()  # keeps a healthy connection (runs.db), drops a broken one

    def _write(self, items: list[tuple[str, Any]]) -> None:
        """Store queued items in order: the payloads between two finals in one transaction each."""
        from .services import run_complete_ensure

        payloads: list[tuple[str, dict[str, Any]]] = []
        for channel, item in [*items, (FINAL, None)]:
            if channel != FINAL:
                payloads.append((channel, item))
                continue
            if payloads:
                what = f"{len(payloads)} event(s) of {payloads[0][0]}"
                self._attempt(send_events, (payloads,), what=what)
                payloads = []
            if item is not None:
                self._attempt(lambda run_id: run_complete_ensure(run_id=run_id), (item,), what=f"the final of {item}")

    def _attempt(self, write: Callable[..., Any], args: tuple, *, what: str) -> None:
        from .db import thread_connection_prepare

        for attempt in range(WRITE_ATTEMPTS):
            try:
                thread_connection_prepare()
                write(*args)
                return
            except Exception:
                connection.close()  # the next attempt connects afresh
                if attempt == WRITE_ATTEMPTS - 1:
                    self.failures += 1
                    logger.exception("Could not store %s after %d attempts", what, WRITE_ATTEMPTS)
                    return
                logger.warning("Could not store %s (attempt %d); retrying", what, attempt + 1)
                time.sleep(WRITE_BACKOFF * 2**attempt)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued payload is sent (tests; server shutdown). True if it was."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True


def send_event(channel: str, event_type: str, payload: Mapping[str, Any]) -> int:
    """Append one payload to the channel's stored events (as django_eventstream.send_event stores
    it: the JSON text, stored as JSON), then wake the streams. Returns the event's id."""
    data, event_id = _event_store(channel, event_type, payload)
    streams_notify(channel, event_type, data, event_id)
    return event_id


def send_events(payloads: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    """Store several (channel, payload) in order in one transaction (on PostgreSQL one statement per
    channel: runs.eventstorage's batch), then wake the streams: one commit for what the writer
    found queued, where one each made the database the run's bottleneck."""
    from django_eventstream.utils import get_storage

    if len(payloads) == 1:
        channel, payload = payloads[0]
        send_event(channel, payload["type"], payload)
        return
    batch = getattr(get_storage(), "batch", None)
    with transaction.atomic(), batch() if batch is not None else nullcontext():
        stored = [
            (channel, payload["type"], *_event_store(channel, payload["type"], payload))
            for channel, payload in payloads
        ]
    streams_notify_many(stored)


def _event_store(channel: str, event_type: str, payload: Mapping[str, Any]) -> tuple[str, int]:
    from django_eventstream.utils import get_storage

    data = json.dumps(payload, cls=DjangoJSONEncoder)
    return data, get_storage().append_event(channel, event_type, data).id


def streams_notify(channel: str, event_type: str, data: str, event_id: int) -> None:
    """Wake the run streams of this process, and those of the others through Redis (best effort:
    they look at the store again every keep-alive anyway)."""
    streams_notify_many([(channel, event_type, data, event_id)])


def streams_notify_many(stored: Sequence[tuple[str, str, str, int]]) -> None:
    """streams_notify for several (channel, type, data, id) in order: each channel's streams woken
    once, the messages to the other processes in one Redis round trip (a pipeline)."""
    from .streams import hub

    for channel in dict.fromkeys(channel for channel, *_ in stored):
        hub.notify(channel)
    redis_kwargs = getattr(settings, "EVENTSTREAM_REDIS", None)
    if redis_kwargs and stored:
        try:
            pipe = _redis_client(redis_kwargs).pipeline(transaction=False)
            for channel, event_type, data, event_id in stored:
                message = {"channel": channel, "event_type": event_type, "data": data, "pub_id": str(event_id)}
                pipe.publish("events_channel", json.dumps(message))
            pipe.execute()
        except Exception:
            logger.warning("Could not tell other processes about %d event(s) of %s (Redis)", len(stored), stored[0][0])


_redis: Any = None


def _redis_client(kwargs: dict[str, Any]):
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis(**{"socket_timeout": 2, "socket_connect_timeout": 1, **kwargs})
    return _redis


channel_writer = ChannelWriter()


@contextmanager
def stored_batch() -> Iterator[None]:
    """In a Celery worker, inside its chunk's transaction: the events published in the block are
    stored in one statement at its end (runs.eventstorage.RunEventStorage.batch)."""
    from django_eventstream.utils import get_storage

    batch = getattr(get_storage(), "batch", None) if channel_writer.synchronous else None
    if batch is None:
        yield
        return
    with batch():
        yield


class RunChannelManager(DefaultChannelManager):
    """Anyone may read a run's or a sweep's channel (`run-<uuid>`, `sweep-<uuid>`); they are stored
    (reliable)."""

    def can_read_channel(self, user, channel: str) -> bool:
        if channel.startswith(BATCH_CHANNEL_PREFIXES):
            return True
        return bool(user is not None and user.is_staff)

    def is_channel_reliable(self, channel: str) -> bool:
        return channel.startswith(BATCH_CHANNEL_PREFIXES)
