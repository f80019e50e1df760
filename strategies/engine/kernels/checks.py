"""The input check: the first bad price (NaN, infinite, not positive) or unordered time."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _first_bad_price


@njit(cache=True, nogil=True, error_model="numpy")
def first_bad_value_kernel(
    times: np.ndarray, close: np.ndarray, high: np.ndarray, low: np.ndarray, open_: np.ndarray
) -> tuple[int, int]:  # pragma: no cover - compiled
    """(which, index) of the first bad value: which is 0 for close, 1 high, 2 low, 3 open (a
    price NaN, infinite or not positive; high, low and open may be empty, unchecked) and 4 for times
    (a timestamp not after its predecessor); (-1, -1) when all are good. Prices first,
    in that order, then times."""
    bad = _first_bad_price(close)
    if bad >= 0:
        return 0, bad
    bad = _first_bad_price(high)
    if bad >= 0:
        return 1, bad
    bad = _first_bad_price(low)
    if bad >= 0:
        return 2, bad
    bad = _first_bad_price(open_)
    if bad >= 0:
        return 3, bad
    bad = _first_unordered_time(times)
    return (4, bad) if bad >= 0 else (-1, -1)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _first_unordered_time(t: np.ndarray) -> int:  # pragma: no cover - compiled
    """Index of the first timestamp not after its predecessor; -1 if strictly ascending."""
    bad = 0
    for i in range(1, t.shape[0]):
        bad += t[i] <= t[i - 1]
    if bad == 0:
        return -1
    for i in range(1, t.shape[0]):
        if t[i] <= t[i - 1]:
            return i
    return -1  # unreachable
