"""Reads of market data, with the price series cached per coin and interval.

Cache-aside with a version (as djangoproject.com's dashboard does): each coin row holds the
version of its series (`Cryptocurrency.prices_version`), changed in the same transaction as every
write to its bars (`prices_versions_bump`: imports, admin edits and deletes). A series is cached
under a key naming that version, and every read asks the database for the versions first (one
query for all the coins asked for), so a series cached under an older version is never served
again, by any process, whatever the cache: an import from `manage.py import_prices` in another
process, or made while Redis hung, is seen by the next read. The series is stored as compact
bytes (a small header, then int64 timestamps and five float64 columns), not as a pickled DataFrame.

In front of the shared cache, each process keeps the series it read last (`series_memo`, at most
PRICE_MEMORY_CACHE_MB): by the same versioned key, so a new version misses it as it misses
the shared cache; a warm run then reads only the versions (from the database).

A series that misses both is read from the database: from its pack (`PricePack`: the series as
one value, one row per coin) when the pack is stamped with the version read in step 1, else from
the bars' rows, and then packed under that version for the next read (only while it is still the
coin's version: a pack never holds other bars than its version's). One query reads the packs of all
the missing coins, one statement the rows of those without a current pack.

If the cache (Redis) is down, prices come from the database (backtest_site.cache's guard:
one warning, then the cache is left alone for a few seconds before it is tried again).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef

from backtest_site.cache import cache_guard

from .aggregate import derivable_from, ohlcv_aggregate
from .models import Cryptocurrency, Price, PricePack, prices_version_new

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("<4sI")  # magic, number of bars
_MAGIC = b"PRC1"
_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class PriceSeries:
    """The bars of one coin and interval, ascending; times are int64 ns since the epoch (UTC)."""

    times: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.times)

    def columns(self, lo: int = 0, hi: int | None = None) -> dict[str, np.ndarray]:
        """The arrays as the engine's backtest_arrays takes them (times, open, ..., volume), bars lo:hi."""
        return {name: getattr(self, name)[lo:hi] for name in ("times", *_COLUMNS)}

    def window(self, *, start: dt.datetime | None, end: dt.datetime | None) -> PriceSeries:
        """The bars with start <= datetime <= end (both inclusive; None is open-ended)."""
        lo = 0 if start is None else int(np.searchsorted(self.times, _to_ns(start), side="left"))
        hi = len(self.times) if end is None else int(np.searchsorted(self.times, _to_ns(end), side="right"))
        return PriceSeries(*(getattr(self, f)[lo:hi] for f in ("times", *_COLUMNS)))

    def to_bytes(self) -> bytes:
        n = len(self.times)
        parts = [_HEADER.pack(_MAGIC, n), self.times.astype("<i8").tobytes()]
        parts += [getattr(self, c).astype("<f8").tobytes() for c in _COLUMNS]
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, blob: bytes) -> PriceSeries:
        magic, n = _HEADER.unpack_from(blob, 0)
        if magic != _MAGIC or len(blob) != _HEADER.size + 6 * 8 * n:
            raise ValueError("not a cached price series")
        off = _HEADER.size
        times = np.frombuffer(blob, dtype="<i8", count=n, offset=off)
        cols = [np.frombuffer(blob, dtype="<f8", count=n, offset=off + 8 * n * (k + 1)) for k in range(5)]
        return cls(times, *cols)


def _series_key(crypto_id: int, interval: str, version: str) -> str:
    return f"prices:{crypto_id}:{interval}:{version}"


def prices_versions_bump(*, crypto_ids: Iterable[int]) -> str:
    """Give these coins' series a new version, in the current transaction (so with the write that
    changed their bars): what was cached before is never served again, in any process. Every
    interval of the coin: a derived interval's series is made of a finer one's bars. Returns it."""
    ids = sorted({int(c) for c in crypto_ids})
    version = prices_version_new()
    if ids:
        Cryptocurrency.objects.filter(id__in=ids).update(prices_version=version)
    return version


def prices_version_bump(*, crypto_id: int, interval: str | None = None) -> None:
    """`prices_versions_bump` of one coin (`interval` is not needed: the version is the coin's)."""
    prices_versions_bump(crypto_ids=[crypto_id])


