"""Writes of market data: the bulk price upsert, the file importer and the demo universe.

All three share `prices_bulk_upsert`, the one fast write path: on PostgreSQL, binary COPY built by
numpy (numerics included) of the bars not already stored as they are, straight into the table when none
of the coin's bars lies in their span, else through a temporary table and an UPDATE and an INSERT;
executemany of an upsert on SQLite. An unchanged bar is not rewritten, so re-importing a file changes
nothing. In the same transaction, each coin written gets a new version of its series
(market_data.selectors), so no stale series is ever served.
"""

from __future__ import annotations

import datetime as dt
import glob
import io
import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from . import demo
from .formats import (
    PRICE_SUFFIXES,
    FileBars,
    duration_text,
    empty_frame,
    read_price_file,
    spacing_seconds,
    symbol_from_pair,
)
from .models import INTERVAL_SECONDS, INTERVALS, SYMBOL_RE, Cryptocurrency, Price
from .parsing import PriceBar, PriceFileError, RowError, bars_from_frame
from .quality import quality_report
from .selectors import (
    PG_EPOCH_US,
    PriceSeries,
    pg_epoch_seconds,
    prices_load,
    prices_packs_refresh,
    prices_packs_store,
    prices_versions_bump,
)

if TYPE_CHECKING:
    from .exchange import PairReport

logger = logging.getLogger(__name__)

# How many bad rows a refusal or a skip report lists.
REPORTED_ERRORS = 10

_COLUMNS = "crypto_id, datetime, open_price, high_price, low_price, close_price, volume, interval_type"
_UPDATE = (
    "open_price = excluded.open_price, high_price = excluded.high_price, low_price = excluded.low_price, "
    "close_price = excluded.close_price, volume = excluded.volume"
)


class PriceImportError(Exception):
    """A file was refused; nothing was written. The message lists the first bad rows."""


