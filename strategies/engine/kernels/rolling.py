"""Rolling window sums and means: the exactly rounded SMA, the sample standard deviation,
and the plain running mean the decision kernels start from (README, "Proofs of exactness")."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _u

# Re-sum a window from scratch once its running sum has cancelled down to this share of
# the largest value it carried since the last re-sum: beyond it, rounding left over from
# values that have since left the window could show in the digits that remain.
_RESUM_BELOW = 1e-6


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _two_sum(a: float, b: float) -> tuple[float, float]:  # pragma: no cover - compiled
    """(a + b rounded, its exact rounding error), Knuth's TwoSum: no branches."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _neumaier_add(total: float, comp: float, v: float) -> tuple[float, float]:  # pragma: no cover
    """total + v with the rounding error carried in comp (Neumaier's compensated sum)."""
    t = total + v
    if abs(total) >= abs(v):
        comp += (total - t) + v
    else:
        comp += (v - t) + total
    return t, comp


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mean_of(total: float, comp: float, n: int, inv_n: float) -> float:  # pragma: no cover - compiled
    """(total + comp) / n, rounded once rather than twice.
    Why it is exact: README, "Proofs of exactness", `_mean_of`."""
    q = total / n
    big = q * 134217729.0  # 2**27 + 1: Veltkamp's split
    q_hi = big - (big - q)
    q_lo = q - q_hi
    remainder = (total - q_hi * n) - q_lo * n
    return q + (remainder + comp) * inv_n


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _window_sums(x: np.ndarray, lo: int, hi: int, ref: float) -> tuple[float, float, float, float]:  # pragma: no cover
    """(sum, its rounding error, sum of x - ref, sum of (x - ref)**2) of x[lo:hi], NaN as 0."""
    total = 0.0
    comp = 0.0
    s1 = 0.0
    s2 = 0.0
    for j in range(lo, hi):
        if x[j] == x[j]:
            d = x[j] - ref
            total, comp = _neumaier_add(total, comp, x[j])
            s1 += d
            s2 += d * d
    return total, comp, s1, s2


