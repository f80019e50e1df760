"""Writes of market data: the bulk price upsert, the CSV importer and the demo universe.

All three share `prices_bulk_upsert`, the one fast write path: COPY into a temporary
table and one INSERT ... ON CONFLICT DO UPDATE on PostgreSQL, executemany of the same
upsert on SQLite. An unchanged bar is not rewritten, so re-importing a file changes
nothing. After the transaction commits, each written (coin, interval) gets a new cache
version, so no stale series is ever served.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from . import demo
from .models import INTERVALS, SYMBOL_RE, Cryptocurrency, Price
from .parsing import PriceBar, PriceFileError, RowError, parse_price_file
from .selectors import prices_version_bump

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


def _upsert_postgresql(*, crypto_id: int, interval: str, bars: Sequence[PriceBar]) -> int:
    buffer = io.StringIO()
    write = buffer.write
    for b in bars:
        volume = "\\N" if b.volume is None else repr(b.volume)
        write(
            f"{crypto_id}\t{b.datetime.isoformat()}\t{b.open!r}\t{b.high!r}\t{b.low!r}\t{b.close!r}\t{volume}\t{interval}\n"
        )
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS _price_upsert")
        cursor.execute(
            "CREATE TEMPORARY TABLE _price_upsert (crypto_id bigint, datetime timestamptz, open_price numeric(20, 8), "
            "high_price numeric(20, 8), low_price numeric(20, 8), close_price numeric(20, 8), volume numeric(20, 8), "
            "interval_type varchar(10)) ON COMMIT DROP"
        )
        cursor.copy_expert(f"COPY _price_upsert ({_COLUMNS}) FROM STDIN", buffer)
        # ORDER BY: every writer locks the bars of a coin in the same order, so two never deadlock.
        cursor.execute(
            f"INSERT INTO crypto_prices ({_COLUMNS}, created_at) SELECT {_COLUMNS}, now() FROM _price_upsert "
            "ORDER BY datetime "
            f"ON CONFLICT (crypto_id, datetime, interval_type) DO UPDATE SET {_UPDATE} "
            "WHERE (crypto_prices.open_price, crypto_prices.high_price, crypto_prices.low_price, "
            "crypto_prices.close_price, crypto_prices.volume) IS DISTINCT FROM "
            "(excluded.open_price, excluded.high_price, excluded.low_price, excluded.close_price, excluded.volume)"
        )
        written = cursor.rowcount
        cursor.execute("DROP TABLE _price_upsert")
    return written


def _upsert_sqlite(*, crypto_id: int, interval: str, bars: Sequence[PriceBar]) -> int:
    # Stored exactly as the ORM stores them: naive UTC text for times, 8-decimal numbers.
    as_text = connection.ops.adapt_datetimefield_value
    now = as_text(timezone.now())
    params = [
        (
            crypto_id,
            as_text(b.datetime),
            round(b.open, 8),
            round(b.high, 8),
            round(b.low, 8),
            round(b.close, 8),
            None if b.volume is None else round(b.volume, 8),
            interval,
            now,
        )
        for b in bars
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


def _upsert_generic(*, crypto_id: int, interval: str, bars: Sequence[PriceBar]) -> int:
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
        for b in bars
    ]
    Price.objects.bulk_create(
        objs,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["crypto", "datetime", "interval_type"],
        update_fields=["open", "high", "low", "close", "volume"],
    )
    return len(objs)


def prices_versions_bump_on_commit(*, series: Iterable[tuple[int, str]]) -> None:
    """After the current transaction commits, give each (coin id, interval) a new cache version.

    Any write to crypto_prices outside prices_bulk_upsert (admin edits, deletes) calls this,
    so no stale series is served from the cache.
    """
    for crypto_id, interval in set(series):
        transaction.on_commit(partial(prices_version_bump, crypto_id=crypto_id, interval=interval))


def prices_bulk_upsert(*, crypto_id: int, interval: str, bars: Sequence[PriceBar]) -> int:
    """Insert or update the bars of one coin and interval; return how many were inserted or changed.

    Bars must have distinct times (the parser guarantees it). Runs inside a transaction
    (joining the caller's); the cache version is bumped when the outermost one commits.
    """
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}; known: {', '.join(INTERVALS)}")
    if not bars:
        return 0
    upsert = {"postgresql": _upsert_postgresql, "sqlite": _upsert_sqlite}.get(connection.vendor, _upsert_generic)
    with transaction.atomic():
        written = upsert(crypto_id=crypto_id, interval=interval, bars=bars)
        if written:
            prices_versions_bump_on_commit(series=[(crypto_id, interval)])
    return written


def row_errors_format(errors: Sequence[tuple[str, RowError]], total: int) -> str:
    lines = [f"  {name} {err}" for name, err in errors[:REPORTED_ERRORS]]
    if total > REPORTED_ERRORS:
        lines.append(f"  ... and {total - REPORTED_ERRORS} more")
    return "\n".join(lines)


def _read_files(paths: Sequence[Path], *, skip_invalid: bool) -> tuple[list[PriceBar], list[tuple[str, RowError]]]:
    """Parse every file; a later file's bar replaces an earlier one at the same time."""
    by_time: dict[dt.datetime, PriceBar] = {}
    bad: list[tuple[str, RowError]] = []
    for path in paths:
        try:
            parsed = parse_price_file(path)
        except PriceFileError as exc:
            raise PriceImportError(f"{path}: {exc}; nothing was imported") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PriceImportError(f"{path}: cannot read the file ({exc}); nothing was imported") from None
        bad.extend((path.name, err) for err in parsed.errors)
        by_time.update((bar.datetime, bar) for bar in parsed.bars)
    if bad and not skip_invalid:
        raise PriceImportError(
            f"refused: {len(bad)} bad row(s); nothing was imported (use --skip-invalid to import the good rows)\n"
            + row_errors_format(bad, len(bad))
        )
    return sorted(by_time.values()), bad


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


def prices_import_csv(
    *,
    paths: Sequence[Path | str],
    symbol: str,
    name: str | None = None,
    interval: str = "1h",
    skip_invalid: bool = False,
) -> ImportReport:
    """Import CSV files of one coin and interval.

    1. Parse and check every file; any bad row refuses the whole import unless skip_invalid.
    2. In one transaction: lock the coin row (create the coin if new), so concurrent imports
       of one coin take turns; if it was a demo coin, turn it into a real one and drop its
       generated bars (real data always wins); upsert the bars.
    3. Report rows, written bars, skipped rows and the rate.
    """
    started = time.perf_counter()
    symbol = symbol.strip().upper()
    if not SYMBOL_RE.fullmatch(symbol):
        raise PriceImportError(
            f"symbol {symbol!r} refused: 1 to 20 letters, digits, '-' or '_' (it is part of the API's URLs)"
        )
    if name is not None and (len(name) > 100 or not name.isprintable()):
        raise PriceImportError(f"name {name!r} refused: at most 100 printable characters")
    if interval not in INTERVALS:
        raise PriceImportError(f"unknown interval {interval!r}; known: {', '.join(INTERVALS)}")
    bars, bad = _read_files([Path(p) for p in paths], skip_invalid=skip_invalid)
    if not bars:
        detail = f"; {len(bad)} bad row(s):\n{row_errors_format(bad, len(bad))}" if bad else ""
        raise PriceImportError(f"no valid bars in the file(s); nothing was imported{detail}")
    report = ImportReport(symbol=symbol, interval=interval, rows=len(bars), skipped=bad)
    with transaction.atomic():
        coin, report.created = _coin_lock(symbol=symbol, name=name or symbol)
        if coin.is_demo:
            demo_bars = Price.objects.filter(crypto=coin)
            prices_versions_bump_on_commit(
                series=((coin.id, i) for i in demo_bars.values_list("interval_type", flat=True).distinct())
            )
            demo_bars.delete()
            coin.is_demo = False
            coin.name = name or coin.name.removesuffix(" (demo)")
            coin.save(update_fields=["is_demo", "name"])
            report.replaced_demo = True
        elif name and name != coin.name:
            coin.name = name
            coin.save(update_fields=["name"])
        report.written = prices_bulk_upsert(crypto_id=coin.id, interval=interval, bars=bars)
    _statistics_refresh()
    report.seconds = time.perf_counter() - started
    return report


def _statistics_refresh() -> None:
    """ANALYZE the price table after a bulk load, so the planner uses its index at once.

    Without it PostgreSQL plans the first backtests from an empty table's statistics.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
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
