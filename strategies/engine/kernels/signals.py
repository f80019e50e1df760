"""The strategies' entry and exit signals, each in one compiled call: the array expression
of signals.py it replaces, operation for operation (no fastmath, so the same roundings)."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _first_bad_price, _u
from .indicators import (
    _ema_step,
    _ema_weights,
    _gain_loss_sums,
    _rsi_of_sums,
    stochastic_k_kernel,
)
from .rolling import (
    _DECIDED,
    _RESUM_BELOW,
    _deviation_sums,
    _exact_mean,
    _plain_means,
    rolling_moments_kernel,
    sma_kernel,
)


@njit(cache=True, nogil=True, error_model="numpy")
def crossings_kernel(
    a: np.ndarray, b: np.ndarray, below_limit: float, above_limit: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(up, down) in one pass: a crosses above b while a < below_limit,
    a[i-1] <= b[i-1] and a[i] > b[i]; a crosses below b while a > above_limit,
    a[i-1] >= b[i-1] and a[i] < b[i]. Any NaN makes a comparison false; pass inf and
    -inf for no zone."""
    return _crossings(a, b, below_limit, above_limit)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _crossings(
    a: np.ndarray, b: np.ndarray, below_limit: float, above_limit: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """crossings_kernel's loop, for the fused signal kernels below."""
    n = a.shape[0]
    up = np.zeros(n, np.bool_)
    down = np.zeros(n, np.bool_)
    for i in range(1, n):
        up[i] = (a[i - 1] <= b[i - 1]) & (a[i] > b[i]) & (a[i] < below_limit)
        down[i] = (a[i - 1] >= b[i - 1]) & (a[i] < b[i]) & (a[i] > above_limit)
    return up, down


@njit(cache=True, nogil=True, error_model="numpy")
def thresholds_kernel(x: np.ndarray, below: float, above: float) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """(x < below, x > above) in one pass."""
    size = x.shape[0]
    lo = np.empty(size, np.bool_)
    hi = np.empty(size, np.bool_)
    for i in range(size):
        lo[i] = x[i] < below
        hi[i] = x[i] > above
    return lo, hi


@njit(cache=True, nogil=True, error_model="numpy")
def rsi_sma_signals_kernel(
    close: np.ndarray, n: int, below: float, above: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """signals.rsi_signals with SMA smoothing: (rsi < below, rsi > above), rsi as
    rsi_sma_kernel computes it, in the same call (no RSI array)."""
    size = close.shape[0]
    lo = np.zeros(size, np.bool_)
    hi = np.zeros(size, np.bool_)
    if size <= n:
        return lo, hi
    gain, loss = _gain_loss_sums(close, n)
    for i in range(n, size):
        rsi = _rsi_of_sums(gain[_u(i)], loss[_u(i)], n)
        lo[_u(i)] = rsi < below
        hi[_u(i)] = rsi > above
    return lo, hi


@njit(cache=True, nogil=True, error_model="numpy")
def macd_signals_kernel(
    x: np.ndarray, fast: int, slow: int, signal: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """signals.macd_signals: m = ema(x, fast) - ema(x, slow), s = ema(m, signal), and
    crossings(m, s), in one loop and no float arrays: the three recursions and the
    crossing test per bar, each value as ema_difference_kernel and ema_kernel compute it."""
    n = x.shape[0]
    up = np.zeros(n, np.bool_)
    down = np.zeros(n, np.bool_)
    if n == 0:
        return up, down
    af, bf = _ema_weights(fast)
    a_s, bs = _ema_weights(slow)
    ag, bg = _ema_weights(signal)
    ef = es = x[0]
    m = s = 0.0  # bar 0: the MACD line is x[0] - x[0] and its EMA starts there
    for i in range(1, n):
        ef = _ema_step(ef, x[i], af, bf)
        es = _ema_step(es, x[i], a_s, bs)
        m_next = ef - es
        s_next = _ema_step(s, m_next, ag, bg)
        up[i] = (m <= s) & (m_next > s_next)
        down[i] = (m >= s) & (m_next < s_next)
        m = m_next
        s = s_next
    return up, down


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _decided_signs(a: np.ndarray, b: np.ndarray, first: int) -> tuple[np.ndarray, int]:  # pragma: no cover - compiled
    """(order, undecided): order[i] the sign of a[i] - b[i] from `first` on where the plain
    values are farther apart than _DECIDED, 0 where they are not (or one is NaN, as over a
    collapsed block): the caller decides those bars exactly. undecided counts them."""
    size = a.shape[0]
    order = np.empty(size, np.int8)
    undecided = 0
    for i in range(first, size):
        x = a[_u(i)]
        y = b[_u(i)]
        diff = x - y
        margin = _DECIDED * (x + y)
        sign = np.int8(diff > margin) - np.int8(diff < -margin)
        order[_u(i)] = sign
        undecided += sign == 0
    return order, undecided


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _order_crossings(
    order: np.ndarray, first: int, a: np.ndarray, below_limit: float, above_limit: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(up, down) from the sign of a - b per bar (defined from `first`; _UNDEFINED where a
    value is NaN): a crosses above b where the sign goes from -1 or 0 to 1 while
    a < below_limit, below where it goes from 0 or 1 to -1 while a > above_limit
    (_crossings' rule; inf and -inf for no zone)."""
    size = order.shape[0]
    up = np.zeros(size, np.bool_)
    down = np.zeros(size, np.bool_)
    for i in range(first + 1, size):
        before = order[_u(i - 1)]
        now = order[_u(i)]
        value = a[_u(i)]
        up[_u(i)] = (before <= 0) & (now == 1) & (value < below_limit)
        down[_u(i)] = (before >= 0) & (before <= 1) & (now == -1) & (value > above_limit)
    return up, down


# The sign code of a bar where a compared value is NaN: neither <= 0 nor in 0..1.
_UNDEFINED = np.int8(2)


@njit(cache=True, nogil=True, error_model="numpy")
def ma_crossover_signals_kernel(
    x: np.ndarray, fast: int, slow: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """signals.ma_crossover_signals: sma(x, fast) crossing sma(x, slow), each mean exactly
    rounded (decided on plain running means where they are far enough apart; see above)."""
    first = max(fast, slow) - 1  # first bar with both means
    if first + 1 >= x.shape[0] or _first_bad_price(x) >= 0:  # the bound needs positive prices
        # (a copy: sma_kernel is then compiled for writable arrays only, as %D's uses it)
        x = x.copy()
        return _crossings(sma_kernel(x, fast), sma_kernel(x, slow), np.inf, -np.inf)
    return _ma_crossover_of_means(x, _plain_means(x, fast), _plain_means(x, slow), fast, slow)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ma_crossover_of_means(
    x: np.ndarray, fm: np.ndarray, sm: np.ndarray, fast: int, slow: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """ma_crossover_signals_kernel from the plain means of its two lengths (_plain_means, which a
    sweep computes once per length and coin), for positive prices with a bar past both means."""
    size = x.shape[0]
    first = max(fast, slow) - 1
    order, unsure = _decided_signs(fm, sm, first)
    if unsure:
        inv_f = 1.0 / fast
        inv_s = 1.0 / slow
        for i in range(first, size):
            if order[i] == 0:
                a = _exact_mean(x, i, fast, inv_f)
                b = _exact_mean(x, i, slow, inv_s)
                order[i] = np.int8(a > b) - np.int8(a < b)
    return _order_crossings(order, first, x, np.inf, -np.inf)


@njit(cache=True, nogil=True, error_model="numpy")
def mean_reversion_signals_kernel(
    x: np.ndarray, n: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """signals.mean_reversion_signals: (x - mid) / mid * 100 <= -threshold, x >= mid, with
    mid = sma(x, n) exactly rounded (decided on the plain running mean where it is far
    enough from each rule's edge; see above)."""
    if n > x.shape[0] or _first_bad_price(x) >= 0:
        size = x.shape[0]
        entry = np.zeros(size, np.bool_)
        exit_ = np.zeros(size, np.bool_)
        mid = sma_kernel(x.copy(), n)  # a writable copy, as in ma_crossover_signals_kernel
        for i in range(size):
            entry[i], exit_[i] = _mean_reversion_rules(x[i], mid[i], -threshold)
        return entry, exit_
    return _mean_reversion_of_mean(x, _plain_means(x, n), n, threshold)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mean_reversion_of_mean(
    x: np.ndarray, mid: np.ndarray, n: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """mean_reversion_signals_kernel from the plain mean of its length (_plain_means), for
    positive prices and n <= their count."""
    size = x.shape[0]
    entry = np.zeros(size, np.bool_)
    exit_ = np.zeros(size, np.bool_)
    limit = -threshold
    unsure = np.zeros(size, np.bool_)
    count = 0
    for i in range(n - 1, size):
        v = x[_u(i)]
        m = mid[_u(i)]
        ratio = v / m
        deviation = (v - m) / m * 100.0
        # mid within 2e-12 of the exact mean moves the deviation by at most
        # 2e-10 * ratio; the roundings of the expression add less than 1e-13 * (ratio + 1)
        sure = (abs(deviation - limit) > 1e-9 * (ratio + 1.0)) & (abs(ratio - 1.0) > _DECIDED)
        entry[_u(i)] = deviation <= limit
        exit_[_u(i)] = v >= m
        unsure[_u(i)] = not sure
        count += not sure
    if count:
        inv_n = 1.0 / n
        for i in range(n - 1, size):
            if unsure[i]:
                entry[i], exit_[i] = _mean_reversion_rules(x[i], _exact_mean(x, i, n, inv_n), limit)
    return entry, exit_


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _mean_reversion_rules(v: float, mid: float, limit: float) -> tuple[bool, bool]:  # pragma: no cover - compiled
    """(entry, exit) of a close v against its mean: (v - mid) / mid * 100 <= limit, v >= mid."""
    return (v - mid) / mid * 100.0 <= limit, v >= mid


@njit(cache=True, nogil=True, error_model="numpy")
def stochastic_signals_kernel(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, k: int, d: int, below_limit: float, above_limit: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """signals.stochastic_signals: %K, %D = sma(%K, d) exactly rounded, and their zoned crossings.
    Why it is exact: README, "Proofs of exactness", `stochastic_signals_kernel`."""
    size = close.shape[0]
    pct_k = stochastic_k_kernel(high, low, close, k)
    first = k + d - 2  # first bar with a %D
    if first + 1 >= size or not _all_nonnegative(pct_k):
        return _crossings(pct_k, sma_kernel(pct_k, d), below_limit, above_limit)
    pct_d = np.full(size, np.nan)  # plain running %D; NaN where a window holds a NaN %K
    pct_d[k - 1 :] = _plain_means(pct_k[k - 1 :], d)
    order, unsure = _decided_signs(pct_k, pct_d, first)
    if unsure:
        inv_d = 1.0 / d
        for i in range(first, size):
            if order[i] == 0:
                a = pct_k[i]
                b = _exact_mean(pct_k, i, d, inv_d)  # NaN if the window holds a NaN
                order[i] = _UNDEFINED if (a != a or b != b) else np.int8(a > b) - np.int8(a < b)
    return _order_crossings(order, first, pct_k, below_limit, above_limit)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _all_nonnegative(x: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Every value NaN or finite and >= 0."""
    good = 0
    for i in range(x.shape[0]):
        v = x[i]
        good += ((v >= 0.0) & (v < np.inf)) | (v != v)
    return good == x.shape[0]


@njit(cache=True, nogil=True, error_model="numpy")
def bollinger_signals_kernel(x: np.ndarray, n: int, mult: float) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """signals.bollinger_signals: x <= mid - mult * std, x >= mid + mult * std, mid and std
    as rolling_moments_kernel gives them.
    Why it is exact: README, "Proofs of exactness", `bollinger_signals_kernel`."""
    size = x.shape[0]
    if n > size or n < 2 or _first_bad_price(x) >= 0:
        mid, std = rolling_moments_kernel(x, n)
        entry = np.empty(size, np.bool_)
        exit_ = np.empty(size, np.bool_)
        for i in range(size):
            width = mult * std[i]
            entry[i] = x[i] <= mid[i] - width
            exit_[i] = x[i] >= mid[i] + width
        return entry, exit_
    inv_n = 1.0 / n
    refs = np.empty(size)
    sums1 = np.empty(size)
    sums2 = np.empty(size)
    spread = np.empty(size)  # D of each bar's sums
    equal = np.zeros(size, np.bool_)  # all values of the window equal
    run = 1
    for j in range(1, n - 1):
        run = run + 1 if x[j] == x[j - 1] else 1
    ref = s1 = s2 = carried = most = 0.0
    anchor = n - 1
    for i in range(n - 1, size):
        v = x[_u(i)]
        run = run + 1 if i > 0 and v == x[_u(i - 1)] else 1
        if i >= anchor:
            ref = v
            s1, s2, most = _deviation_sums(x, i - n + 1, i + 1, ref)
            carried = s2
            anchor = i + n
        else:
            d = v - ref
            e = x[_u(i - n)] - ref
            s1 += d - e
            s2 += d * d - e * e
            carried = max(carried, s2)
            most = max(most, abs(d))
        if run >= n:
            equal[_u(i)] = True
        elif s2 - s1 * s1 * inv_n < carried * _RESUM_BELOW:
            ref = v
            s1, s2, most = _deviation_sums(x, i - n + 1, i + 1, ref)
            carried = s2
        refs[_u(i)] = ref
        sums1[_u(i)] = s1
        sums2[_u(i)] = s2
        spread[_u(i)] = most
    entry = np.zeros(size, np.bool_)
    exit_ = np.zeros(size, np.bool_)
    unsure = np.zeros(size, np.bool_)
    count = 0
    slack = 4.0 * 2.0**-53
    for i in range(n - 1, size):
        v = x[_u(i)]
        s1 = sums1[_u(i)]
        flat = equal[_u(i)]
        m2 = sums2[_u(i)] - s1 * s1 / n
        std = 0.0 if flat else np.sqrt(max(m2, 0.0) / (n - 1))
        width = mult * std
        mid = v if flat else refs[_u(i)] + s1 * inv_n
        margin = slack * ((2 * n + 7) * spread[_u(i)] + 3.0 * (mid + width + v))
        lower = mid - width
        upper = mid + width
        sure = flat | ((abs(v - lower) > margin) & (abs(v - upper) > margin))
        entry[_u(i)] = v <= lower
        exit_[_u(i)] = v >= upper
        unsure[_u(i)] = not sure
        count += not sure
    if count:
        for i in range(n - 1, size):
            if unsure[i]:  # never an all-equal window: those are decided above
                s1 = sums1[i]
                width = mult * np.sqrt(max(sums2[i] - s1 * s1 / n, 0.0) / (n - 1))
                mid = _exact_mean(x, i, n, inv_n)
                entry[i] = x[i] <= mid - width
                exit_[i] = x[i] >= mid + width
    return entry, exit_