@dataclass
class ImportReport:
    symbol: str
    interval: str
    rows: int = 0  # good rows read from the files
    written: int = 0  # bars inserted or changed
    skipped: list[tuple[str, RowError]] = field(default_factory=list)  # (file, error) with --skip-invalid
    created: bool = False
    replaced_demo: bool = False
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class DemoReport:
    loaded: list[str] = field(default_factory=list)
    kept_real: list[str] = field(default_factory=list)  # symbols held by imported coins, left alone
    rows: int = 0
    seconds: float = 0.0
    skipped_not_empty: bool = False

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def bars_frame(bars: Sequence[PriceBar] | pd.DataFrame) -> pd.DataFrame:
    """Bars as a frame of formats.FRAME_COLUMNS (time int64 ns UTC, floats, NaN volume for none)."""
    if isinstance(bars, pd.DataFrame):
        return bars
    if not bars:
        return empty_frame()
    frame = pd.DataFrame(list(bars), columns=["time", "open", "high", "low", "close", "volume"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]").array.asi8
    frame["volume"] = frame["volume"].astype(np.float64)
    return frame


# PostgreSQL's binary COPY: a header, then per row a field count and (length, value) per field.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = b"\xff\xff"
# A numeric(20, 8) in binary: digit count, weight of the first digit, sign, display scale, then base-10000
# digits. Always five digits: three for the integer part (values are below 10^12), two for the 8 decimals;
# PostgreSQL strips the zero ones, so the stored value is the one '...'::numeric(20, 8) gives.
_NUMERIC = np.dtype([("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">u2"), ("dscale", ">u2"), ("digits", ">i2", 5)])
_PRICE_FIELDS = ("open", "high", "low", "close", "volume")
_DECIMAL_8 = Decimal("1e-8")


def _copy_row_dtype(interval: str) -> np.dtype:
    """One row of `_COLUMNS, created_at` in binary COPY: each field is its byte length, then its value."""
    fields = [("n", ">i2"), ("l_crypto", ">i4"), ("crypto", ">i8"), ("l_time", ">i4"), ("time", ">i8")]
    fields += [f for name in _PRICE_FIELDS for f in ((f"l_{name}", ">i4"), (name, _NUMERIC))]
    fields += [("l_interval", ">i4"), ("interval", f"S{len(interval.encode())}"), ("l_created", ">i4")]
    return np.dtype([*fields, ("created", ">i8")])


def numeric_scaled(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative floats as numeric(20, 8) stores them: (integer part, the 8 decimals as an integer).

    The value is PostgreSQL's `x::text::numeric(20, 8)`: the shortest text that reads back as the same
    float (Python's repr), rounded half away from zero to 8 decimals. numpy computes it from the float;
    where the float cannot tell which way the text rounds (its 9th decimal on a 5, or too few bits
    left for 8 decimals: values above about 3e7), the text itself is rounded, one value at a time.
    """
    whole = np.floor(values)
    scaled = (values - whole) * 1e8  # values - whole is exact; the product is off by at most 2**-26
    floor = np.floor(scaled)
    rest = scaled - floor
    decimals = (floor + (rest >= 0.5)).astype(np.int64)
    whole = whole.astype(np.int64)
    carry = decimals >= 100_000_000
    whole[carry] += 1
    decimals[carry] -= 100_000_000
    # The text is within half a float step of the float: `rest` is off by at most 1e8 * spacing / 2 + 2**-27.
    unsure = np.flatnonzero(np.abs(rest - 0.5) <= np.spacing(values) * 5e7 + 1e-8)
    if len(unsure):
        exact = [
            divmod(int(Decimal(repr(v)).quantize(_DECIMAL_8, rounding=ROUND_HALF_UP).scaleb(8)), 100_000_000)
            for v in values[unsure].tolist()
        ]
        whole[unsure], decimals[unsure] = np.array(exact, dtype=np.int64).reshape(-1, 2).T
    return whole, decimals


def _bars_scaled(frame: pd.DataFrame) -> np.ndarray:
    """The bars' five numerics as numeric(20, 8) stores them, (integer part, 8 decimals) each: an (n, 10)
    int64 array; a bar without volume has (-1, 0) for it."""
    scaled = np.empty((len(frame), 2 * len(_PRICE_FIELDS)), dtype=np.int64)
    for k, name in enumerate(_PRICE_FIELDS):
        values = frame[name].to_numpy(dtype=np.float64)
        missing = np.isnan(values)  # only volumes: the parser refuses a missing price
        scaled[:, 2 * k], scaled[:, 2 * k + 1] = numeric_scaled(np.where(missing, 0.0, values))
        scaled[missing, 2 * k : 2 * k + 2] = (-1, 0)
    return scaled


def _copy_binary(*, crypto_id: int, interval: str, created_us: int, times_us: np.ndarray, scaled: np.ndarray) -> bytes:
    """Bars (times in Unix µs, `_bars_scaled`) as binary COPY rows of `_COLUMNS, created_at`, built by numpy.

    A bar without volume gets a NULL (length -1 and no value): its value's bytes are cut out.
    """
    dtype = _copy_row_dtype(interval)
    rows = np.empty(len(times_us), dtype=dtype)
    rows["n"] = 9
    rows["l_crypto"] = rows["l_time"] = rows["l_created"] = 8
    rows["crypto"] = crypto_id
    rows["time"] = times_us - PG_EPOCH_US
    for k, name in enumerate(_PRICE_FIELDS):
        whole, decimals = scaled[:, 2 * k], scaled[:, 2 * k + 1]
        rows[f"l_{name}"] = _NUMERIC.itemsize
        value = rows[name]
        value["ndigits"], value["weight"], value["sign"], value["dscale"] = 5, 2, 0, 8
        value["digits"] = np.stack(
            [whole // 10**8, whole // 10**4 % 10**4, whole % 10**4, decimals // 10**4, decimals % 10**4], axis=1
        )
    rows["l_interval"] = dtype["interval"].itemsize
    rows["interval"] = interval.encode()
    rows["created"] = created_us
    missing = scaled[:, -2] < 0
    if not missing.any():
        return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER
    rows["l_volume"][missing] = -1
    raw = rows.view(np.uint8).reshape(len(rows), dtype.itemsize)
    keep = np.ones(raw.shape, dtype=bool)
    start = dtype.fields["volume"][1]
    keep[missing, start : start + _NUMERIC.itemsize] = False
    return _COPY_HEADER + raw[keep].tobytes() + _COPY_TRAILER


# The stored bars read back for the comparison: the time, then (integer part, 8 decimals) of each numeric, all int8.
_STORED_ROW = np.dtype(
    [("n", ">i2"), ("l_time", ">i4"), ("time", ">i8")] + [(f"c{k}", [("l", ">i4"), ("v", ">i8")]) for k in range(10)]
)
_STORED_COLUMNS = (
    ", ".join(
        f"trunc({c})::int8, (({c} - trunc({c})) * 100000000)::int8"
        for c in ("open_price", "high_price", "low_price", "close_price")
    )
    + ", COALESCE(trunc(volume)::int8, -1), COALESCE(((volume - trunc(volume)) * 100000000)::int8, 0)"
)


def _stored_scaled(
    cursor, *, crypto_id: int, interval: str, first: dt.datetime, last: dt.datetime
) -> tuple[np.ndarray, np.ndarray]:
    """The stored bars of the coin and interval from first to last: (times in Unix µs, as `_bars_scaled`)."""
    query = cursor.mogrify(
        f"COPY (SELECT datetime, {_STORED_COLUMNS} FROM crypto_prices WHERE crypto_id = %s AND interval_type = %s "
        "AND datetime >= %s AND datetime <= %s) TO STDOUT WITH (FORMAT binary)",
        [crypto_id, interval, first, last],
    )
    out = io.BytesIO()
    with connection.wrap_database_errors:
        cursor.copy_expert(query.decode(), out)
    raw = out.getbuffer()
    header = len(_COPY_HEADER)
    rows = np.frombuffer(raw, dtype=_STORED_ROW, count=(len(raw) - header - 2) // _STORED_ROW.itemsize, offset=header)
    return rows["time"] + PG_EPOCH_US, np.stack([rows[f"c{k}"]["v"] for k in range(10)], axis=1)


# Below this integer part, a numeric(20, 8) scaled to an integer (x 10^8) is exact in a float64, so
# dividing it by 10^8 rounds once, correctly: the float PostgreSQL's `::float8` gives (its text, read).
_SCALED_EXACT_WHOLE = 2**53 // 10**8


def _series_scaled(times_us: np.ndarray, scaled: np.ndarray) -> PriceSeries:
    """The bars (Unix µs, `_bars_scaled`) as a read of their stored rows gives them back: the floats of
    the numerics (correctly rounded, as PostgreSQL's float8 of a numeric), NaN for a missing volume."""
    order = np.argsort(times_us, kind="stable")
    times_us, scaled = times_us[order], scaled[order]
    columns = []
    for k in range(len(_PRICE_FIELDS)):
        whole, decimals = scaled[:, 2 * k], scaled[:, 2 * k + 1]
        values = (whole * 10**8 + decimals).astype(np.float64) / 1e8
        big = np.flatnonzero(whole >= _SCALED_EXACT_WHOLE)
        if len(big):  # beyond float64's exact integers: the numeric's text, read as a float
            values[big] = [
                float(f"{w}.{d:08d}") for w, d in zip(whole[big].tolist(), decimals[big].tolist(), strict=True)
            ]
        values[whole < 0] = np.nan  # (-1, 0): no volume
        columns.append(values)
    return PriceSeries(pg_epoch_seconds(times_us - PG_EPOCH_US) * 1_000_000_000, *columns)  # as a read rounds them


def _upsert_postgresql(*, crypto_id: int, interval: str, frame: pd.DataFrame) -> tuple[int, PriceSeries | None]:
    """Write the bars by binary COPY (numerics built here, no cast in the database): how many were
    written, and, when they are all the coin's bars of the interval (none was stored before), the
    series a read of them will give (packed from memory after the commit, not read back).

    1. Read back the stored bars of the coin and interval between the first and the last new one, and
       keep only the new bars that are not stored as they are: a re-import writes nothing at all.
    2. When none was stored (a new coin, or bars after or before the stored ones), COPY straight into
       the table, in a savepoint: if a bar was written meanwhile by another writer, fall back to 3.
    3. Else COPY into a temporary table; one UPDATE of the stored bars that differ, one INSERT of the
       new ones (ON CONFLICT DO UPDATE, for a bar written meanwhile).
    """
    times_us = frame["time"].to_numpy() // 1000
    first, last = (
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(t))
        for t in (times_us.min(), times_us.max())
    )
    scaled = _bars_scaled(frame)
    with connection.cursor() as cursor:
        stored_times, stored = _stored_scaled(cursor, crypto_id=crypto_id, interval=interval, first=first, last=last)
        if len(stored_times):
            order = np.argsort(stored_times, kind="stable")
            stored_times, stored = stored_times[order], stored[order]
            at = np.minimum(np.searchsorted(stored_times, times_us), len(stored_times) - 1)
            same = (stored_times[at] == times_us) & (stored[at] == scaled).all(axis=1)
            times_us, scaled = times_us[~same], scaled[~same]
            if not len(times_us):
                return 0, None
        cursor.execute("SELECT now()")
        created_us = int((cursor.fetchone()[0] - dt.datetime(2000, 1, 1, tzinfo=dt.UTC)) / dt.timedelta(microseconds=1))
        data = _copy_binary(
            crypto_id=crypto_id, interval=interval, created_us=created_us, times_us=times_us, scaled=scaled
        )
        if not len(stored_times):
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM crypto_prices WHERE crypto_id = %s AND interval_type = %s)",
                [crypto_id, interval],
            )
            alone = not cursor.fetchone()[0]
            try:
                with transaction.atomic(), connection.wrap_database_errors:
                    cursor.copy_expert(
                        f"COPY crypto_prices ({_COLUMNS}, created_at) FROM STDIN WITH (FORMAT binary)", io.BytesIO(data)
                    )
                return len(times_us), _series_scaled(times_us, scaled) if alone else None
            except IntegrityError:
                pass  # a bar of these times was stored meanwhile: the upsert below
        cursor.execute("DROP TABLE IF EXISTS _price_upsert")
        cursor.execute(
            "CREATE TEMPORARY TABLE _price_upsert (crypto_id bigint, datetime timestamptz, open_price numeric(20, 8), "
            "high_price numeric(20, 8), low_price numeric(20, 8), close_price numeric(20, 8), volume numeric(20, 8), "
            "interval_type varchar(10), created_at timestamptz) ON COMMIT DROP"
        )
        with connection.wrap_database_errors:
            cursor.copy_expert(
                f"COPY _price_upsert ({_COLUMNS}, created_at) FROM STDIN WITH (FORMAT binary)", io.BytesIO(data)
            )
        distinct = (
            "({t}.open_price, {t}.high_price, {t}.low_price, {t}.close_price, {t}.volume) IS DISTINCT FROM "
            "({n}.open_price, {n}.high_price, {n}.low_price, {n}.close_price, {n}.volume)"
        )
        # Imports of a coin take turns (the coin row's lock, _coin_lock), so these bars have one writer.
        cursor.execute(
            f"UPDATE crypto_prices p SET {_UPDATE.replace('excluded.', 'u.')} FROM _price_upsert u "
            "WHERE p.crypto_id = %s AND p.interval_type = %s AND p.datetime = u.datetime AND "
            + distinct.format(t="p", n="u"),
            [crypto_id, interval],
        )
        written = cursor.rowcount
        # ORDER BY: every writer inserts the bars of a coin in the same order, so two never deadlock.
        cursor.execute(
            f"INSERT INTO crypto_prices ({_COLUMNS}, created_at) SELECT {_COLUMNS}, created_at FROM _price_upsert u "
            "WHERE NOT EXISTS (SELECT 1 FROM crypto_prices p WHERE p.crypto_id = %s AND p.interval_type = %s "
            "AND p.datetime = u.datetime) ORDER BY datetime "
            f"ON CONFLICT (crypto_id, datetime, interval_type) DO UPDATE SET {_UPDATE} WHERE "
            + distinct.format(t="crypto_prices", n="excluded"),
            [crypto_id, interval],
        )
        written += cursor.rowcount
        cursor.execute("DROP TABLE _price_upsert")
    return written, None


def _sqlite_times(ns: np.ndarray) -> list[str]:
    """Times as Django stores them on SQLite: naive UTC text, microseconds only when there are some."""
    whole = ns % 1_000_000_000 == 0
    unit = "s" if whole.all() else "us"
    text = np.datetime_as_string(ns.astype("datetime64[ns]").astype(f"datetime64[{unit}]"), unit=unit)
    text = np.char.replace(text, "T", " ")
    if unit == "us":
        text = np.where(whole, np.char.replace(text, ".000000", ""), text)
    return text.tolist()


def _upsert_sqlite(*, crypto_id: int, interval: str, frame: pd.DataFrame) -> int:
    # Stored exactly as the ORM stores them: naive UTC text for times, 8-decimal numbers.
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    columns = [[round(x, 8) for x in frame[c].tolist()] for c in ("open", "high", "low", "close")]
    volumes = [None if v != v else round(v, 8) for v in frame["volume"].tolist()]  # v != v: NaN
    params = [
        (crypto_id, t, o, h, lo, c, v, interval, now)
        for t, o, h, lo, c, v in zip(_sqlite_times(frame["time"].to_numpy()), *columns, volumes, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO crypto_prices ({_COLUMNS}, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            f"ON CONFLICT (crypto_id, datetime, interval_type) DO UPDATE SET {_UPDATE} "
            "WHERE crypto_prices.open_price IS NOT excluded.open_price "
            "OR crypto_prices.high_price IS NOT excluded.high_price "
            "OR crypto_prices.low_price IS NOT excluded.low_price "
            "OR crypto_prices.close_price IS NOT excluded.close_price "
            "OR crypto_prices.volume IS NOT excluded.volume",
            params,
        )
        return cursor.rowcount


def _upsert_generic(*, crypto_id: int, interval: str, frame: pd.DataFrame) -> int:
    objs = [
        Price(
            crypto_id=crypto_id,
            interval_type=interval,
            datetime=b.datetime,
            open=b.open,
            high=b.high,
            low=b.low,
            close=b.close,
            volume=b.volume,
        )
        for b in bars_from_frame(frame)
    ]
    Price.objects.bulk_create(
        objs,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["crypto", "datetime", "interval_type"],
        update_fields=["open", "high", "low", "close", "volume"],
    )
    return len(objs)


def prices_bulk_upsert(*, crypto_id: int, interval: str, bars: Sequence[PriceBar] | pd.DataFrame) -> int:
    """Insert or update the bars of one coin and interval; return how many were inserted or changed.

    Bars (PriceBar tuples, or a frame of formats.FRAME_COLUMNS) must have distinct times (the parser
    guarantees it). Runs inside a transaction
    (joining the caller's), which also gives the coin's series a new version (selectors).
    """
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; known: {', '.join(INTERVALS)}")
    frame = bars_frame(bars)
    if not len(frame):
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            written, series = _upsert_postgresql(crypto_id=crypto_id, interval=interval, frame=frame)
        else:
            upsert = _upsert_sqlite if connection.vendor == "sqlite" else _upsert_generic
            written, series = upsert(crypto_id=crypto_id, interval=interval, frame=frame), None
        if written:  # in the same transaction: every process sees the new bars and their version together
            version = prices_versions_bump(crypto_ids=[crypto_id])
            _packs_refresh_on_commit(crypto_id=crypto_id, interval=interval, series=series, version=version)
    return written


# The (coin, interval) series written by this thread's transaction, packed once it commits:
# (the series in memory or None, the version the write gave the coin) by (coin id, interval).
_packs_pending = threading.local()


def _packs_refresh_on_commit(*, crypto_id: int, interval: str, series: PriceSeries | None, version: str) -> None:
    """Once the transaction commits, pack the series it wrote, so the next read that misses the
    caches takes one row per coin: from memory where the write holds the whole series, else by one
    read of their rows per interval (selectors.prices_packs_refresh). Only a head start: a read that
    finds no current pack reads the rows and packs them itself."""
    pending = _packs_pending.__dict__.setdefault("series", {})
    pending[(int(crypto_id), interval)] = (series, version)
    transaction.on_commit(_packs_refresh_pending, robust=True)  # the first to run packs them all


def _packs_refresh_pending() -> None:
    """A series from memory is packed only when the coin still has the version its write gave it:
    a later write in the same transaction (another interval of the coin: the version is the coin's),
    one rolled back with its savepoint, or another writer's since the commit each leave it to the rows."""
    pending = _packs_pending.__dict__.pop("series", {})
    if not pending:
        return
    current = dict(Cryptocurrency.objects.filter(id__in={c for c, _ in pending}).values_list("id", "prices_version"))
    for interval in sorted({i for _, i in pending}):
        held = {c: s for (c, i), (s, v) in pending.items() if i == interval and s is not None and current.get(c) == v}
        if held:
            prices_packs_store(interval=interval, series=held, versions={c: current[c] for c in held})
        rest = [c for (c, i) in pending if i == interval and c not in held]
        if rest:
            prices_packs_refresh(crypto_ids=rest, interval=interval)


def prices_packs_build() -> tuple[int, float]:
    """Pack every coin's stored series (coin x interval) that has no pack of the coin's current
    version, a bounded read at a time (selectors.prices_packs_refresh): what the first read
    missing the caches would do, done ahead. Returns the series checked and the seconds taken."""
    started = time.perf_counter()
    pairs = Price.objects.order_by().values_list("interval_type", "crypto_id").distinct()
    by_interval: dict[str, list[int]] = {}
    for interval, crypto_id in pairs:
        by_interval.setdefault(interval, []).append(crypto_id)
    for interval, ids in sorted(by_interval.items()):
        prices_packs_refresh(crypto_ids=ids, interval=interval)
    return sum(len(ids) for ids in by_interval.values()), time.perf_counter() - started


def row_errors_format(errors: Sequence[tuple[str, RowError]], total: int) -> str:
    lines = [f"  {name} {err}" for name, err in errors[:REPORTED_ERRORS]]
    if total > REPORTED_ERRORS:
        lines.append(f"  ... and {total - REPORTED_ERRORS} more")
    return "\n".join(lines)


def price_paths_expand(paths: Sequence[Path | str]) -> list[Path]:
    """Files, folders (their price files, sorted) and globs, in the order given; refuses what matches nothing."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(PRICE_SUFFIXES))
            if not files:
                raise PriceImportError(f"{path}: the folder holds no price file ({', '.join(PRICE_SUFFIXES)})")
            found.extend(files)
        elif not path.exists() and glob.has_magic(str(raw)):
            files = sorted(Path(p) for p in glob.glob(str(raw)) if Path(p).is_file())
            if not files:
                raise PriceImportError(f"{raw}: no file matches the pattern")
            found.extend(files)
        else:
            found.append(path)
    return found


@dataclass
class _Group:
    """The files of one coin and interval in one import."""

    symbol: str
    interval: str
    parts: list[FileBars] = field(default_factory=list)


def _file_interval(part: FileBars, *, interval: str | None) -> str:
    """The interval of a file's bars: given, else the name's, else the spacing's; a mismatch is refused.

    1. The spacing is the most common distance between consecutive bars (gaps do not change it).
    2. Given or named interval: it must equal the spacing, or the bars are not what it says.
    3. Neither: the spacing must be one of INTERVALS.
    """
    step = spacing_seconds(part.frame["time"].to_numpy())
    claimed, source = (interval, "--interval") if interval else (part.interval, "the file name")
    if claimed not in INTERVALS:
        claimed = None
    if claimed is not None:
        if step is not None and step != INTERVAL_SECONDS[claimed]:
            raise PriceImportError(
                f"{part.name}: the bars are {duration_text(step)} apart but {source} says {claimed}; "
                "nothing was imported"
            )
        return claimed
    if step is None:
        return "1h"  # one bar: nothing to check it against
    by_seconds = {seconds: name for name, seconds in INTERVAL_SECONDS.items()}
    if step not in by_seconds:
        raise PriceImportError(
            f"{part.name}: the bars are {duration_text(step)} apart, which is none of the intervals "
            f"{', '.join(INTERVALS)}; nothing was imported"
        )
    return by_seconds[step]


def _read_files(
    paths: Sequence[Path], *, symbol: str | None, interval: str | None, quote: str | None, fmt: str
) -> list[_Group]:
    """Read every file and group them by (coin, interval), in the order first seen."""
    groups: dict[tuple[str, str], _Group] = {}
    for path in paths:
        try:
            parts = read_price_file(path, fmt=fmt)
        except PriceFileError as exc:
            raise PriceImportError(f"{path}: {exc}; nothing was imported") from None
        except OSError as exc:
            raise PriceImportError(f"{path}: cannot read the file ({exc}); nothing was imported") from None
        for part in parts:
            pair = symbol or part.pair
            if pair is None:
                raise PriceImportError(
                    f"{part.name}: the file name does not say the coin (as BTCUSDT-1h-2024-01.zip or "
                    "BTC_USDT-1h.json do); give --symbol; nothing was imported"
                )
            coin = symbol_from_pair(pair, quote=quote)
            key = (coin, _file_interval(part, interval=interval))
            groups.setdefault(key, _Group(*key)).parts.append(part)
    return list(groups.values())


def _group_bars(group: _Group) -> tuple[pd.DataFrame, list[tuple[str, RowError]]]:
    """The group's bars, ascending; a later file's bar replaces an earlier one at the same time."""
    frames = [p.frame for p in group.parts]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if len(frames) > 1:
        frame = frame.drop_duplicates("time", keep="last")
    frame = frame.sort_values("time", kind="stable").reset_index(drop=True)
    bad = [(part.name, err) for part in group.parts for err in part.errors]
    return frame, bad


def _symbol_check(symbol: str) -> str:
    symbol = symbol.strip().upper()
    if not SYMBOL_RE.fullmatch(symbol):
        raise PriceImportError(
            f"symbol {symbol!r} refused: 1 to 20 letters, digits, '-' or '_' (it is part of the API's URLs)"
        )
    return symbol


def _coin_lock(*, symbol: str, name: str) -> tuple[Cryptocurrency, bool]:
    """The coin row, locked until the transaction ends, created if new; (coin, created).

    The lock makes imports of one coin take turns, so each file is written whole. Two imports
    of a new coin both find no row: the second INSERT waits for the first transaction, then
    fails on the unique symbol; it does so in a savepoint, so it can read the winner's row and
    lock it instead. (SQLite needs none of this: its write transactions already take turns.)
    """
    coin = Cryptocurrency.objects.select_for_update().filter(symbol=symbol).first()
    if coin is not None:
        return coin, False
    try:
        with transaction.atomic():
            return Cryptocurrency.objects.create(symbol=symbol, name=name), True
    except IntegrityError:
        return Cryptocurrency.objects.select_for_update().get(symbol=symbol), False


def prices_import_files(
    *,
    paths: Sequence[Path | str],
    symbol: str | None = None,
    name: str | None = None,
    interval: str | None = None,
    quote: str | None = None,
    fmt: str = "auto",
    skip_invalid: bool = False,
) -> list[ImportReport]:
    """Import price files of any known format (formats.py); one report per coin and interval.

    1. Expand folders and globs; read every file (its format recognised, or `fmt`); the coin is
       `symbol` or what the file name says (a pair: see formats.symbol_from_pair, with `quote`);
       the interval is `interval` or the name's, checked against the bars' spacing, or the spacing.
    2. Any bad row refuses the whole import unless skip_invalid; nothing is written before every
       file is read and checked.
    3. In one transaction, per coin and interval: lock the coin row (create the coin if new), so
       concurrent imports of one coin take turns; if it was a demo coin, turn it into a real one and
       drop its generated bars (real data always wins); upsert the bars.
    """
    started = time.perf_counter()
    if symbol is not None:
        symbol = _symbol_check(symbol_from_pair(symbol, quote=quote))
    if name is not None and (len(name) > 100 or not name.isprintable()):
        raise PriceImportError(f"name {name!r} refused: at most 100 printable characters")
    if interval is not None and interval not in INTERVALS:
        raise PriceImportError(f"unknown interval {interval!r}; known: {', '.join(INTERVALS)}")
    groups = _read_files(price_paths_expand(paths), symbol=symbol, interval=interval, quote=quote, fmt=fmt)
    plans = []
    for group in groups:
        _symbol_check(group.symbol)
        frame, bad = _group_bars(group)
        if bad and not skip_invalid:
            raise PriceImportError(
                f"refused: {len(bad)} bad row(s); nothing was imported (use --skip-invalid to import the good rows)\n"
                + row_errors_format(bad, len(bad))
            )
        if not len(frame):
            detail = f"; {len(bad)} bad row(s):\n{row_errors_format(bad, len(bad))}" if bad else ""
            raise PriceImportError(f"no valid bars in the file(s); nothing was imported{detail}")
        plans.append((group, frame, bad))
    reports = []
    # One transaction for the whole import (one commit, all or nothing); coins locked in symbol order,
    # so two imports of several coins never deadlock.
    plans.sort(key=lambda plan: plan[0].symbol)
    with transaction.atomic():
        for group, frame, bad in plans:
            report = ImportReport(
                symbol=group.symbol,
                interval=group.interval,
                rows=len(frame),
                skipped=bad,
                files=[p.name for p in group.parts],
                formats=sorted({p.format for p in group.parts}),
            )
            _coin_import(report, name=name, frame=frame)
            reports.append(report)
    _statistics_refresh(written=sum(r.written for r in reports))
    seconds = time.perf_counter() - started
    for report in reports:  # the whole import's time: reading is shared
        report.seconds = seconds
    return reports


def _coin_import(report: ImportReport, *, name: str | None, frame: pd.DataFrame) -> None:
    with transaction.atomic():
        coin, report.created = _coin_lock(symbol=report.symbol, name=name or report.symbol)
        if coin.is_demo:
            Price.objects.filter(crypto=coin).delete()
            prices_versions_bump(crypto_ids=[coin.id])
            coin.is_demo = False
            coin.name = name or coin.name.removesuffix(" (demo)")
            coin.save(update_fields=["is_demo", "name"])
            report.replaced_demo = True
        elif name and name != coin.name:
            coin.name = name
            coin.save(update_fields=["name"])
        report.written = prices_bulk_upsert(crypto_id=coin.id, interval=report.interval, bars=frame)


def prices_import_csv(
    *,
    paths: Sequence[Path | str],
    symbol: str,
    name: str | None = None,
    interval: str | None = "1h",
    skip_invalid: bool = False,
) -> ImportReport:
    """Import files of one coin and interval (any format prices_import_files reads); its one report."""
    reports = prices_import_files(paths=paths, symbol=symbol, name=name, interval=interval, skip_invalid=skip_invalid)
    if len(reports) != 1:  # one symbol given: several intervals only without `interval`
        raise PriceImportError("the files hold bars of several intervals; give the interval")
    return reports[0]


def _statistics_refresh(*, written: int | None = None) -> None:
    """ANALYZE the price table after a bulk load, so the planner uses its index at once.

    Without it PostgreSQL plans the first backtests from an empty table's statistics. With `written`
    (the bars just inserted or changed), only when they are a tenth of the table or more, or the
    table was never analyzed: autovacuum's own rule, without waiting for it. A re-import that changed
    nothing does not pay for a scan of the table.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block or written == 0:
        return
    with connection.cursor() as cursor:
        if written is not None:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'crypto_prices'::regclass")
            (rows,) = cursor.fetchone()
            if rows >= 0 and written < 0.1 * rows:
                return
        cursor.execute("ANALYZE crypto_prices")


def demo_universe_load(
    *, count: int | None = None, symbols: Sequence[str] | None = None, if_empty: bool = False
) -> DemoReport:
    """Load the generated demo coins (hourly bars of 2024) in one transaction.

    A symbol held by an imported (non-demo) coin is left alone: real data always wins.
    With if_empty, nothing happens when the database has any coin at all.
    """
    started = time.perf_counter()
    report = DemoReport()
    coins = demo.demo_coins(count=count, symbols=list(symbols) if symbols else None)
    if if_empty and Cryptocurrency.objects.exists():
        report.skipped_not_empty = True
        return report
    times = demo.demo_times()
    with transaction.atomic():
        existing = {c.symbol: c for c in Cryptocurrency.objects.filter(symbol__in=[c.symbol for c in coins])}
        for spec in coins:
            coin = existing.get(spec.symbol)
            if coin is not None and not coin.is_demo:
                report.kept_real.append(spec.symbol)
                continue
            if coin is None:
                coin = Cryptocurrency.objects.create(symbol=spec.symbol, name=spec.demo_name, is_demo=True)
            ohlcv = demo.demo_ohlcv(spec, len(times)).tolist()
            bars = [PriceBar(t, *row) for t, row in zip(times, ohlcv, strict=True)]
            prices_bulk_upsert(crypto_id=coin.id, interval=demo.INTERVAL, bars=bars)
            report.loaded.append(spec.symbol)
            report.rows += len(bars)
    _statistics_refresh()
    report.seconds = time.perf_counter() - started
    return report


# --- from an exchange ----------------------------------------------------------------------------------------------


def prices_fetch_exchange(
    *,
    exchange_name: str,
    interval: str,
    since: dt.datetime | str,
    until: dt.datetime | str | None = None,
    pairs: Sequence[str] = (),
    top: int | None = None,
    quote: str | None = None,
    prepend: bool = False,
    api_base: str | None = None,
    progress: Callable[[PairReport, int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now_ms: Callable[[], int] | None = None,
) -> list[PairReport]:
    """Fetch candles of pairs (or the `top` pairs quoted in `quote`) from an exchange and store them.

    1. Open the exchange (rate-limited) and load its markets; check every pair and the interval
       first, so a typo refuses the run before anything is fetched.
    2. Per pair: from the stored bars, what is missing after the last one (or before the first with
       prepend); page through it, each page written in its own transaction (an interrupted run
       resumes after the last page written); `progress(report, done_ms, total_ms)` after each page.
    3. The gaps of the stored series afterwards, for the summary.
    """
    # ccxt takes half a second to import: only when fetching.
    from .exchange import (
        ExchangeFetchError,
        PairReport,
        candles_fetch,
        coin_of,
        exchange_open,
        fetch_plan,
        markets_load,
        ms_of,
        pair_check,
        top_pairs,
    )

    exchange = exchange_open(exchange_name, api_base=api_base)
    markets_load(exchange, sleep=sleep)
    if top:
        if not quote:
            raise ExchangeFetchError("--top needs --quote (e.g. --top 50 --quote USDT)")
        pairs = top_pairs(exchange, quote=quote, count=top, sleep=sleep)
    if not pairs:
        raise ExchangeFetchError("no pairs: give --symbols BTC/USDT,ETH/USDT or --top N --quote USDT")
    markets = {pair: pair_check(exchange, pair=pair, interval=interval) for pair in pairs}
    step = INTERVAL_SECONDS[interval] * 1000
    start_ms = ms_of(since)
    clock = now_ms or exchange.milliseconds
    open_candle = clock() // step * step  # the start of the candle still open at the exchange's clock
    end_ms = min(ms_of(until), open_candle) if until is not None else open_candle
    reports = []
    for pair, market in markets.items():
        symbol, name = coin_of(exchange, market, quote=quote)
        report = PairReport(pair=pair, symbol=_symbol_check(symbol), name=name)
        bounds = Price.objects.filter(crypto__symbol=report.symbol, interval_type=interval).aggregate(
            first=Min("datetime"), last=Max("datetime")
        )
        plan = fetch_plan(
            since=start_ms,
            until=end_ms,
            step=step,
            first_stored=None if bounds["first"] is None else ms_of(bounds["first"]),
            last_stored=None if bounds["last"] is None else ms_of(bounds["last"]),
            prepend=prepend,
        )
        report.skipped = plan.reason

        new_coin = bounds["last"] is None

        def store(page: pd.DataFrame, last_time: int, report=report, plan=plan, new_coin=new_coin) -> None:
            written = ImportReport(symbol=report.symbol, interval=interval)
            _coin_import(written, name=report.name if new_coin else None, frame=page)
            report.written += written.written
            if progress is not None:
                progress(report, last_time + step - plan.since, plan.until - plan.since)

        candles_fetch(
            exchange, pair=pair, interval=interval, plan=plan, report=report, sleep=sleep, now_ms=now_ms, on_page=store
        )
        coin = Cryptocurrency.objects.filter(symbol=report.symbol).first()
        if coin is not None:
            series = prices_load(crypto_id=coin.id, interval=interval)
            quality = quality_report(series.times, series.close, series.volume, interval=interval)
            report.gaps, report.missing_bars = len(quality["gaps"]), quality["missing_bars"]
        reports.append(report)
    _statistics_refresh()
    return reports


# One background worker: updates from the admin take turns (and the exchange's rate limit is per client).
exchange_updates = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exchange-update")


def exchange_pair(symbol: str, *, quote: str) -> str:
    """The exchange pair of a coin symbol: ETH-BTC is ETH/BTC, BTC is BTC/<quote>."""
    base, _, pair_quote = symbol.partition("-")
    return f"{base}/{pair_quote or quote}"


def coins_update_from_exchange(*, coin_ids: Sequence[int]) -> Future:
    """Fetch what is missing after the last stored bar of every stored interval of the coins, in the background.

    The exchange, quote and API host come from the settings MARKET_EXCHANGE (binance),
    MARKET_QUOTE (USDT) and MARKET_EXCHANGE_API (None: the exchange's own).
    """
    return exchange_updates.submit(_coins_update_job, list(coin_ids))


def _coins_update_job(coin_ids: list[int]) -> list[PairReport]:
    from django.conf import settings
    from django.db import close_old_connections

    from .exchange import ExchangeFetchError

    close_old_connections()
    reports = []
    try:
        exchange = getattr(settings, "MARKET_EXCHANGE", "binance")
        quote = getattr(settings, "MARKET_QUOTE", "USDT")
        for coin in Cryptocurrency.objects.filter(id__in=coin_ids).order_by("symbol"):
            stats = Price.objects.filter(crypto=coin).interval_stats().get(coin.id, [])
            for s in stats:
                try:
                    reports += prices_fetch_exchange(
                        exchange_name=exchange,
                        interval=s.interval,
                        since=s.first,
                        pairs=[exchange_pair(coin.symbol, quote=quote)],
                        quote=quote,
                        api_base=getattr(settings, "MARKET_EXCHANGE_API", None),
                    )
                except (ExchangeFetchError, PriceImportError) as exc:
                    logger.warning("Update of %s %s from %s refused: %s", coin.symbol, s.interval, exchange, exc)
        for r in reports:
            logger.info("Updated %s from %s: %d bars added, %d gaps", r.symbol, r.pair, r.written, r.gaps)
        return reports
    except Exception:
        logger.exception("Update from the exchange failed")
        raise
    finally:
        close_old_connections()
