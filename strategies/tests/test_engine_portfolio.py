"""The portfolio of a run (spec/ENGINE.md, "Portfolio of a run") on hand-worked cases, and
with one slot and one coin equal to the single backtest on every option.

The hand cases use RSI(2) with thresholds 30 / 70 and the stop out of reach: two falls in a
row give RSI 0 (an entry), two rises RSI 100 (an exit), a rise and a fall of the same size 50.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from strategies.engine import (
    PORTFOLIO_METRICS,
    STRATEGIES,
    InsufficientData,
    InvalidParameters,
    backtest,
    backtest_arrays,
    backtest_portfolio,
    backtest_portfolio_arrays,
)

from .test_engine_support import HOUR_NS, START_2024_NS

RSI2 = {"rsi_period": 2, "oversold_threshold": 30, "overbought_threshold": 70, "stop_loss_threshold": 100}
A = [10, 9, 8, 9, 10, 11]  # entry at bar 2 (8), exit at bar 4 (10): +25 %
B = [20, 19, 18, 17, 18, 19]  # entry at bars 2 and 3 (RSI 0 twice), exit at bar 5 (19)
E = [30, 31, 32, 31, 30, 31]  # entry at bar 4 (30) only; the data ends at 31


def coin(close: list[float], start_hour: int = 0, hours: list[int] | None = None) -> dict[str, np.ndarray]:
    at = np.asarray(hours if hours is not None else range(start_hour, start_hour + len(close)), dtype=np.int64)
    return {"times": START_2024_NS + HOUR_NS * at, "close": np.asarray(close, dtype=np.float64)}


def trades_of(result) -> list[tuple[str, int, int, str]]:
    return [(t["symbol"], t["entry_index"], t["exit_index"], t["reason"]) for t in result.trades]


def test_slots_full_skip_an_entry_and_a_level_rule_counts_each_refused_bar() -> None:
    # one slot: A buys at bar 2's close (symbol order: A first) with all the cash; B's
    # entries at bars 2 and 3 (RSI 0 both times) find no slot: two skipped entries. B is
    # flat afterwards and has no entry left; A sells at 10.
    r = backtest_portfolio_arrays("rsi", {"B": coin(B), "A": coin(A)}, RSI2, slots=1)
    assert trades_of(r) == [("A", 2, 4, "signal")]
    assert r.metrics["skipped_entries"] == 2
    np.testing.assert_allclose(r.equity, [1, 1, 1, 9 / 8, 1.25, 1.25])
    assert r.metrics["total_return"] == pytest.approx(25.0)
    assert r.metrics["exposure_pct"] == pytest.approx(2 / 6 * 100)  # times 2 and 3
    assert r.metrics["buy_hold_return"] == pytest.approx(((11 / 10 - 1) + (19 / 20 - 1)) / 2 * 100)
    assert tuple(r.metrics) == tuple(m.name for m in PORTFOLIO_METRICS)


def test_each_buy_spends_the_cash_over_the_free_slots() -> None:
    # two slots: A takes half the cash (0.5 -> 0.0625 units at 8), B the rest, the last
    # free slot (0.5 -> 0.5 / 18 units); A sells at 10 at time 4, B at 19 at time 5
    r = backtest_portfolio_arrays("rsi", {"A": coin(A), "B": coin(B)}, RSI2, slots=2)
    assert trades_of(r) == [("A", 2, 4, "signal"), ("B", 2, 5, "signal")]
    assert r.metrics["skipped_entries"] == 0  # B's entry at bar 3 comes while it is long: not a buy
    units_a, units_b = 0.5 / 8, 0.5 / 18
    np.testing.assert_allclose(
        r.equity, [1, 1, 1, units_a * 9 + units_b * 17, units_a * 10 + units_b * 18, units_a * 10 + units_b * 19]
    )
    assert r.slots == 2
    # the default is one slot per coin
    assert backtest_portfolio_arrays("rsi", {"A": coin(A), "B": coin(B)}, RSI2).slots == 2


def test_a_sell_at_the_close_frees_its_slot_for_a_buy_at_that_close() -> None:
    # one slot: A sells at time 4's close (moment "sells at the close"), E buys at the same
    # close (moment "buys at the close") with all of the 1.25, and ends at 31
    r = backtest_portfolio_arrays("rsi", {"A": coin(A), "E": coin(E)}, RSI2, slots=1)
    assert trades_of(r) == [("A", 2, 4, "signal"), ("E", 4, 5, "end_of_data")]
    assert r.metrics["skipped_entries"] == 0
    assert r.equity[-1] == pytest.approx(1.25 * 31 / 30)


def test_coins_with_different_date_ranges_and_a_missing_bar() -> None:
    # A trades hours 0, 1, 2, 4, 5, 6 (no bar at hour 3); Z is flat over hours 0..6 (RSI
    # undefined: no trade). Union timeline: 7 times. A buys at hour 2 with half the cash;
    # at hour 3 its latest close (8, hour 2) values it; it sells at bar 4 (hour 5, at 10).
    r = backtest_portfolio_arrays("rsi", {"A": coin(A, hours=[0, 1, 2, 4, 5, 6]), "Z": coin([50] * 7)}, RSI2)
    assert r.times.tolist() == (START_2024_NS + HOUR_NS * np.arange(7)).tolist()
    assert trades_of(r) == [("A", 2, 4, "signal")]
    assert r.trades[0]["exit_time"] == START_2024_NS + 5 * HOUR_NS
    np.testing.assert_allclose(r.equity, [1, 1, 1, 1, 0.5 + 0.0625 * 9, 1.125, 1.125])
    assert r.metrics["exposure_pct"] == pytest.approx(3 / 7 * 100)  # hours 2, 3 and 4
    assert r.metrics["buy_hold_return"] == pytest.approx(5.0)  # mean of +10 % and 0 %


def test_a_later_coin_buys_with_the_cash_of_an_earlier_one() -> None:
    # A over hours 0..5 and G (A's prices) over hours 3..8, two slots: A +25 % on half the
    # cash by hour 4; G buys at its bar 2 (hour 5) with half of 1.125 and sells at 10 (hour 7)
    r = backtest_portfolio_arrays("rsi", {"A": coin(A), "G": coin(A, start_hour=3)}, RSI2, slots=2)
    assert trades_of(r) == [("A", 2, 4, "signal"), ("G", 2, 4, "signal")]
    assert len(r.times) == 9
    g_units = 0.5625 / 8
    np.testing.assert_allclose(r.equity, [1, 1, 1, 1.0625, 1.125, 1.125, 0.5625 + g_units * 9, 1.265625, 1.265625])
    assert r.metrics["total_return"] == pytest.approx(26.5625)


def walk(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    o = np.concatenate([[c[0]], c[:-1]]) * (1 + rng.normal(0, 0.005, n))
    return {
        "times": START_2024_NS + HOUR_NS * np.arange(n, dtype=np.int64),
        "open": o,
        "high": np.maximum(c, o) * 1.004,
        "low": np.minimum(c, o) * 0.996,
        "close": c,
    }


OPTIONS = [
    {"fill": fill, "stop_mode": stop, "slippage_pct": slip, "fee_pct": fee}
    for fill, stop, slip, fee in itertools.product(("close", "next_open"), ("close", "intrabar"), (0.0, 0.1), (0, 0.2))
]


@pytest.mark.parametrize("key", list(STRATEGIES))
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_one_slot_and_one_coin_is_the_single_backtest(key: str, options: dict) -> None:
    data = walk(700, seed=len(key))
    params = {"stop_loss_threshold": 3.0}
    single = backtest_arrays(key, **data, params=params, **options)
    account = backtest_portfolio_arrays(key, {"X": data}, params, slots=1, **options)
    assert np.array_equal(account.equity, single.equity)
    assert np.array_equal(account.times, single.times)
    assert [{k: v for k, v in t.items() if k != "symbol"} for t in account.trades] == single.trades
    assert {k: v for k, v in account.metrics.items() if k != "skipped_entries"} == single.metrics
    assert account.metrics["skipped_entries"] == 0 and len(single.trades) > 3


def test_the_dataframe_form_equals_the_array_form() -> None:
    data = {"ETH": walk(300, 1), "BTC": walk(250, 2)}
    frames = {
        s: pd.DataFrame(
            {"datetime": pd.to_datetime(d["times"], utc=True), **{k: d[k] for k in ("open", "high", "low", "close")}}
        )
        for s, d in data.items()
    }
    a = backtest_portfolio("macd", frames, {}, fill="next_open", slots=1)
    b = backtest_portfolio_arrays("macd", data, {}, fill="next_open", slots=1)
    assert a.metrics == b.metrics and a.trades == b.trades and a.symbols == ("BTC", "ETH")
    # one coin's single backtest, by the DataFrame path too
    assert (
        backtest_portfolio("macd", {"BTC": frames["BTC"]}, {}).equity.tolist()
        == backtest("macd", frames["BTC"]).equity.tolist()
    )


def test_more_slots_than_coins_leave_cash_unspent() -> None:
    # K = 4 with two coins: each buy spends a quarter of the cash at that moment
    r = backtest_portfolio_arrays("rsi", {"A": coin(A), "B": coin(B)}, RSI2, slots=4)
    units_a, units_b = 0.25 / 8, (0.75 / 3) / 18
    assert r.equity[3] == pytest.approx(0.5 + units_a * 9 + units_b * 17)


def test_bad_input() -> None:
    with pytest.raises(InvalidParameters) as caught:
        backtest_portfolio_arrays("rsi", {"A": coin(A)}, RSI2, slots=0)
    assert (caught.value.parameter, caught.value.rule) == ("portfolio_slots", "must be >= 1")
    with pytest.raises(InvalidParameters) as caught:
        backtest_portfolio_arrays("rsi", {"A": coin(A)}, RSI2, slots=1001)
    assert caught.value.parameter == "portfolio_slots"
    with pytest.raises(InvalidParameters) as caught:
        backtest_portfolio_arrays("rsi", {}, RSI2)
    assert caught.value.parameter == "coins"
    with pytest.raises(InvalidParameters) as caught:
        backtest_portfolio_arrays("rsi", {"A": coin(A)}, RSI2, fill="later")
    assert caught.value.parameter == "fill"
    with pytest.raises(InsufficientData) as caught:
        backtest_portfolio_arrays("rsi", {"A": coin(A), "S": coin([1, 2, 3])}, RSI2)
    assert caught.value.symbol == "S"


def with_open(close: list[float]) -> dict[str, np.ndarray]:
    """A coin whose bars open at the previous close."""
    data = coin(close)
    data["open"] = np.concatenate([[close[0]], close[:-1]]).astype(np.float64)
    return data


def test_next_open_sells_at_the_open_free_a_slot_for_the_buys_at_that_open() -> None:
    # one slot: A's buy decided at bar 2 fills at open[3] = 8, its sell decided at bar 4
    # fills at open[5] = 10 (the moment "sells at the open"); E's buy decided at bar 4 fills
    # at the same open (30, "buys at the open", after it) and the data ends it at 31
    r = backtest_portfolio_arrays("rsi", {"A": with_open(A), "E": with_open(E)}, RSI2, slots=1, fill="next_open")
    assert trades_of(r) == [("A", 3, 5, "signal"), ("E", 5, 5, "end_of_data")]
    assert r.metrics["skipped_entries"] == 0
    assert r.equity[-1] == pytest.approx(1.25 * 31 / 30)


def test_next_open_buys_are_refused_at_the_open_and_asked_again() -> None:
    # one slot: A and B both decide to buy at bar 2; at open[3] A (first by symbol) takes
    # the slot and B is refused; B decides again at bar 3 (RSI 0) and is refused at open[4]
    r = backtest_portfolio_arrays("rsi", {"A": with_open(A), "B": with_open(B)}, RSI2, slots=1, fill="next_open")
    assert trades_of(r) == [("A", 3, 5, "signal")]
    assert r.metrics["skipped_entries"] == 2


def test_warm_up_leaves_nothing_to_compile_for_any_entry_point() -> None:
    # after warm_up() no entry point compiles anything more, whatever kind of array it gets
    from strategies.engine import kernels, strategy_indicators, warm_up
    from strategies.engine.sweep import sweep_cells, sweep_coin

    assert warm_up() >= 0.0
    dispatchers = [value for value in vars(kernels).values() if hasattr(value, "signatures")]
    before = {d: len(d.signatures) for d in dispatchers}
    for writable in (True, False):
        data = walk(300, seed=9)
        for array in data.values():
            array.flags.writeable = writable
        other = {k: v[40:] for k, v in data.items()}
        for key in STRATEGIES:
            backtest_arrays(key, **data, fill="next_open", stop_mode="intrabar", slippage_pct=0.1)
            backtest_portfolio_arrays(key, {"X": data, "Y": other}, {}, stop_mode="intrabar", slots=1)
            backtest_portfolio_arrays(key, {"X": data, "Y": data}, {})
            strategy_indicators(key, {}, **{k: v for k, v in data.items() if k != "times"})
            sweep_coin(sweep_cells(key, [{}, {}]), [(0, 300, False), (100, 300, True)], **data)
    assert {d: len(d.signatures) for d in dispatchers} == before


def test_the_coins_contributions_add_up_to_the_accounts_profit_and_loss() -> None:
    """Each trade's stake is what its entry spent; a coin's contribution is the sum of stake * r of
    its trades, and the contributions add up to the final equity - 1, whatever the slots."""
    from strategies.engine.portfolio import backtest_portfolio_arrays

    rng = np.random.default_rng(2)
    coins = {}
    for symbol in "ABCD":
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 1500)))
        coins[symbol] = {
            "times": np.arange(1500, dtype=np.int64) * 3_600_000_000_000,
            "close": close,
            "open": close * 1.001,
            "high": close * 1.01,
            "low": close * 0.99,
        }
    for slots in (1, 2, 4):
        result = backtest_portfolio_arrays("rsi", coins, {}, fee_pct=0.1, slots=slots, fill="next_open")
        contributions = result.contributions()
        assert list(contributions) == ["A", "B", "C", "D"]
        assert sum(contributions.values()) == pytest.approx(result.equity[-1] - 1.0, abs=1e-12)
        # every trade taken spent some of the cash
        assert (result.trade_log["stake"] > 0).all()
    single = backtest_portfolio_arrays("rsi", {"A": coins["A"]}, {}, fee_pct=0.1, slots=1)
    assert single.contributions()["A"] == pytest.approx(single.equity[-1] - 1.0, abs=1e-12)
