"""Properties that hold for every series and parameter set, checked with hypothesis,
and agreement with the spec-literal reference model (test_engine_support.py)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.engine import STRATEGIES, min_bars, parameters_resolve

from .test_engine_support import assert_matches_reference, reference_backtest, run

# ENGINE_EXAMPLES=2000 for a deep run; 60 keeps the suite quick.
SETTINGS = settings(
    max_examples=int(os.environ.get("ENGINE_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def bars(draw: st.DrawFn, min_size: int = 4, max_size: int = 160) -> dict[str, np.ndarray]:
    """A price walk with some flat stretches (high == low == close there), so flat
    windows, undefined indicators and exact ties all occur.

    A move is 0 or at least 1e-7 (a tick finer than any exchange quotes). Moves of a
    few units in the last place make averages tie to within one rounding, where the
    reference's pandas and the engine may round a tie either way (both differ from the
    exact mean by one unit there)."""
    size = draw(st.integers(min_size, max_size))
    step = st.builds(lambda size, sign: size * sign, st.floats(1e-7, 0.08), st.sampled_from([-1, 1]))
    moves = draw(st.lists(st.one_of(st.just(0.0), step), min_size=size, max_size=size))
    close = 100 * np.exp(np.cumsum(moves))
    spread = np.array(draw(st.lists(st.floats(0, 0.02), min_size=size, max_size=size)))
    spread[np.array(moves) == 0] = 0
    # the open: the last close moved by a gap (up to 4 %, either way); none on flat bars
    gaps = np.array(draw(st.lists(st.floats(-0.04, 0.04), min_size=size, max_size=size)))
    gaps[np.array(moves) == 0] = 0
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + gaps)
    open_[np.array(moves) == 0] = close[np.array(moves) == 0]
    high = np.maximum(close * (1 + spread), open_)
    low = np.minimum(close * (1 - spread), open_)
    return {"close": close, "high": high, "low": low, "open": open_}


def params_for(key: str, draw: st.DrawFn) -> dict[str, Any]:
    """Random valid parameters, with warm-ups short enough for 60 bars."""
    spec = STRATEGIES[key]
    stop = draw(st.sampled_from([0.5, 3.0, 10.0, 100.0]))
    small = st.integers(1, 12)
    p: dict[str, Any] = {"stop_loss_threshold": stop}
    if key == "rsi":
        lo = draw(st.floats(5, 60))
        p |= {
            "rsi_period": draw(st.integers(2, 14)),
            "oversold_threshold": lo,
            "overbought_threshold": draw(st.floats(lo + 1, 95)),
            "rsi_smoothing": draw(st.sampled_from(["sma", "wilder"])),
        }
    elif key == "ma_crossover":
        fast = draw(small)
        p |= {"fast_ma_period": fast, "slow_ma_period": draw(st.integers(fast + 1, 20))}
    elif key == "macd":
        fast = draw(small)
        p |= {
            "macd_fast_period": fast,
            "macd_slow_period": draw(st.integers(fast + 1, 20)),
            "macd_signal_period": draw(small),
        }
    elif key == "stochastic":
        lo = draw(st.floats(10, 60))
        p |= {
            "stoch_k_period": draw(small),
            "stoch_d_period": draw(st.integers(1, 5)),
            "oversold_threshold": lo,
            "overbought_threshold": draw(st.floats(lo + 1, 95)),
        }
    elif key == "bollinger_bands":
        p |= {"bb_period": draw(st.integers(2, 20)), "bb_std_multiplier": draw(st.floats(0.1, 3))}
    else:
        p |= {"mr_period": draw(st.integers(2, 20)), "mr_threshold": draw(st.floats(0.01, 8))}
    assert set(p) <= set(spec.param_names)
    return p


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, dict[str, np.ndarray], dict[str, Any]]:
    key = draw(st.sampled_from(list(STRATEGIES)))
    series = draw(bars(min_size=60))
    params = params_for(key, draw)
    assert len(series["close"]) >= min_bars(key, parameters_resolve(key, params))  # warm-ups are <= 32 bars
    return key, series, params


def backtest(case: tuple[str, dict[str, np.ndarray], dict[str, Any]], fee_pct: float = 0.0, **options: Any):
    key, series, params = case
    return run(
        key, series["close"], params, high=series["high"], low=series["low"], open=series["open"], fee_pct=fee_pct,
        **options,
    )  # fmt: skip


OPTIONS = st.fixed_dictionaries(
    {
        "fill": st.sampled_from(["close", "next_open"]),
        "stop_mode": st.sampled_from(["close", "intrabar"]),
        "slippage_pct": st.sampled_from([0.0, 0.05, 1.0]),
    }
)


@SETTINGS
@given(cases(), st.sampled_from([0.0, 0.1, 1.0]), OPTIONS)
def test_engine_equals_the_reference_model_on_every_execution_option(case, fee_pct: float, options) -> None:
    key, series, params = case
    result = backtest(case, fee_pct, **options)
    reference = reference_backtest(
        key, series["close"], params, high=series["high"], low=series["low"], open=series["open"], fee_pct=fee_pct,
        **options,
    )  # fmt: skip
    assert_matches_reference(result, reference)


@SETTINGS
@given(cases(), OPTIONS, st.floats(0, 5), st.floats(0, 5), st.floats(0, 5), st.floats(0, 5))
def test_slippage_and_fees_never_raise_a_return(case, options, slip_a, slip_b, fee_a, fee_b) -> None:
    # with the stop out of reach (100 %) the trades do not depend on the fills: the same
    # trades, each no better with more slippage and fees, and so the total return
    key, series, params = case
    case = (key, series, {**params, "stop_loss_threshold": 100.0})
    (slip_lo, slip_hi), (fee_lo, fee_hi) = sorted((slip_a, slip_b)), sorted((fee_a, fee_b))
    options = {k: v for k, v in options.items() if k != "slippage_pct"}
    cheap = backtest(case, fee_lo, slippage_pct=slip_lo, **options)
    dear = backtest(case, fee_hi, slippage_pct=slip_hi, **options)
    assert [(t["entry_index"], t["exit_index"]) for t in cheap.trades] == [
        (t["entry_index"], t["exit_index"]) for t in dear.trades
    ]
    for a, b in zip(cheap.trades, dear.trades, strict=True):
        assert b["return_pct"] <= a["return_pct"]
    assert dear.metrics["total_return"] <= cheap.metrics["total_return"]


@SETTINGS
@given(cases(), st.sampled_from(["close", "next_open"]), st.sampled_from([0.0, 0.5]), st.sampled_from([0.0, 0.2]))
def test_with_stops_at_100_pct_intrabar_and_close_stop_modes_agree(case, fill, fee_pct, slippage_pct) -> None:
    key, series, params = case
    case = (key, series, {**params, "stop_loss_threshold": 100.0})
    at_close = backtest(case, fee_pct, fill=fill, stop_mode="close", slippage_pct=slippage_pct)
    intrabar = backtest(case, fee_pct, fill=fill, stop_mode="intrabar", slippage_pct=slippage_pct)
    assert at_close.trades == intrabar.trades
    assert np.array_equal(at_close.equity, intrabar.equity)
    assert at_close.metrics == intrabar.metrics


@SETTINGS
@given(cases(), st.sampled_from([0.0, 0.1, 1.0]))
def test_engine_equals_the_spec_literal_reference_model(case, fee_pct: float) -> None:
    key, series, params = case
    result = backtest(case, fee_pct)
    assert_matches_reference(
        result,
        reference_backtest(key, series["close"], params, high=series["high"], low=series["low"], fee_pct=fee_pct),
    )


@SETTINGS
@given(cases(), st.sampled_from([0.0, 0.25, 5.0]))
def test_final_equity_is_the_product_of_one_plus_each_trade_return(case, fee_pct: float) -> None:
    result = backtest(case, fee_pct)
    product = math.prod(1 + t["return_pct"] / 100 for t in result.trades)
    assert result.equity[-1] == pytest.approx(product, rel=1e-12)
    assert result.metrics["total_return"] == pytest.approx((product - 1) * 100, rel=1e-9, abs=1e-9)


@SETTINGS
@given(cases())
def test_no_entry_before_the_warmup(case) -> None:
    result = backtest(case)
    assert all(t["entry_index"] >= result.warmup for t in result.trades)
    assert (result.equity[: result.warmup] == 1.0).all()


@SETTINGS
@given(cases(), st.sampled_from([0.0, 0.5]))
def test_every_trade_losing_beyond_the_stop_is_a_stop_loss_exit(case, fee_pct: float) -> None:
    result = backtest(case, fee_pct)
    stop = result.params["stop_loss_threshold"]
    close = case[1]["close"]
    for t in result.trades:
        price_loss = (t["exit_price"] - t["entry_price"]) / t["entry_price"] * 100
        if price_loss <= -stop:
            assert t["reason"] == "stop_loss", t
        if t["reason"] == "stop_loss":
            # ...and it is sold on the first close beyond the threshold, not later
            held = close[t["entry_index"] + 1 : t["exit_index"]]
            assert price_loss <= -stop and ((held - t["entry_price"]) / t["entry_price"] * 100 > -stop).all()


@SETTINGS
@given(cases(), st.floats(0, 5), st.floats(0, 5))
def test_a_higher_fee_never_raises_the_total_return(case, fee_a: float, fee_b: float) -> None:
    low, high = sorted((fee_a, fee_b))
    cheap, dear = backtest(case, low), backtest(case, high)
    assert [t["entry_index"] for t in cheap.trades] == [t["entry_index"] for t in dear.trades]
    assert dear.metrics["total_return"] <= cheap.metrics["total_return"]


@SETTINGS
@given(cases(), st.sampled_from([0.0, 1.0]))
def test_metrics_stay_in_their_ranges(case, fee_pct: float) -> None:
    m = backtest(case, fee_pct).metrics
    assert -100 <= m["max_drawdown"] <= 0
    assert 0 <= m["win_rate"] <= 100
    assert 0 <= m["exposure_pct"] <= 100
    assert m["total_return"] > -100
    assert m["profitable_trades"] + m["losing_trades"] == m["total_trades"] >= m["stop_loss_exits"] >= 0
    assert m["max_consecutive_losses"] <= m["losing_trades"]
    assert 0 <= m["max_drawdown_duration"] < len(case[1]["close"])
    assert 0 <= m["avg_bars_held"] < len(case[1]["close"])
    if m["total_trades"]:
        assert -100 < m["worst_trade"] <= m["avg_trade_return"] <= m["best_trade"]
    assert m["profit_factor"] is None or m["profit_factor"] >= 0
    assert (m["profit_factor"] is None) == (m["profitable_trades"] > 0 and m["worst_trade"] >= 0)
    assert m["cagr"] >= -100 and not math.isnan(m["calmar_ratio"])  # a short window's cagr may be inf or -100
    assert all(math.isfinite(v) for k, v in m.items() if k not in ("profit_factor", "cagr", "calmar_ratio"))


@SETTINGS
@given(cases())
def test_trades_do_not_overlap_and_exit_after_entry(case) -> None:
    result = backtest(case)
    last_exit = -1
    for t in result.trades:
        assert last_exit < t["entry_index"] <= t["exit_index"]
        assert t["entry_index"] < t["exit_index"] or t["reason"] == "end_of_data"
        last_exit = t["exit_index"]
    assert all(t["reason"] != "end_of_data" for t in result.trades[:-1])
    if result.trades and result.trades[-1]["reason"] == "end_of_data":
        assert result.trades[-1]["exit_index"] == len(case[1]["close"]) - 1
