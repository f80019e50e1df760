"""Database connections of the long-lived threads (the pool's workers, the event writer)."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection


def thread_connection_prepare() -> None:
    """Open (or reuse) this thread's connection, made for many small writes.

    1. A new connection is kept for settings.BACKTEST_THREAD_CONN_MAX_AGE seconds (300) instead
       of being closed after each job (CONN_MAX_AGE is 0 for requests: under ASGI each request
       runs in a thread of its own, where a kept connection would leak). `close_old_connections()`
       still drops it when it is broken or expired, but a job no longer pays for a new
       PostgreSQL backend each time.
    2. On PostgreSQL it commits without waiting for the WAL to reach the disk
       (`synchronous_commit = off`): every result and event is a commit of its own, and
       waiting for an fsync each time dominated the run. Nothing is lost when the app
       process dies; a crash of the database server itself may lose its last fraction of a
       second of commits (the run then ends `interrupted` at the next start, as after any crash).
    """
    connection.ensure_connection()
    if getattr(connection, "_thread_prepared", None) == (id(connection.connection), connection.close_at):
        return  # this connection is prepared already
    if connection.close_at is not None:
        connection.close_at = time.monotonic() + settings.BACKTEST_THREAD_CONN_MAX_AGE
    connection._thread_prepared = (id(connection.connection), connection.close_at)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
