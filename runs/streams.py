"""GET /api/runs/<id>/events/: a run's stored events as Server-Sent Events, holding no database
connection while it waits.

The format is django-eventstream's (which served this URL before): 2 KB of padding and
`event: stream-open` first, then `event: <type>` / `id: run-<uuid>:<n>` / `data: <json>` per
event, `event: stream-reset` for an id the store does not hold, `event: keep-alive` when quiet.
What differs is how it waits and when it ends:

- Stored events are read on a small pool of reader threads (`READS`) that release their database
  connection as soon as no read is queued; then the stream waits on an in-process asyncio
  notification, set by the channel writer once an event is stored (runs.events) and, with
  EVENTSTREAM_REDIS, by a Redis subscription to the events other processes store. A quiet stream
  looks at the store again every KEEPALIVE_SECONDS (a missed notification costs at most that).
- After `complete` the response ends; a client whose last id is the run's last event, once the
  run is over, gets 204 (which tells EventSource to stop). A run that ended without `complete`
  (interrupted) gets the final `complete` stored for it (services.run_complete_ensure).
- When the server is told to stop (SIGTERM/SIGINT, `draining`), every stream ends at once, so a
  graceful shutdown never waits for them; EventSource reconnects with its Last-Event-ID.
- Open streams are limited per client (RUN_STREAMS_PER_CLIENT, 429) and in all
  (RUN_STREAMS_MAX, 503) per process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import re
import signal
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django_eventstream.models import Event as EventRow
from django_eventstream.models import EventCounter
from django_eventstream.utils import make_id, sse_encode_event

from backtest_site.clients import client_address

from . import events

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 20.0  # as django-eventstream
BATCH = 100  # stored events read at a time
PADDING = ":" + (" " * 2048) + "\n\n" + "event: stream-open\ndata:\n\n"
# A finished run's `complete` is normally stored by its own process a few milliseconds after the
# status changes; only when it is still missing this long after the end is it stored here.
COMPLETE_GRACE_SECONDS = 5.0

# --- Reads: a few threads, their connections released as soon as they are idle -----------------


class Reads:
    """Runs the streams' database reads on `workers` threads; a thread closes its connection
    before it waits for the next read, so idle streams hold none (and a thousand streams hold at
    most `workers` while they read).

    Its own threads and queue rather than a ThreadPoolExecutor: a pool thread cannot tell when it
    is about to sit idle (closing only when no read was pending anywhere left the thread that
    finished first holding its connection while the other read)."""

    def __init__(self, workers: int = 2) -> None:
        self._workers = workers
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._start()
        self._queue.put((loop, future, fn, args))
        return await future

    def _start(self) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self._workers:
                thread = threading.Thread(target=self._work, name="stream-read", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _work(self) -> None:
        while True:
            try:
                loop, future, fn, args = self._queue.get_nowait()
            except queue.Empty:
                connection.close()  # nothing to read: wait holding no connection
                loop, future, fn, args = self._queue.get()
            try:
                outcome = (fn(*args), None)
            except BaseException as exc:  # handed to the stream, which raises it
                connection.close()  # a broken connection is not kept either
                outcome = (None, exc)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # that loop is closed: nobody waits for the result
                pass


def _settle(future: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if future.done():  # the stream was cancelled (its client left)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


READS = Reads()


# --- Notifications: the writer (and Redis) wake the streams of a channel ----------------------


class Hub:
    """channel -> the asyncio events of the streams waiting on it (each on its own loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._open: Counter[str] = Counter()  # client -> open streams
        self.draining = False
        self._redis_started: set[int] = set()

    def add(self, channel: str, waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            self._waiters.setdefault(channel, set()).add(waiter)

    def remove(self, channel: str, waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            waiters = self._waiters.get(channel)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[channel]

    def notify(self, channel: str) -> None:
        """Wake the streams of `channel` (from any thread)."""
        with self._lock:
            waiters = list(self._waiters.get(channel, ()))
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                pass

    def notify_all(self) -> None:
        with self._lock:
            waiters = [w for ws in self._waiters.values() for w in ws]
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                pass

    def open_stream(self, client: str) -> int | None:
        """Count a new stream of `client`; None if it may open one, else the refusal's status."""
        with self._lock:
            if sum(self._open.values()) >= settings.RUN_STREAMS_MAX:
                return 503
            if self._open[client] >= settings.RUN_STREAMS_PER_CLIENT:
                return 429
            self._open[client] += 1
            return None

    def close_stream(self, client: str) -> None:
        with self._lock:
            self._open[client] -= 1
            if self._open[client] <= 0:
                del self._open[client]

    def open_count(self) -> int:
        with self._lock:
            return sum(self._open.values())

    def drain(self) -> None:
        """The server is stopping: every stream ends now."""
        self.draining = True
        self.notify_all()

    def redis_listen(self) -> None:
        """With EVENTSTREAM_REDIS, once per event loop: a subscription to the events other processes store."""
        if not getattr(settings, "EVENTSTREAM_REDIS", None):
            return
        loop = asyncio.get_running_loop()
        with self._lock:
            if id(loop) in self._redis_started:
                return
            self._redis_started.add(id(loop))
        loop.create_task(self._redis_loop())

    async def _redis_loop(self) -> None:
        from redis.asyncio import Redis

        delay = 0.5
        while True:
            try:
                client = Redis(**settings.EVENTSTREAM_REDIS)
                pubsub = client.pubsub()
                await pubsub.subscribe("events_channel")  # where django_eventstream.send_event publishes
                delay = 0.5
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        try:
                            self.notify(json.loads(message["data"])["channel"])
                        except (ValueError, KeyError, TypeError):
                            continue
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: the streams still look at the store every keep-alive
                logger.warning("Run streams: Redis subscription lost; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)


hub = Hub()


def drain_on_signals() -> None:
    """Chain a handler in front of the server's SIGTERM/SIGINT handlers (uvicorn's): streams end
    at once, so a graceful shutdown does not wait for them. Only from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if getattr(previous, "_drains_streams", False):
            continue

        if not callable(previous):  # no server handler to chain to (the default ends the process anyway)
            continue

        def handler(signum, frame, previous=previous):
            hub.drain()
            previous(signum, frame)

        handler._drains_streams = True  # type: ignore[attr-defined]
        signal.signal(sig, handler)


# --- The request ------------------------------------------------------------------------------

_ID_RE = re.compile(r"(?:(?P<channel>[^:,]{1,80}):)?(?P<n>[0-9]{1,18})")


class BadEventId(ValueError):
    pass


def last_event_id(request: HttpRequest, channel: str) -> int | None:
    """The client's position: the Last-Event-ID header, else the last non-empty ?lastEventId=.
    Forms: `run-<uuid>:<n>` (an id of this stream) or `<n>`; an id of another channel is no
    position (as django-eventstream). Anything else raises BadEventId."""
    raw = request.META.get("HTTP_LAST_EVENT_ID") or next(
        (v for v in reversed(request.GET.getlist("lastEventId")) if v), ""
    )
    if not raw:
        return None
    match = _ID_RE.fullmatch(raw)
    if match is None:
        raise BadEventId("lastEventId must look like run-<id>:<n> (n a whole number of at most 18 digits)")
    if match["channel"] is not None and match["channel"] != channel:
        return None
    return int(match["n"])


def _read(run_id: Any, channel: str, last: int | None, model: Any = None) -> dict[str, Any]:
    """One look at the store: the batch's state (a run's, or `model`'s: a sweep's), the current
    id, the events after `last`. A batch that ended without `complete` gets it stored."""
    from .models import BacktestRun
    from .services import FINALS, batch_complete_ensure

    kind = model or BacktestRun
    run = kind.objects.filter(id=run_id).values("status", "finished_at").first()
    if run is None:
        return {"exists": False}
    current = EventCounter.objects.filter(name=channel).values_list("value", flat=True).first() or 0
    ended = run["status"] not in BacktestRun.IN_PROGRESS and not (
        run["status"] == BacktestRun.Status.CANCELLED and run["finished_at"] is None
    )
    out: dict[str, Any] = {"exists": True, "current": current, "ended": ended, "events": [], "reset": False}
    last_type = EventRow.objects.filter(channel=channel, eid=current).values_list("type", flat=True).first()
    if ended and current and last_type != "complete" and kind in FINALS:
        if batch_complete_ensure(model=kind, batch_id=run_id, grace_seconds=COMPLETE_GRACE_SECONDS):
            current = out["current"] = EventCounter.objects.filter(name=channel).values_list("value", flat=True)[0]
            last_type = "complete"
    out["finished"] = ended and last_type == "complete"
    if last is None or last == current:
        return out
    rows = list(
        EventRow.objects.filter(channel=channel, eid__gte=last)
        .order_by("eid")
        .values_list("eid", "type", "data")[: BATCH + 1]
    )
    if last > current or not rows or rows[0][0] != last:
        out["reset"] = True
        return out
    out["events"] = [(eid, kind, json.loads(data)) for eid, kind, data in rows[1:]]
    return out


async def run_events(request: HttpRequest, run_id) -> HttpResponse:
    """GET /api/runs/<id>/events/ (see the module's doc). Connect with ?lastEventId=run-<id>:0
    (or the Last-Event-ID header) to replay from the start."""
    return await batch_events(request, run_id, events.channel_name(run_id))


async def batch_events(request: HttpRequest, run_id, channel: str, model: Any = None) -> HttpResponse:
    """The stored SSE channel of a batch: a run's, or `model`'s (a sweep's `sweep-<id>`)."""
    try:
        last = last_event_id(request, channel)
    except BadEventId as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    client = client_address(request)
    refused = hub.open_stream(client)
    if refused == 503:
        return JsonResponse(
            {"detail": "Too many event streams are open on this server; try again shortly."},
            status=503,
            headers={"Retry-After": "5"},
        )
    if refused == 429:
        return JsonResponse(
            {"detail": f"Too many open event streams from this client (at most {settings.RUN_STREAMS_PER_CLIENT})."},
            status=429,
            headers={"Retry-After": "5"},
        )
    try:
        first = await READS.call(_read, run_id, channel, last, model)
    except BaseException:
        hub.close_stream(client)
        raise
    if not first["exists"]:
        hub.close_stream(client)
        return JsonResponse({"detail": "No such run." if model is None else "No such sweep."}, status=404)
    if first["finished"] and not first["events"] and not first["reset"] and last is not None:
        hub.close_stream(client)
        return HttpResponse(status=204)  # nothing after the client's last event, and never will be
    hub.redis_listen()
    response = StreamingHttpResponse(
        _stream(run_id, channel, last, first, client, model), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _stream(
    run_id: Any, channel: str, last: int | None, state: dict, client: str, model: Any = None
) -> AsyncIterator[str]:
    waiter = (asyncio.get_running_loop(), asyncio.Event())
    hub.add(channel, waiter)
    # An event stored between the first read and hub.add woke nobody: look again once at the start.
    waiter[1].set()
    try:
        body = PADDING
        while True:
            if state["reset"]:
                last = state["current"]
                body += sse_encode_event(
                    "stream-reset", {"channels": [channel]}, event_id=make_id({channel: last}), json_encode=True
                )
            elif last is None:
                last = state["current"]  # no position: from now on, as django-eventstream
            done = False
            for eid, kind, data in state["events"]:
                last = eid
                body += sse_encode_event(kind, data, event_id=make_id({channel: eid}))
                done = kind == "complete"
            if body:
                yield body
                body = ""
            if done or hub.draining:
                return
            if len(state["events"]) >= BATCH:  # more stored: read on at once
                waiter[1].clear()
                state = await READS.call(_read, run_id, channel, last, model)
                continue
            if state.get("finished") and not state["events"] and state["current"] <= last:
                return  # the run is over and its `complete` was sent before (or reset past it)
            try:
                await asyncio.wait_for(waiter[1].wait(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                body = "event: keep-alive\ndata:\n\n"
            if hub.draining:
                if body:
                    yield body
                return
            # Cleared before the read, not after: an event stored while it reads wakes the next wait.
            waiter[1].clear()
            state = await READS.call(_read, run_id, channel, last, model)
            if not state["exists"]:
                return
    finally:
        hub.remove(channel, waiter)
        hub.close_stream(client)
