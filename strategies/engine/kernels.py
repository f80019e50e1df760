"""The engine's compiled kernels: loops over a whole series that numpy cannot express
without losing digits or speed.

- The simulation: a position's next state depends on its previous one (the stop-loss
  needs the entry price).
- Recursions: an EMA or a Wilder average depends on its previous value.
- Rolling means and deviations: as pandas runs its own `rolling()` in compiled loops,
  because a cumulative-sum difference loses the low digits of a window (a 2-bar
  standard deviation at 60,000 came out wrong in its first digit).
- Checks and metrics that are one pass over the data.

They are compiled with numba:
- `cache=True` writes the machine code beside this file, or, when the package directory
  is not writable, to numba's user-wide cache (`NUMBA_CACHE_DIR` overrides both), so a
  fresh process loads it instead of compiling again (seconds).
- `nogil=True` lets the site's worker threads run backtests in parallel; the kernels
  share no state, they only write arrays they allocate themselves.
- `error_model="numpy"`: a float division by zero gives inf or NaN as in numpy (the
  RSI relies on it), and loops without a zero test can run their divisions side by side.
Every kernel is called with float64 (or int64, bool) arrays and Python scalars only, so
each compiles to one specialisation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Exit reasons as the simulation kernel records them; see REASONS in simulation.py.
REASON_SIGNAL = 0
REASON_STOP_LOSS = 1
REASON_END_OF_DATA = 2


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ema_weights(span: int) -> tuple[float, float]:  # pragma: no cover - compiled
    """(a, 1 - a) as pandas' ewm forms them: a = 1 / (1 + com), com = (span - 1) / 2."""
    a = 1.0 / (1.0 + (span - 1.0) / 2.0)
    return a, 1.0 - a


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ema_step(e: float, x: float, a: float, b: float) -> float:  # pragma: no cover - compiled
    """One step of `ewm(adjust=False).mean()` in pandas' own order of operations
    (pandas/_libs/window/aggregations.pyx, ewm): (b*e + a*x) / (b + a), and no step at
    all when x == e. So a flat stretch keeps its value exactly: the textbook
    a*x + (1-a)*e rounds x*(a + (1-a)) and can leave x off by a unit in the last place,
    and then two EMAs of the same flat prices differ by 1e-14, a MACD of "0" is
    1.4e-14 and its signal line "crosses" it from rounding alone. Same values as
    pandas, bit for bit.

    The division is left out because it is by exactly 1: for any a in (0, 1],
    b = fl(1 - a) is within half a unit of 1 - a below 1 (2**-54), so b + a is 1 + d
    with |d| <= 2**-54, which rounds to 1 (a tie below 1 goes to the even 1.0).
    x / 1.0 is x, so the quotient is the same double; the recursion's chain is then a
    multiply and an add per bar instead of a division (a test checks b + a == 1 for
    every span the registry allows, and the values against pandas')."""
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

    (total + comp) / n would round the sum first, then the quotient; a sum exactly
    between two doubles then lands on the wrong one (the mean of 100 and twice
    99.99999999999999 came out 100). Instead q = total / n is corrected by the exact
    remainder: q is split in two halves of 26 bits whose products with n (< 2**26) are exact. The
    correction is a few units in q's last place, so multiplying it by 1/n is exact enough.
    """
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
    """Mean and sample standard deviation (ddof=1) of every length-n window of a
    NaN-free x, as pandas' `rolling(n).mean()` / `.std()`: NaN for the first n-1.

    One pass, O(len) for any n, and careful with digits:
    - the sums for the deviation are kept relative to a reference value, and every n
      bars they are summed afresh around a new reference (the current bar), so rounding
      never accumulates over more than n steps and the squares are the size of the local
      spread, not of the price (one running sum of squares at 60,000 loses a 2-bar
      standard deviation entirely);
    - they are also summed afresh when the window's spread collapses far below what the
      running sum carried (a quiet stretch after a big move), see _RESUM_BELOW;
    - the mean is the exact window mean, rounded once: the sum is compensated (as pandas
      compensates its own) and divided with its remainder (_mean_of), so a %D of
      (100, 99.99999999999999, 99.99999999999999) is 99.99999999999999, not 100, and
      whether %K crosses below it decides an exit (pandas is off by that last bit at
      times; the spec's "mean of the last n values" is this one);
    - a window whose values are all equal gets that value and a deviation of exactly 0,
      as pandas does, so flat prices cannot come out 1e-13 off and flip a comparison
      (for the mean alone the exact rounding already gives the value itself).
    """
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
def rsi_sma_kernel(close: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    """RSI from simple n-bar averages of the gains and losses of `close` (NaN-free).

    gain = mean(max(d, 0)), loss = mean(max(-d, 0)) over the last n changes d, and
    RSI = 100 - 100 / (1 + gain / loss): 100 when only gains, NaN when neither.
    Steps:
    1. the rises and falls, max(d, 0) and max(-d, 0), in a loop of their own;
    2. their running window sums, re-summed every n bars and when they collapse (see
       rolling_moments_kernel); a window with no rise (or fall) in it, known from the
       bars since the last one, gets exactly 0;
    3. the formula, in a loop without branches or dependencies, so the divisions run
       side by side; IEEE division gives the special cases: gain / 0 is inf (RSI 100)
       and 0 / 0 is NaN.
    Defined from index n.
    """
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


# --- the strategies' signals, each in one compiled call -------------------------------------
# Each kernel below is the array expression of signals.py it replaces, operation for
# operation (no fastmath, so the same roundings): one call per coin instead of a dozen
# numpy calls and their temporaries, which dominated the per-coin time.


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


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pick_max(a: float, b: float) -> float:  # pragma: no cover - compiled
    """np.maximum(a, b): NaN when either is."""
    return a if (a > b) | (a != a) else b


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pick_min(a: float, b: float) -> float:  # pragma: no cover - compiled
    """np.minimum(a, b): NaN when either is."""
    return a if (a < b) | (a != a) else b


@njit(cache=True, nogil=True, error_model="numpy")
def stochastic_k_kernel(high: np.ndarray, low: np.ndarray, close: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover
    """%K of indicators.stochastic: 100 * (close - LL) / (HH - LL) over the last k bars,
    NaN for the first k-1 and where HH == LL.

    HH and LL by doubling, as indicators.rolling_max / rolling_min: after the passes,
    hi[i] is the max of the `span` values from i on (span the largest power of 2 <= k),
    and two such spans that overlap cover any window of k. A pass quadruples the span
    where it can (4 values a bar), so k = 14 takes two; the last loop, the two spans'
    extremes and the quotient, has no branches (the divisions run side by side). max
    and min are exact, so any grouping gives the same values, and a NaN wins as in
    np.maximum."""
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


@njit(cache=True, nogil=True, error_model="numpy")
def stochastic_signals_kernel(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, k: int, d: int, below_limit: float, above_limit: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """signals.stochastic_signals: %K, %D = sma(%K, d), and their zoned crossings.

    %D is exactly rounded, decided as ma_crossover's means are (see "moving averages for
    decisions" below): %K is never negative, so a plain running mean of it is within the
    bound of the exact one; %K against it is decided there unless the two are within
    the bound, and only there is %D summed exactly. A NaN %K (no range) makes the
    windows holding it undefined, and no crossing there."""
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


# The sign code of a bar where a compared value is NaN: neither <= 0 nor in 0..1.
_UNDEFINED = np.int8(2)


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
    """signals.bollinger_signals: x <= mid - mult * std, x >= mid + mult * std, with mid
    and std as rolling_moments_kernel gives them.

    The deviation's sums run exactly as there (so std is the same number), but the
    exactly rounded mean is not computed for every bar: mid ~ ref + s1 / n, from the
    same sums, is within a bound of it, so a band test is decided there unless x is
    within the bound of the band, and only there is the mean summed exactly. The bound,
    u = 2**-53 and D the largest |x - ref| since the sums were last summed afresh (at
    most n slides ago): a fresh s1 is within (n**2 + n) u D of the sum of the x - ref,
    each slide adds at most (n + 4) u D, so s1 / n is within (2n + 5) u D, and with the
    roundings of the product and the sum mid is within u ((2n + 7) D + 2 |mid|) of the
    exact mean; the test allows four times that, and as much again for the band's own
    roundings."""
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


# --- moving averages for decisions: a plain running mean, exact where it matters -----------
# ma_crossover and mean_reversion only compare a mean with something. The exactly rounded
# mean (_rolling_moments) costs a compensated sum and a corrected division per bar; a
# plain running sum of positive prices is within a known bound of it, so a comparison is
# decided by the plain mean unless its two sides are within that bound, and only there is
# the exact mean computed, from the window afresh. Same decisions, bar for bar.
#
# The bound, for positive x (u = 2**-53): the bars go in blocks of R = max(4n, 64); each
# block starts from a fresh sum of its first window, within (n - 1) u S of the true sum,
# and each slide (t += x[i] - x[i - n]) adds at most 2 u C, C the largest running sum in
# the block. A block whose running sum falls below C * _COLLAPSE is left undecided (all
# its bars take the exact path), so elsewhere C <= 100 t and the plain mean t / n is
# within (n + 2R) / n * 100 u <= 129 * 100 u = 1.5e-12 of the mean, relative, and after
# the product by 1 / n and the exact mean's own rounding, within 2e-12 of the exactly
# rounded mean. _DECIDED is five times that.
_COLLAPSE = 1e-2
_DECIDED = 1e-11


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _u(i: int) -> np.uint64:  # pragma: no cover - compiled
    """An index known to be >= 0: numba then skips its wraparound test for negative
    indexes, which otherwise stops a loop from being vectorised."""
    return np.uint64(i)


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


@njit(cache=True, nogil=True, error_model="numpy")
def ma_crossover_signals_kernel(
    x: np.ndarray, fast: int, slow: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """signals.ma_crossover_signals: sma(x, fast) crossing sma(x, slow), each mean exactly
    rounded (decided on plain running means where they are far enough apart; see above)."""
    size = x.shape[0]
    first = max(fast, slow) - 1  # first bar with both means
    if first + 1 >= size or _first_bad_price(x) >= 0:  # the bound needs positive prices
        # (a copy: sma_kernel is then compiled for writable arrays only, as %D's uses it)
        x = x.copy()
        return _crossings(sma_kernel(x, fast), sma_kernel(x, slow), np.inf, -np.inf)
    fm = _plain_means(x, fast)
    sm = _plain_means(x, slow)
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
    size = x.shape[0]
    entry = np.zeros(size, np.bool_)
    exit_ = np.zeros(size, np.bool_)
    limit = -threshold
    if n > size or _first_bad_price(x) >= 0:
        mid = sma_kernel(x.copy(), n)  # a writable copy, as in ma_crossover_signals_kernel
        for i in range(size):
            entry[i], exit_[i] = _mean_reversion_rules(x[i], mid[i], limit)
        return entry, exit_
    mid = _plain_means(x, n)
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
def first_bad_value_kernel(
    times: np.ndarray, close: np.ndarray, high: np.ndarray, low: np.ndarray
) -> tuple[int, int]:  # pragma: no cover - compiled
    """(which, index) of the first bad value: which is 0 for close, 1 high, 2 low (a price
    NaN, infinite or not positive; high and low may be empty, unchecked) and 3 for times
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
    bad = _first_unordered_time(times)
    return (3, bad) if bad >= 0 else (-1, -1)


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


@njit(cache=True, nogil=True, error_model="numpy")
def _equity_stats(equity: np.ndarray) -> tuple[float, float, float]:  # pragma: no cover - compiled
    """(mean, sample std) of the bar returns b = e[i] / e[i-1] - 1, and the deepest
    drawdown min(e / running max - 1), as a fraction.

    Steps:
    1. the returns, in a loop without dependencies (the divisions run side by side);
    2. mean and variance, two passes, eight partial sums each (fewer stalls, and closer
       to numpy's pairwise sum than one long running sum);
    3. the drawdown: for each run-up, the lowest point before the next peak, so one
       division per peak instead of one per bar (the same quotient, so the same value).
    The std is NaN with fewer than two returns.
    """
    n = equity.shape[0]
    m = n - 1
    b = np.empty(m)
    for i in range(m):
        b[i] = equity[_u(i + 1)] / equity[_u(i)] - 1.0
    mean = _sum8(b, 0.0, False) / m if m > 0 else 0.0
    std = np.sqrt(_sum8(b, mean, True) / (m - 1)) if m > 1 else np.nan
    peak = trough = equity[0]
    worst = 0.0
    for i in range(1, n):
        v = equity[_u(i)]
        # a select, not a branch (numba's min() of floats is one): in a position a fall
        # is as likely as a rise, and a mispredicted branch costs more than the select
        trough = v if v < trough else trough
        if v > peak:
            r = trough / peak - 1.0
            worst = r if r < worst else worst
            peak = trough = v
    r = trough / peak - 1.0
    return mean, std, (r if r < worst else worst)


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
def simulate_kernel(
    close: np.ndarray,
    entry: np.ndarray,
    exit_: np.ndarray,
    start: int,
    stop_loss_pct: float,
    fee: float,
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, float, float, float, int, int
]:  # pragma: no cover
    """The position model of the spec, bar by bar from `start` (the warm-up W), and the
    statistics of its equity curve.

    Steps, per bar i >= start, at its close:
    1. flat: on entry[i] buy all-in, units = cash / (close * (1 + fee)).
    2. long: stop-loss first (loss in % of the entry price <= -stop_loss_pct), then
       exit[i]; either sells, cash = units * close * (1 - fee). The entry bar is never
       checked for an exit because it is handled in the flat branch.
    3. equity[i] is the cash when flat, units * close when long.
    After the loop a position still open is closed at the last close (end_of_data),
    and the last equity value becomes the cash after that exit's fee. Each trade's net
    return is r = exit * (1 - fee) / (entry * (1 + fee)) - 1. Then _equity_stats's
    figures of the curve, in the same call.

    Returns (equity, entry_index, exit_index, reason, returns, bars_in_position,
    bar-return mean, bar-return std, max drawdown, profitable trades, stop-loss exits),
    the trade arrays trimmed to the trades made.
    """
    n = close.shape[0]
    equity = np.empty(n)
    cap = (n - start) // 2 + 2
    entry_index = np.empty(cap, np.int64)
    exit_index = np.empty(cap, np.int64)
    reason = np.empty(cap, np.int8)
    returns = np.empty(cap)
    cash = 1.0
    units = 0.0
    entry_price = 0.0
    floor = 0.0  # see below
    long = False
    trades = 0
    held = 0
    for i in range(min(start, n)):
        equity[i] = 1.0
    i = start
    while i < n:
        if not long:
            # flat: look for the next entry; the cash stands still meanwhile
            while i < n and not entry[_u(i)]:
                equity[_u(i)] = cash
                i += 1
            if i == n:
                break
            c = close[_u(i)]
            units = cash / (c * (1.0 + fee))
            entry_price = c
            # At or below `floor` the stop-loss test may hold, so it is evaluated
            # exactly; above it it cannot. The loss in % is monotone in the close, and
            # its rounding moves the close at which it reaches the stop by a few units in
            # the last place of the entry price: the floor is 1e-12 (relative) above the
            # real stop level, plus 1e-15 of the entry price for a stop of 100 %, whose
            # level is 0 while a close below 2**-53 of the entry already rounds to -100 %.
            floor = entry_price * ((1.0 - stop_loss_pct / 100.0) * (1.0 + 1e-12) + 1e-15)
            long = True
            entry_index[trades] = i
            equity[_u(i)] = units * c
            held += 1
            i += 1
            continue
        c = close[_u(i)]
        if c <= floor and (c - entry_price) / entry_price * 100.0 <= -stop_loss_pct:
            why = REASON_STOP_LOSS
        elif exit_[_u(i)]:
            why = REASON_SIGNAL
        else:
            equity[_u(i)] = units * c
            held += 1
            i += 1
            continue
        cash = units * c * (1.0 - fee)
        units = 0.0
        long = False
        exit_index[trades] = i
        reason[trades] = why
        returns[trades] = c * (1.0 - fee) / (entry_price * (1.0 + fee)) - 1.0
        trades += 1
        equity[_u(i)] = cash
        i += 1
    if long:
        cash = units * close[n - 1] * (1.0 - fee)
        equity[n - 1] = cash
        exit_index[trades] = n - 1
        reason[trades] = REASON_END_OF_DATA
        returns[trades] = close[n - 1] * (1.0 - fee) / (entry_price * (1.0 + fee)) - 1.0
        trades += 1
    mean, std, drawdown = _equity_stats(equity)
    profitable = stops = 0
    for t in range(trades):
        profitable += returns[t] > 0.0
        stops += reason[t] == REASON_STOP_LOSS
    return (
        equity,
        entry_index[:trades],
        exit_index[:trades],
        reason[:trades],
        returns[:trades],
        held,
        mean,
        std,
        drawdown,
        profitable,
        stops,
    )
