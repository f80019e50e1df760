"""The position model of spec/ENGINE.md ("Position model", "Execution options"), bar by bar."""

from __future__ import annotations

import numpy as np
from numba import njit

from .common import _u
from .equity import _equity_stats

# Exit reasons as the simulation kernel records them; see REASONS in simulation.py.
REASON_SIGNAL = 0
REASON_STOP_LOSS = 1
REASON_END_OF_DATA = 2

# An order decided at a close and waiting for the next open (fill = "next_open").
_NO_ORDER = 0
_BUY = 1
_SELL = 2


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _stop_floor(entry_price: float, stop_loss_pct: float) -> float:  # pragma: no cover - compiled
    """The close at or below which the close-mode stop test may hold (it cannot above it).

    The loss in % is monotone in the close, and its rounding moves the close at which it
    reaches the stop by a few units in the last place of the entry price: the floor is
    1e-12 (relative) above the real stop level, plus 1e-15 of the entry price for a stop
    of 100 %, whose level is 0 while a close below 2**-53 of the entry already rounds to -100 %."""
    return entry_price * ((1.0 - stop_loss_pct / 100.0) * (1.0 + 1e-12) + 1e-15)


@njit(cache=True, nogil=True, error_model="numpy")
def simulate_kernel(
    open_: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry: np.ndarray,
    exit_: np.ndarray,
    start: int,
    stop_loss_pct: float,
    fee: float,
    slip: float,
    next_open: bool,
    intrabar: bool,
) -> tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    np.ndarray,
    int,
    float,
    float,
    float,
    float,
    int,
]:  # pragma: no cover
    """The position model of the spec, bar by bar from `start` (the warm-up W), and the
    statistics of its equity curve. `open_` is read only with next_open or intrabar, `low`
    only with intrabar (pass empty arrays otherwise).

    Per bar i, the spec's five steps:
    1. (next_open) an order decided at the close of bar i-1 fills at open[i];
    2. (intrabar) a position held from before this bar's close whose stop level
       entry * (1 - stop_loss_pct / 100) the low reaches is sold at open[i] if the bar
       opened at or through it, else at the level;
    3. (i >= start) one decision on the position held now: flat and entry[i] buys; long:
       the close-mode stop (unless intrabar), then exit[i], sell. With close fills at
       close[i] now (the bar of an entry at its close is not checked for an exit), with
       next-open fills at open[i+1]; on the last bar a buy does nothing and a sell is
       left to step 5;
    4. equity[i]: the cash when flat (a buy waiting for the open included), units * close when long;
    5. after the last bar a position still open is sold at the last close (end_of_data),
       and the last equity value is the cash after it.
    A buy fills at p * (1 + slip), a sell at p * (1 - slip); buying with cash E gets
    E / (fill * (1 + fee)) units, selling U units gives U * fill * (1 - fee); a trade's
    net return is exit_fill * (1 - fee) / (entry_fill * (1 + fee)) - 1.

    Bars where nothing can happen (flat with no entry and no order; long with no stop hit,
    no exit and no order) are skipped in tight loops of their own.

    Returns (equity, entry_index, exit_index, entry_price, exit_price, reason, returns,
    bars_in_position, bar-return mean, bar-return std, max drawdown, downside deviation,
    drawdown duration), the trade arrays trimmed to the trades made.
    """
    n = close.shape[0]
    equity = np.empty(n)
    cap = n - min(start, n) + 2  # at most one trade closes per bar, and one at the end
    entry_index = np.empty(cap, np.int64)
    exit_index = np.empty(cap, np.int64)
    entry_price = np.empty(cap)
    exit_price = np.empty(cap)
    reason = np.empty(cap, np.int8)
    returns = np.empty(cap)
    cash = 1.0
    units = 0.0
    paid = 0.0  # the open position's entry fill price
    stop = 0.0  # its stop level (intrabar)
    floor = 0.0  # the close-mode stop test is only evaluated at or below this close
    long = False
    order = _NO_ORDER
    order_why = REASON_SIGNAL
    trades = 0
    held = 0
    for i in range(min(start, n)):
        equity[i] = 1.0
    i = start
    while i < n:
        if order == _NO_ORDER:
            if not long:
                # flat and nothing waiting: look for the next entry; the cash stands still
                while i < n and not entry[_u(i)]:
                    equity[_u(i)] = cash
                    i += 1
            elif intrabar:
                while i < n and not (low[_u(i)] <= stop or exit_[_u(i)]):
                    equity[_u(i)] = units * close[_u(i)]
                    held += 1
                    i += 1
            else:
                while i < n:
                    c = close[_u(i)]
                    if (c <= floor and (c - paid) / paid * 100.0 <= -stop_loss_pct) or exit_[_u(i)]:
                        break
                    equity[_u(i)] = units * c
                    held += 1
                    i += 1
            if i == n:
                break
        c = close[_u(i)]
        # 1. the open: the order decided at the last close
        if order == _BUY:
            paid = open_[_u(i)] * (1.0 + slip)
            units = cash / (paid * (1.0 + fee))
            stop = paid * (1.0 - stop_loss_pct / 100.0)
            floor = _stop_floor(paid, stop_loss_pct)
            long = True
            entry_index[trades] = i
            entry_price[trades] = paid
        elif order == _SELL:
            cash = _sell(
                units,
                open_[_u(i)] * (1.0 - slip),
                fee,
                paid,
                i,
                order_why,
                trades,
                exit_index,
                exit_price,
                reason,
                returns,
            )
            trades += 1
            units = 0.0
            long = False
        order = _NO_ORDER
        # 2. the intrabar stop, on a position held from before this close
        if intrabar and long and low[_u(i)] <= stop:
            o = open_[_u(i)]
            level = o if o <= stop else stop
            cash = _sell(
                units,
                level * (1.0 - slip),
                fee,
                paid,
                i,
                REASON_STOP_LOSS,
                trades,
                exit_index,
                exit_price,
                reason,
                returns,
            )
            trades += 1
            units = 0.0
            long = False
        # 3. the close: one decision on the position held now
        if not long:
            if entry[_u(i)]:
                if not next_open:
                    paid = c * (1.0 + slip)
                    units = cash / (paid * (1.0 + fee))
                    stop = paid * (1.0 - stop_loss_pct / 100.0)
                    floor = _stop_floor(paid, stop_loss_pct)
                    long = True
                    entry_index[trades] = i
                    entry_price[trades] = paid
                elif i + 1 < n:
                    order = _BUY
        else:
            why = -1
            if not intrabar and c <= floor and (c - paid) / paid * 100.0 <= -stop_loss_pct:
                why = REASON_STOP_LOSS
            elif exit_[_u(i)]:
                why = REASON_SIGNAL
            if why >= 0:
                if not next_open:
                    cash = _sell(
                        units, c * (1.0 - slip), fee, paid, i, why, trades, exit_index, exit_price, reason, returns
                    )
                    trades += 1
                    units = 0.0
                    long = False
                elif i + 1 < n:
                    order = _SELL
                    order_why = why
        # 4. equity at the close
        if long:
            equity[_u(i)] = units * c
            held += 1
        else:
            equity[_u(i)] = cash
        i += 1
    # 5. the end of the data
    if long:
        cash = _sell(
            units,
            close[n - 1] * (1.0 - slip),
            fee,
            paid,
            n - 1,
            REASON_END_OF_DATA,
            trades,
            exit_index,
            exit_price,
            reason,
            returns,
        )
        equity[n - 1] = cash
        trades += 1
    mean, std, drawdown, downside, duration = _equity_stats(equity)
    return (
        equity,
        entry_index[:trades],
        exit_index[:trades],
        entry_price[:trades],
        exit_price[:trades],
        reason[:trades],
        returns[:trades],
        held,
        mean,
        std,
        drawdown,
        downside,
        duration,
    )


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sell(
    units: float,
    fill: float,
    fee: float,
    paid: float,
    i: int,
    why: int,
    t: int,
    exit_index: np.ndarray,
    exit_price: np.ndarray,
    reason: np.ndarray,
    returns: np.ndarray,
) -> float:  # pragma: no cover - compiled
    """Close trade t at bar i at fill price `fill`; returns the cash it gives."""
    exit_index[t] = i
    exit_price[t] = fill
    reason[t] = why
    returns[t] = fill * (1.0 - fee) / (paid * (1.0 + fee)) - 1.0
    return units * fill * (1.0 - fee)
