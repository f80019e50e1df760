"""Choosing which points of a long curve to store. Pure numpy, no Django."""

from __future__ import annotations

import numpy as np

MAX_POINTS = 2000


def minmax_indices(values: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices (ascending) of at most `max_points` points that keep the curve's shape.

    The curve is cut into max_points // 2 buckets of consecutive points, and each bucket
    keeps its lowest and its highest point, in time order. Unlike a plain stride this keeps
    every peak and trough, so the stored equity curve still shows the maximum drawdown.
    The first and last points are always kept. A curve that fits is kept whole.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n <= max_points:
        return np.arange(n)
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    # Two slots are reserved for the first and last points; the rest hold min/max pairs of
    # equal-size buckets (the last one padded), found with one argmin/argmax per row.
    buckets = (max_points - 2) // 2
    inner = values[1:-1]
    m = inner.shape[0]
    size = -(-m // buckets)  # ceil
    rows = -(-m // size)
    # NaN (and the padding) never wins a bucket: compare with +/-inf in its place.
    nan = np.isnan(inner)
    lows = np.full(rows * size, np.inf)
    highs = np.full(rows * size, -np.inf)
    lows[:m] = inner
    highs[:m] = inner
    if nan.any():
        lows[:m][nan] = np.inf
        highs[:m][nan] = -np.inf
    low = lows.reshape(rows, size).argmin(axis=1)
    high = highs.reshape(rows, size).argmax(axis=1)
    # Each bucket's two picks in time order (one when its lowest is its highest); the buckets
    # follow each other, so the picks are ascending without a sort.
    offsets = np.arange(rows, dtype=np.int64) * size
    pairs = np.stack([np.minimum(low, high), np.maximum(low, high)], axis=1) + offsets[:, None]
    keep = np.ones((rows, 2), dtype=bool)
    keep[:, 1] = low != high
    picked = pairs[keep]
    picked = picked[picked < m] + 1  # back to indices of `values`
    return np.concatenate([[0], picked, [n - 1]]).astype(np.int64)
