"""Coarser bars from finer ones: pure numpy, no Django, no database.

A coin stored at 1m, 5m, 15m, 30m or 1h can be backtested at any coarser interval of INTERVALS:
its bars are grouped in UTC-aligned buckets (4h buckets start at 00:00, 04:00, ...; 1d at 00:00;
1w on Monday 00:00) and each bucket gives one bar: the first open, the highest high, the lowest
low, the last close, the summed volume. A bucket at either end of the stored data that is not
complete (the stored bars start after its start, or end before its end) is left out; a gap inside
the data only makes its bucket hold fewer bars.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from .models import INTERVAL_SECONDS, INTERVALS, IntervalStats

# The intervals other intervals are derived from, finest first.
SOURCE_INTERVALS = ("1m", "5m", "15m", "30m", "1h")
_NS = 1_000_000_000
# 1970-01-01 was a Thursday: weeks are counted from Monday 1970-01-05.
_WEEK_ORIGIN_NS = 4 * 86_400 * _NS


def derivable_from(interval: str) -> tuple[str, ...]:
    """The stored intervals `interval` can be derived from, finest first (none for 1m)."""
    seconds = INTERVAL_SECONDS[interval]
    return tuple(s for s in SOURCE_INTERVALS if INTERVAL_SECONDS[s] < seconds and seconds % INTERVAL_SECONDS[s] == 0)


def coarser_intervals(interval: str) -> tuple[str, ...]:
    """The intervals that can be derived from `interval` bars (none unless it is a source interval)."""
    return tuple(i for i in INTERVALS if interval in derivable_from(i))


def derived_intervals(stored: set[str] | list[str]) -> dict[str, str]:
    """{interval: source} for every interval not stored that the finest stored source gives."""
    sources = [s for s in SOURCE_INTERVALS if s in stored]
    if not sources:
        return {}
    finest = sources[0]
    return {i: finest for i in INTERVALS if i not in stored and finest in derivable_from(i)}


def bucket_starts(times_ns: np.ndarray, interval: str) -> np.ndarray:
    """The start (ns) of the UTC-aligned bucket of `interval` holding each time."""
    size = INTERVAL_SECONDS[interval] * _NS
    origin = _WEEK_ORIGIN_NS if interval == "1w" else 0
    return (times_ns - origin) // size * size + origin


def ohlcv_aggregate(
    times: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    *,
    source: str,
    target: str,
) -> tuple[np.ndarray, ...]:
    """(times, open, high, low, close, volume) of `target` bars from ascending `source` bars.

    1. Bucket every bar by its UTC-aligned `target` start; the runs of equal buckets are the new bars.
    2. First open, max high, min low, last close, summed volume (NaN when no bar of the bucket has one).
    3. Drop the first bucket if the data start after its start, the last if they end before its last bar.
    """
    if source not in derivable_from(target):
        raise ValueError(f"{target} bars cannot be made from {source} bars")
    if not len(times):
        empty = np.empty(0)
        return np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty
    buckets = bucket_starts(times, target)
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], len(times)] - 1
    known = ~np.isnan(volume)
    sums = np.add.reduceat(np.where(known, volume, 0.0), starts)
    counts = np.add.reduceat(known.astype(np.int64), starts)
    bars = (
        buckets[starts],
        open_[starts],
        np.maximum.reduceat(high, starts),
        np.minimum.reduceat(low, starts),
        close[ends],
        np.where(counts > 0, sums, np.nan),
    )
    keep = np.ones(len(starts), dtype=bool)
    step = INTERVAL_SECONDS[source] * _NS
    size = INTERVAL_SECONDS[target] * _NS
    if times[0] > buckets[0]:
        keep[0] = False
    if times[-1] < buckets[-1] + size - step:
        keep[-1] = False
    return tuple(np.ascontiguousarray(column[keep]) for column in bars)


def derived_span(first_ns: int, last_ns: int, *, source: str, target: str) -> tuple[int, int, int] | None:
    """(first bar, last bar, buckets between them) of `target` made from source bars first..last; None if none.

    The count assumes no whole bucket is missing inside (a catalogue figure, not a load).
    """
    size = INTERVAL_SECONDS[target] * _NS
    step = INTERVAL_SECONDS[source] * _NS
    first_bucket = int(bucket_starts(np.array([first_ns]), target)[0])
    if first_ns > first_bucket:
        first_bucket += size
    last_bucket = int(bucket_starts(np.array([last_ns]), target)[0])
    if last_ns < last_bucket + size - step:
        last_bucket -= size
    if last_bucket < first_bucket:
        return None
    return first_bucket, last_bucket, (last_bucket - first_bucket) // size + 1


def _ns(value: dt.datetime) -> int:
    return int(value.timestamp()) * _NS + value.microsecond * 1000


def interval_stats_derived(stored: list[IntervalStats]) -> list[IntervalStats]:
    """The derived intervals a coin offers, from the stats of its stored intervals (no query)."""
    by_interval = {s.interval: s for s in stored}
    derived = []
    for target, source in derived_intervals(set(by_interval)).items():
        fine = by_interval[source]
        span = derived_span(_ns(fine.first), _ns(fine.last), source=source, target=target)
        if span is not None:
            first, last, count = (
                dt.datetime.fromtimestamp(span[0] / _NS, tz=dt.UTC),
                dt.datetime.fromtimestamp(span[1] / _NS, tz=dt.UTC),
                span[2],
            )
            derived.append(IntervalStats(target, count, first, last, derived_from=source))
    return derived