def _to_ns(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000


# One row of PostgreSQL's binary COPY output for the query in _prices_load_postgresql:
# a field count, then (length, value) for the int8 coin id, the timestamptz (int8 microseconds
# since 2000-01-01) and the five float8 columns.
_COPY_ROW = np.dtype(
    [("n", ">i2"), ("l_id", ">i4"), ("id", ">i8"), ("l0", ">i4"), ("t", ">i8")]
    + [f for k in range(1, 6) for f in ((f"l{k}", ">i4"), (f"c{k}", ">f8"))]
)
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds: PostgreSQL's timestamp zero


def pg_epoch_seconds(pg_us: np.ndarray) -> np.ndarray:
    """PostgreSQL timestamps (binary: microseconds since 2000) as whole Unix seconds, rounded half
    away from zero as EXTRACT(EPOCH ...)::int8 rounds them; numpy's work instead of the server's
    (the numeric EXTRACT and its cast cost the server a third of a cold read)."""
    us = pg_us + PG_EPOCH_US
    return np.sign(us) * ((np.abs(us) + 500_000) // 1_000_000)


def _empty_series() -> PriceSeries:
    empty = np.empty(0, dtype=np.float64)
    return PriceSeries(np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty)


def _split_by_coin(crypto_ids: Sequence[int], ids: np.ndarray, times: np.ndarray, columns) -> dict[int, PriceSeries]:
    """Rows sorted by (coin, time) into one series per coin; a coin with no rows gets an empty one."""
    out = {int(c): _empty_series() for c in crypto_ids}
    if not len(ids):
        return out
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(ids)]
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        out[int(ids[lo])] = PriceSeries(
            np.ascontiguousarray(times[lo:hi]), *(np.ascontiguousarray(c[lo:hi]) for c in columns)
        )
    return out


def _copy_out(select: str, params: Sequence) -> tuple[memoryview, int]:
    """PostgreSQL's binary `COPY (select) TO STDOUT` into memory: the bytes, and the offset of the
    first row past the signature, the flags and the header extension."""
    with connection.cursor() as cursor:
        query = cursor.mogrify(f"COPY ({select}) TO STDOUT WITH (FORMAT binary)", params).decode()
        buffer = io.BytesIO()
        with connection.wrap_database_errors:  # psycopg2's errors as Django's (a lost connection is retried)
            cursor.cursor.copy_expert(query, buffer)
    raw = buffer.getbuffer()
    if bytes(raw[:11]) != _COPY_SIGNATURE:
        raise ValueError("unexpected COPY output")
    return raw, 19 + int.from_bytes(raw[15:19], "big")


def _prices_load_postgresql(*, crypto_ids: Sequence[int], interval: str) -> dict[int, PriceSeries]:
    """Binary COPY straight into numpy: no Python object per value (about 3x faster than fetchall).

    1. COPY the casted columns (the times as they are stored) of every coin out in binary, in one statement (volume NULL
       becomes NaN, so every row has the same width); 2. check the signature and skip the
       header; 3. view the rows as a structured big-endian array, split them by coin.
    """
    raw, offset = _copy_out(
        "SELECT crypto_id::int8, datetime, open_price::float8, "
        "high_price::float8, low_price::float8, close_price::float8, COALESCE(volume::float8, 'NaN'::float8) "
        "FROM crypto_prices WHERE crypto_id = ANY(%s) AND interval_type = %s ORDER BY crypto_id, datetime",
        [[int(c) for c in crypto_ids], str(interval)],
    )
    count, rest = divmod(len(raw) - offset - 2, _COPY_ROW.itemsize)  # 2: the trailer
    if rest:
        raise ValueError("unexpected COPY row layout")
    rows = np.frombuffer(raw, dtype=_COPY_ROW, count=count, offset=offset)
    if count and not (rows["n"] == 7).all():
        raise ValueError("unexpected COPY field count")
    times = pg_epoch_seconds(rows["t"].astype(np.int64)) * 1_000_000_000
    columns = [rows[f"c{k}"].astype(np.float64) for k in range(1, 6)]
    return _split_by_coin(crypto_ids, rows["id"].astype(np.int64), times, columns)


def _prices_load_sqlite(*, crypto_ids: Sequence[int], interval: str) -> dict[int, PriceSeries]:
    marks = ", ".join(["%s"] * len(crypto_ids))
    sql = (
        "SELECT crypto_id, CAST(strftime('%%s', datetime) AS INTEGER), CAST(open_price AS REAL), "
        "CAST(high_price AS REAL), CAST(low_price AS REAL), CAST(close_price AS REAL), CAST(volume AS REAL) "
        f"FROM crypto_prices WHERE crypto_id IN ({marks}) AND interval_type = %s ORDER BY crypto_id, datetime"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*[int(c) for c in crypto_ids], interval])
        rows = cursor.fetchall()
    if not rows:
        return _split_by_coin(crypto_ids, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), [])
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    times = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)) * 1_000_000_000
    values = np.array([r[2:] for r in rows], dtype=np.float64)  # None (no volume) becomes nan
    return _split_by_coin(crypto_ids, ids, times, [values[:, k] for k in range(5)])


