"""The engine's public interface: inputs accepted and rejected, and the shape of a result."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

from strategies.engine import (
    METRIC_NAMES,
    STRATEGIES,
    BacktestResult,
    EngineError,
    InsufficientData,
    InvalidParameters,
    InvalidPriceData,
    backtest,
    backtest_arrays,
    min_bars,
    parameters_resolve,
)

from .test_engine_support import hourly_times, run

METRIC_FIELDS = {
    "total_return": float,
    "total_trades": int,
    "profitable_trades": int,
    "losing_trades": int,
    "win_rate": float,
    "buy_hold_return": float,
    "sharpe_ratio": float,
    "max_drawdown": float,
    "exposure_pct": float,
    "stop_loss_exits": int,
    "cagr": float,
    "sortino_ratio": float,
    "calmar_ratio": float,
    "profit_factor": float,  # or None when no trade lost: not on these walks
    "avg_trade_return": float,
    "best_trade": float,
    "worst_trade": float,
    "avg_bars_held": float,
    "max_consecutive_losses": int,
    "max_drawdown_duration": int,
}
TRADE_FIELDS = {
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "return_pct",
    "reason",
    "entry_index",
    "exit_index",
    "bars_held",
}


def walk(bars: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.02, bars)))


# --- results --------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(STRATEGIES))
def test_result_has_every_metric_as_python_scalar(key: str) -> None:
    c = walk(400)
    result = run(key, c, high=c * 1.01, low=c * 0.99)
    assert isinstance(result, BacktestResult)
    assert list(result.metrics) == list(METRIC_FIELDS) == list(METRIC_NAMES)
    for name, kind in METRIC_FIELDS.items():
        assert type(result.metrics[name]) is kind, name
    assert result.equity.dtype == np.float64 and result.equity.shape == (400,)
    assert result.params == parameters_resolve(key, {})
    assert result.metrics["total_trades"] == len(result.trades) > 0


def test_trades_carry_times_indexes_prices_and_reason() -> None:
    c = walk(400)
    result = run("rsi", c, fee_pct=0.1)
    times = hourly_times(400)
    for t in result.trades:
        assert set(t) == TRADE_FIELDS
        assert type(t["entry_time"]) is int and type(t["entry_index"]) is int
        assert t["entry_time"] == times[t["entry_index"]] and t["exit_time"] == times[t["exit_index"]]
        assert t["entry_price"] == c[t["entry_index"]] and t["exit_price"] == c[t["exit_index"]]
        assert t["return_pct"] == pytest.approx((t["exit_price"] * 0.999 / (t["entry_price"] * 1.001) - 1) * 100)
        assert t["reason"] in {"signal", "stop_loss", "end_of_data"}


def test_metrics_are_not_rounded() -> None:
    result = run("rsi", walk(400))
    assert any(round(v, 2) != v for v in result.metrics.values() if isinstance(v, float))


def test_missing_parameters_take_the_spec_defaults() -> None:
    result = run("macd", walk(100), {"macd_fast_period": 5})
    assert result.params == {
        "macd_fast_period": 5,
        "macd_slow_period": 26,
        "macd_signal_period": 9,
        "stop_loss_threshold": 10.0,
    }


def test_dataframe_with_datetime_column_equals_arrays() -> None:
    c = walk(300)
    frame = pd.DataFrame(
        {
            "datetime": pd.date_range("2024-01-01", periods=300, freq="h", tz="UTC"),
            "open": c,
            "high": c * 1.01,
            "low": c * 0.99,
            "close": c,
            "volume": 1.0,
        }
    )
    by_frame = backtest("stochastic", frame, {"stoch_k_period": 5}, fee_pct=0.1, interval="1h")
    by_arrays = run("stochastic", c, {"stoch_k_period": 5}, high=c * 1.01, low=c * 0.99, fee_pct=0.1)
    assert by_frame.metrics == by_arrays.metrics and by_frame.trades == by_arrays.trades
    assert by_frame.trades[0]["entry_time"] == hourly_times(300)[by_frame.trades[0]["entry_index"]]


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_dataframe_datetime_index_is_converted_to_utc_nanoseconds(tz: str | None) -> None:
    c = walk(200)
    index = pd.date_range("2024-01-01", periods=200, freq="h", tz=tz, unit="s")
    result = backtest("rsi", pd.DataFrame({"close": c}, index=index))
    expected = hourly_times(200) - (3_600_000_000_000 if tz == "Europe/Paris" else 0)
    assert np.array_equal(result.times, expected)


def test_datetime64_times_are_accepted() -> None:
    c = walk(100)
    times = np.datetime64("2024-01-01T00:00", "ns") + np.arange(100) * np.timedelta64(1, "h")
    result = backtest_arrays("mean_reversion", times=times, close=c)
    assert np.array_equal(result.times, hourly_times(100))


# --- parameters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "params", "parameter", "rule"),
    [
        ("rsi", {"rsi_period": 1}, "rsi_period", ">= 2"),
        ("rsi", {"rsi_period": 14.5}, "rsi_period", "integer"),
        ("rsi", {"rsi_period": "14"}, "rsi_period", "integer"),
        ("rsi", {"rsi_period": True}, "rsi_period", "integer"),
        ("rsi", {"oversold_threshold": 80}, "oversold_threshold", "less than Overbought threshold (80 ≥ 70)"),
        ("rsi", {"rsi_smoothing": "ema"}, "rsi_smoothing", "one of"),
        ("rsi", {"rsi_periode": 14}, "rsi_periode", "unknown"),
        ("rsi", {"stop_loss_threshold": 0}, "stop_loss_threshold", ">= 0.1"),
        ("rsi", {"stop_loss_threshold": math.nan}, "stop_loss_threshold", "finite"),
        (
            "ma_crossover",
            {"fast_ma_period": 30, "slow_ma_period": 30},
            "fast_ma_period",
            "less than Slow MA period (30 ≥ 30)",
        ),
        ("macd", {"macd_fast_period": 26}, "macd_fast_period", "less than MACD slow period (26 ≥ 26)"),
        ("stochastic", {"overbought_threshold": 20}, "oversold_threshold", "less than Overbought threshold (20 ≥ 20)"),
        ("bollinger_bands", {"bb_std_multiplier": 11}, "bb_std_multiplier", "<= 10"),
        ("mean_reversion", {"mr_threshold": 0}, "mr_threshold", ">= 0.01"),
        ("momentum", {}, "strategy", "unknown strategy"),
    ],
)
def test_invalid_parameters_name_the_parameter_and_the_rule(key: str, params: dict, parameter: str, rule: str) -> None:
    with pytest.raises(InvalidParameters) as err:
        run(key, walk(100), params)
    assert err.value.parameter == parameter
    assert rule in err.value.rule


@pytest.mark.parametrize("fee", [-0.1, 5.01, math.inf, math.nan, "0.1", None, True])
def test_fee_pct_outside_0_to_5_is_rejected(fee: object) -> None:
    with pytest.raises(InvalidParameters) as err:
        run("rsi", walk(100), fee_pct=fee)  # type: ignore[arg-type]
    assert err.value.parameter == "fee_pct"


@pytest.mark.parametrize("fee", [0, 0.0, 5, 2.5])
def test_fee_pct_inside_0_to_5_is_accepted(fee: float) -> None:
    assert run("rsi", walk(100), fee_pct=fee).fee_pct == fee


@pytest.mark.parametrize("interval", ["2h", "1H", "", None, 60])
def test_unknown_interval_is_rejected(interval: object) -> None:
    with pytest.raises(InvalidParameters) as err:
        run("rsi", walk(100), interval=interval)  # type: ignore[arg-type]
    assert err.value.parameter == "interval"


def test_parameters_are_checked_before_the_data() -> None:
    with pytest.raises(InvalidParameters):
        run("rsi", [1.0, math.nan], {"rsi_period": 0})


# --- data -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "params", "needed"),
    [
        ("rsi", {}, 16),
        ("ma_crossover", {}, 32),
        ("macd", {}, 37),
        ("stochastic", {}, 19),
        ("bollinger_bands", {}, 22),
        ("mean_reversion", {"mr_period": 5}, 7),
    ],
)
def test_fewer_than_warmup_plus_two_bars_is_insufficient(key: str, params: dict, needed: int) -> None:
    assert min_bars(key, parameters_resolve(key, params)) == needed
    run(key, walk(needed), params)  # exactly enough
    with pytest.raises(InsufficientData) as err:
        run(key, walk(needed - 1), params)
    assert str(err.value) == f"Insufficient data for backtest: {needed - 1} bars, need at least {needed}"
    assert isinstance(err.value, EngineError)


@pytest.mark.parametrize(
    ("bad", "word"), [(math.nan, "NaN"), (math.inf, "infinite"), (0.0, "not positive"), (-3.0, "not positive")]
)
def test_bad_close_names_the_problem_and_the_first_bad_bar(bad: float, word: str) -> None:
    c = walk(100)
    c[57] = bad
    c[80] = math.nan
    with pytest.raises(InvalidPriceData) as err:
        run("rsi", c)
    assert err.value.bar == 57
    assert word in str(err.value) and "close" in str(err.value) and "bar 57" in str(err.value)
    assert isinstance(err.value, EngineError)


def test_bad_high_or_low_is_reported_for_the_stochastic_only() -> None:
    c = walk(100)
    low = c * 0.99
    low[12] = math.nan
    with pytest.raises(InvalidPriceData, match="low is NaN at bar 12"):
        run("stochastic", c, high=c * 1.01, low=low)
    run("rsi", c, high=c * 1.01, low=low)  # the RSI reads the close only


def test_stochastic_needs_high_and_low() -> None:
    with pytest.raises(InvalidPriceData, match="needs high and low"):
        backtest_arrays("stochastic", times=hourly_times(100), close=walk(100))


@pytest.mark.parametrize("swap", [(10, 10), (10, 9)])
def test_times_not_strictly_ascending_are_rejected(swap: tuple[int, int]) -> None:
    times = hourly_times(100)
    times[swap[0] + 1] = times[swap[1]]
    with pytest.raises(InvalidPriceData, match="not strictly ascending at bar 11"):
        backtest_arrays("rsi", times=times, close=walk(100))


def test_arrays_of_different_lengths_are_rejected() -> None:
    with pytest.raises(InvalidPriceData, match="close has 99 values but times has 100"):
        backtest_arrays("rsi", times=hourly_times(100), close=walk(99))


def test_float_times_are_rejected() -> None:
    with pytest.raises(InvalidPriceData, match="int64 nanoseconds"):
        backtest_arrays("rsi", times=hourly_times(100).astype(float), close=walk(100))


def test_dataframe_without_close_or_times_is_rejected() -> None:
    with pytest.raises(InvalidPriceData, match="close"):
        backtest("rsi", pd.DataFrame({"open": walk(50)}))
    with pytest.raises(InvalidPriceData, match="datetime"):
        backtest("rsi", pd.DataFrame({"close": walk(50)}))


def test_inputs_are_not_modified() -> None:
    c = walk(200)
    before = c.copy()
    run("bollinger_bands", c, fee_pct=1)
    assert np.array_equal(c, before)


# --- purity and threads -----------------------------------------------------------------


def test_the_engine_imports_neither_django_nor_pandas() -> None:
    import subprocess
    import sys

    code = "import sys, strategies.engine; print(sorted(m for m in ('django', 'pandas') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": ""},
    )
    assert out.stdout.strip() == "[]"


def test_concurrent_backtests_in_threads_equal_sequential_ones() -> None:
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(key, walk(3000, seed)) for key in STRATEGIES for seed in range(3)]
    sequential = [run(key, c, high=c * 1.01, low=c * 0.99).metrics for key, c in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda job: run(job[0], job[1], high=job[1] * 1.01, low=job[1] * 0.99).metrics, jobs))
    assert threaded == sequential


def test_numpy_and_decimal_numbers_are_accepted() -> None:
    from decimal import Decimal

    result = run(
        "rsi", walk(100), {"rsi_period": np.int64(10), "oversold_threshold": Decimal("25.5")}, fee_pct=Decimal("0.1")
    )
    assert result.params["rsi_period"] == 10 and type(result.params["rsi_period"]) is int
    assert result.params["oversold_threshold"] == 25.5 and result.fee_pct == 0.1 and type(result.fee_pct) is float
    assert run("rsi", walk(100), {"rsi_period": np.float64(12.0)}).params["rsi_period"] == 12


def test_read_only_arrays_give_the_same_result() -> None:
    # The site's price cache hands out read-only views (np.frombuffer).
    c = walk(500)
    frozen = {
        name: np.frombuffer(values.tobytes()) for name, values in (("close", c), ("high", c * 1.01), ("low", c * 0.99))
    }
    times = np.frombuffer(hourly_times(500).tobytes(), dtype=np.int64)
    for key in STRATEGIES:
        result = backtest_arrays(key, times=times, params={}, **frozen)
        assert result.metrics == run(key, c, high=c * 1.01, low=c * 0.99).metrics


def test_kernels_get_read_only_arrays_whatever_the_caller_passes() -> None:
    # numba compiles per array type; the price cache's arrays are read-only, the
    # database's writable. The engine hands its kernels read-only views of both, so each
    # kernel is compiled once (a new clone's first server start halves), and it never
    # writes to what the caller passed.
    from strategies.engine import kernels

    close = 10 * np.exp(np.cumsum(np.random.default_rng(4).normal(0, 0.02, 300)))
    for writable in (True, False):
        arrays = {"close": close.copy(), "high": close * 1.01, "low": close * 0.99}
        times = hourly_times(300)
        for array in (*arrays.values(), times):
            array.flags.writeable = writable
        result = backtest_arrays("stochastic", times=times, **arrays)
        assert result.metrics["total_trades"] >= 0
        assert all(array.flags.writeable == writable for array in arrays.values())
    signatures = kernels.first_bad_value_kernel.signatures
    assert signatures and all(not arg.mutable for signature in signatures for arg in signature)
