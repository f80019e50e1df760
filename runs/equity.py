"""A coin's stored equity curve: chosen points, packed as float64 bytes. Pure numpy, no Django.

Stored as bytes rather than JSON: encoding some 5,000 floats as JSON text (and PostgreSQL
parsing it as jsonb) was the largest cost of saving a result.
Layout: header (magic, n), then n int64 epoch seconds, n float64 equity, n float64 buy-and-hold
(close / first close), all little-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .downsample import MAX_POINTS, minmax_indices

_HEADER = struct.Struct("<4sI")
_MAGIC = b"EQT1"


@dataclass(frozen=True)
class EquityCurve:
    times: np.ndarray  # int64 epoch seconds
    values: np.ndarray  # float64 equity, 1.0 at the start
    buy_hold: np.ndarray  # float64 close / first close at the same bars


def equity_curve(times_ns: np.ndarray, equity: np.ndarray, close: np.ndarray) -> EquityCurve:
    """At most MAX_POINTS points of the curve, chosen by min/max per bucket of the equity (so the
    drawdowns survive; see downsample.py), with buy-and-hold at the same bars."""
    equity = np.asarray(equity, dtype=np.float64)
    if equity.shape[0] == 0:
        empty = np.empty(0)
        return EquityCurve(np.empty(0, dtype=np.int64), empty, empty)
    idx = minmax_indices(equity, MAX_POINTS)
    return EquityCurve(times_ns[idx] // 1_000_000_000, equity[idx], close[idx] / close[0])


def equity_pack(curve: EquityCurve) -> bytes:
    n = curve.times.shape[0]
    return b"".join(
        [
            _HEADER.pack(_MAGIC, n),
            curve.times.astype("<i8").tobytes(),
            curve.values.astype("<f8").tobytes(),
            curve.buy_hold.astype("<f8").tobytes(),
        ]
    )


def equity_unpack(blob: bytes | memoryview | None) -> EquityCurve:
    if not blob:
        return equity_curve(np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
    blob = bytes(blob)
    magic, n = _HEADER.unpack_from(blob, 0)
    if magic != _MAGIC or len(blob) != _HEADER.size + 24 * n:
        raise ValueError("not a packed equity curve")
    off = _HEADER.size
    times = np.frombuffer(blob, dtype="<i8", count=n, offset=off)
    values = np.frombuffer(blob, dtype="<f8", count=n, offset=off + 8 * n)
    buy_hold = np.frombuffer(blob, dtype="<f8", count=n, offset=off + 16 * n)
    return EquityCurve(times, values, buy_hold)