def _prices_load_stored_many(*, crypto_ids: Sequence[int], interval: str) -> dict[int, PriceSeries]:
    """The stored bars of several coins at one interval, in one statement."""
    if not crypto_ids:
        return {}
    if connection.vendor == "postgresql":
        return _prices_load_postgresql(crypto_ids=crypto_ids, interval=interval)
    return _prices_load_sqlite(crypto_ids=crypto_ids, interval=interval)


def prices_derived_load(*, crypto_id: int, interval: str) -> PriceSeries | None:
    """The coin's `interval` bars aggregated from its finest stored finer interval; None if it has none.

    (aggregate.py: UTC-aligned buckets, incomplete buckets at either end left out.)
    """
    sources = derivable_from(interval)
    if not sources:
        return None
    stored = set(
        Price.objects.filter(crypto_id=crypto_id, interval_type__in=sources)
        .order_by()
        .values_list("interval_type", flat=True)
        .distinct()
    )
    source = next((s for s in sources if s in stored), None)
    if source is None:
        return None
    fine = _prices_load_stored_many(crypto_ids=[crypto_id], interval=source)[int(crypto_id)]
    columns = ohlcv_aggregate(
        fine.times, fine.open, fine.high, fine.low, fine.close, fine.volume, source=source, target=interval
    )
    return PriceSeries(*columns)


def _prices_rows_load_many(*, crypto_ids: Sequence[int], interval: str) -> dict[int, PriceSeries]:
    """Every bar of several coins at one interval from their rows, as float64 arrays: the stored
    ones of all the coins in one statement (raw SQL casting to float: Decimal conversion through
    the ORM is several times slower). A coin without stored bars of `interval` gets them derived
    from a finer stored interval: stored bars win."""
    loaded = _prices_load_stored_many(crypto_ids=crypto_ids, interval=interval)
    for crypto_id, series in loaded.items():
        if not len(series) and derivable_from(interval):
            loaded[crypto_id] = prices_derived_load(crypto_id=crypto_id, interval=interval) or series
    return loaded


def prices_load_many(
    *, crypto_ids: Sequence[int], interval: str, versions: Mapping[int, str] | None = None
) -> dict[int, PriceSeries]:
    """Every bar of several coins at one interval from the database (derived when none is stored).

    With `versions` (the coins' `prices_version`, read before): 1. the packs stamped with those
    versions, in one query; 2. the other coins from their rows, in one statement; 3. those packed
    under their version, if it is still the coin's (`_packs_store`). Without: from the rows only.
    """
    if versions is None:
        return _prices_rows_load_many(crypto_ids=crypto_ids, interval=interval)
    ids = [int(c) for c in crypto_ids]
    loaded = _packs_get_many(crypto_ids=[c for c in ids if c in versions], interval=interval, versions=versions)
    rest = [c for c in ids if c not in loaded]
    if rest:
        rows = _prices_rows_load_many(crypto_ids=rest, interval=interval)
        _packs_store(interval=interval, series={c: rows[c] for c in rest if c in versions}, versions=versions)
        loaded.update(rows)
    return loaded


_PACKS_REFRESH_COINS = 64


def prices_packs_store(*, interval: str, series: Mapping[int, PriceSeries], versions: Mapping[int, str]) -> None:
    """Pack series a writer holds in memory (the whole stored series of each coin, as a read of its
    rows would give it) under the version its write gave the coin: written only where the coin
    still has that version (`_packs_store`)."""
    _packs_store(interval=interval, series=series, versions=versions)


