"""Coarser bars from finer ones, against pandas resample on the same bars. No database."""

import numpy as np
import pandas as pd
import pytest

from market_data.aggregate import coarser_intervals, derivable_from, derived_intervals, ohlcv_aggregate
from market_data.models import INTERVAL_SECONDS

from .test_formats import DATA

RULES = {"1h": "1h", "4h": "4h", "1d": "1D", "1w": "W-MON"}


def random_bars(start: str, periods: int, freq: str, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, periods)))
    open_ = np.r_[100.0, close[:-1]]
    spread = rng.uniform(0, 0.02, periods)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * (1 + spread),
            "low": np.minimum(open_, close) * (1 - spread),
            "close": close,
            "volume": rng.uniform(1, 100, periods),
        },
        index=pd.date_range(start, periods=periods, freq=freq, tz="UTC"),
    )


def expected(bars: pd.DataFrame, *, source: str, target: str) -> pd.DataFrame:
    """pandas' resample in UTC buckets (weeks from Monday), incomplete buckets at the ends dropped."""
    rule = RULES[target]
    options = {"label": "left", "closed": "left"} if target == "1w" else {}
    agg = bars.resample(rule, **options).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    counts = bars["close"].resample(rule, **options).count()
    agg = agg[counts > 0]
    size = pd.Timedelta(seconds=INTERVAL_SECONDS[target])
    step = pd.Timedelta(seconds=INTERVAL_SECONDS[source])
    if bars.index[0] > agg.index[0]:
        agg = agg.iloc[1:]
    if bars.index[-1] < agg.index[-1] + size - step:
        agg = agg.iloc[:-1]
    return agg


def aggregate(bars: pd.DataFrame, *, source: str, target: str) -> pd.DataFrame:
    times = bars.index.astype("datetime64[ns, UTC]").asi8
    columns = [bars[c].to_numpy() for c in ("open", "high", "low", "close", "volume")]
    t, o, h, lo, c, v = ohlcv_aggregate(times, *columns, source=source, target=target)
    return pd.DataFrame(
        {"open": o, "high": h, "low": lo, "close": c, "volume": v},
        index=pd.DatetimeIndex(pd.to_datetime(t, utc=True), freq=None),
    )


def assert_frames_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(want) > 0
    assert got.index.as_unit("ns").asi8.tolist() == want.index.as_unit("ns").asi8.tolist()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("target", ["4h", "1d", "1w"])
def test_hourly_bars_with_gaps_aggregate_as_pandas_resample_does(target):
    # Starts on a Wednesday at 05:00 and ends mid-afternoon: incomplete buckets at both ends.
    bars = random_bars("2024-01-03 05:00", 24 * 40 + 10, "1h")
    bars = bars.drop(bars.index[100:103]).drop(bars.index[400:430])  # gaps inside
    assert_frames_equal(aggregate(bars, source="1h", target=target), expected(bars, source="1h", target=target))


def test_real_five_minute_candles_with_gaps_aggregate_to_hours_as_resample_does():
    table = pd.read_feather(DATA / "ADA_BTC-5m.feather").set_index("date")  # 5 gaps, the longest 2 h 50 min
    got = aggregate(table, source="5m", target="1h")
    assert_frames_equal(got, expected(table, source="5m", target="1h"))
    assert got.index[0] == pd.Timestamp("2018-01-10 05:00", tz="UTC")  # 04:55 starts an incomplete hour


def test_buckets_are_utc_aligned_and_weeks_start_on_monday():
    bars = random_bars("2024-01-01 00:00", 24 * 21, "1h")  # Monday 2024-01-01, three whole weeks
    weeks = aggregate(bars, source="1h", target="1w")
    assert [d.strftime("%a %Y-%m-%d %H:%M") for d in weeks.index] == [
        "Mon 2024-01-01 00:00",
        "Mon 2024-01-08 00:00",
        "Mon 2024-01-15 00:00",
    ]
    assert (aggregate(bars, source="1h", target="4h").index.hour % 4 == 0).all()


def test_a_bucket_without_any_volume_has_nan_volume_and_one_with_some_sums_those():
    bars = random_bars("2024-01-01", 8, "1h")
    bars.loc[bars.index[:4], "volume"] = np.nan
    bars.loc[bars.index[5], "volume"] = np.nan
    got = aggregate(bars, source="1h", target="4h")
    assert np.isnan(got["volume"].iloc[0])
    assert got["volume"].iloc[1] == pytest.approx(bars["volume"].iloc[[4, 6, 7]].sum())


def test_which_intervals_derive_from_which():
    assert derivable_from("4h") == ("1m", "5m", "15m", "30m", "1h")
    assert derivable_from("1m") == ()
    assert coarser_intervals("30m") == ("1h", "4h", "1d", "1w")
    assert coarser_intervals("1d") == ()  # 1d is not a source
    assert derived_intervals({"5m", "1h", "1d"}) == {"15m": "5m", "30m": "5m", "4h": "5m", "1w": "5m"}
    with pytest.raises(ValueError, match="cannot be made"):
        ohlcv_aggregate(*[np.empty(0)] * 6, source="4h", target="1h")
