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


@pytest.mark.parametrize("seed", range(6))
def test_each_bucket_keeps_its_lowest_and_its_highest_point(seed):
    """Against the definition, bucket by bucket in plain Python: ties go to the first point, NaN never
    wins (an all-NaN bucket keeps its first point), the first and last points are always kept."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2001, 30_000))
    values = np.round(np.cumsum(rng.normal(size=n)), 1)  # rounded: ties
    if seed % 2:
        values[rng.integers(0, n, n // 5)] = np.nan
        values[500:900] = np.nan  # whole buckets of NaN
    max_points = int(rng.integers(4, 3000))
    inner = values[1:-1].tolist()
    buckets = (max_points - 2) // 2
    size = -(-len(inner) // buckets)
    expected = {0, n - 1}
    for start in range(0, len(inner), size):
        bucket = inner[start : start + size]
        real = [(v, k) for k, v in enumerate(bucket) if v == v]
        low = min(real)[1] if real else 0
        high = min((-v, k) for v, k in real)[1] if real else 0
        expected |= {start + low + 1, start + high + 1}
    assert minmax_indices(values, max_points).tolist() == sorted(expected)


@pytest.mark.parametrize("step_hours", [1, 7, 24 * 3, 24 * 45])
def test_month_ends_are_the_last_bar_of_each_calendar_month(step_hours):
    """Against Python's calendar, with gaps (months with no bar have no end) and times before 1970."""
    import datetime as dt

    from runs.equity import month_ends

    rng = np.random.default_rng(step_hours)
    count = min(3000, 24 * 365 * 100 // step_hours)  # within a hundred years (and datetime64[ns]'s range)
    seconds = np.cumsum(rng.integers(1, 2 * step_hours * 3600, count)) + -400_000_000
    times = seconds.astype(np.int64) * 1_000_000_000
    months = [dt.datetime.fromtimestamp(int(s), tz=dt.UTC).strftime("%Y-%m") for s in seconds.tolist()]
    expected = [k for k in range(len(months)) if k == len(months) - 1 or months[k + 1] != months[k]]
    assert month_ends(times).tolist() == expected
    assert month_ends(times[:1]).tolist() == [0]
    assert month_ends(times[:0]).tolist() == []
