"""The execution options of spec/ENGINE.md ("Execution options"), step by step, on small
series whose trades, prices and equity were worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from strategies.engine import (
    FILL_OPTIONS,
    SLIPPAGE_PCT,
    STOP_MODES,
    InvalidParameters,
    InvalidPriceData,
    backtest_arrays,
)
from strategies.engine.metrics import compute_metrics
from strategies.engine.simulation import REASONS, Simulation, simulate

from .test_engine_support import hourly_times


def sim(
    close: Sequence[float],
    entries: Sequence[int],
    exits: Sequence[int] = (),
    *,
    open: Sequence[float] | None = None,  # noqa: A002 - named as the price column
    low: Sequence[float] | None = None,
    warmup: int = 0,
    stop: float = 10,
    fee: float = 0,
    fill: str = "close",
    stop_mode: str = "close",
    slip: float = 0,
) -> Simulation:
    """simulate() with entry / exit signals on the listed bars only; open and low default to the close."""
    c = np.asarray(close, dtype=np.float64)
    entry = np.zeros(len(c), dtype=bool)
    exit_ = np.zeros(len(c), dtype=bool)
    entry[list(entries)] = True
    exit_[list(exits)] = True
    return simulate(
        c,
        entry,
        exit_,
        warmup=warmup,
        stop_loss_pct=stop,
        fee_pct=fee,
        open=c if open is None else np.asarray(open, dtype=np.float64),
        low=c if low is None else np.asarray(low, dtype=np.float64),
        fill=fill,
        stop_mode=stop_mode,
        slippage_pct=slip,
    )


def trades_of(s: Simulation) -> list[tuple[int, int, str]]:
    return [(int(e), int(x), REASONS[r]) for e, x, r in zip(s.entry_index, s.exit_index, s.reason, strict=True)]


def fills_of(s: Simulation) -> list[tuple[float, float]]:
    return [(float(e), float(x)) for e, x in zip(s.entry_price, s.exit_price, strict=True)]


# --- step 2: the intrabar stop ------------------------------------------------------------


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    # bought at the close of bar 1 (100), stop level 90; bar 2's low 94 misses it; bar 3
    # opens at 85, below the level: sold at 85, not at 90
    s = sim([100, 100, 95, 80, 85], [1], open=[100, 100, 99, 85, 82], low=[100, 100, 94, 78, 80], stop_mode="intrabar")
    assert trades_of(s) == [(1, 3, "stop_loss")]
    assert fills_of(s) == [(100.0, 85.0)]
    assert s.returns[0] == pytest.approx(-0.15)
    np.testing.assert_allclose(s.equity, [1, 1, 0.95, 0.85, 0.85])


def test_an_intrabar_stop_without_a_gap_fills_at_the_stop_level() -> None:
    # bar 3 opens at 92 (above 90) and trades down to 88: sold at exactly 90
    s = sim([100, 100, 95, 80, 85], [1], open=[100, 100, 99, 92, 82], low=[100, 100, 94, 88, 80], stop_mode="intrabar")
    assert trades_of(s) == [(1, 3, "stop_loss")]
    assert fills_of(s) == [(100.0, 90.0)]
    assert s.bars_in_position == 2  # bars 1 and 2; bar 3 is flat at its close


def test_the_intrabar_stop_level_is_from_the_entry_fill_price_with_slippage() -> None:
    # 1 % slippage: bought at 101, stop level 101 * 0.9 = 90.9; a low of 90.95 misses it,
    # 90.5 reaches it: sold at 90.9 less 1 %
    s = sim([100, 100, 95, 93], [1], open=[100, 100, 96, 95], low=[100, 100, 90.95, 90.5], stop_mode="intrabar", slip=1)
    assert trades_of(s) == [(1, 3, "stop_loss")]
    assert s.entry_price[0] == pytest.approx(101.0)
    assert s.exit_price[0] == pytest.approx(90.9 * 0.99)


def test_the_intrabar_mode_ignores_the_close_rule() -> None:
    # the close falls 15 % below the entry but the recorded low never reaches the level
    # (the engine takes low as given): no stop, the position runs to the end
    s = sim([100, 100, 85, 86], [1], low=[100, 100, 91, 91], stop_mode="intrabar")
    assert trades_of(s) == [(1, 3, "end_of_data")]
    assert trades_of(sim([100, 100, 85, 86], [1], stop_mode="close")) == [(1, 2, "stop_loss")]


def test_the_entry_bar_of_a_next_open_fill_is_checked_intrabar() -> None:
    # decided at the close of bar 1, filled at bar 2's open (100): bar 2's low 89 reaches
    # the stop level 90 within the same bar: sold at 90, and bar 2 ends flat
    s = sim(
        [100, 100, 100, 100], [1], open=[100, 100, 100, 100], low=[100, 100, 89, 100], fill="next_open",
        stop_mode="intrabar",
    )  # fmt: skip
    assert trades_of(s) == [(2, 2, "stop_loss")]
    assert fills_of(s) == [(100.0, 90.0)]
    np.testing.assert_allclose(s.equity, [1, 1, 0.9, 0.9])
    assert s.bars_in_position == 0


def test_an_entry_at_the_close_is_not_checked_intrabar_on_its_own_bar() -> None:
    # bought at bar 1's close (100) although bar 1's low was 80: the stop applies from bar 2
    s = sim([100, 100, 100], [1], low=[100, 80, 100], stop_mode="intrabar")
    assert trades_of(s) == [(1, 2, "end_of_data")]


def test_a_stop_and_a_re_entry_on_one_bar() -> None:
    # bar 2: stopped intrabar at 90 (the open 98 is above the level), then a buy decided
    # at its close fills at 95; the data ends at 97
    close, open_, low = [100, 100, 95, 97], [100, 100, 98, 96], [100, 100, 88, 96]
    s = sim(close, [1, 2], open=open_, low=low, stop_mode="intrabar")
    assert trades_of(s) == [(1, 2, "stop_loss"), (2, 3, "end_of_data")]
    assert fills_of(s) == [(100.0, 90.0), (95.0, 97.0)]
    np.testing.assert_allclose(s.equity, [1, 1, 0.9, 0.9 * 97 / 95])
    assert s.bars_in_position == 3  # bars 1, 2 (long again at its close) and 3
    # with next-open fills the buy decided at bar 2's close fills at bar 3's open (96)
    s = sim(close, [0, 2], open=open_, low=low, stop_mode="intrabar", fill="next_open")
    assert trades_of(s) == [(1, 2, "stop_loss"), (3, 3, "end_of_data")]
    assert fills_of(s) == [(100.0, 90.0), (96.0, 97.0)]


# --- steps 1, 3 and 5: next-open fills ---------------------------------------------------


def test_next_open_fills_buy_and_sell_at_the_following_open() -> None:
    # buy decided at bar 0, filled at open[1] = 101; sell decided at bar 2, filled at open[3] = 105
    close, open_ = [100, 102, 104, 103, 101], [100, 101, 103, 105, 102]
    s = sim(close, [0], [2], open=open_, fill="next_open")
    assert trades_of(s) == [(1, 3, "signal")]
    assert fills_of(s) == [(101.0, 105.0)]
    np.testing.assert_allclose(s.equity, [1, 102 / 101, 104 / 101, 105 / 101, 105 / 101])
    assert s.bars_in_position == 2  # held at the closes of bars 1 and 2; sold at bar 3's open
    assert compute_metrics(np.asarray(close, float), s, "1h")["exposure_pct"] == pytest.approx(40.0)
    assert compute_metrics(np.asarray(close, float), s, "1h")["avg_bars_held"] == 2.0


def test_a_close_stop_decided_at_a_close_fills_at_the_next_open() -> None:
    # bought at open[1] = 100; bar 2 closes at 89 (-11 %): the stop is decided there and
    # filled at bar 3's open, 93, reason stop_loss
    s = sim([100, 100, 89, 95, 96], [0], open=[100, 100, 95, 93, 96], fill="next_open")
    assert trades_of(s) == [(1, 3, "stop_loss")]
    assert fills_of(s) == [(100.0, 93.0)]
    assert s.returns[0] == pytest.approx(-0.07)


def test_the_bar_of_a_next_open_entry_is_checked_at_its_close() -> None:
    # filled at open[1]; exit signal at bar 1's close: sold at open[2]
    s = sim([100, 100, 100, 100], [0], [1], open=[100, 100, 104, 100], fill="next_open")
    assert trades_of(s) == [(1, 2, "signal")]
    assert fills_of(s) == [(100.0, 104.0)]


def test_a_buy_decided_on_the_last_bar_with_next_open_fills_does_nothing() -> None:
    s = sim([100, 101, 102], [2], fill="next_open")
    assert trades_of(s) == []
    np.testing.assert_array_equal(s.equity, [1, 1, 1])
    # with close fills it buys at the last close and the data ends it there
    assert trades_of(sim([100, 101, 102], [2])) == [(2, 2, "end_of_data")]


def test_sells_decided_at_the_last_close_with_next_open_are_end_of_data_at_the_last_close() -> None:
    close, open_ = [100, 100, 110, 120], [100, 101, 105, 115]
    s = sim(close, [0], [3], open=open_, fill="next_open")  # an exit signal on the last bar
    assert trades_of(s) == [(1, 3, "end_of_data")]
    assert fills_of(s) == [(101.0, 120.0)]
    assert s.bars_in_position == 3  # bars 1, 2, 3: the last counts, closed only by the data's end
    # a close stop decided on the last bar: the same
    s = sim([100, 100, 110, 80], [0], open=open_, fill="next_open")
    assert trades_of(s) == [(1, 3, "end_of_data")]
    assert fills_of(s) == [(101.0, 80.0)]


def test_no_order_is_decided_before_the_warmup() -> None:
    s = sim([100, 100, 100, 100], [0, 1, 2], open=[100, 100, 103, 104], fill="next_open", warmup=2)
    assert trades_of(s) == [(3, 3, "end_of_data")]  # decided at bar 2 (= W), filled at open[3]


# --- slippage and fees --------------------------------------------------------------------


def test_slippage_moves_every_fill_against_the_trader_and_fees_apply_to_the_fill() -> None:
    # 1 % slippage and 0.5 % fee: buy 100 -> 101, sell 110 -> 108.9
    s = sim([100, 100, 110], [1], [2], slip=1, fee=0.5)
    assert fills_of(s) == [(pytest.approx(101.0), pytest.approx(108.9))]
    assert s.returns[0] == pytest.approx(108.9 * 0.995 / (101 * 1.005) - 1)
    assert s.equity[-1] == pytest.approx(1 / (101 * 1.005) * 108.9 * 0.995)
    assert s.equity[1] == pytest.approx(1 / (101 * 1.005) * 100)  # units * close after the buy


def test_slippage_applies_to_the_end_of_data_sale() -> None:
    s = sim([100, 100, 120], [1], slip=2)
    assert trades_of(s) == [(1, 2, "end_of_data")]
    assert fills_of(s) == [(pytest.approx(102.0), pytest.approx(117.6))]
    assert s.equity[-1] == pytest.approx(117.6 / 102)


def test_the_defaults_are_the_original_position_model() -> None:
    close = [100, 100, 95, 89.9, 80, 120]
    default = simulate(
        np.asarray(close, float), *(np.array([0, 1, 0, 0, 0, 0], bool), np.zeros(6, bool)), warmup=0,
        stop_loss_pct=10, fee_pct=0,
    )  # fmt: skip
    assert trades_of(default) == [(1, 3, "stop_loss")]  # sold at the close, 89.9, as before
    assert fills_of(default) == [(100.0, 89.9)]


# --- the options as the engine's interface takes them ---------------------------------------


def bars(n: int = 60) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    return {"times": hourly_times(n), "open": c * 1.001, "high": c * 1.01, "low": c * 0.99, "close": c}


def test_the_option_values_come_from_the_engine() -> None:
    assert FILL_OPTIONS == ("close", "next_open")
    assert STOP_MODES == ("close", "intrabar")
    assert (SLIPPAGE_PCT.name, SLIPPAGE_PCT.min, SLIPPAGE_PCT.max, SLIPPAGE_PCT.default) == ("slippage_pct", 0, 5, 0.0)


@pytest.mark.parametrize(
    ("option", "value", "rule"),
    [
        ("fill", "open", "must be one of ['close', 'next_open']"),
        ("fill", None, "must be one of ['close', 'next_open']"),
        ("stop_mode", "low", "must be one of ['close', 'intrabar']"),
        ("slippage_pct", -0.01, "must be >= 0"),
        ("slippage_pct", 5.5, "must be <= 5"),
        ("slippage_pct", "0.1", "must be a number"),
        ("slippage_pct", True, "must be a number"),
        ("slippage_pct", float("nan"), "must be a finite number"),
    ],
)
def test_bad_options_are_refused_naming_the_option(option: str, value: object, rule: str) -> None:
    with pytest.raises(InvalidParameters) as caught:
        backtest_arrays("rsi", **bars(), **{option: value})
    assert (caught.value.parameter, caught.value.rule) == (option, rule)


def test_next_open_and_intrabar_need_the_prices_they_read() -> None:
    data = bars()
    without_open = {k: v for k, v in data.items() if k != "open"}
    with pytest.raises(InvalidPriceData, match="needs open prices"):
        backtest_arrays("rsi", **without_open, fill="next_open")
    with pytest.raises(InvalidPriceData, match="needs open prices"):
        backtest_arrays("rsi", **without_open, stop_mode="intrabar")
    without_low = {k: v for k, v in data.items() if k != "low"}
    with pytest.raises(InvalidPriceData, match="needs low prices"):
        backtest_arrays("rsi", **without_low, stop_mode="intrabar")
    assert backtest_arrays("rsi", **without_open).metrics  # the defaults read the close only


def test_a_bad_open_is_named_when_the_options_read_it() -> None:
    data = bars()
    data["open"] = data["open"].copy()
    data["open"][7] = np.nan
    with pytest.raises(InvalidPriceData, match="open is NaN at bar 7"):
        backtest_arrays("rsi", **data, fill="next_open")
    assert backtest_arrays("rsi", **data).metrics  # unread with the defaults


def test_the_result_records_its_options() -> None:
    r = backtest_arrays("rsi", **bars(), fill="next_open", stop_mode="intrabar", slippage_pct=0.05)
    assert (r.fill, r.stop_mode, r.slippage_pct) == ("next_open", "intrabar", 0.05)
    assert all(t["bars_held"] == t["exit_index"] - t["entry_index"] for t in r.trades)
