"""A stored list of trades (a coin's, or a run's account's): packed arrays, not JSON. Pure numpy.

Stored as bytes for the same reason as the equity curve (runs.equity): a coin's hundred trades as
JSON were some 20 KB of text to build, send and have PostgreSQL parse as jsonb, more than the
backtest itself; packed they are 41 bytes a trade, written straight from the engine's arrays.

Layout (little-endian): header (magic, n, length of the labels), the labels as JSON
({"reasons": [...], "symbols": [...]}, the names the codes below index), then n int64 entry
times and n int64 exit times (ns since the epoch, UTC), n float64 entry prices, exit prices and
return_pct, n uint8 reason codes and, when there are symbols, n int32 symbol indexes.

`trades_unpack` gives the trades as the API serves them: {"symbol" (account only), "entry_time",
"entry_price", "exit_time", "exit_price", "return_pct", "reason"}, times ISO 8601 UTC.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

_HEADER = struct.Struct("<4sII")
_MAGIC = b"TRD1"


def iso_seconds(ns: Sequence[int] | np.ndarray) -> list[str]:
    """Epoch nanoseconds as ISO 8601 UTC at whole seconds ("2024-01-01T00:00:00Z")."""
    stamps = np.asarray(ns, dtype=np.int64).astype("datetime64[ns]")
    return [s + "Z" for s in np.datetime_as_string(stamps, unit="s").tolist()]


def trades_pack(
    *,
    entry_time: np.ndarray,
    exit_time: np.ndarray,
    entry_price: np.ndarray,
    exit_price: np.ndarray,
    return_pct: np.ndarray,
    reason: np.ndarray,
    reasons: Sequence[str],
    symbol: np.ndarray | None = None,
    symbols: Sequence[str] = (),
) -> bytes:
    """The trades' arrays (reason: codes into `reasons`; symbol: indexes into `symbols`) as bytes."""
    n = int(np.asarray(entry_time).shape[0])
    labels = json.dumps({"reasons": list(reasons), "symbols": list(symbols)}).encode()
    parts = [_HEADER.pack(_MAGIC, n, len(labels)), labels]
    parts += [np.asarray(a).astype("<i8").tobytes() for a in (entry_time, exit_time)]
    parts += [np.asarray(a).astype("<f8").tobytes() for a in (entry_price, exit_price, return_pct)]
    parts.append(np.asarray(reason).astype("u1").tobytes())
    if symbols:
        parts.append(np.asarray(symbol).astype("<i4").tobytes())
    return b"".join(parts)


def trades_unpack(blob: bytes | memoryview | None) -> list[dict[str, Any]]:
    """The packed trades as dicts (see the module docstring); [] for none."""
    if not blob:
        return []
    blob = bytes(blob)
    magic, n, size = _HEADER.unpack_from(blob, 0)
    if magic != _MAGIC:
        raise ValueError("not a packed trade list")
    off = _HEADER.size
    labels = json.loads(blob[off : off + size])
    reasons, symbols = labels["reasons"], labels["symbols"]
    off += size
    if len(blob) != off + n * (41 + (4 if symbols else 0)):
        raise ValueError("not a packed trade list")

    def column(dtype: str, width: int) -> np.ndarray:
        nonlocal off
        values = np.frombuffer(blob, dtype=dtype, count=n, offset=off)
        off += width * n
        return values

    entry_time, exit_time = column("<i8", 8), column("<i8", 8)
    prices = [column("<f8", 8).tolist() for _ in range(3)]
    reason = [reasons[code] for code in column("u1", 1).tolist()]
    fields = {
        "entry_time": iso_seconds(entry_time),
        "entry_price": prices[0],
        "exit_time": iso_seconds(exit_time),
        "exit_price": prices[1],
        "return_pct": prices[2],
        "reason": reason,
    }
    if symbols:
        fields = {"symbol": [symbols[k] for k in column("<i4", 4).tolist()], **fields}
    names = list(fields)
    return [dict(zip(names, values, strict=True)) for values in zip(*fields.values(), strict=True)]
