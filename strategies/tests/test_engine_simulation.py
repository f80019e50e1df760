"""The position model and the metrics, on hand-made signals and series."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from strategies.engine.metrics import compute_metrics
from strategies.engine.simulation import REASONS, Simulation, simulate

from .test_engine_support import run, trade_tuples


def sim(
    close: list[float], entries: list[int], exits: list[int] = (), *, warmup: int = 0, stop: float = 10, fee: float = 0
) -> Simulation:
    """simulate() with entry / exit signals on the listed bars only."""
    c = np.asarray(close, dtype=np.float64)
    entry = np.zeros(len(c), dtype=bool)
    exit_ = np.zeros(len(c), dtype=bool)
    entry[list(entries)] = True
    exit_[list(exits)] = True
    return simulate(c, entry, exit_, warmup=warmup, stop_loss_pct=stop, fee_pct=fee)


def trades_of(s: Simulation) -> list[tuple[int, int, str]]:
    return [(int(e), int(x), REASONS[r]) for e, x, r in zip(s.entry_index, s.exit_index, s.reason, strict=True)]


# --- the position model ----------------------------------------------------------------


def test_stop_loss_sells_at_the_close_not_at_the_threshold() -> None:
    # bought at 100; 95 is -5%, 89.9 is -10.1%: sold at 89.9, not at 90.
    s = sim([100, 100, 95, 89.9, 80, 120], entries=[1])
    assert trades_of(s) == [(1, 3, "stop_loss")]
    assert s.returns[0] == pytest.approx(-0.101)
    np.testing.assert_allclose(s.equity, [1, 1, 0.95, 0.899, 0.899, 0.899])


def test_stop_loss_triggers_at_exactly_the_threshold() -> None:
    assert trades_of(sim([100, 90, 90], entries=[0], stop=10)) == [(0, 1, "stop_loss")]
    assert trades_of(sim([100, 90.01, 90], entries=[0], stop=10)) == [(0, 2, "stop_loss")]


def test_stop_loss_is_checked_before_the_exit_signal() -> None:
    assert trades_of(sim([100, 100, 80], entries=[1], exits=[2])) == [(1, 2, "stop_loss")]


def test_stop_loss_compares_prices_not_fees() -> None:
    # -9.9% on the price is not a stop at 10%, whatever the 2 fees make of the return.
    s = sim([100, 90.1, 95], entries=[0], fee=2)
    assert trades_of(s) == [(0, 2, "end_of_data")]


def test_the_entry_bar_is_not_checked_for_an_exit() -> None:
    # entry and exit signals on bar 1: it buys and keeps the position; it sells on bar 2.
    assert trades_of(sim([10, 11, 12, 13], entries=[1], exits=[1, 2])) == [(1, 2, "signal")]


def test_the_exit_bar_does_not_enter_again() -> None:
    assert trades_of(sim([10, 11, 12, 13, 14], entries=[0, 2, 3], exits=[2])) == [
        (0, 2, "signal"),
        (3, 4, "end_of_data"),
    ]


def test_an_open_position_is_closed_at_the_last_close() -> None:
    s = sim([10, 11, 12, 15], entries=[1])
    assert trades_of(s) == [(1, 3, "end_of_data")]
    assert s.returns[0] == pytest.approx(15 / 11 - 1)
    assert s.equity[-1] == pytest.approx(15 / 11)


def test_an_entry_on_the_last_bar_is_a_trade_closed_at_the_same_close() -> None:
    s = sim([10, 11, 12], entries=[2], fee=0.5)
    assert trades_of(s) == [(2, 2, "end_of_data")]
    assert s.returns[0] == pytest.approx(0.995 / 1.005 - 1)
    assert s.bars_in_position == 1


def test_no_entry_before_the_warmup() -> None:
    assert trades_of(sim([10, 11, 12, 13, 14], entries=[0, 1, 3], warmup=2)) == [(3, 4, "end_of_data")]


def test_fees_are_paid_on_both_fills() -> None:
    # buy 1.0 of equity at 100 with 1% fee: 1 / 101 units, worth 100/101 at that close;
    # sell at 110 with 1% fee: 110 * 0.99 / 101.
    s = sim([100, 100, 105, 110, 110], entries=[1], exits=[3], fee=1)
    np.testing.assert_allclose(s.equity, [1, 100 / 101, 105 / 101, 108.9 / 101, 108.9 / 101], rtol=1e-15)
    assert s.returns[0] == pytest.approx(108.9 / 101 - 1, rel=1e-14)


def test_equity_compounds_over_trades() -> None:
    s = sim([10, 10, 20, 20, 10, 15], entries=[1, 4], exits=[2])
    assert trades_of(s) == [(1, 2, "signal"), (4, 5, "end_of_data")]
    np.testing.assert_allclose(s.equity, [1, 1, 2, 2, 2, 3])


def test_bars_in_position_count_entry_and_end_of_data_bars_but_not_exit_bars() -> None:
    # held after the fill: bars 1, 2 (exit at 3 not counted), then 5 and 6 (end of data).
    s = sim([10, 11, 12, 13, 14, 15, 16], entries=[1, 5], exits=[3])
    assert s.bars_in_position == 4
    assert run("rsi", [10, 11, 10, 9, 10, 11, 12], {"rsi_period": 2}).metrics["exposure_pct"] == pytest.approx(
        2 / 7 * 100
    )


# --- metrics ---------------------------------------------------------------------------


def metrics_of(close: list[float], s: Simulation, interval: str = "1h") -> dict:
    return compute_metrics(np.asarray(close, dtype=np.float64), s, interval)


def test_metrics_of_a_hand_made_run() -> None:
    close = [10, 10, 20, 20, 16, 12, 15]
    s = sim(close, entries=[1, 4], exits=[2], stop=100)  # +100%, then 16 -> 15 at the end: -6.25%
    m = metrics_of(close, s)
    equity = [1, 1, 2, 2, 2, 1.5, 1.875]
    np.testing.assert_allclose(s.equity, equity)
    b = [equity[i] / equity[i - 1] - 1 for i in range(1, 7)]
    assert m == {
        "total_return": pytest.approx(87.5),
        "total_trades": 2,
        "profitable_trades": 1,
        "losing_trades": 1,
        "win_rate": 50.0,
        "buy_hold_return": pytest.approx(50.0),
        "sharpe_ratio": pytest.approx(statistics.mean(b) / statistics.stdev(b) * math.sqrt(8760)),
        "max_drawdown": pytest.approx(-25.0),  # 2 -> 1.5
        "exposure_pct": pytest.approx(4 / 7 * 100),  # bars 1, 4, 5, 6
        "stop_loss_exits": 0,
        # 1.875 ** (8760 / 7) overflows a float: seven hourly bars compound to "infinitely" fast growth
        "cagr": math.inf,
        "sortino_ratio": pytest.approx((1 / 6) / math.sqrt(0.25**2 / 6) * math.sqrt(8760)),  # b = 0 1 0 0 -.25 .25
        "calmar_ratio": math.inf,
        "profit_factor": pytest.approx(1.0 / 0.0625),
        "avg_trade_return": pytest.approx((100 - 6.25) / 2),
        "best_trade": pytest.approx(100.0),
        "worst_trade": pytest.approx(-6.25),
        "avg_bars_held": 1.5,  # 1 -> 2 and 4 -> 6
        "max_consecutive_losses": 1,
        "max_drawdown_duration": 2,  # the high 2 last reached at bar 4, not regained by bar 6
    }


def test_cagr_and_calmar_by_hand_on_weekly_bars() -> None:
    close = [10, 10, 20, 20, 16, 12, 15]
    m = metrics_of(close, sim(close, entries=[1, 4], exits=[2], stop=100), "1w")
    years = 7 * 10080 / 525600  # 0.1342...
    assert m["cagr"] == pytest.approx((1.875 ** (1 / years) - 1) * 100)  # about 10,700 %
    assert 10_000 < m["cagr"] < 11_000
    assert m["calmar_ratio"] == pytest.approx(m["cagr"] / 25.0)


def test_profit_factor_none_without_a_loss_and_zero_without_a_gain() -> None:
    # one trade +10 %, none lost: no denominator
    assert metrics_of([10, 10, 11], sim([10, 10, 11], entries=[1]))["profit_factor"] is None
    # a trade of exactly 0 is neither a gain nor a loss (r < 0 counts), and none gained: 0
    m = metrics_of([10, 10, 10], sim([10, 10, 10], entries=[0]))
    assert (m["profit_factor"], m["max_consecutive_losses"], m["losing_trades"]) == (0.0, 1, 1)
    # no trades at all: every trade metric is 0
    m = metrics_of([10, 11, 12], sim([10, 11, 12], entries=[]))
    assert [m[k] for k in ("profit_factor", "avg_trade_return", "best_trade", "worst_trade", "avg_bars_held")] == [
        0
    ] * 5
    assert (m["max_consecutive_losses"], m["sortino_ratio"], m["calmar_ratio"], m["max_drawdown_duration"]) == (
        0,
        0,
        0,
        0,
    )


def test_losing_streak_and_drawdown_duration_by_hand() -> None:
    # trades: 0->1 -10 %, 2->3 -10 %, 4->5 +20 %, 6->7 -5 % (exits by signal)
    close = [100, 90, 100, 90, 100, 120, 100, 95, 95]
    s = sim(close, entries=[0, 2, 4, 6], exits=[1, 3, 5, 7], stop=100)
    m = metrics_of(close, s)
    assert [round(float(r), 6) for r in s.returns] == [-0.1, -0.1, 0.2, -0.05]
    assert m["max_consecutive_losses"] == 2
    # equity 1 .9 .9 .81 .81 .972 .972 .9234 .9234: the high 1 at bar 0 is never regained
    assert m["max_drawdown_duration"] == 8
    assert m["profit_factor"] == pytest.approx(0.2 / 0.25)
    assert m["avg_bars_held"] == 1.0


def test_sharpe_is_annualised_by_the_interval() -> None:
    close = [10, 11, 10, 12, 13, 12]
    s = sim(close, entries=[0])
    by = {i: metrics_of(close, s, i)["sharpe_ratio"] for i in ("1h", "1d", "15m", "1w", "1m")}
    assert by["1h"] / by["1d"] == pytest.approx(math.sqrt(24))
    assert by["15m"] / by["1h"] == pytest.approx(2)
    assert by["1w"] / by["1d"] == pytest.approx(math.sqrt((525600 / 10080) / 365))
    assert by["1m"] / by["1h"] == pytest.approx(math.sqrt(60))


def test_sharpe_is_zero_without_variation() -> None:
    assert metrics_of([10, 11, 12, 13], sim([10, 11, 12, 13], entries=[]))["sharpe_ratio"] == 0.0


def test_win_rate_is_zero_without_trades_and_zero_return_is_a_loss() -> None:
    m = metrics_of([10, 10, 10], sim([10, 10, 10], entries=[]))
    assert (m["win_rate"], m["total_trades"], m["total_return"], m["max_drawdown"]) == (0.0, 0, 0.0, 0.0)
    m = metrics_of([10, 10, 10], sim([10, 10, 10], entries=[0]))
    assert (m["losing_trades"], m["win_rate"]) == (1, 0.0)


def test_stop_loss_exits_are_counted() -> None:
    close = [100, 100, 80, 100, 100, 70, 100]
    m = metrics_of(close, sim(close, entries=[1, 3], exits=[6]))
    assert (m["stop_loss_exits"], m["total_trades"]) == (2, 2)


def test_fees_through_the_public_interface() -> None:
    # mean reversion SMA(2): buy bar 3 at 90, sell bar 4 at 92, each with a 0.5% fee.
    close = [100, 100, 100, 90, 92, 95, 91]
    free = run("mean_reversion", close, {"mr_period": 2})
    paid = run("mean_reversion", close, {"mr_period": 2}, fee_pct=0.5)
    assert trade_tuples(free) == trade_tuples(paid) == [(3, 4, "signal")]
    assert paid.metrics["total_return"] == pytest.approx((92 * 0.995 / (90 * 1.005) - 1) * 100)
    assert paid.equity[3] == pytest.approx(1 / 1.005)


def test_stop_loss_at_its_level_follows_the_literal_rule() -> None:
    # The simulation only evaluates the loss in % near the stop level; at the level, a
    # unit in the last place either side must give what the rule's expression gives.
    rng = np.random.default_rng(11)
    checked = stopped = 0
    for entry_price in np.concatenate([rng.uniform(0.01, 70_000, 300), [100.0, 90.0, 0.3, 77.7]]):
        for stop in (0.1, 5.0, 10.0, 33.3, 99.9, 100.0):
            level = entry_price * (1 - stop / 100)
            nearby = (
                np.nextafter(np.nextafter(level, 0), 0),
                np.nextafter(level, 0),
                level,
                np.nextafter(level, np.inf),
            )
            if stop == 100.0:  # level 0: closes that are a vanishing share of the entry price
                nearby = tuple(entry_price * share for share in (1e-17, 2.0**-53, 2.0**-52, 1e-15))
            for close in nearby:
                rule = (close - entry_price) / entry_price * 100.0 <= -stop
                s = sim([entry_price, close, entry_price], entries=[0], stop=stop)
                assert (trades_of(s)[0][2] == "stop_loss") == rule, (entry_price, stop, close)
                checked += 1
                stopped += rule
    assert 0 < stopped < checked  # both outcomes occur at the level