def prices_packs_refresh(*, crypto_ids: Iterable[int], interval: str) -> None:
    """Pack these coins' series of `interval` under their current version, unless already packed:
    the read a write of their bars makes after it commits (services.prices_bulk_upsert), so that
    the next read missing the caches takes the packs."""
    ids = sorted({int(c) for c in crypto_ids})
    for k in range(0, len(ids), _PACKS_REFRESH_COINS):  # a bounded read at a time, however big the import
        chunk = ids[k : k + _PACKS_REFRESH_COINS]
        prices_load_many(crypto_ids=chunk, interval=interval, versions=_versions_get_many(chunk, interval))


# --- The packs: one row per coin and interval ----------------------------------------------------------


def _packs_rows_postgresql(*, crypto_ids: Sequence[int], interval: str, versions: Sequence[str]):
    """(coin id, version, packed bytes) of the packs asked for: a binary COPY, so the packed bytes
    come as they are stored (a plain SELECT sends bytea as hex text, twice the bytes, and decodes it)."""
    raw, pos = _copy_out(
        "SELECT crypto_id::int8, version, bars FROM crypto_price_packs "
        "WHERE crypto_id = ANY(%s) AND interval_type = %s AND version = ANY(%s)",
        [list(crypto_ids), str(interval), list(versions)],
    )
    out = []
    while True:
        (fields,) = struct.unpack_from(">h", raw, pos)
        if fields == -1:  # the trailer
            return out
        if fields != 3:
            raise ValueError("unexpected COPY field count")
        _, crypto_id, size = struct.unpack_from(">iqi", raw, pos + 2)
        pos += 18
        version = bytes(raw[pos : pos + size]).decode()
        pos += size
        (size,) = struct.unpack_from(">i", raw, pos)
        pos += 4
        out.append((crypto_id, version, bytes(raw[pos : pos + size])))  # its own bytes: the buffer is freed
        pos += size


def _packs_get_many(*, crypto_ids: Sequence[int], interval: str, versions: Mapping[int, str]) -> dict[int, PriceSeries]:
    """The series of the coins whose pack is stamped with the version given, in one query; a pack
    with any other stamp (a write since it was made) is left out: the caller reads the rows."""
    if not crypto_ids:
        return {}
    wanted = [versions[c] for c in crypto_ids]
    if connection.vendor == "postgresql":
        rows = _packs_rows_postgresql(crypto_ids=crypto_ids, interval=interval, versions=wanted)
    else:
        rows = PricePack.objects.filter(crypto_id__in=list(crypto_ids), interval_type=interval, version__in=wanted)
        rows = rows.order_by().values_list("crypto_id", "version", "bars")
    out = {}
    for crypto_id, version, blob in rows:
        if versions.get(crypto_id) == version:
            try:
                out[crypto_id] = PriceSeries.from_bytes(blob if isinstance(blob, bytes) else bytes(blob))
            except (ValueError, struct.error):  # not a pack this code wrote: read the rows instead
                logger.warning("Price pack of coin %s (%s) unreadable; reading its rows", crypto_id, interval)
    return out


# One row of the binary COPY into _pack_incoming: field count, (length, int8 coin id), (length, version).
_PACK_COPY_ROW = struct.Struct(">hiqi")


def _packs_store(*, interval: str, series: Mapping[int, PriceSeries], versions: Mapping[int, str]) -> None:
    """Pack series read from the rows under the version read before them, for each coin whose row
    still holds that version when the pack is written (one statement checks and writes: a write of
    the bars since then has a new version, and its bars are left to the next read to pack). A pack
    already of that version (another reader's) is not written again.

    The packs are a copy, never the only one: a failure here (a lock, a read-only database) is
    logged and the read goes on with what it read."""
    ids = sorted(c for c in series if c in versions)
    if not ids:
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for k in range(0, len(ids), _PACKS_REFRESH_COINS):  # a bounded statement at a time
                items = [(c, versions[c], series[c].to_bytes()) for c in ids[k : k + _PACKS_REFRESH_COINS]]
                if connection.vendor == "postgresql":
                    _packs_store_postgresql(cursor, interval=interval, items=items)
                    continue
                cursor.executemany(
                    "INSERT INTO crypto_price_packs (crypto_id, interval_type, version, bars) "
                    "SELECT id, %s, prices_version, %s FROM cryptocurrencies WHERE id = %s AND prices_version = %s "
                    "ON CONFLICT (crypto_id, interval_type) DO UPDATE SET version = excluded.version, "
                    "bars = excluded.bars WHERE crypto_price_packs.version IS NOT excluded.version",
                    [(interval, blob, c, version) for c, version, blob in items],
                )
    except DatabaseError:
        logger.warning("Price packs of %d coin(s) (%s) not stored", len(ids), interval, exc_info=True)


