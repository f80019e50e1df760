"""Small inlined helpers every kernel module shares: unsigned indexes, NaN-propagating
min/max, the positive-price test."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _u(i: int) -> np.uint64:  # pragma: no cover - compiled
    """An index known to be >= 0: numba then skips its wraparound test for negative
    indexes, which otherwise stops a loop from being vectorised."""
    return np.uint64(i)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pick_max(a: float, b: float) -> float:  # pragma: no cover - compiled
    """np.maximum(a, b): NaN when either is."""
    return a if (a > b) | (a != a) else b


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pick_min(a: float, b: float) -> float:  # pragma: no cover - compiled
    """np.minimum(a, b): NaN when either is."""
    return a if (a < b) | (a != a) else b


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _first_bad_price(x: np.ndarray) -> int:  # pragma: no cover - compiled
    """Index of the first value that is NaN, infinite or not positive; -1 if none.

    The common case, all good, is one branch-free counting pass (numba vectorises it);
    only bad data pays for the search.
    """
    good = 0
    for i in range(x.shape[0]):
        good += (x[i] > 0.0) & (x[i] < np.inf)  # false for NaN
    if good == x.shape[0]:
        return -1
    for i in range(x.shape[0]):
        if not (x[i] > 0.0 and x[i] < np.inf):
            return i
    return -1  # unreachable
