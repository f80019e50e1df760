"""Statistics of an equity curve: bar-return mean, deviation and downside deviation, drawdown and its duration."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _u


@njit(cache=True, nogil=True, error_model="numpy")
def _equity_stats(equity: np.ndarray) -> tuple[float, float, float, float, int]:  # pragma: no cover - compiled
    """(mean, sample std) of the bar returns b = e[i] / e[i-1] - 1, the deepest drawdown
    min(e / running max - 1) as a fraction, the downside deviation sqrt(mean(min(b, 0)**2))
    (0 when no b is negative) and the longest drawdown in bars (max over i of i - the last
    j <= i with e[j] = running max[i]).

    Steps:
    1. the returns, in a loop without dependencies (the divisions run side by side), and
       the downside squares in another;
    2. mean and variance, two passes, eight partial sums each (fewer stalls, and closer
       to numpy's pairwise sum than one long running sum);
    3. the drawdown: for each run-up, the lowest point before the next peak, so one
       division per peak instead of one per bar (the same quotient, so the same value);
       a value equal to the peak starts a new run-up too (the duration counts from the
       last time the peak was reached, and the drawdown is the same minimum).
    The std is NaN with fewer than two returns.
    """
    n = equity.shape[0]
    m = n - 1
    b = np.empty(m)
    for i in range(m):
        b[i] = equity[_u(i + 1)] / equity[_u(i)] - 1.0
    mean = _sum8(b, 0.0, False) / m if m > 0 else 0.0
    std = np.sqrt(_sum8(b, mean, True) / (m - 1)) if m > 1 else np.nan
    down = 0.0
    negatives = 0
    for i in range(m):
        d = b[i] if b[i] < 0.0 else 0.0
        down += d * d
        negatives += b[i] < 0.0
    downside = np.sqrt(down / m) if negatives > 0 else 0.0
    peak = trough = equity[0]
    worst = 0.0
    peak_at = 0
    longest = 0
    for i in range(1, n):
        v = equity[_u(i)]
        # a select, not a branch (numba's min() of floats is one): in a position a fall
        # is as likely as a rise, and a mispredicted branch costs more than the select
        trough = v if v < trough else trough
        if v >= peak:
            r = trough / peak - 1.0
            worst = r if r < worst else worst
            peak = trough = v
            longest = max(longest, i - 1 - peak_at)
            peak_at = i
    longest = max(longest, n - 1 - peak_at)
    r = trough / peak - 1.0
    return mean, std, (r if r < worst else worst), downside, longest


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sum8(b: np.ndarray, center: float, squares: bool) -> float:  # pragma: no cover - compiled
    """Sum of b (or of (b - center)**2), in eight interleaved partial sums: scalars the
    compiler keeps in registers and adds side by side."""
    m = b.shape[0]
    q = m - m % 8
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    for i in range(0, q, 8):
        d0 = b[_u(i)] - center
        d1 = b[_u(i + 1)] - center
        d2 = b[_u(i + 2)] - center
        d3 = b[_u(i + 3)] - center
        d4 = b[_u(i + 4)] - center
        d5 = b[_u(i + 5)] - center
        d6 = b[_u(i + 6)] - center
        d7 = b[_u(i + 7)] - center
        if squares:
            d0 *= d0
            d1 *= d1
            d2 *= d2
            d3 *= d3
            d4 *= d4
            d5 *= d5
            d6 *= d6
            d7 *= d7
        a0 += d0
        a1 += d1
        a2 += d2
        a3 += d3
        a4 += d4
        a5 += d5
        a6 += d6
        a7 += d7
    for i in range(q, m):
        d = b[_u(i)] - center
        a0 += d * d if squares else d
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@njit(cache=True, nogil=True, error_model="numpy")
def trade_stats_kernel(
    returns: np.ndarray, reason: np.ndarray, entry_index: np.ndarray, exit_index: np.ndarray, stop_code: int
) -> tuple[int, int, float, float, float, float, float, int, int]:  # pragma: no cover - compiled
    """One pass over the trades (in the order they closed): (profitable: r > 0, stop-loss
    exits: reason == stop_code, sum of r > 0, -(sum of r < 0), sum of r, max r, min r (0
    with no trades), sum of exit - entry bars, longest run of r <= 0)."""
    profitable = stops = held = run = longest = 0
    gains = losses = total = 0.0
    best = -np.inf
    worst = np.inf
    for t in range(returns.shape[0]):
        r = returns[t]
        profitable += r > 0.0
        stops += reason[t] == stop_code
        gains += r if r > 0.0 else 0.0
        losses -= r if r < 0.0 else 0.0
        total += r
        best = max(best, r)
        worst = min(worst, r)
        held += exit_index[t] - entry_index[t]
        run = run + 1 if r <= 0.0 else 0
        longest = max(longest, run)
    if returns.shape[0] == 0:
        best = worst = 0.0
    return profitable, stops, gains, losses, total, best, worst, held, longest
