"""Indicators: hand-worked values, NaN warm-up, flat prices, pandas and TA-Lib equality."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from strategies.engine import indicators as ind

NAN = math.nan


def arr(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def random_walk(bars: int, scale: float, vol: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return scale * np.exp(np.cumsum(rng.normal(0, vol, bars)))


# --- by hand --------------------------------------------------------------------------


def test_sma_by_hand_with_nan_warmup() -> None:
    np.testing.assert_array_equal(ind.sma(arr(1, 2, 3, 4, 6), 3), arr(NAN, NAN, 2, 3, 13 / 3))


def test_sma_window_holding_a_nan_is_nan() -> None:
    np.testing.assert_array_equal(ind.sma(arr(1, NAN, 3, 5, 7, 9), 2), arr(NAN, NAN, NAN, 4, 6, 8))


def test_rolling_std_by_hand_is_the_sample_deviation() -> None:
    # (2, 4, 4, 4, 5, 5, 7, 9): window of 3 ending at 2 is (2, 4, 4), mean 10/3,
    # squared deviations 16/9 + 4/9 + 4/9 = 24/9, / (3 - 1) = 4/3.
    got = ind.rolling_std(arr(2, 4, 4, 4, 5, 5, 7, 9), 3)
    assert np.isnan(got[:2]).all()
    assert got[2] == pytest.approx(math.sqrt(4 / 3), rel=1e-15)
    assert got[3] == 0.0  # (4, 4, 4): exactly 0
    assert got[7] == pytest.approx(2.0, rel=1e-15)  # (5, 7, 9)


def test_ema_by_hand_starts_at_the_first_value() -> None:
    # span 3: a = 0.5. 8 -> 8, 16 -> 12, 8 -> 10, 8 -> 9
    np.testing.assert_array_equal(ind.ema(arr(8, 16, 8, 8), 3), arr(8, 12, 10, 9))


def test_rsi_sma_by_hand() -> None:
    # changes 1, -1, -1, 1, 1, 1; RSI(2) averages the last two gains and losses.
    np.testing.assert_array_equal(ind.rsi_sma(arr(10, 11, 10, 9, 10, 11, 12), 2), arr(NAN, NAN, 50, 0, 50, 100, 100))


def test_rsi_wilder_by_hand() -> None:
    # first averages at index 2: gain (1 + 0) / 2, loss (0 + 1) / 2 -> 50;
    # then gain (0.5 + 0) / 2 = .25, loss (0.5 + 1) / 2 = .75 -> 100 - 100 / (4/3) = 25;
    # then gain (.25 + 1) / 2 = .625, loss .375 -> rs 5/3 -> 62.5.
    np.testing.assert_allclose(ind.rsi_wilder(arr(10, 11, 10, 9, 10), 2), arr(NAN, NAN, 50, 25, 62.5), rtol=1e-15)


def test_rsi_is_100_with_only_gains_and_nan_with_no_change() -> None:
    for rsi in (ind.rsi_sma, ind.rsi_wilder):
        np.testing.assert_array_equal(rsi(arr(1, 2, 3, 4), 2), arr(NAN, NAN, 100, 100))
        assert np.isnan(rsi(np.full(30, 7.5), 14)).all()


def test_rsi_sma_after_moves_stop_is_exactly_undefined() -> None:
    # Once n flat bars have passed, both averages are exactly 0 (not 1e-17): RSI undefined.
    close = np.concatenate([random_walk(50, 100, 0.03, 1), np.full(20, 101.37)])
    rsi = ind.rsi_sma(close, 14)
    assert np.isnan(rsi[64:]).all() and not np.isnan(rsi[14:64]).any()


def test_stochastic_by_hand() -> None:
    high = arr(10, 12, 11, 13, 13)
    low = arr(8, 9, 7, 10, 13)
    close = arr(9, 11, 8, 12, 13)
    k, d = ind.stochastic(high, low, close, 2, 2)
    # bar 1: HH 12, LL 8 -> 100 * 3 / 4; bar 2: 12, 7 -> 20; bar 3: 13, 7 -> 500/6; bar 4: 13, 10 -> 100
    np.testing.assert_allclose(k, arr(NAN, 75, 20, 500 / 6, 100), rtol=1e-15)
    np.testing.assert_allclose(d, arr(NAN, NAN, 47.5, (20 + 500 / 6) / 2, (500 / 6 + 100) / 2), rtol=1e-15)


def test_stochastic_is_undefined_on_flat_prices() -> None:
    flat = np.full(30, 42.0)
    k, d = ind.stochastic(flat, flat, flat, 14, 3)
    assert np.isnan(k).all() and np.isnan(d).all()


def test_flat_prices_give_exact_sma_and_zero_std() -> None:
    # 0.1 is not a binary fraction: a summed mean of equal values could miss it.
    x = np.concatenate([random_walk(40, 1, 0.1, 2), np.full(30, 0.1)])
    assert (ind.sma(x, 20)[59:] == 0.1).all()
    assert (ind.rolling_std(x, 20)[59:] == 0.0).all()


@pytest.mark.parametrize("n", [1, 2, 5, 13])
def test_rolling_extremes_by_brute_force(n: int) -> None:
    x = random_walk(200, 10, 0.05, 3)
    windows = sliding_window_view(x, n)
    np.testing.assert_array_equal(ind.rolling_max(x, n)[n - 1 :], windows.max(axis=1))
    np.testing.assert_array_equal(ind.rolling_min(x, n)[n - 1 :], windows.min(axis=1))
    assert np.isnan(ind.rolling_max(x, n)[: n - 1]).all()


def test_windows_longer_than_the_series_are_all_nan() -> None:
    x = arr(1, 2, 3)
    for values in (
        ind.sma(x, 4),
        ind.rolling_std(x, 4),
        ind.rolling_max(x, 4),
        ind.rsi_sma(x, 3),
        ind.rsi_wilder(x, 3),
    ):
        assert np.isnan(values).all()


# --- against pandas, TA-Lib and the exact value -----------------------------------------


@pytest.mark.parametrize("n", [2, 3, 14, 20, 200, 1000])
@pytest.mark.parametrize(("scale", "vol"), [(60_000, 0.01), (1.0, 0.0001), (0.0001234, 0.03)])
def test_rolling_mean_and_std_equal_pandas_and_the_two_pass_value(n: int, scale: float, vol: float) -> None:
    x = random_walk(5000, scale, vol, n)
    s = pd.Series(x)
    np.testing.assert_allclose(ind.sma(x, n), s.rolling(n).mean(), rtol=1e-13)
    exact = np.full(len(x), np.nan)
    exact[n - 1 :] = sliding_window_view(x, n).std(axis=1, ddof=1)
    # pandas' own online variance drifts (here by up to 1% of a near-zero 2-bar deviation);
    # the engine stays within 1e-11 of the typical deviation of the exact two-pass value.
    typical = np.nanmedian(exact)
    std = ind.rolling_std(x, n)
    np.testing.assert_allclose(std, exact, rtol=1e-6, atol=1e-11 * typical)
    np.testing.assert_allclose(std, s.rolling(n).std(), rtol=1e-4, atol=1e-5 * typical)


@pytest.mark.parametrize("n", [1, 2, 9, 26, 500])
def test_ema_equals_pandas_ewm(n: int) -> None:
    x = random_walk(3000, 500, 0.02, n)
    np.testing.assert_allclose(ind.ema(x, n), pd.Series(x).ewm(span=n, adjust=False).mean(), rtol=1e-13)


@pytest.mark.parametrize("n", [2, 5, 14, 100])
def test_rsi_sma_equals_the_original_pandas_code(n: int) -> None:
    close = pd.Series(random_walk(3000, 30_000, 0.01, n))
    delta = close.diff()
    gain = delta.where(delta > 0, 0).rolling(window=n).mean()
    loss = (-delta.where(delta < 0, 0)).rolling(window=n).mean()
    original = 100 - (100 / (1 + gain / loss))
    original[:n] = np.nan  # the original's value at n - 1 counts the missing first change as 0
    np.testing.assert_allclose(ind.rsi_sma(close.to_numpy(), n), original, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("n", [2, 5, 14, 30, 200])
@pytest.mark.parametrize("seed", [1, 2])
def test_rsi_wilder_equals_talib(n: int, seed: int) -> None:
    close = random_walk(5000, 40_000, 0.01, seed)
    ours = ind.rsi_wilder(close, n)
    theirs = talib.RSI(close, timeperiod=n)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


def test_rsi_wilder_equals_talib_with_flat_stretches() -> None:
    close = np.repeat(random_walk(300, 10, 0.05, 4), 3)  # every price held for 3 bars
    np.testing.assert_allclose(ind.rsi_wilder(close, 14), talib.RSI(close, timeperiod=14), rtol=0, atol=1e-6)


def test_macd_line_equals_the_difference_of_the_two_emas() -> None:
    x = random_walk(2000, 300, 0.02, 5)
    np.testing.assert_array_equal(ind.ema_difference(x, 12, 26), ind.ema(x, 12) - ind.ema(x, 26))


@pytest.mark.parametrize("nan_at", [[0, 1, 2], [0, 1, 2, 40], [30], list(range(100))])
def test_sma_with_nan_equals_pandas(nan_at: list[int]) -> None:
    x = random_walk(100, 50, 0.05, 6)
    x[nan_at] = np.nan
    np.testing.assert_allclose(ind.sma(x, 4), pd.Series(x).rolling(4).mean(), rtol=1e-13)


def test_sma_is_the_exact_mean_rounded_once() -> None:
    # 100 and twice 99.99999999999999 (100 - 1 ulp): the exact mean is nearer the lower
    # double; summing first (300 - 2 ulp rounds to 300) and then dividing gives 100.
    below = np.nextafter(100.0, 0.0)
    assert ind.sma(arr(100.0, below, below), 3)[2] == below
    rng = np.random.default_rng(8)
    x = 100 * np.exp(np.cumsum(rng.choice([0.0, 1e-16, -1e-16, 1e-3, -2e-3], size=600)))
    for n in (2, 3, 7, 20):
        exact = [float(sum(Fraction(v) for v in x[i - n + 1 : i + 1]) / n) for i in range(n - 1, len(x))]
        np.testing.assert_array_equal(ind.sma(x, n)[n - 1 :], exact)


def test_ema_weights_sum_to_exactly_one_for_every_allowed_span() -> None:
    # The EMA step leaves out pandas' division by (1 - a) + a because it is exactly 1;
    # this is what makes that the same double. Spans up to the registry's largest period.
    spans = np.arange(1, 2001, dtype=np.float64)
    a = 1.0 / (1.0 + (spans - 1.0) / 2.0)
    assert ((1.0 - a) + a == 1.0).all()


@pytest.mark.parametrize("n", [3, 12, 26])
def test_ema_equals_pandas_bit_for_bit_with_flat_stretches(n: int) -> None:
    x = np.repeat(random_walk(400, 0.37, 0.02, n), 4)  # every value held for 4 bars
    np.testing.assert_array_equal(ind.ema(x, n), pd.Series(x).ewm(span=n, adjust=False).mean().to_numpy())
