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


def month_ends(times_ns: np.ndarray) -> np.ndarray:
    """Indices of the last bar of each calendar month (UTC) in ascending times.

    From the starts of the months the times span (a few dozen), not from every bar's month: the
    first bar at or after each month's start, less one, is the previous month's last bar (a month
    without bars has none)."""
    times = np.asarray(times_ns, dtype=np.int64)
    if times.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    first, last = times[[0, -1]].astype("datetime64[ns]").astype("datetime64[M]")
    starts = np.arange(first + 1, last + 2, dtype="datetime64[M]").astype("datetime64[ns]").astype(np.int64)
    cuts = np.searchsorted(times, starts, side="left")  # the first bar of each month after the first
    filled = np.empty(cuts.shape[0], dtype=bool)  # the month before each cut has bars
    filled[0] = True  # the first month holds the first bar
    filled[1:] = cuts[1:] > cuts[:-1]
    return cuts[filled].astype(np.int64) - 1


def equity_curve(times_ns: np.ndarray, equity: np.ndarray, close: np.ndarray) -> EquityCurve:
    """At most MAX_POINTS points of the curve, chosen by min/max per bucket of the equity (so the
    drawdowns survive; see downsample.py), with buy-and-hold at the same bars. The last bar of
    every month is always among them, so the monthly returns (monthly_returns) are exact."""
    equity = np.asarray(equity, dtype=np.float64)
    if equity.shape[0] == 0:
        empty = np.empty(0)
        return EquityCurve(np.empty(0, dtype=np.int64), empty, empty)
    ends = month_ends(times_ns)
    if equity.shape[0] <= MAX_POINTS:
        idx = np.arange(equity.shape[0])
    else:
        keep = np.zeros(equity.shape[0], dtype=bool)  # both sets of indices, ascending, without a sort
        keep[minmax_indices(equity, max(4, MAX_POINTS - ends.shape[0]))] = True
        keep[ends] = True
        idx = np.flatnonzero(keep)
    return EquityCurve(times_ns[idx] // 1_000_000_000, equity[idx], close[idx] / close[0])


def drawdown_pct(values: np.ndarray) -> np.ndarray:
    """The underwater curve: how far below its highest point so far the equity is, in % (0 or less)."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] == 0:
        return values
    return (values / np.maximum.accumulate(values) - 1.0) * 100.0


def monthly_returns(times_s: np.ndarray, values: np.ndarray, start: float = 1.0) -> list[dict]:
    """Return of each calendar month (UTC) in %, from the equity at the last point of each month
    against the one before (the first month against the starting capital `start`), with the
    year's compounded return: [{"year": 2024, "months": [12 values, None where no bar], "total"}].
    Exact on a curve that keeps every month's last bar (equity_curve does)."""
    times_s = np.asarray(times_s, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if times_s.shape[0] == 0:
        return []
    months = times_s.astype("datetime64[s]").astype("datetime64[M]")
    last = np.concatenate([np.flatnonzero(months[1:] != months[:-1]), [months.shape[0] - 1]])
    ends = values[last]
    previous = np.concatenate([[start], ends[:-1]])
    returns = (ends / previous - 1.0) * 100.0
    rows: dict[int, dict] = {}
    for month, value, end, before in zip(months[last].tolist(), returns.tolist(), ends, previous, strict=True):
        row = rows.setdefault(month.year, {"year": month.year, "months": [None] * 12, "first": before})
        row["months"][month.month - 1] = value
        row["last"] = end
    return [
        {"year": r["year"], "months": r["months"], "total": (r["last"] / r["first"] - 1.0) * 100.0}
        for r in rows.values()
    ]


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