def _packs_store_postgresql(cursor, *, interval: str, items: Sequence[tuple[int, str, bytes]]) -> None:
    """Binary COPY into a temporary table, then one INSERT ... SELECT joined to the coins' rows on
    the version, ON CONFLICT DO UPDATE (bytea parameters would go as hex text, twice the bytes)."""
    parts = [_COPY_SIGNATURE, struct.pack(">ii", 0, 0)]
    for crypto_id, version, blob in items:
        text = version.encode()
        parts += [_PACK_COPY_ROW.pack(3, 8, crypto_id, len(text)), text, struct.pack(">i", len(blob)), blob]
    parts.append(b"\xff\xff")
    cursor.execute("DROP TABLE IF EXISTS _pack_incoming")
    cursor.execute("CREATE TEMPORARY TABLE _pack_incoming (crypto_id int8, version text, bars bytea) ON COMMIT DROP")
    with connection.wrap_database_errors:
        cursor.copy_expert("COPY _pack_incoming FROM STDIN WITH (FORMAT binary)", io.BytesIO(b"".join(parts)))
    # ORDER BY: every writer locks the packs in the same order, so two never deadlock.
    cursor.execute(
        "INSERT INTO crypto_price_packs (crypto_id, interval_type, version, bars) "
        "SELECT i.crypto_id, %s, i.version, i.bars FROM _pack_incoming i "
        "JOIN cryptocurrencies c ON c.id = i.crypto_id AND c.prices_version = i.version ORDER BY i.crypto_id "
        "ON CONFLICT (crypto_id, interval_type) DO UPDATE SET version = excluded.version, bars = excluded.bars "
        "WHERE crypto_price_packs.version IS DISTINCT FROM excluded.version",  # a pack of that version is kept
        [interval],
    )
    cursor.execute("DROP TABLE _pack_incoming")


def prices_load(*, crypto_id: int, interval: str) -> PriceSeries:
    """Every bar of one coin and interval from the database (derived when none is stored)."""
    return prices_load_many(crypto_ids=[crypto_id], interval=interval)[int(crypto_id)]


def _versions_get_many(crypto_ids: Sequence[int], interval: str) -> dict[int, str]:
    """The versions of several coins' series, in one query (an indexed read of their rows): the
    database's, never a cache's, so no cache setting or outage can make a read miss an import."""
    # Written out: every job asks it once, and the ORM's compilation of it cost more than the answer.
    ids = [int(c) for c in crypto_ids]
    quote, meta = connection.ops.quote_name, Cryptocurrency._meta
    table, version = quote(meta.db_table), quote(meta.get_field("prices_version").column)
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote(meta.pk.column)}, {version} FROM {table} WHERE {quote(meta.pk.column)} IN ({marks})", ids
        )
        return dict(cursor.fetchall())


