"""The original streaming endpoint, unchanged for existing clients, and the run event stream.

POST /api/crypto/backtest/stream answers `text/event-stream` with `data: {json}\\n\\n`
events (start, result, error, progress, complete) exactly as the original Flask service
did; its documented XHR reader splits on blank lines and parses the `data: ` lines. The
run it starts is stored like any other. Under ASGI this is an async generator fed by the
pool's jobs through an in-process listener (runs.events), so each result goes out the
moment its coin is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import ValidationError

from . import access, events, selectors, services
from .api import error_answer, run_request_create, throttle_wait
from .backends import BackendUnavailable, backend
from .follow import ChannelFollower
from .models import BacktestRun
from .serializers import BodyError, json_body_parse

# A comment line every so often keeps proxies from closing a quiet stream; the documented
# XHR reader ignores it (it only parses lines that start with "data: ").
KEEPALIVE_SECONDS = 15.0


def _run_create(request: HttpRequest, body: Any) -> BacktestRun | HttpResponse:
    """Sync part of the original endpoint: throttle, validate, store (not yet started)."""
    wait = throttle_wait(request)
    if wait is not None:
        retry = str(max(1, round(wait)))
        return JsonResponse({"detail": "Too many runs started; slow down."}, status=429, headers={"Retry-After": retry})
    try:
        # Owned by a signed-in user, else by no one (its answer has no room for a cancel token):
        # staff's to cancel. It counts against its client's share like any run.
        return run_request_create(body, start=False, creator=access.creator(request, token=False))
    except (ValidationError, services.TooManyRuns) as exc:
        code, answer, headers = error_answer(exc)
        return JsonResponse(answer, status=code, headers=headers)


@csrf_exempt
async def backtest_stream(request: HttpRequest) -> HttpResponse:
    """POST /api/crypto/backtest/stream: validate (400 JSON before streaming), store the run,
    subscribe to its events, start it, and stream the events until `complete`."""
    if request.method != "POST":
        return JsonResponse({"detail": "Method not allowed; POST a JSON body."}, status=405, headers={"Allow": "POST"})
    if request.content_type != "application/json":
        # A browser cannot send application/json cross-site without a CORS preflight, which this
        # server never grants: so no other web page can make its visitors start runs.
        return JsonResponse(
            {"detail": f"Unsupported media type {request.content_type!r}: send the body as application/json."},
            status=415,
        )
    try:
        body = json_body_parse(request.body or b"{}")
    except BodyError as exc:
        return JsonResponse({"errors": {"non_field_errors": [str(exc)]}}, status=400)
    created = await sync_to_async(_run_create)(request, body)
    if isinstance(created, HttpResponse):
        return created
    run_id = created.id
    # Subscribe before the first job can publish, so no event is missed. Jobs executed by other
    # processes (Celery workers) publish to the run's stored channel only: follow that.
    listener = events.subscribe(run_id) if backend().owner() else ChannelFollower(run_id)
    try:
        await sync_to_async(services.run_start)(run_id=run_id)
    except BaseException as exc:
        _listener_close(run_id, listener)
        if isinstance(exc, BackendUnavailable):  # the broker is down: the run ended failed
            code, answer, headers = error_answer(exc)
            return JsonResponse(answer, status=code, headers=headers)
        raise
    response = StreamingHttpResponse(_stream(run_id, listener), content_type="text/event-stream; charset=utf-8")
    # The original's headers. `Connection: keep-alive` is hop-by-hop: the ASGI server owns the
    # connection (HTTP/1.1 keeps it alive by default); uvicorn and daphne pass it through.
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    response["Connection"] = "keep-alive"
    return response


async def _stream(run_id: Any, listener: events.StreamListener | ChannelFollower) -> AsyncIterator[str]:
    """Yield the run's events as `data: {json}\\n\\n` until `complete`.

    Events that arrived together go out in one chunk. If the client disconnects, the
    generator is cancelled; the run goes on in the pool and is stored all the same.
    """
    try:
        while True:
            try:
                payload = await asyncio.wait_for(listener.queue.get(), timeout=KEEPALIVE_SECONDS)
            except TimeoutError:
                ended = await sync_to_async(_ended_without_complete)(run_id)
                if ended is not None:  # e.g. interrupted by a shutdown: close the stream properly
                    yield events.sse_data(events.original_payload(ended))
                    return
                yield ": keep-alive\n\n"
                continue
            chunk = [_original_frame(payload)]
            done = payload["type"] == "complete"
            while not done and not listener.queue.empty():
                payload = listener.queue.get_nowait()
                chunk.append(_original_frame(payload))
                done = payload["type"] == "complete"
            if any(chunk):
                yield "".join(chunk)
            if done:
                return
    finally:
        _listener_close(run_id, listener)


def _listener_close(run_id: Any, listener: Any) -> None:
    events.unsubscribe(run_id, listener)
    close = getattr(listener, "close", None)
    if close is not None:
        close()


def _original_frame(payload: dict[str, Any]) -> str:
    """One event as the original endpoint sends it; "" for an event type the original had not."""
    if payload["type"] not in events.ORIGINAL_TYPES:
        return ""
    return events.sse_data(events.original_payload(payload))


def _ended_without_complete(run_id: Any) -> dict[str, Any] | None:
    """A `complete` payload for a run that ended without publishing one (interrupted, failed)."""
    run = selectors.run_get(run_id=run_id)
    if run is None or run.status in BacktestRun.IN_PROGRESS:
        return None
    if run.status == BacktestRun.Status.CANCELLED and run.finished_at is None:
        return None  # still draining: its last job publishes `complete`
    return services.run_final_payload(run)


async def once_each(chunks: AsyncIterator[bytes | str]) -> AsyncIterator[bytes]:
    """Pass a one-channel django-eventstream body through, dropping any event whose id was already sent.

    django-eventstream 5.3.4 replays from the client's Last-Event-ID, then goes live; if an event
    is published while it reads the stored events, it reads them again from the same id and sends
    the first batch a second time (views.stream, the "conflict" branch). Ids of one channel grow
    by one per event, so an id not above the last one sent is such a repeat.
    """
    last = -1
    buffer = ""
    async for chunk in chunks:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        *blocks, buffer = buffer.split("\n\n")
        kept = []
        for block in blocks:
            event_id = _block_id(block)
            if event_id is not None and not block.startswith("event: stream-reset"):
                if event_id <= last:
                    continue
                last = event_id
            kept.append(block + "\n\n")
        if kept:
            yield "".join(kept).encode()


def _block_id(block: str) -> int | None:
    for line in block.split("\n"):
        if line.startswith("id: "):
            _, _, number = line[4:].rpartition(":")
            return int(number) if number.isdigit() else None
    return None
