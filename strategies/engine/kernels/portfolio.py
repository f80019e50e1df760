"""The portfolio of a run (spec/ENGINE.md, "Portfolio of a run"): the coins' own positions
on one account with K slots, over the union of their bar times."""

from __future__ import annotations

import numpy as np
from numba import njit

from .simulation import REASON_END_OF_DATA, REASON_SIGNAL, REASON_STOP_LOSS, _stop_floor

_NO_ORDER = 0
_BUY = 1
_SELL = 2


@njit(cache=True, nogil=True, error_model="numpy")
def portfolio_kernel(
    open_: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entry: np.ndarray,
    exit_: np.ndarray,
    offsets: np.ndarray,
    warmups: np.ndarray,
    bar_times: np.ndarray,
    timeline: np.ndarray,
    same_times: bool,
    slots: int,
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
    np.ndarray,
    int,
    int,
]:  # pragma: no cover
    """The account, time by time. The coins' bars are concatenated (coin c's bar i at
    offsets[c] + i; coins numbered in ascending symbol order); the events of timeline
    time t are event_coin / event_bar[time_starts[t] : time_starts[t + 1]], ascending by
    coin. At each time the moments come in the spec's order, each over those coins:
    sells at the open, buys at the open, intrabar stops, sells at the close, buys at the
    close (both decided on the positions held just before the close), end_of_data sells.
    A buy takes a free slot (fewer than `slots` open) and spends cash / (free slots);
    without one it is skipped and counted. Equity after all moments: cash plus units times
    each open coin's latest close.

    Returns (equity per time, then per trade in closing order: coin, entry bar, exit bar,
    entry price, exit price, reason, net return r, stake (the cash its entry spent); times with a position
    at the close before the end_of_data sells, skipped entries)."""
    coins = offsets.shape[0] - 1
    times = timeline.shape[0]
    equity = np.empty(times)
    head = offsets[:-1].copy()  # each coin's next bar, as an index into the concatenation
    event_coin = np.empty(coins, np.int64)  # the coins with a bar at this time, ascending
    event_bar = np.empty(coins, np.int64)  # and that bar's index in the coin's own bars
    cap = close.shape[0] + coins
    t_coin = np.empty(cap, np.int64)
    t_entry = np.empty(cap, np.int64)
    t_exit = np.empty(cap, np.int64)
    t_paid = np.empty(cap)
    t_got = np.empty(cap)
    t_reason = np.empty(cap, np.int8)
    t_return = np.empty(cap)
    t_stake = np.empty(cap)  # what each trade's entry spent, fee included
    long = np.zeros(coins, np.bool_)
    units = np.zeros(coins)
    paid = np.zeros(coins)
    stop = np.zeros(coins)
    floor = np.zeros(coins)  # the close-mode stop test is only evaluated at or below this close
    entered = np.zeros(coins, np.int64)
    last_close = np.zeros(coins)
    order = np.zeros(coins, np.int8)
    order_why = np.zeros(coins, np.int8)
    decision = np.zeros(coins, np.int8)  # a buy decided at this close, filled after the sells
    orders = 0  # orders waiting for an open
    cash = 1.0
    held = 0  # open positions
    trades = 0
    exposed = 0
    skipped = 0
    for t in range(times):
        now = timeline[t]
        lo_ev = 0
        hi_ev = 0
        if same_times:  # every coin has a bar at every time: bar t
            for c in range(coins):
                event_coin[c] = c
                event_bar[c] = t
            hi_ev = coins
        else:
            for c in range(coins):
                if head[c] < offsets[c + 1] and bar_times[head[c]] == now:
                    event_coin[hi_ev] = c
                    event_bar[hi_ev] = head[c] - offsets[c]
                    head[c] += 1
                    hi_ev += 1
        # 1. sells at the open
        if orders:
            for ev in range(lo_ev, hi_ev):
                c = event_coin[ev]
                if order[c] == _SELL:
                    i = event_bar[ev]
                    k = offsets[c] + i
                    fill = open_[k] * (1.0 - slip)
                    cash += units[c] * fill * (1.0 - fee)
                    trades = _record(
                        trades,
                        c,
                        entered[c],
                        i,
                        paid[c],
                        fill,
                        order_why[c],
                        fee,
                        t_coin,
                        t_entry,
                        t_exit,
                        t_paid,
                        t_got,
                        t_reason,
                        t_return,
                        units[c],
                        t_stake,
                    )
                    long[c] = False
                    units[c] = 0.0
                    held -= 1
                    order[c] = _NO_ORDER
                    orders -= 1
            # 2. buys at the open
            for ev in range(lo_ev, hi_ev):
                c = event_coin[ev]
                if order[c] == _BUY:
                    order[c] = _NO_ORDER
                    orders -= 1
                    if held < slots:
                        i = event_bar[ev]
                        cash = _buy(
                            c,
                            i,
                            open_[offsets[c] + i] * (1.0 + slip),
                            cash,
                            slots - held,
                            fee,
                            stop_loss_pct,
                            long,
                            units,
                            paid,
                            stop,
                            floor,
                            entered,
                        )
                        held += 1
                    else:
                        skipped += 1
        # 3. intrabar stops
        if intrabar and held:
            for ev in range(lo_ev, hi_ev):
                c = event_coin[ev]
                if long[c]:
                    i = event_bar[ev]
                    k = offsets[c] + i
                    if low[k] <= stop[c]:
                        o = open_[k]
                        fill = (o if o <= stop[c] else stop[c]) * (1.0 - slip)
                        cash += units[c] * fill * (1.0 - fee)
                        trades = _record(
                            trades,
                            c,
                            entered[c],
                            i,
                            paid[c],
                            fill,
                            REASON_STOP_LOSS,
                            fee,
                            t_coin,
                            t_entry,
                            t_exit,
                            t_paid,
                            t_got,
                            t_reason,
                            t_return,
                            units[c],
                            t_stake,
                        )
                        long[c] = False
                        units[c] = 0.0
                        held -= 1
        # the decisions at the close, all on the positions held now; a coin's sell is
        # filled in the same pass (4. sells at the close: each coin's depends on its own
        # position only, and they come in coin order as the pass does); buys after all sells
        buys = 0
        ends = 0
        for ev in range(lo_ev, hi_ev):
            c = event_coin[ev]
            i = event_bar[ev]
            k = offsets[c] + i
            cc = close[k]
            last_close[c] = cc
            last = i == offsets[c + 1] - offsets[c] - 1
            ends += last
            # whether anything may happen, without branches (random signals would mispredict
            # them): long and an exit or a close at the stop floor, or flat and an entry
            lng = long[c]
            ex = exit_[k] | ((not intrabar) & (cc <= floor[c]))
            if not ((i >= warmups[c]) & ((lng & ex) | ((not lng) & entry[k]))):
                continue
            if lng:
                why = -1
                if not intrabar and cc <= floor[c] and (cc - paid[c]) / paid[c] * 100.0 <= -stop_loss_pct:
                    why = REASON_STOP_LOSS
                elif exit_[k]:
                    why = REASON_SIGNAL
                if why < 0:
                    continue
                if not next_open:
                    fill = cc * (1.0 - slip)
                    cash += units[c] * fill * (1.0 - fee)
                    trades = _record(
                        trades,
                        c,
                        entered[c],
                        i,
                        paid[c],
                        fill,
                        why,
                        fee,
                        t_coin,
                        t_entry,
                        t_exit,
                        t_paid,
                        t_got,
                        t_reason,
                        t_return,
                        units[c],
                        t_stake,
                    )
                    long[c] = False
                    units[c] = 0.0
                    held -= 1
                elif not last:
                    order[c] = _SELL
                    order_why[c] = why
                    orders += 1
            elif entry[k]:
                decision[c] = _BUY
                buys += 1
        # 5. buys at the close
        if buys:
            for ev in range(lo_ev, hi_ev):
                c = event_coin[ev]
                if decision[c] == _BUY:
                    decision[c] = _NO_ORDER
                    i = event_bar[ev]
                    if next_open:
                        if i < offsets[c + 1] - offsets[c] - 1:
                            order[c] = _BUY
                            orders += 1
                    elif held < slots:
                        cash = _buy(
                            c,
                            i,
                            close[offsets[c] + i] * (1.0 + slip),
                            cash,
                            slots - held,
                            fee,
                            stop_loss_pct,
                            long,
                            units,
                            paid,
                            stop,
                            floor,
                            entered,
                        )
                        held += 1
                    else:
                        skipped += 1
        exposed += held > 0
        # 6. end_of_data sells of the coins whose last bar this is
        if ends:
            for ev in range(lo_ev, hi_ev):
                c = event_coin[ev]
                i = event_bar[ev]
                if i == offsets[c + 1] - offsets[c] - 1:
                    if order[c] != _NO_ORDER:
                        order[c] = _NO_ORDER
                        orders -= 1
                    if long[c]:
                        fill = close[offsets[c] + i] * (1.0 - slip)
                        cash += units[c] * fill * (1.0 - fee)
                        trades = _record(
                            trades,
                            c,
                            entered[c],
                            i,
                            paid[c],
                            fill,
                            REASON_END_OF_DATA,
                            fee,
                            t_coin,
                            t_entry,
                            t_exit,
                            t_paid,
                            t_got,
                            t_reason,
                            t_return,
                            units[c],
                            t_stake,
                        )
                        long[c] = False
                        units[c] = 0.0
                        held -= 1
        value = cash
        if held > 0:
            for c in range(coins):  # branch-free: a flat coin's units are 0.0, adding exactly 0
                value += units[c] * last_close[c]
        equity[t] = value
    return (
        equity,
        t_coin[:trades],
        t_entry[:trades],
        t_exit[:trades],
        t_paid[:trades],
        t_got[:trades],
        t_reason[:trades],
        t_return[:trades],
        t_stake[:trades],
        exposed,
        skipped,
    )


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _buy(
    c: int,
    i: int,
    fill: float,
    cash: float,
    free: int,
    fee: float,
    stop_loss_pct: float,
    long: np.ndarray,
    units: np.ndarray,
    paid: np.ndarray,
    stop: np.ndarray,
    floor: np.ndarray,
    entered: np.ndarray,
) -> float:  # pragma: no cover - compiled
    """Coin c buys at bar i with cash / free (all of it for the last free slot); returns the cash left."""
    spend = cash if free == 1 else cash / free
    units[c] = spend / (fill * (1.0 + fee))
    paid[c] = fill
    stop[c] = fill * (1.0 - stop_loss_pct / 100.0)
    floor[c] = _stop_floor(fill, stop_loss_pct)
    entered[c] = i
    long[c] = True
    return 0.0 if free == 1 else cash - spend


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _record(
    t: int,
    c: int,
    entry_bar: int,
    exit_bar: int,
    paid: float,
    fill: float,
    why: int,
    fee: float,
    t_coin: np.ndarray,
    t_entry: np.ndarray,
    t_exit: np.ndarray,
    t_paid: np.ndarray,
    t_got: np.ndarray,
    t_reason: np.ndarray,
    t_return: np.ndarray,
    units: float,
    t_stake: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Write closed trade t; returns the trade count after it."""
    t_stake[t] = units * paid * (1.0 + fee)
    t_coin[t] = c
    t_entry[t] = entry_bar
    t_exit[t] = exit_bar
    t_paid[t] = paid
    t_got[t] = fill
    t_reason[t] = why
    t_return[t] = fill * (1.0 - fee) / (paid * (1.0 + fee)) - 1.0
    return t + 1


@njit(cache=True, nogil=True, error_model="numpy")
def merge_timelines_kernel(times: np.ndarray, offsets: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The union of the coins' ascending bar times (coin c's at times[offsets[c]:offsets[c+1]]),
    ascending: a merge, one pass over the coins' heads per time."""
    coins = offsets.shape[0] - 1
    if _same_times(times, offsets):  # the common case: every coin has the same bars
        return times[: offsets[1]].copy()
    head = offsets[:-1].copy()
    timeline = np.empty(times.shape[0], np.int64)
    t = 0
    while True:
        now = np.iinfo(np.int64).max
        for c in range(coins):
            if head[c] < offsets[c + 1] and times[head[c]] < now:
                now = times[head[c]]
        if now == np.iinfo(np.int64).max:
            break
        timeline[t] = now
        for c in range(coins):
            if head[c] < offsets[c + 1] and times[head[c]] == now:
                head[c] += 1
        t += 1
    return timeline[:t].copy()


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _same_times(times: np.ndarray, offsets: np.ndarray) -> bool:  # pragma: no cover - compiled
    """Every coin's times equal the first coin's."""
    n = offsets[1]
    for c in range(1, offsets.shape[0] - 1):
        if offsets[c + 1] - offsets[c] != n:
            return False
    differ = 0
    for c in range(1, offsets.shape[0] - 1):
        base = offsets[c]
        for i in range(n):
            differ += times[base + i] != times[i]
    return differ == 0