class SeriesMemo:
    """This process's most recently used series, by their versioned cache key, at most `max_bytes`
    of them (least recently used dropped first). A key names one version of one series, so an
    entry is never stale: an import changes the version and the next read misses."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[PriceSeries, int]] = OrderedDict()
        self._bytes = 0

    def get_many(self, keys: Sequence[str]) -> dict[str, PriceSeries]:
        found = {}
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    found[key] = entry[0]
        return found

    def set_many(self, series: dict[str, PriceSeries]) -> None:
        with self._lock:
            for key, value in series.items():
                size = 48 * len(value)
                if size > self.max_bytes:
                    continue
                old = self._entries.pop(key, None)
                if old is not None:
                    self._bytes -= old[1]
                self._entries[key] = (value, size)
                self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, size) = self._entries.popitem(last=False)
                self._bytes -= size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


series_memo = SeriesMemo(settings.PRICE_MEMORY_CACHE_MB * 1024 * 1024)


def _series_cached_get_many(keys: Sequence[str]) -> dict[str, PriceSeries]:
    """The series cached under these versioned keys: this process's memo first, then the shared
    cache in one round trip (what it returns joins the memo)."""
    found = series_memo.get_many(keys)
    wanted = [key for key in keys if key not in found]
    shared = {}
    for key, blob in (cache_guard.call(cache.get_many, wanted) or {}).items() if wanted else ():
        try:
            shared[key] = PriceSeries.from_bytes(blob)
        except (ValueError, struct.error):
            pass
    series_memo.set_many(shared)
    return {**found, **shared}


def _series_cache_set_many(series: dict[str, PriceSeries]) -> None:
    """Cache series loaded from the database under their versioned keys (shared cache and memo)."""
    if series:
        cache_guard.call(cache.set_many, {key: s.to_bytes() for key, s in series.items()}, settings.PRICE_CACHE_TTL)
        series_memo.set_many(series)


def prices_get_many(
    *,
    crypto_ids: Sequence[int],
    interval: str = "1h",
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> dict[int, PriceSeries]:
    """The bars of several coins with start <= datetime <= end, through the cache, in the order given.

    1. Read the coins' versions from the database in one query; 2. read every cached series (this process's
    memo, then the shared cache in one round trip: `get_many`); 3. load the misses from the
    database (their packs of that version in one query, the others' rows in one statement) and
    cache each under the version read in step 1 (an import that lands meanwhile bumps the version,
    so the older copy is never served); 4. cut the requested window.
    """
    ids = [int(c) for c in crypto_ids]
    versions = _versions_get_many(ids, interval) if ids else {}
    keys = {_series_key(c, interval, versions[c]): c for c in ids if c in versions}
    series = {keys[key]: s for key, s in (_series_cached_get_many(list(keys)) if keys else {}).items()}
    misses = [c for c in ids if c not in series]
    if misses:
        loaded = prices_load_many(crypto_ids=misses, interval=interval, versions=versions)
        series.update(loaded)
        _series_cache_set_many({_series_key(c, interval, versions[c]): loaded[c] for c in misses if c in versions})
    return {c: series[c].window(start=start, end=end) for c in ids}


def prices_get(
    *, crypto_id: int, interval: str = "1h", start: dt.datetime | None = None, end: dt.datetime | None = None
) -> PriceSeries:
    """The bars of one coin with start <= datetime <= end, through the cache (see prices_get_many)."""
    return prices_get_many(crypto_ids=[crypto_id], interval=interval, start=start, end=end)[int(crypto_id)]


def coin_get(*, symbol: str) -> Cryptocurrency | None:
    """The coin with this symbol, in any case; None if there is none.

    A text no stored symbol can be (longer than the column, or holding a NUL character,
    which PostgreSQL refuses in any string) is None without a query.
    """
    if len(symbol) > Cryptocurrency._meta.get_field("symbol").max_length or "\x00" in symbol:
        return None
    return Cryptocurrency.objects.filter(symbol__iexact=symbol).first()


@dataclass(frozen=True)
class CoinRef:
    id: int
    symbol: str
    name: str
    is_demo: bool


def coins_with_bars(
    *,
    interval: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    symbols: Sequence[str] | None = None,
) -> list[CoinRef]:
    """Active coins that have at least one bar of `interval` in [start, end], stored or derived, by symbol.

    A coin with stored bars of `interval` is judged by those (stored bars win); one without, by its
    derived series (aggregate.py), which is loaded (and cached) to see whether a complete bucket
    falls in the window.
    """

    def bars(intervals: list[str], *, window: bool = True):
        qs = Price.objects.filter(crypto=OuterRef("pk"), interval_type__in=intervals)
        if window and start is not None:
            qs = qs.filter(datetime__gte=start)
        if window and end is not None:
            qs = qs.filter(datetime__lte=end)
        return Exists(qs)

    qs = Cryptocurrency.objects.active().annotate(stored=bars([interval]))
    if symbols:
        qs = qs.filter(symbol__in=list(symbols))
    coins = list(qs.order_by("symbol"))
    # Only the coins with no stored bars in the window are asked more: whether they have none of
    # `interval` at all (stored bars win), then whether they have finer bars to derive it from. Both
    # questions read many index entries per coin (or, with stale statistics, the whole table), so
    # they are never asked of every coin.
    bare = [c.id for c in coins if not c.stored]
    sources = list(derivable_from(interval))
    fine = set()
    if bare and sources:
        candidates = Cryptocurrency.objects.filter(id__in=bare).exclude(bars([interval], window=False))
        fine = set(candidates.filter(bars(sources)).values_list("id", flat=True))
    return [
        CoinRef(c.id, c.symbol, c.name, c.is_demo)
        for c in coins
        if c.stored or (c.id in fine and len(prices_get(crypto_id=c.id, interval=interval, start=start, end=end)))
    ]
