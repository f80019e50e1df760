"""A run's stored event channel, read as the original endpoint's listener.

With the in-process pool the original stream (runs.views) is fed by an in-process listener.
With Celery the events are published by workers in other processes (and machines): they reach
this process only through the run's stored channel, so the stream follows that instead. The
follower reads the channel's new events every POLL_SECONDS (one indexed query) and puts their
payloads on the same kind of queue, in id order, each once; it stops after `complete`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async

from . import events

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05


class ChannelFollower:
    """Has the `queue` of an events.StreamListener; `close()` stops it."""

    def __init__(self, run_id: Any) -> None:
        self.channel = events.channel_name(run_id)
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._last = 0
        # A context of its own: the request's (asgiref's executor of that request) ends before the stream does.
        self._task = asyncio.get_running_loop().create_task(self._follow(), context=contextvars.Context())

    async def _follow(self) -> None:
        while True:
            try:
                batch = await sync_to_async(self._read)()
            except Exception:  # the database briefly away: try again (the stream sends keep-alives)
                logger.exception("Could not read the stored events of %s", self.channel)
                await asyncio.sleep(1.0)
                continue
            for payload in batch:
                self.queue.put_nowait(payload)
                if payload.get("type") == "complete":
                    return
            if not batch:
                await asyncio.sleep(POLL_SECONDS)

    def _read(self) -> list[dict[str, Any]]:
        from django_eventstream.models import Event

        rows = list(
            Event.objects.filter(channel=self.channel, eid__gt=self._last)
            .order_by("eid")
            .values_list("eid", "data")[:500]
        )
        if rows:
            self._last = rows[-1][0]
        # Stored as django-eventstream stores them: the JSON text of send_event's JSON text.
        return [json.loads(json.loads(data)) for _, data in rows]

    def close(self) -> None:
        self._task.cancel()
