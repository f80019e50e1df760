"""Reading price files of every common layout into checked bars: pure functions, no Django, no database.

Formats (recognised by themselves, or named with `fmt`):
- `csv`: the generic CSV, a header row with a time column (see parsing.TIME_COLUMNS) and open, high,
  low, close[, volume] in any case and order.
- `binance`: Binance public-data klines, no header, 12 columns (open time, open, high, low, close,
  volume, close time, ...); the open time in milliseconds, or microseconds (spot files from 2025 on).
  A `.zip` of them is read directly, and its `.CHECKSUM` (sha256) verified when it sits beside it.
- `cdd`: CryptoDataDownload CSV, a banner line, then `Unix,Date,Symbol,Open,High,Low,Close,Volume <BASE>,...`,
  newest row first, `Unix` in seconds or milliseconds.
- `freqtrade-json`: freqtrade's `BTC_USDT-1h.json` (optionally gzipped), lists of `[ms, o, h, l, c, v]`.
- `feather` / `parquet`: freqtrade's columns date, open, high, low, close, volume.

Every format ends in the same vectorised check (`rows_check`): times to int64 nanoseconds (UTC),
prices to float64, bad rows collected with their line (or row) number, a repeated time a bad row.
Only bad rows get a Python loop, to word their messages.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .parsing import MAX_VALUE, PRICE_COLUMNS, TIME_COLUMNS, PriceFileError, RowError

FORMATS = ("auto", "csv", "binance", "cdd", "freqtrade-json", "feather", "parquet")
BINARY_FORMATS = "zip (Binance klines), feather and parquet (freqtrade), gzip (of a json or CSV file)"
TEXT_FORMATS_TRIED = (
    "generic CSV (a header with a time column and open, high, low, close), "
    "Binance klines (no header, 12 numeric columns), CryptoDataDownload (a banner line, then a header with Unix)"
)
# Suffixes a folder import picks up.
PRICE_SUFFIXES = (".csv", ".txt", ".zip", ".json", ".gz", ".feather", ".parquet")
FRAME_COLUMNS = ("time", "open", "high", "low", "close", "volume")

# Epoch magnitudes: below 1e11 seconds (1e11 s is the year 5138), below 1e14 milliseconds, below 1e17 microseconds.
_EPOCH_LIMITS = ((1e11, 1e6), (1e14, 1e3), (1e17, 1.0))  # (upper bound, microseconds per unit)
_EARLIEST_NS = 0
_LATEST_NS = int(pd.Timestamp("2200-01-01", tz="UTC").value)

# Row problems, as codes (0 is fine), then worded for the bad rows only.
_OK, _MISSING, _UNPARSABLE, _RANGE = 0, 1, 2, 3


@dataclass
class FileBars:
    """The good bars of one file (or zip member), its bad rows, and what its name says."""

    name: str
    format: str
    frame: pd.DataFrame  # FRAME_COLUMNS; time int64 ns UTC; volume NaN when the file has none
    errors: list[RowError] = field(default_factory=list)
    pair: str | None = None  # from the file name or the file (CDD's Symbol column)
    interval: str | None = None  # from the file name, when it is one of INTERVALS-like names


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"time": np.empty(0, np.int64), **{c: np.empty(0) for c in FRAME_COLUMNS[1:]}})


# --- times and numbers -------------------------------------------------------------------------------------------


def _epoch_to_ns(number: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers in s, ms or µs (by magnitude) to ns; (ns as int64, problem code per value)."""
    magnitude = np.abs(number)
    micros = np.full(len(number), np.nan)
    for upper, factor in reversed(_EPOCH_LIMITS):
        micros = np.where(magnitude < upper, number * factor, micros)
    code = np.where(np.isnan(micros), _RANGE, _OK)
    # Microseconds below 2**53 are exact in float64; rint drops the representation error of seconds * 1e6.
    ns = np.where(code == _OK, np.rint(np.nan_to_num(micros)), 0).astype(np.int64) * 1000
    return ns, code


