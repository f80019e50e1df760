"""Choosing the stored points of an equity curve (pure numpy)."""

import numpy as np
import pytest

from runs.downsample import minmax_indices


@pytest.mark.parametrize("n", [0, 1, 2, 1999, 2000])
def test_a_curve_that_fits_is_kept_whole(n):
    assert minmax_indices(np.arange(n, dtype=float)).tolist() == list(range(n))


@pytest.mark.parametrize("n", [2001, 2002, 4999, 8784, 100_000])
def test_a_long_curve_keeps_at_most_2000_points_in_order_with_its_extremes(n):
    values = np.cumsum(np.random.default_rng(n).normal(size=n))
    idx = minmax_indices(values)
    assert len(idx) <= 2000 and len(idx) > 1000
    assert idx[0] == 0 and idx[-1] == n - 1
    assert (np.diff(idx) > 0).all()
    assert values[idx].min() == values.min() and values[idx].max() == values.max()


def test_nan_never_hides_a_real_extreme():
    values = np.linspace(1, 2, 5000)
    values[100:200] = np.nan
    values[3000] = -5
    idx = minmax_indices(values)
    assert 3000 in idx
    assert not np.isnan(values[idx[1:-1]]).all()


def test_a_plain_stride_would_lose_a_one_bar_crash_this_keeps_it():
    values = np.ones(8784)
    values[4321] = 0.5  # one bar: a stride of 5 would skip it
    assert 4321 in minmax_indices(values)


def test_a_packed_equity_curve_unpacks_to_the_same_points():
    from runs.equity import equity_curve, equity_pack, equity_unpack

    n = 8784
    times = (1_704_067_200 + np.arange(n, dtype=np.int64) * 3600) * 10**9
    equity = np.cumprod(1 + np.random.default_rng(1).normal(0, 0.01, n))
    close = np.linspace(10, 20, n)
    curve = equity_unpack(equity_pack(equity_curve(times, equity, close)))
    assert len(curve.times) <= 2000 and curve.times[0] == 1_704_067_200
    idx = (curve.times - 1_704_067_200) // 3600
    assert (curve.values == equity[idx]).all()  # exact: stored as float64
    assert (curve.buy_hold == close[idx] / 10).all()
    assert len(equity_unpack(b"").times) == 0
    with pytest.raises(ValueError):
        equity_unpack(b"nonsense-bytes")
