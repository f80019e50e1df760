"""Data quality of one price series: coverage, gaps, zero volume, flat runs, jumps. Pure numpy, no Django.

- A gap: two consecutive bars further apart than one interval; `missing` is the number of bars
  that would fit between them. `missing_bars` sums them.
- A flat run: FLAT_RUN_BARS or more consecutive bars with the same close (a stale feed, an
  exchange halt, a filled-in gap).
- A jump: a close that differs from the previous bar's close by more than JUMP_THRESHOLD
  (a relative change; 0.2 is 20 %), which is often a bad tick or a missing split.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from .models import INTERVAL_SECONDS

FLAT_RUN_BARS = 10
JUMP_THRESHOLD = 0.2
_NS = 1_000_000_000


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // _NS, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _runs(equal_to_previous: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) bar index of each run of bars equal to their predecessor, the first bar of a run included."""
    edges = np.diff(np.r_[0, equal_to_previous.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)  # index into equal_to_previous: bar starts + 1
    ends = np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]  # bars s .. e (inclusive)


def quality_report(
    times: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    *,
    interval: str,
    flat_run_bars: int = FLAT_RUN_BARS,
    jump_threshold: float = JUMP_THRESHOLD,
) -> dict[str, Any]:
    """The report of ascending bars (times int64 ns UTC) of one interval; a JSON-ready dict.

    1. First, last, bar count. 2. Gaps from the distances between consecutive bars.
    3. Bars with zero volume (NaN, no volume known, is not zero). 4. Runs of equal closes.
    5. Close-to-close changes beyond the threshold.
    """
    step = INTERVAL_SECONDS[interval] * _NS
    report: dict[str, Any] = {
        "interval": interval,
        "first": _iso(int(times[0])) if len(times) else None,
        "last": _iso(int(times[-1])) if len(times) else None,
        "bars": int(len(times)),
        "missing_bars": 0,
        "gaps": [],
        "zero_volume_bars": int(np.count_nonzero(volume == 0)),
        "flat_runs": [],
        "jumps": [],
    }
    if len(times) < 2:
        return report
    distance = np.diff(times)
    at = np.flatnonzero(distance > step)
    missing = distance[at] // step - 1 + (distance[at] % step > 0)  # an off-grid bar still leaves a hole
    report["gaps"] = [
        {"after": _iso(int(times[k])), "before": _iso(int(times[k + 1])), "missing": int(m)}
        for k, m in zip(at.tolist(), missing.tolist(), strict=True)
    ]
    report["missing_bars"] = int(missing.sum())
    for first, last in _runs(close[1:] == close[:-1]):
        if last - first + 1 >= flat_run_bars:
            report["flat_runs"].append(
                {"start": _iso(int(times[first])), "end": _iso(int(times[last])), "bars": last - first + 1}
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        change = close[1:] / close[:-1] - 1
    for k in np.flatnonzero(np.abs(change) > jump_threshold).tolist():
        report["jumps"].append(
            {
                "at": _iso(int(times[k + 1])),
                "from": float(close[k]),
                "to": float(close[k + 1]),
                "change": round(float(change[k]), 6),
            }
        )
    return report