def times_parse(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column of times (epoch numbers, ISO 8601 text, or datetimes) to (int64 ns UTC, problem codes).

    ISO text without a zone is UTC. Codes: _MISSING, _UNPARSABLE, _RANGE for the bad values.
    """
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(raw.dtype):
        values = raw.dt.tz_localize("UTC") if getattr(raw.dt, "tz", None) is None else raw.dt.tz_convert("UTC")
        ns = values.astype("datetime64[ns, UTC]").array.asi8.copy()
        code = np.where(values.isna().to_numpy(), _MISSING, _OK)
    elif pd.api.types.is_numeric_dtype(raw.dtype):
        number = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        ns, code = _epoch_to_ns(np.nan_to_num(number, nan=0.0))
        code = np.where(np.isnan(number), _MISSING, code)
    else:
        # ISO 8601 first (the common case); epoch numbers only among what is not ISO: to_numeric
        # over a whole column of ISO text costs four times the date parse.
        text = raw.astype(str).str.strip()
        missing = (text == "").to_numpy()
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        ns = parsed.astype("datetime64[ns, UTC]").array.asi8.copy()
        code = np.where(parsed.isna().to_numpy(), _UNPARSABLE, _OK)
        rest = np.flatnonzero((code != _OK) & ~missing)
        if len(rest):
            number = pd.to_numeric(text.iloc[rest], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            is_number = ~np.isnan(number)
            epoch_ns, epoch_code = _epoch_to_ns(np.where(is_number, number, 0.0))
            ns[rest] = np.where(is_number, epoch_ns, 0)
            code[rest] = np.where(is_number, epoch_code, _UNPARSABLE)
        ns = np.where(code == _OK, ns, 0)
        code = np.where(missing, _MISSING, code)
    code = np.where((code == _OK) & ((ns < _EARLIEST_NS) | (ns >= _LATEST_NS)), _RANGE, code)
    return ns, code


def numbers_parse(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column of prices or volumes to (float64, problem codes); NaN and infinities are unparsable."""
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(values)
    else:
        text = raw.astype(str).str.strip()
        missing = (text == "").to_numpy()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        code = np.where(
            missing,
            _MISSING,
            np.where(~np.isfinite(values), _UNPARSABLE, np.where(np.abs(values) >= MAX_VALUE, _RANGE, _OK)),
        )
    return values, code


# --- the row check -----------------------------------------------------------------------------------------------


def rows_check(
    *,
    times: pd.Series,
    prices: dict[str, pd.Series],
    volume: pd.Series | None,
    lines: np.ndarray,
    kind: str = "line",
    cells: np.ndarray | None = None,
    needed: int = 0,
) -> tuple[pd.DataFrame, list[RowError]]:
    """Check every row at once; return (good rows as a frame in file order, errors by line).

    1. Parse the times and numbers (vectorised), with a problem code per value.
    2. Check the bar itself: positive prices, low <= open, close <= high, volume >= 0.
    3. A later row repeating an earlier good row's time is bad.
    4. Word the errors of the bad rows (the only loop), first problem of each row.
    `cells` (text files: cells per row) marks rows with fewer than `needed` cells as bad.
    """
    short_rows = None if cells is None else cells < needed
    ns, time_code = times_parse(times)
    values = {}
    codes = {}
    for name in PRICE_COLUMNS:
        values[name], codes[name] = numbers_parse(prices[name])
    if volume is not None:
        values["volume"], codes["volume"] = numbers_parse(volume)
    else:
        values["volume"], codes["volume"] = np.full(len(ns), np.nan), np.zeros(len(ns), dtype=np.int64)
    o, h, lo, c, v = (values[n] for n in (*PRICE_COLUMNS, "volume"))
    parsed_ok = time_code == _OK
    for name in (*PRICE_COLUMNS, "volume"):
        parsed_ok &= codes[name] == _OK
    if short_rows is not None:
        parsed_ok &= ~short_rows
    with np.errstate(invalid="ignore"):
        non_positive = np.minimum(np.minimum(o, h), np.minimum(lo, c)) <= 0
        high_low = h < np.maximum(o, c)
        low_high = lo > np.minimum(o, c)
        negative_volume = v < 0
    good = parsed_ok & ~non_positive & ~high_low & ~low_high & ~negative_volume
    # A repeated time: bad when an earlier good row has it.
    good_index = np.flatnonzero(good)
    repeated = pd.Series(ns[good_index]).duplicated(keep="first").to_numpy()
    duplicate_rows = good_index[repeated]
    good[duplicate_rows] = False

    errors: list[RowError] = []
    bad_rows = np.flatnonzero(~good)
    if len(bad_rows):
        first_line = {}
        if len(duplicate_rows):
            firsts = pd.Series(lines[good_index], index=ns[good_index])
            first_line = firsts[~firsts.index.duplicated(keep="first")].to_dict()
        for row in bad_rows.tolist():
            message = _row_message(
                row, time_code, times, values, codes, prices, volume, non_positive, high_low, low_high
            )
            if short_rows is not None and short_rows[row]:
                message = f"missing value(s): {cells[row]} cells, expected {needed}"
            if message is None:  # the repeated time
                when = pd.Timestamp(int(ns[row]), tz="UTC")
                message = f"duplicate timestamp {when:%Y-%m-%dT%H:%M:%SZ} (first on {kind} {first_line[ns[row]]})"
            errors.append(RowError(int(lines[row]), message, kind))
    frame = pd.DataFrame({"time": ns[good], "open": o[good], "high": h[good], "low": lo[good], "close": c[good]})
    frame["volume"] = v[good]
    return frame, errors


def _cell(series: pd.Series | None, row: int) -> str:
    return "" if series is None else str(series.iloc[row]).strip()


def _row_message(row, time_code, times, values, codes, prices, volume, non_positive, high_low, low_high):
    """The first problem of a bad row, in words; None when its only problem is a repeated time."""
    code = time_code[row]
    if code == _MISSING:
        return "missing time"
    if code == _UNPARSABLE:
        return f"unparsable time {_cell(times, row)!r}"
    if code == _RANGE:
        return f"time {_cell(times, row)!r} is out of range"
    for name in (*PRICE_COLUMNS, "volume"):
        code = codes[name][row]
        raw = _cell(prices.get(name, volume if name == "volume" else None), row)
        if code == _MISSING:
            return f"missing {name}"
        if code == _UNPARSABLE:
            return f"unparsable {name} {raw!r}"
        if code == _RANGE:
            return f"{name} {raw!r} is out of range (must be below 10^12)"
    if non_positive[row]:
        return "non-positive price"
    if high_low[row]:
        return f"high {values['high'][row]:g} below open/close"
    if low_high[row]:
        return f"low {values['low'][row]:g} above open/close"
    if values["volume"][row] < 0:
        return "negative volume"
    return None


# --- text formats ------------------------------------------------------------------------------------------------


def _first_lines(text: str, count: int = 2) -> list[tuple[int, str]]:
    """The first `count` non-blank lines with their 1-based numbers."""
    found = []
    for number, line in enumerate(text.splitlines()[:1000], start=1):
        if line.strip():
            found.append((number, line))
            if len(found) == count:
                break
    return found


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def text_format_detect(text: str) -> str:
    """'csv', 'binance' or 'cdd' from the first lines; raises PriceFileError for an empty or headerless file."""
    first = _first_lines(text)
    if not first:
        raise PriceFileError("the file is empty (a header row is required)")
    cells = next(csv.reader([first[0][1]]))
    if all(_is_number(cell) for cell in cells):
        if len(cells) >= 6:
            return "binance"
        raise PriceFileError(
            f"no header found: line {first[0][0]} holds only numbers ({len(cells)} columns); formats tried: "
            + TEXT_FORMATS_TRIED
        )
    banner = first[0][1].strip().lower()
    if len(first) > 1 and ("cryptodatadownload" in banner or banner.startswith("http") or len(cells) == 1):
        header = [c.strip().lower() for c in next(csv.reader([first[1][1]]))]
        if "unix" in header or "date" in header:
            return "cdd"
    return "csv"


def _read_text_table(
    text: str, *, header_line: int | None, typed: bool = False
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """The table; (table, physical line number per row, cells per row or None).

    typed: let pandas' C parser convert numbers (the fast path); a blank line is then a row of
    NaN, which `_typed_clean` rejects. Untyped: every cell as text, blank lines dropped, the cells
    of each short row counted (pandas fills a missing cell with "" like an empty one).
    header_line: the 1-based line of the header, or None for a headerless file.
    """
    skip = 0 if header_line is None else header_line - 1
    options = {} if typed else {"dtype": str, "keep_default_na": False}
    try:
        table = pd.read_csv(
            io.StringIO(text),
            header=None if header_line is None else 0,
            skiprows=skip,
            skip_blank_lines=False,
            **options,
        )
    except pd.errors.ParserError as exc:
        raise PriceFileError(f"not a regular CSV table: {exc}") from None
    start = (header_line or 0) + 1
    lines = np.arange(start, start + len(table))
    if typed:
        return table, lines, None
    raw_lines = text.splitlines()[start - 1 : start - 1 + len(table)]
    blank = np.fromiter((not line.strip() for line in raw_lines), dtype=bool, count=len(raw_lines))
    if len(blank) < len(table):  # a quoted line break: line numbers are approximate, cells all counted
        blank = np.zeros(len(table), dtype=bool)
    cells = np.full(len(table), table.shape[1])
    if table.shape[1]:
        last = table.iloc[:, -1].to_numpy() == ""
        if last.any():
            rows = np.flatnonzero(last)
            cells[last] = [len(next(csv.reader([raw_lines[i]]))) if i < len(raw_lines) else 0 for i in rows]
    keep = ~blank
    return table[keep].reset_index(drop=True), lines[keep], cells[keep]


def _typed_clean(table: pd.DataFrame, time_index: int, used: list[int]) -> bool:
    """The fast path's result can be used as it is: numbers where numbers belong, no cell missing."""
    for index in used:
        column = table.iloc[:, index]
        if not pd.api.types.is_numeric_dtype(column.dtype) or column.isna().any():
            return False
    return not table.iloc[:, time_index].isna().any()


def _table_read(
    text: str, *, header_line: int | None, pick
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None, tuple]:
    """Read a table fast (typed) and fall back to text cells when a row needs a worded error.

    pick(table) -> (time_index, {column: index}) or raises PriceFileError about the header.
    """
    table, lines, cells = _read_text_table(text, header_line=header_line, typed=True)
    picked = pick(table)
    time_index, columns = picked[0], picked[1]
    if len(table) and _typed_clean(table, time_index, list(columns.values())):
        return table, lines, cells, picked
    table, lines, cells = _read_text_table(text, header_line=header_line)
    return table, lines, cells, pick(table)


def _header_index(names: list[str], preferred: tuple[str, ...]) -> int | None:
    return next((names.index(n) for n in preferred if n in names), None)


def _generic_columns(table: pd.DataFrame) -> tuple[int, dict[str, int]]:
    header = [str(h) for h in table.columns]
    names = ["" if n.startswith("unnamed:") else n for n in (h.strip().lower() for h in header)]
    time_index = _header_index(names, TIME_COLUMNS)
    if time_index is None:
        if names and names[0] == "":
            time_index = 0
        else:
            raise PriceFileError(
                "no time column: expected a column headed datetime, date, timestamp, time or open_time, "
                f"or an unnamed first column (formats tried: {TEXT_FORMATS_TRIED})"
            )
    missing = [c for c in PRICE_COLUMNS if c not in names]
    if missing:
        raise PriceFileError(f"missing column(s): {', '.join(missing)} (found: {', '.join(header)})")
    return time_index, {c: names.index(c) for c in (*PRICE_COLUMNS, "volume") if c in names}


def read_generic_csv(text: str, *, name: str = "") -> FileBars:
    first = _first_lines(text, 1)
    if not first:
        raise PriceFileError("the file is empty (a header row is required)")
    table, lines, cells, (time_index, columns) = _table_read(text, header_line=first[0][0], pick=_generic_columns)
    frame, errors = rows_check(
        times=table.iloc[:, time_index],
        prices={c: table.iloc[:, columns[c]] for c in PRICE_COLUMNS},
        volume=table.iloc[:, columns["volume"]] if "volume" in columns else None,
        lines=lines,
        cells=cells,
        needed=max(time_index, *columns.values()) + 1,
    )
    return FileBars(name, "csv", frame, errors)


def _binance_columns(table: pd.DataFrame) -> tuple[int, dict[str, int]]:
    if table.shape[1] < 6:
        raise PriceFileError(f"Binance klines have 12 columns (at least 6 are read), found {table.shape[1]}")
    return 0, {c: k + 1 for k, c in enumerate((*PRICE_COLUMNS, "volume"))}


def read_binance_csv(text: str, *, name: str = "") -> FileBars:
    table, lines, cells, (_, columns) = _table_read(text, header_line=None, pick=_binance_columns)
    frame, errors = rows_check(
        times=table.iloc[:, 0],
        prices={c: table.iloc[:, columns[c]] for c in PRICE_COLUMNS},
        volume=table.iloc[:, 5],
        lines=lines,
        cells=cells,
        needed=6,
    )
    return FileBars(name, "binance", frame, errors)


def _cdd_columns(table: pd.DataFrame) -> tuple[int, dict[str, int], int | None]:
    header = [str(h) for h in table.columns]
    names = [h.strip().lower() for h in header]
    time_index = _header_index(names, ("unix", "unix timestamp", "date"))
    missing = [c for c in PRICE_COLUMNS if c not in names]
    if time_index is None or missing:
        raise PriceFileError(
            "not a CryptoDataDownload header (Unix, Date, Symbol, Open, High, Low, Close, Volume ...): "
            + ", ".join(header)
        )
    columns = {c: names.index(c) for c in PRICE_COLUMNS}
    # "Volume BTC" (the base currency) comes before "Volume USDT".
    volume_index = next((k for k, n in enumerate(names) if n == "volume" or n.startswith("volume ")), None)
    if volume_index is not None:
        columns["volume"] = volume_index
    symbol_index = names.index("symbol") if "symbol" in names else None
    return time_index, columns, symbol_index


def read_cdd_csv(text: str, *, name: str = "") -> FileBars:
    first = _first_lines(text, 2)
    if len(first) < 2:
        raise PriceFileError("a CryptoDataDownload file has a banner line, then a header; found one line")
    table, lines, cells, (time_index, columns, symbol_index) = _table_read(
        text, header_line=first[1][0], pick=_cdd_columns
    )
    frame, errors = rows_check(
        times=table.iloc[:, time_index],
        prices={c: table.iloc[:, columns[c]] for c in PRICE_COLUMNS},
        volume=table.iloc[:, columns["volume"]] if "volume" in columns else None,
        lines=lines,
        cells=cells,
        needed=max(time_index, *columns.values()) + 1,
    )
    pair = None
    if symbol_index is not None and len(table):
        pair = str(table.iloc[0, symbol_index]).strip() or None
    return FileBars(name, "cdd", frame, errors, pair=pair)


# --- binary and json formats -------------------------------------------------------------------------------------


def _frame_file(table: pd.DataFrame, *, name: str, fmt: str) -> FileBars:
    names = {str(c).strip().lower(): c for c in table.columns}
    if "date" not in names and isinstance(table.index, pd.DatetimeIndex):
        table = table.reset_index()
        names = {str(c).strip().lower(): c for c in table.columns}
    time_name = next((names[n] for n in ("date", *TIME_COLUMNS) if n in names), None)
    missing = [c for c in PRICE_COLUMNS if c not in names]
    if time_name is None or missing:
        raise PriceFileError(
            f"a {fmt} price file has columns date, open, high, low, close, volume; found: "
            + ", ".join(map(str, table.columns))
        )
    frame, errors = rows_check(
        times=table[time_name],
        prices={c: table[names[c]] for c in PRICE_COLUMNS},
        volume=table[names["volume"]] if "volume" in names else None,
        lines=np.arange(1, len(table) + 1),
        kind="row",
    )
    return FileBars(name, fmt, frame, errors)


def read_freqtrade_json(data: bytes, *, name: str = "") -> FileBars:
    try:
        rows = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PriceFileError(f"not a JSON file: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows[:1]):
        raise PriceFileError("a freqtrade json file is a list of [ms, open, high, low, close, volume] lists")
    width = max((len(r) for r in rows), default=6)
    table = pd.DataFrame([r + [None] * (width - len(r)) for r in rows] if width != 6 else rows)
    if table.shape[1] < 6:
        raise PriceFileError(f"a freqtrade json row is [ms, open, high, low, close, volume]; found {width} values")
    table = table.iloc[:, :6].set_axis(list(FRAME_COLUMNS), axis=1)
    for column in table.columns:  # mixed cells (a text among numbers) are checked as text
        if table[column].dtype == object:
            table[column] = table[column].map(lambda x: "" if x is None else str(x))
    result = _frame_file(table.rename(columns={"time": "date"}), name=name, fmt="freqtrade-json")
    return result


def _read_columnar(data: bytes, *, name: str, fmt: str) -> FileBars:
    reader = pd.read_feather if fmt == "feather" else pd.read_parquet
    try:
        table = reader(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises its own error types
        raise PriceFileError(f"cannot read it as {fmt}: {exc}") from None
    return _frame_file(table, name=name, fmt=fmt)


# --- files -------------------------------------------------------------------------------------------------------


def _sniff(data: bytes) -> str | None:
    """The binary format from the first bytes, or None for (probably) text."""
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return "zip"
    if data.startswith(b"ARROW1"):
        return "feather"
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    return None


def checksum_verify(path: Path) -> None:
    """A `.CHECKSUM` beside the file (Binance: `<sha256>  <name>`) must match its sha256."""
    check = path.with_name(path.name + ".CHECKSUM")
    if not check.exists():
        return
    expected = check.read_text().split()[0].strip().lower() if check.read_text().strip() else ""
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if expected != actual:
        raise PriceFileError(
            f"checksum mismatch: {check.name} says sha256 {expected or '(empty)'}, the file's is {actual}"
        )


def read_bytes(data: bytes, *, name: str, fmt: str = "auto") -> list[FileBars]:
    """Read a file's content; a zip gives one FileBars per member. Raises PriceFileError saying why not."""
    kind = _sniff(data)
    if fmt in ("feather", "parquet") or (fmt == "auto" and kind in ("feather", "parquet")):
        return [_read_columnar(data, name=name, fmt=fmt if fmt != "auto" else kind)]
    if kind == "zip":
        return _read_zip(data, name=name, fmt=fmt)
    if kind == "gzip":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise PriceFileError(f"a broken gzip file: {exc}") from None
        kind = _sniff(data)
        if kind is not None:
            return read_bytes(data, name=name, fmt=fmt)
    if fmt == "freqtrade-json" or (fmt == "auto" and data.lstrip()[:1] == b"["):
        return [read_freqtrade_json(data, name=name)]
    if b"\x00" in data[:8192]:
        raise PriceFileError(f"not a text file (it holds NUL bytes); the binary formats read are: {BINARY_FORMATS}")
    try:
        # utf-8-sig drops the byte-order mark some spreadsheet exports put first.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PriceFileError(
            f"not a text file (not UTF-8: {exc.reason} at byte {exc.start}); the binary formats read are: "
            + BINARY_FORMATS
        ) from None
    text_format = text_format_detect(text) if fmt == "auto" else fmt
    reader = {"csv": read_generic_csv, "binance": read_binance_csv, "cdd": read_cdd_csv}.get(text_format)
    if reader is None:
        raise PriceFileError(f"a text file cannot be read as {fmt}")
    return [reader(text, name=name)]


def _read_zip(data: bytes, *, name: str, fmt: str) -> list[FileBars]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise PriceFileError(f"a broken zip file: {exc}") from None
    members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.endswith(".CHECKSUM")]
    if not members:
        raise PriceFileError("the zip file holds no file")
    found = []
    for member in members:
        for part in read_bytes(archive.read(member), name=f"{name}:{member.filename}", fmt=fmt):
            pair, interval = name_parts(Path(member.filename).name)
            part.pair, part.interval = part.pair or pair, part.interval or interval
            found.append(part)
    return found


def read_price_file(path: Path, *, fmt: str = "auto") -> list[FileBars]:
    """Read one file from disk (verifying a `.CHECKSUM` beside it); the name's pair and interval are kept."""
    if fmt not in FORMATS:
        raise PriceFileError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    checksum_verify(path)
    parts = read_bytes(path.read_bytes(), name=path.name, fmt=fmt)
    pair, interval = name_parts(path.name)
    for part in parts:
        part.pair = part.pair or pair
        part.interval = part.interval or interval
    return parts


# --- names -------------------------------------------------------------------------------------------------------

_NAME_INTERVALS = {"1m", "3m", "5m", "8m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"}
_CDD_INTERVALS = {"minute": "1m", "1h": "1h", "d": "1d", "1d": "1d", "h": "1h"}
_BINANCE_NAME = re.compile(r"^(?P<pair>[A-Z0-9]+)-(?P<interval>\d+[mhdwM])-\d{4}-\d{2}(-\d{2})?$")
_FREQTRADE_NAME = re.compile(r"^(?P<pair>[A-Za-z0-9]+(?:_[A-Za-z0-9]+){1,2})-(?P<interval>\d+[mhdwM])(-\w+)?$")
_CDD_NAME = re.compile(r"^[A-Za-z]+_(?P<pair>[A-Z0-9]+)_(?P<interval>minute|1h|h|d|1d)$")


def _stem(name: str) -> str:
    for suffix in (".json.gz", ".csv.gz", ".zip", ".csv", ".json", ".feather", ".parquet", ".txt", ".gz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def name_parts(filename: str) -> tuple[str | None, str | None]:
    """(pair, interval) a file name says, e.g. BTCUSDT-1h-2024-01.zip -> ("BTCUSDT", "1h").

    freqtrade's BTC_USDT-1h.json -> ("BTC/USDT", "1h"), futures XRP_USDT_USDT-1h-futures -> ("XRP/USDT", "1h");
    CryptoDataDownload's Binance_BTCUSDT_1h.csv -> ("BTCUSDT", "1h"). The interval may be one the site does
    not store (8m): the caller checks it.
    """
    stem = _stem(Path(filename).name)
    if match := _BINANCE_NAME.match(stem):
        return match["pair"], match["interval"]
    if match := _CDD_NAME.match(stem):
        return match["pair"], _CDD_INTERVALS[match["interval"]]
    if match := _FREQTRADE_NAME.match(stem):
        parts = match["pair"].split("_")
        return f"{parts[0]}/{parts[1]}".upper(), match["interval"]
    return None, None


def symbol_from_pair(pair: str, *, quote: str | None = None) -> str:
    """The coin symbol of a pair: with `quote`, the base currency of a pair quoted in it; otherwise base-QUOTE.

    ETH/BTC -> ETH-BTC; ETH/BTC with quote BTC -> ETH; ETHBTC with quote BTC -> ETH; BTC -> BTC.
    A pair quoted in another currency than `quote` keeps its quote: ETH/BTC and ETH/USDT are different series.
    """
    text = pair.strip().upper().split(":")[0]  # XRP/USDT:USDT (futures settle currency) -> XRP/USDT
    quote = quote.strip().upper() if quote else None
    if "/" in text:
        base, _, pair_quote = text.partition("/")
        return base if quote and pair_quote == quote else f"{base}-{pair_quote}"
    if quote and text.endswith(quote) and len(text) > len(quote):
        return text[: -len(quote)]
    return text


# --- spacing -----------------------------------------------------------------------------------------------------


def spacing_seconds(times_ns: np.ndarray) -> int | None:
    """The most common distance between consecutive bars, in seconds; None with fewer than two bars."""
    if len(times_ns) < 2:
        return None
    steps = np.diff(np.sort(times_ns)) // 1_000_000_000
    steps = steps[steps > 0]
    if not len(steps):
        return None
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def duration_text(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
