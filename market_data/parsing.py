"""Parsing price CSV files: the bar and error types, and the generic CSV's rules. No Django, no database.

A file has a header row. The time column is the one headed `datetime`, `date`,
`timestamp`, `time` or `open_time` (any case), or an unnamed first column, as pandas
writes its index. Times are ISO 8601 (a time without a zone is UTC) or epoch seconds
or milliseconds. Columns `open`, `high`, `low`, `close` are required and `volume` is
optional, in any case and order; other columns are ignored.

Every bad row is collected with its line number (the header is line 1) so the
importer can refuse the file whole, or skip the bad rows when asked to.
"""

from __future__ import annotations

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
    line: int  # the physical line of a text file (the header is line 1), or the row of a json/feather file
    message: str
    kind: str = "line"  # "line" or "row"

    def __str__(self) -> str:
        return f"{self.kind} {self.line}: {self.message}"


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


def bars_from_frame(frame) -> list[PriceBar]:
    """PriceBar tuples from a checked frame (formats.FRAME_COLUMNS); NaN volume is None."""
    times = [_EARLIEST + dt.timedelta(microseconds=t // 1000) for t in frame["time"].tolist()]
    rows = zip(times, *(frame[c].tolist() for c in PRICE_COLUMNS), frame["volume"].tolist(), strict=True)
    return [PriceBar(t, o, h, lo, c, None if math.isnan(v) else v) for t, o, h, lo, c, v in rows]


def parse_price_csv(lines: Iterable[str]) -> ParsedFile:
    """Parse a whole generic CSV file (see formats.read_generic_csv). Bad rows go to `errors`.

    Raises PriceFileError when the header itself is unusable.
    """
    from .formats import read_generic_csv  # formats builds on this module's types

    read = read_generic_csv("\n".join(line.rstrip("\r\n") for line in lines))
    return ParsedFile(bars=bars_from_frame(read.frame), errors=read.errors)


def parse_price_file(path: Path | str) -> ParsedFile:
    # utf-8-sig drops the byte-order mark some spreadsheet exports put first.
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return parse_price_csv(handle)
