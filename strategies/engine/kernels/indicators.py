"""Recursions and oscillators: EMA (pandas' ewm, bit for bit), the MACD line, Wilder's
averages (TA-Lib's order), the SMA-smoothed RSI and the Stochastic's %K."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _pick_max, _pick_min, _u
from .rolling import _RESUM_BELOW, _window_total


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ema_weights(span: int) -> tuple[float, float]:  # pragma: no cover - compiled
    """(a, 1 - a) as pandas' ewm forms them: a = 1 / (1 + com), com = (span - 1) / 2."""
    a = 1.0 / (1.0 + (span - 1.0) / 2.0)
    return a, 1.0 - a


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ema_step(e: float, x: float, a: float, b: float) -> float:  # pragma: no cover - compiled
    """One step of pandas' `ewm(adjust=False).mean()`, bit for bit.
    Why it is exact: README, "Proofs of exactness", `_ema_step`."""
    if e == x:
        return e
    return b * e + a * x


@njit(cache=True, nogil=True, error_model="numpy")
def ema_kernel(x: np.ndarray, span: int) -> np.ndarray:  # pragma: no cover - compiled
    """`ewm(span=n, adjust=False).mean()`: e[0] = x[0], e[i] = a*x[i] + (1-a)*e[i-1],
    a = 2/(n+1), evaluated as pandas does (_ema_step): equal to it bit for bit."""
    n = x.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    a, b = _ema_weights(span)
    e = x[0]
    out[0] = e
    for i in range(1, n):
        e = _ema_step(e, x[i], a, b)
        out[i] = e
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def ema_difference_kernel(x: np.ndarray, fast: int, slow: int) -> np.ndarray:  # pragma: no cover - compiled
    """ema_kernel(x, fast) - ema_kernel(x, slow) (the MACD line), both recursions in one
    loop: they do not depend on each other, so they run side by side. Same values."""
    n = x.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    af, bf = _ema_weights(fast)
    a_s, bs = _ema_weights(slow)
    ef = es = x[0]
    out[0] = 0.0
    for i in range(1, n):
        ef = _ema_step(ef, x[i], af, bf)
        es = _ema_step(es, x[i], a_s, bs)
        out[i] = ef - es
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def wilder_averages_kernel(close: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Wilder's average gain and loss as TA-Lib computes them.

    The first average (at index `period`) is the plain mean of the first `period`
    changes; after it avg[i] = (avg[i-1]*(period-1) + change[i]) / period, in exactly
    TA-Lib's order of operations so the RSI matches it to rounding.
    """
    n = close.shape[0]
    gain = np.full(n, np.nan)
    loss = np.full(n, np.nan)
    if n <= period:
        return gain, loss
    g = 0.0
    s = 0.0
    for i in range(1, period + 1):
        d = close[i] - close[i - 1]
        if d > 0:
            g += d
        else:
            s -= d
    g /= period
    s /= period
    gain[period] = g
    loss[period] = s
    for i in range(period + 1, n):
        d = close[i] - close[i - 1]
        g *= period - 1
        s *= period - 1
        if d > 0:
            g += d
        else:
            s -= d
        g /= period
        s /= period
        gain[i] = g
        loss[i] = s
    return gain, loss


@njit(cache=True, nogil=True, error_model="numpy")
def rsi_wilder_kernel(close: np.ndarray, period: int) -> np.ndarray:  # pragma: no cover - compiled
    """RSI with Wilder's smoothing, 100 - 100 / (1 + gain / loss) of wilder_averages_kernel's
    averages: 100 when only gains, NaN when neither (and in the first `period` bars)."""
    gain, loss = wilder_averages_kernel(close, period)
    out = np.empty(close.shape[0])
    for i in range(close.shape[0]):
        out[i] = 100.0 - 100.0 / (1.0 + gain[i] / loss[i])
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def rsi_sma_kernel(close: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    """RSI from simple n-bar averages of the gains and losses of a NaN-free `close`, defined from index n.
    Why it is exact: README, "Proofs of exactness", `rsi_sma_kernel`."""
    size = close.shape[0]
    out = np.full(size, np.nan)
    if size <= n:
        return out
    gain, loss = _gain_loss_sums(close, n)
    for i in range(n, size):
        out[_u(i)] = _rsi_of_sums(gain[_u(i)], loss[_u(i)], n)
    return out


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _rsi_of_sums(gain: float, loss: float, n: int) -> float:  # pragma: no cover - compiled
    """100 - 100 / (1 + (gain / n) / (loss / n)) of the window sums of rises and falls."""
    return 100.0 - 100.0 / (1.0 + (gain / n) / (loss / n))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _gain_loss_sums(close: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Steps 1 and 2 of rsi_sma_kernel: the window sums of the rises and of the falls,
    from index n (size > n)."""
    size = close.shape[0]
    up = np.empty(size)
    down = np.empty(size)
    up[0] = down[0] = 0.0
    for i in range(1, size):
        d = close[i] - close[i - 1]
        up[i] = max(d, 0.0)
        down[i] = max(-d, 0.0)
    gain = np.empty(size)
    loss = np.empty(size)
    since_up = since_down = n  # changes since the last rise / fall (n: none in the window)
    for j in range(1, n):
        since_up = 0 if up[j] > 0.0 else since_up + 1
        since_down = 0 if down[j] > 0.0 else since_down + 1
    g = s = carried = 0.0  # carried: largest g + s since the last re-sum
    anchor = n
    for i in range(n, size):
        since_up = 0 if up[_u(i)] > 0.0 else since_up + 1
        since_down = 0 if down[_u(i)] > 0.0 else since_down + 1
        resum = i >= anchor
        if not resum:
            g += up[_u(i)] - up[_u(i - n)]
            s += down[_u(i)] - down[_u(i - n)]
            carried = max(carried, g + s)
            resum = g + s < carried * _RESUM_BELOW
        if resum:
            g = _window_total(up, i - n + 1, i + 1)
            s = _window_total(down, i - n + 1, i + 1)
            carried = g + s
            anchor = i + n
        # max() keeps a rounding remainder of a large removed move from going below 0
        gain[_u(i)] = max(g, 0.0) if since_up < n else 0.0
        loss[_u(i)] = max(s, 0.0) if since_down < n else 0.0
    return gain, loss


@njit(cache=True, nogil=True, error_model="numpy")
def stochastic_k_kernel(high: np.ndarray, low: np.ndarray, close: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover
    """%K of indicators.stochastic: 100 * (close - LL) / (HH - LL) over the last k bars,
    NaN for the first k-1 and where HH == LL.
    Why it is exact: README, "Proofs of exactness", `stochastic_k_kernel`."""
    size = close.shape[0]
    out = np.full(size, np.nan)
    if k > size:
        return out
    hi, lo, span = _spans_extremes(high, low, k)
    shift = k - span
    for i in range(size - k + 1):
        hh = _pick_max(hi[_u(i)], hi[_u(i + shift)])
        ll = _pick_min(lo[_u(i)], lo[_u(i + shift)])
        out[_u(i + k - 1)] = _percent_k(close[_u(i + k - 1)], hh, ll)
    return out


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _percent_k(c: float, hh: float, ll: float) -> float:  # pragma: no cover - compiled
    """100 * (c - ll) / (hh - ll), NaN when hh == ll."""
    rng = hh - ll
    return np.nan if rng == 0 else 100.0 * (c - ll) / rng


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _spans_extremes(
    high: np.ndarray, low: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, int]:  # pragma: no cover
    """(hi, lo, span): hi[i] the max of high[i : i + span], lo[i] the min of low there
    (defined for i <= size - span), span the largest power of 2 <= k."""
    size = high.shape[0]
    hi = high
    lo = low
    if k < 2:
        return hi, lo, 1
    # 1, but not a constant: a literal 1 in the first _extremes_pass call would get a
    # compilation of its own (numba types a constant argument as a literal first)
    span = min(1, k)
    hi_next = np.empty(size)
    lo_next = np.empty(size)
    hi_spare = np.empty(size)
    lo_spare = np.empty(size)
    while span * 2 <= k:
        step = 4 if span * 4 <= k else 2
        _extremes_pass(hi, lo, hi_next, lo_next, span, step)
        span *= step
        # the pass just written is read by the next, which writes the spare pair
        hi, hi_next, hi_spare = hi_next, hi_spare, hi_next
        lo, lo_next, lo_spare = lo_next, lo_spare, lo_next
    return hi, lo, span


@njit(cache=True, nogil=True, error_model="numpy")
def _extremes_pass(
    hi: np.ndarray, lo: np.ndarray, hi_out: np.ndarray, lo_out: np.ndarray, span: int, step: int
) -> None:  # pragma: no cover - compiled
    """hi_out[i] = the max of hi[i], hi[i + span], ... (`step` values, 2 or 4), lo_out the
    min of lo's. A function of its own, not inlined: its arrays are then distinct to the
    compiler, which vectorises the loop (in the caller they swap roles between passes)."""
    size = hi.shape[0]
    if step == 4:
        for i in range(size - 4 * span + 1):
            hi_out[i] = _pick_max(
                _pick_max(hi[i], hi[_u(i + span)]), _pick_max(hi[_u(i + 2 * span)], hi[_u(i + 3 * span)])
            )
            lo_out[i] = _pick_min(
                _pick_min(lo[i], lo[_u(i + span)]), _pick_min(lo[_u(i + 2 * span)], lo[_u(i + 3 * span)])
            )
    else:
        for i in range(size - 2 * span + 1):
            hi_out[i] = _pick_max(hi[i], hi[_u(i + span)])
            lo_out[i] = _pick_min(lo[i], lo[_u(i + span)])
