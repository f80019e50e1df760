"""Parsing price CSV files: pure functions, no Django, no database.

A file has a header row. The time column is the one headed `datetime`, `date`,
`timestamp`, `time` or `open_time` (any case), or an unnamed first column, as pandas
writes its index. Times are ISO 8601 (a time without a zone is UTC) or epoch seconds
or milliseconds. Columns `open`, `high`, `low`, `close` are required and `volume` is
optional, in any case and order; other columns are ignored.

Every bad row is collected with its line number (the header is line 1) so the
importer can refuse the file whole, or skip the bad rows when asked to.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

# Preferred first when a file has several candidates (e.g. Binance klines: open_time, close_time).
TIME_COLUMNS = ("datetime", "timestamp", "open_time", "date", "time")
PRICE_COLUMNS = ("open", "high", "low", "close")
# numeric(20, 8) holds values below 10**12.
MAX_VALUE = 1e12
# Epoch values at or above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MS_THRESHOLD = 1e11
_EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


class PriceBar(NamedTuple):
    datetime: dt.datetime  # aware, UTC
    open: float
    high: float
    low: float
    close: float
    volume: float | None


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ParsedFile:
    bars: list[PriceBar] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class PriceFileError(ValueError):
    """The file as a whole cannot be read: no header, no time column, a price column missing."""


def _looks_numeric(text: str) -> bool:
    return text.lstrip("-").replace(".", "", 1).isdigit()


def parse_time(raw: str) -> dt.datetime:
    """One time value: ISO 8601 (naive means UTC) or epoch seconds or milliseconds. Raises ValueError."""
    text = raw.strip()
    if _looks_numeric(text):
        number = float(text)
        seconds = number / 1000 if abs(number) >= _MS_THRESHOLD else number
        try:
            value = _EARLIEST + dt.timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError(f"time {raw!r} is out of range") from None
    else:
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"unparsable time {raw!r}") from None
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if not _EARLIEST <= value < _LATEST:
        raise ValueError(f"time {raw!r} is out of range")
    return value


def _find_columns(header: list[str]) -> tuple[int, dict[str, int]]:
    names = [h.strip().lower() for h in header]
    time_index = next((names.index(n) for n in TIME_COLUMNS if n in names), None)
    if time_index is None:
        if names and names[0] == "":
            time_index = 0
        else:
            raise PriceFileError(
                "no time column: expected a column headed datetime, date, timestamp, time or open_time, "
                "or an unnamed first column"
            )
    missing = [c for c in PRICE_COLUMNS if c not in names]
    if missing:
        raise PriceFileError(f"missing column(s): {', '.join(missing)} (found: {', '.join(header)})")
    columns = {c: names.index(c) for c in (*PRICE_COLUMNS, "volume") if c in names}
    return time_index, columns


def _number(raw: str, name: str) -> float:
    try:
        value = float(raw)  # float() ignores surrounding spaces
    except ValueError:
        raise ValueError(f"missing {name}" if raw.strip() == "" else f"unparsable {name} {raw!r}") from None
    # One comparison on the hot path; NaN fails it too.
    if not -MAX_VALUE < value < MAX_VALUE:
        if math.isfinite(value):
            raise ValueError(f"{name} {raw!r} is out of range (must be below 10^12)")
        raise ValueError(f"unparsable {name} {raw!r}")
    return value


def parse_row(cells: list[str], time_index: int, columns: dict[str, int]) -> PriceBar:
    """One data row to a bar; raises ValueError saying what is wrong with it."""
    needed = max(time_index, *columns.values()) + 1
    if len(cells) < needed:
        raise ValueError(f"missing value(s): {len(cells)} cells, expected {needed}")
    raw_time = cells[time_index]
    if raw_time.strip() == "":
        raise ValueError("missing time")
    when = parse_time(raw_time)
    o, h, lo, c = (_number(cells[columns[n]], n) for n in PRICE_COLUMNS)
    volume = _number(cells[columns["volume"]], "volume") if "volume" in columns else None
    if min(o, h, lo, c) <= 0:
        raise ValueError("non-positive price")
    if h < max(o, c):
        raise ValueError(f"high {h:g} below open/close")
    if lo > min(o, c):
        raise ValueError(f"low {lo:g} above open/close")
    if volume is not None and volume < 0:
        raise ValueError("negative volume")
    return PriceBar(when, o, h, lo, c, volume)


def parse_price_csv(lines: Iterable[str]) -> ParsedFile:
    """Parse a whole file. Bad rows go to `errors`; a later row repeating a time is a bad row.

    Raises PriceFileError when the header itself is unusable.
    """
    reader = csv.reader(lines)
    header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    if header is None:
        raise PriceFileError("the file is empty (a header row is required)")
    time_index, columns = _find_columns(header)
    parsed = ParsedFile()
    first_line: dict[dt.datetime, int] = {}
    for cells in reader:
        if not cells:
            continue  # blank line
        line = reader.line_num
        try:
            bar = parse_row(cells, time_index, columns)
        except ValueError as exc:
            parsed.errors.append(RowError(line, str(exc)))
            continue
        seen = first_line.setdefault(bar.datetime, line)
        if seen != line:
            parsed.errors.append(
                RowError(line, f"duplicate timestamp {bar.datetime:%Y-%m-%dT%H:%M:%SZ} (first on line {seen})")
            )
            continue
        parsed.bars.append(bar)
    return parsed


def parse_price_file(path: Path | str) -> ParsedFile:
    # utf-8-sig drops the byte-order mark some spreadsheet exports put first.
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return parse_price_csv(handle)