@njit(cache=True, nogil=True, error_model="numpy")
def rolling_mean_kernel(x: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    """The mean of rolling_moments_kernel alone, for a NaN-free x."""
    return _rolling_moments(x, n, False, False)[0]


@njit(cache=True, nogil=True, error_model="numpy")
def rolling_mean_nan_kernel(x: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    """The rolling mean of an x with NaN values: NaN for every window holding one."""
    return _rolling_moments(x, n, False, True)[0]


@njit(cache=True, nogil=True, error_model="numpy")
def rolling_moments_kernel(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Mean (exactly rounded) and sample standard deviation (ddof=1) of every length-n window of a NaN-free x,
    as pandas' `rolling(n).mean()` / `.std()`: NaN for the first n-1.
    Why it is exact: README, "Proofs of exactness", `rolling_moments_kernel`."""
    return _rolling_moments(x, n, True, False)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _rolling_moments(
    x: np.ndarray, n: int, with_std: bool, with_nan: bool
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """The three kernels above; inlined with constant flags, so each compiled version
    carries only its own work. `std` is empty unless with_std; with_nan counts NaN
    values as 0 in the sums and blanks the windows holding one.

    Two loops: the running sums bar by bar (each depends on the last), then the means and
    deviations from them in a loop without dependencies, which the compiler vectorises
    (the corrected division of _mean_of, the square roots)."""
    size = x.shape[0]
    mean = np.full(size, np.nan)
    std = np.full(size if with_std else 0, np.nan)
    if n > size:
        return mean, std
    run = 1  # length of the run of equal values ending at i
    nans = 0  # NaN values in the window ending at i (with_nan only)
    for j in range(n - 1):
        if j > 0:
            run = run + 1 if x[j] == x[j - 1] else 1
        if with_nan:
            nans += x[j] != x[j]
    total = comp = ref = s1 = s2 = 0.0
    inv_n = 1.0 / n  # for the re-sum test and the mean's last-bit correction
    totals = np.empty(size)  # the compensated sum (total, comp) of each window
    comps = np.empty(size)
    # 0: the mean from the sums; 1: all values equal, the mean is the value; 2: a NaN
    kind = np.empty(size, np.int8)
    sums1 = np.empty(size if with_std else 0)  # s1 and s2 of each window
    sums2 = np.empty(size if with_std else 0)
    carried = 0.0  # largest s2 since the last re-sum
    anchor = n - 1  # next bar at which the sums are re-summed
    for i in range(n - 1, size):
        v = x[_u(i)]
        run = run + 1 if i > 0 and v == x[_u(i - 1)] else 1
        if with_nan:
            nans += v != v
            if i >= n:
                nans -= x[_u(i - n)] != x[_u(i - n)]
        if i >= anchor:
            ref = v if v == v else 0.0
            total, comp, s1, s2 = _window_sums(x, i - n + 1, i + 1, ref)
            carried = s2
            # The compensated total keeps its digits over any length; only the
            # deviation's sums need summing afresh.
            anchor = i + n if with_std else size
        else:
            u = x[_u(i - n)]
            if with_nan:
                v = v if v == v else 0.0
                u = u if u == u else 0.0
            # One addition per bar on the running total: the change v - u first; both
            # roundings are kept in the compensation (branch-free TwoSum).
            change, err = _two_sum(v, -u)
            total, err2 = _two_sum(total, change)
            comp += err + err2
            if with_std:
                d = v - ref
                e = u - ref
                s1 += d - e
                s2 += d * d - e * e
                carried = max(carried, s2)
        totals[_u(i)] = total
        comps[_u(i)] = comp
        if with_nan and nans > 0:
            kind[_u(i)] = 2
            continue
        if run >= n:
            # an all-equal window is its value, exactly: the compensated running total
            # can keep a residue (a %D of 0s came out -1.6e-30 < a %K of 0, a crossing)
            kind[_u(i)] = 1
            if with_std:
                sums1[_u(i)] = sums2[_u(i)] = 0.0  # a deviation of exactly 0
            continue
        kind[_u(i)] = 0
        if with_std:
            if s2 - s1 * s1 * inv_n < carried * _RESUM_BELOW:
                ref = x[_u(i)]
                total, comp, s1, s2 = _window_sums(x, i - n + 1, i + 1, ref)
                totals[_u(i)] = total
                comps[_u(i)] = comp
                carried = s2
            sums1[_u(i)] = s1
            sums2[_u(i)] = s2
    for i in range(n - 1, size):
        # the mean, exactly rounded: the value itself for equal values, NaN if one is NaN
        k = kind[_u(i)]
        m = _mean_of(totals[_u(i)], comps[_u(i)], n, inv_n)
        mean[_u(i)] = x[_u(i)] if k == 1 else (np.nan if k == 2 else m)
    if with_std and n > 1:
        for i in range(n - 1, size):
            m2 = sums2[_u(i)] - sums1[_u(i)] * sums1[_u(i)] / n
            std[_u(i)] = np.sqrt(max(m2, 0.0) / (n - 1))
    return mean, std


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _window_total(x: np.ndarray, lo: int, hi: int) -> float:  # pragma: no cover - compiled
    """Sum of x[lo:hi]."""
    total = 0.0
    for j in range(lo, hi):
        total += x[j]
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def sma_kernel(x: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    """indicators.sma: the plain kernel when x has no NaN, or none past a NaN lead (then on
    the rest, NaN over the lead); the NaN kernel when a NaN follows a number."""
    size = x.shape[0]
    lead = 0
    while lead < size and x[lead] != x[lead]:
        lead += 1
    if lead == size:  # empty or all NaN
        return rolling_mean_nan_kernel(x, n) if size > 0 else rolling_mean_kernel(x, n)
    for j in range(lead, size):
        if x[j] != x[j]:
            return rolling_mean_nan_kernel(x, n)
    if lead == 0:
        return rolling_mean_kernel(x, n)
    out = np.full(size, np.nan)
    out[lead:] = rolling_mean_kernel(np.ascontiguousarray(x[lead:]), n)
    return out


# --- moving averages for decisions: a plain running mean, exact where it matters -----------
# Same decisions as the exact mean, bar for bar: README, "Proofs of exactness", decision means.
_COLLAPSE = 1e-2


_DECIDED = 1e-11


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _plain_sum(x: np.ndarray, lo: int, hi: int) -> float:  # pragma: no cover - compiled
    total = 0.0
    for j in range(lo, hi):
        total += x[_u(j)]
    return total


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _plain_means(x: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    """t / n of each window's plain running sum (see above), NaN for the first n - 1 bars
    and over a block whose sum collapsed. x positive and finite."""
    size = x.shape[0]
    out = np.empty(size)
    out[: n - 1] = np.nan
    inv_n = 1.0 / n
    block = max(4 * n, 64)
    for b0 in range(n - 1, size, block):
        b1 = min(b0 + block, size)
        t = _plain_sum(x, b0 - n + 1, b0 + 1)
        most = least = t
        out[b0] = t * inv_n
        for i in range(b0 + 1, b1):
            t += x[_u(i)] - x[_u(i - n)]
            most = max(most, t)
            least = min(least, t)
            out[_u(i)] = t * inv_n
        if least < most * _COLLAPSE:
            out[b0:b1] = np.nan
    return out


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _exact_mean(x: np.ndarray, i: int, n: int, inv_n: float) -> float:  # pragma: no cover - compiled
    """The mean of x[i - n + 1 : i + 1] as _rolling_moments gives it: the value itself for
    equal values, else the compensated sum divided with its remainder (rounded once)."""
    lo = i - n + 1
    v = x[i]
    for j in range(lo, i):
        if x[j] != v:
            total = 0.0
            comp = 0.0
            for k in range(lo, i + 1):
                total, comp = _neumaier_add(total, comp, x[k])
            return _mean_of(total, comp, n, inv_n)
    return v


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _deviation_sums(x: np.ndarray, lo: int, hi: int, ref: float) -> tuple[float, float, float]:  # pragma: no cover
    """(sum of x - ref, sum of (x - ref)**2, largest |x - ref|) over x[lo:hi], summed in
    _window_sums' order (so the same two sums)."""
    s1 = 0.0
    s2 = 0.0
    most = 0.0
    for j in range(lo, hi):
        d = x[j] - ref
        s1 += d
        s2 += d * d
        most = max(most, abs(d))
    return s1, s2, most
