"""The one indicator of spec/RULES.md the engine had no kernel for: the average true range."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def atr_kernel(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover
    """Wilder's average true range as TA-Lib computes it.

    TR[i] = max(high - low, |high - close[i-1]|, |low - close[i-1]|) for i >= 1; the first
    ATR is the mean of TR[1..n] (at index n), then ATR[i] = (ATR[i-1] * (n-1) + TR[i]) / n,
    in TA-Lib's order of operations. NaN before index n."""
    size = close.shape[0]
    out = np.full(size, np.nan)
    if size <= n:
        return out
    total = 0.0
    for i in range(1, n + 1):
        total += _true_range(high[i], low[i], close[i - 1])
    value = total / n
    out[n] = value
    for i in range(n + 1, size):
        value = (value * (n - 1) + _true_range(high[i], low[i], close[i - 1])) / n
        out[i] = value
    return out


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _true_range(high: float, low: float, previous_close: float) -> float:  # pragma: no cover - compiled
    return max(high - low, abs(high - previous_close), abs(low - previous_close))
