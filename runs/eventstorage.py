"""django-eventstream's DjangoModelStorage with a one-statement append on PostgreSQL.

The stock `append_event` costs seven round trips and some 3,000 Python calls per event
(get-or-create the counter, a transaction with SELECT ... FOR UPDATE, insert, update the
counter, then a trim query), about 2 ms of the GIL each; a 48-coin run sends 98 events
while its jobs need that same GIL. Here, on PostgreSQL, one statement increments the
channel's counter (its row lock serialises appenders, as the FOR UPDATE did) and inserts
the event with the new id; old events are trimmed at most once a minute (on every
database), after the commit. Same tables, same ids, same stored format, so the library's
`get_events` (replay) is unchanged.
Other databases, and a channel's first event (which creates the counter and the
placeholder event 0), go through the stock code. A Celery worker appends a chunk's events in
a `batch()`: their ids taken under the counter's lock, the rows inserted in one statement.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_eventstream.event import Event
from django_eventstream.models import Event as EventRow
from django_eventstream.models import EventCounter
from django_eventstream.storage import DjangoModelStorage

logger = logging.getLogger(__name__)

TRIM_INTERVAL = 60.0  # seconds between trims of events older than the library's 24 h


class RunEventStorage(DjangoModelStorage):
    def __init__(self) -> None:
        super().__init__()
        self._next_trim = 0.0
        self._local = threading.local()

    # --- Batches (a Celery worker's chunk: its events stored in one statement, in its transaction) ---

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Inside a transaction on PostgreSQL: the events appended in the block take their ids at
        once (the channel's counter row is locked by the first) and are inserted in one statement
        at the end of the block. Elsewhere (SQLite, outside a transaction) a no-op."""
        if connection.vendor != "postgresql" or not connection.in_atomic_block or self._batch() is not None:
            yield
            return
        self._local.batch = {}
        try:
            yield
            self._batch_flush()
            self._trim_maybe()
        finally:
            self._local.batch = None

    def _batch(self) -> dict | None:
        return getattr(self._local, "batch", None)

    def _append_deferred(self, batch: dict, channel: str, event_type: str, data) -> Event | None:
        if channel not in batch:
            counters = connection.ops.quote_name(EventCounter._meta.db_table)
            with connection.cursor() as cursor:  # locks the counter until the commit
                cursor.execute(
                    f"UPDATE {counters} SET updated = %s WHERE name = %s RETURNING value", [timezone.now(), channel]
                )
                row = cursor.fetchone()
            if row is None:
                return None  # no counter yet: the stock path creates it
            batch[channel] = [row[0], []]
        entry = batch[channel]
        entry[0] += 1
        entry[1].append((entry[0], event_type, json.dumps(data, cls=DjangoJSONEncoder)))
        return Event(channel, event_type, data, id=entry[0])

    def _batch_flush(self) -> None:
        counters = connection.ops.quote_name(EventCounter._meta.db_table)
        events = connection.ops.quote_name(EventRow._meta.db_table)
        now = timezone.now()
        with connection.cursor() as cursor:
            for channel, (last, rows) in self._batch().items():
                if not rows:
                    continue
                cursor.execute(
                    f"INSERT INTO {events} (channel, type, data, eid, created) SELECT %s, t.type, t.data, t.eid, %s "
                    "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS t(eid, type, data)",
                    [channel, now, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
                )
                cursor.execute(f"UPDATE {counters} SET value = %s, updated = %s WHERE name = %s", [last, now, channel])

    def append_event(self, channel: str, event_type: str, data):
        batch = self._batch()
        if batch is not None:
            event = self._append_deferred(batch, channel, event_type, data)
            if event is not None:
                return event
        if connection.vendor == "postgresql":
            row = self._append_fast(channel, event_type, data)
            if row is not None:
                return row
        return super().append_event(channel, event_type, data)

    def _append_fast(self, channel: str, event_type: str, data) -> Event | None:
        now = timezone.now()
        counters = connection.ops.quote_name(EventCounter._meta.db_table)
        events = connection.ops.quote_name(EventRow._meta.db_table)
        sql = (
            f"WITH c AS (UPDATE {counters} SET value = value + 1, updated = %s WHERE name = %s RETURNING value) "
            f"INSERT INTO {events} (channel, type, data, eid, created) SELECT %s, %s, %s, value, %s FROM c "
            "RETURNING eid"
        )
        stored = json.dumps(data, cls=DjangoJSONEncoder)  # as DjangoModelStorage stores it
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, channel, channel, event_type, stored, now])
            row = cursor.fetchone()
        if row is None:  # the channel has no counter yet: the stock path creates it
            return None
        self._trim_maybe()
        return Event(channel, event_type, data, id=row[0])

    def _trim_maybe(self) -> None:
        """Trim the events older than the library's 24 h, at most once a TRIM_INTERVAL, after the
        commit of the events just appended: inside their transaction a trim that fails on a lost
        connection cannot roll its savepoint back, and the block then rolls the events back
        instead of committing them, raising nothing (they would be lost, not retried)."""
        if time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + TRIM_INTERVAL
            transaction.on_commit(self._trim, robust=True)  # at once outside a transaction

    def trim_event_log(self) -> None:
        """What the stock append calls after each event: here `_trim_maybe`."""
        self._trim_maybe()

    def _trim(self) -> None:
        try:  # the events are stored: a failed trim must not make the writer store them again
            with transaction.atomic():
                super().trim_event_log()
        except DatabaseError:
            logger.warning("Could not trim the stored events; next time", exc_info=True)
