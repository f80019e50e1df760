"""The indicators of spec/ENGINE.md, each computed over the whole series at once.

Each function takes float64 arrays and returns an array of the same length, NaN where
the indicator is undefined, equal to the pandas expression the spec names
(`rolling(n).mean()`, `rolling(n).std()`, `ewm(span=n, adjust=False).mean()`) to
rounding, and where the two differ, on the exact side: the SMA is the exact window mean
rounded once (pandas is off by the last bit at times), the standard deviation stays
within 1e-11 of the typical deviation of the two-pass value (pandas' online variance
drifts far more on quiet windows), and an all-equal window gives its value and 0.

Array expressions (numpy) wherever they are exact: differences, comparisons,
rolling_max / rolling_min (the Stochastic's %K does the same in one compiled pass,
stochastic_k_kernel, as the strategies' signals do theirs: see signals.py). Compiled kernels
(kernels.py, the way pandas runs
its own rolling windows) where an array expression would lose digits or is a
recursion: rolling mean and standard deviation (a cumulative-sum difference lost the
first digit of a 2-bar standard deviation at 60,000), the EMA and Wilder's smoothing.
None of them is ever evaluated bar by bar from Python.
"""

from __future__ import annotations

import numpy as np

from .kernels import (
    ema_difference_kernel,
    ema_kernel,
    rolling_mean_kernel,
    rolling_mean_nan_kernel,
    rolling_moments_kernel,
    rsi_sma_kernel,
    rsi_wilder_kernel,
    stochastic_k_kernel,
)


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """`rolling(n).mean()`: NaN for the first n-1 values and for windows holding a NaN."""
    x = _f64(x)
    nan = np.isnan(x)
    if not nan.any():
        return rolling_mean_kernel(x, int(n))
    # %D is the one caller with NaN, most often only in %K's own warm-up: past that
    # lead the plain kernel does; NaN further in (a bar range of 0) needs the NaN one.
    lead = int(np.argmin(nan))
    if nan[lead:].any():
        return rolling_mean_nan_kernel(x, int(n))
    out = np.full(x.shape[0], np.nan)
    out[lead:] = rolling_mean_kernel(x[lead:], int(n))
    return out


def rolling_std(x: np.ndarray, n: int) -> np.ndarray:
    """`rolling(n).std()`: sample standard deviation (ddof=1) of the last n values (NaN-free x)."""
    return rolling_moments_kernel(_f64(x), int(n))[1]


def sma_and_std(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Both of the above in one pass (the Bollinger bands need both; NaN-free x)."""
    return rolling_moments_kernel(_f64(x), int(n))


def _f64(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """`ewm(span=n, adjust=False).mean()` of a NaN-free series."""
    return ema_kernel(_f64(x), int(n))


def ema_difference(x: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """ema(x, fast) - ema(x, slow), computed together (the MACD line)."""
    return ema_difference_kernel(_f64(x), int(fast), int(slow))


def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Highest value of the last n (NaN for the first n-1).

    Doubling: after k steps m[i] is the max of x[i : i + 2**k]; two such spans that
    overlap cover any window, so the cost is log2(n) array passes, exact.
    """
    return _rolling_extreme(x, n, np.maximum)


def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Lowest value of the last n (NaN for the first n-1); see rolling_max."""
    return _rolling_extreme(x, n, np.minimum)


def _rolling_extreme(x: np.ndarray, n: int, pick: np.ufunc) -> np.ndarray:
    size = x.shape[0]
    out = np.full(size, np.nan)
    if n > size:
        return out
    m = x
    span = 1
    while span * 2 <= n:
        m = pick(m[:-span], m[span:])
        span *= 2
    count = size - n + 1
    out[n - 1 :] = pick(m[:count], m[n - span : n - span + count])
    return out


def rsi_sma(close: np.ndarray, n: int) -> np.ndarray:
    """RSI with simple moving averages of the gains and losses (the original system's).

    `d = close.diff()`, gain = SMA(max(d, 0), n), loss = SMA(max(-d, 0), n),
    RSI = 100 - 100 / (1 + gain / loss): 100 when only gains, NaN when neither
    (flat prices). Defined from index n, the first with n changes.
    """
    return rsi_sma_kernel(_f64(close), int(n))


def rsi_wilder(close: np.ndarray, n: int) -> np.ndarray:
    """RSI with Wilder's smoothing, as TA-Lib's RSI (first value at index n)."""
    return rsi_wilder_kernel(_f64(close), int(n))


def stochastic(high: np.ndarray, low: np.ndarray, close: np.ndarray, k: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(%K, %D): %K = 100 * (close - LL) / (HH - LL) over the last k bars, NaN where
    HH == LL (no range, so no position within it); %D = SMA(%K, d)."""
    # rolling_max(high, k), rolling_min(low, k) and %K in one compiled call
    pct_k = stochastic_k_kernel(_f64(high), _f64(low), _f64(close), int(k))
    return pct_k, sma(pct_k, d)
