"""Database connections of the long-lived threads (the pool's workers, the event writer)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, models

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What a lost connection raises: the server closed it (OperationalError), or Django's wrapper was
# already closed (InterfaceError). Deadlocks and serialization failures are OperationalErrors too,
# and worth another try as well.
CONNECTION_ERRORS = (OperationalError, InterfaceError)


def connection_retry(fn: Callable[..., T], *args: Any, attempts: int | None = None, backoff: float = 0.2) -> T:
    """Call `fn(*args)`; when it fails because the database connection was lost, close this
    thread's connection (the next statement opens a fresh one) and call it again, up to
    `attempts` times in all (settings.BACKTEST_DB_ATTEMPTS), waiting 0.2, 0.4, ... s between.

    For whole jobs, whose writes are transactions of their own and safe to repeat (a run's job
    stores only rows still pending). Inside a transaction nothing is retried: it is lost with
    the connection, and belongs to the caller.
    """
    attempts = attempts or settings.BACKTEST_DB_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return fn(*args)
        except CONNECTION_ERRORS as exc:
            if connection.in_atomic_block or attempt >= attempts:
                raise
            logger.warning("Database connection lost (%s); attempt %d of %d in a moment", exc, attempt + 1, attempts)
            connection.close()
            time.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


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


# Fields whose value of exactly this Python type (or None) is saved as it is: get_db_prep_save
# would only call float(), int() or str() on it. Some 18,000 values a 500-coin run writes.
_SAVED_AS_IS = {models.FloatField: float, models.IntegerField: int, models.CharField: str, models.TextField: str}


def _preparer(field) -> Callable[[Any], Any]:
    """How a value of `field` is prepared for a statement: as the field saves it, with the calls
    skipped for a plain value that would come out unchanged."""
    kind = _SAVED_AS_IS.get(type(field))

    def prepare(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    if kind is None:
        return prepare
    return lambda value: value if value is None or type(value) is kind else prepare(value)


@functools.cache
def _db_type_of(vendor: str, field) -> str:
    return field.db_type(connection)


def _db_type(field) -> str:
    """The field's column type on this connection's database (Field.db_type, remembered: it
    renders a template each call, some 30 calls a chunk)."""
    return _db_type_of(connection.vendor, field)


def rows_update(
    model,
    *,
    fields: Sequence[str],
    rows: Sequence[tuple[Any, Mapping[str, Any]]],
    key: str = "pk",
    where: Mapping[str, Any] | None = None,
    returning: bool = False,
) -> Any:
    """Write `fields` of many rows in one statement: `WITH v(k, ...) AS (VALUES ...) UPDATE ...
    FROM v` (PostgreSQL, SQLite >= 3.33). Django's bulk_update builds a CASE per row and field,
    whose expressions cost more than the backtests of a chunk (1.5 s for 32 coins).

    `rows` are (key, {field: value}), the key a value of the field `key` (the primary key, or a
    column unique among the rows `where` selects); values are prepared as each field saves them.
    `where` ({field: value}) also has to hold for a row to be written: a row that no longer matches
    it is left alone (on PostgreSQL checked again on the row's latest version once it is locked).
    Returns how many rows were written, or with `returning` the keys of those rows (SQLite >= 3.35).
    """
    if not rows:
        return [] if returning else 0
    meta = model._meta
    match_field = meta.pk if key == "pk" else meta.get_field(key)
    columns = [meta.get_field(name) for name in fields]
    conditions = [(meta.get_field(name), value) for name, value in (where or {}).items()]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    names = ["k", *(f"c{k}" for k in range(len(columns)))]
    prepares = [_preparer(field) for field in columns]
    names_of = [field.name for field in columns]
    params: list[Any] = []
    for row_key, values in rows:
        params.append(match_field.get_db_prep_value(row_key, connection))
        params.extend(prepare(values[name]) for prepare, name in zip(prepares, names_of, strict=True))
    marks = ", ".join(["(" + ", ".join(["%s"] * len(names)) + ")"] * len(rows))
    if connection.vendor == "postgresql":
        # VALUES columns take their type from the parameters: cast each to its column's type.
        sets = ", ".join(f"{quote(f.column)} = v.c{k}::{_db_type(f)}" for k, f in enumerate(columns))
        match = f"{table}.{quote(match_field.column)} = v.k::{_db_type(match_field)}"
    else:
        sets = ", ".join(f"{quote(f.column)} = v.c{k}" for k, f in enumerate(columns))
        match = f"{table}.{quote(match_field.column)} = v.k"
    for field, value in conditions:
        match += f" AND {table}.{quote(field.column)} = %s"
        params.append(field.get_db_prep_value(value, connection))
    sql = f"WITH v({', '.join(names)}) AS (VALUES {marks}) UPDATE {table} SET {sets} FROM v WHERE {match}"
    if returning:
        sql += f" RETURNING {table}.{quote(match_field.column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returning:
            return [match_field.to_python(row[0]) for row in cursor.fetchall()]
        return cursor.rowcount


def rows_insert(model, *, fields: Sequence[str], rows: Sequence[Mapping[str, Any]], batch: int = 2000) -> int:
    """Insert many rows of `model` giving only `fields` (the others take NULL: nullable columns with
    no default, and an identity primary key), `batch` rows a statement. Django's bulk_create
    compiles every field of every row, most of a 500-coin run's creation for rows that are all
    defaults but four values. `rows` are {field: value}; values are prepared as each field saves them.
    """
    if not rows:
        return 0
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) VALUES "
    mark = "(" + ", ".join(["%s"] * len(columns)) + ")"
    prepares = [_preparer(field) for field in columns]
    names = [field.name for field in columns]
    batch = max(1, min(batch, 30_000 // len(columns)))  # SQLite takes at most 32,766 parameters a statement
    count = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), batch):
            part = rows[start : start + batch]
            params = [prepare(row[name]) for row in part for prepare, name in zip(prepares, names, strict=True)]
            cursor.execute(head + ", ".join([mark] * len(part)), params)
            count += len(part)
    return count
