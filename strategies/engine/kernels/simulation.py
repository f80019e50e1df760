"""The position model of spec/ENGINE.md, bar by bar."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _u
from .equity import _equity_stats

# Exit reasons as the simulation kernel records them; see REASONS in simulation.py.
REASON_SIGNAL = 0


REASON_STOP_LOSS = 1


REASON_END_OF_DATA = 2


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
