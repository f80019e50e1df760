"""Derived intervals through the selectors: prices_get, the cache, coins_with_bars and the catalogue."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from django.core.cache import cache

from market_data import services
from market_data.parsing import PriceBar
from market_data.selectors import coins_with_bars, prices_get

from .test_aggregate import aggregate, expected, random_bars

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # a Monday


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def store(coin, bars: pd.DataFrame, interval: str) -> None:
    rows = [
        PriceBar(t.to_pydatetime(), *map(float, row))
        for t, row in zip(bars.index, bars[["open", "high", "low", "close", "volume"]].to_numpy(), strict=True)
    ]
    services.prices_bulk_upsert(crypto_id=coin.id, interval=interval, bars=rows)


def series_frame(series) -> pd.DataFrame:
    return pd.DataFrame(
        {c: getattr(series, c) for c in ("open", "high", "low", "close", "volume")},
        index=pd.to_datetime(series.times, utc=True),
    )


def test_a_coin_stored_hourly_gives_4h_bars_aggregated_like_resample(coin, django_capture_on_commit_callbacks):
    bars = random_bars("2024-01-01 02:00", 24 * 10, "1h").round(6)
    with django_capture_on_commit_callbacks(execute=True):
        store(coin, bars, "1h")
    got = series_frame(prices_get(crypto_id=coin.id, interval="4h"))
    want = expected(bars, source="1h", target="4h")
    assert got.index.as_unit("ns").asi8.tolist() == want.index.as_unit("ns").asi8.tolist()
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-9)
    window = prices_get(
        crypto_id=coin.id, interval="4h", start=T0 + dt.timedelta(days=1), end=T0 + dt.timedelta(days=2)
    )
    assert len(window) == 7  # 00:00 to 00:00 inclusive, 4h apart


def test_stored_bars_of_an_interval_win_over_derived_ones(coin, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        store(coin, random_bars("2024-01-01", 48, "1h"), "1h")
        store(coin, random_bars("2024-01-01", 3, "4h", seed=3), "4h")
    assert len(prices_get(crypto_id=coin.id, interval="4h")) == 3
    assert len(prices_get(crypto_id=coin.id, interval="1d")) == 2  # not stored: derived from 1h


def test_an_import_of_the_fine_bars_invalidates_the_cached_derived_series(coin, django_capture_on_commit_callbacks):
    bars = random_bars("2024-01-01", 48, "1h").round(6)  # stored with 8 decimals
    with django_capture_on_commit_callbacks(execute=True):
        store(coin, bars.iloc[:24], "1h")
    assert len(prices_get(crypto_id=coin.id, interval="4h")) == 6  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        store(coin, bars.iloc[24:], "1h")
    derived = prices_get(crypto_id=coin.id, interval="4h")
    assert len(derived) == 12
    assert derived.close.tolist() == aggregate(bars, source="1h", target="4h")["close"].tolist()


def test_coins_with_bars_offers_a_derived_interval_when_a_complete_bucket_falls_in_the_window(
    coin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        store(coin, random_bars("2024-01-01 01:00", 30, "1h"), "1h")  # 01:00 to 06:00 the next day
    assert [c.symbol for c in coins_with_bars(interval="4h")] == ["BTC"]
    assert [c.symbol for c in coins_with_bars(interval="1d")] == []  # no whole day
    day_two = T0 + dt.timedelta(days=1)
    assert [c.symbol for c in coins_with_bars(interval="4h", start=day_two, end=day_two)] == ["BTC"]
    late = T0 + dt.timedelta(days=1, hours=5)
    assert coins_with_bars(interval="4h", start=late) == []  # 04:00-08:00 is not complete


def test_the_catalogue_lists_derived_intervals_with_their_source(coin, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        store(coin, random_bars("2024-01-01", 24 * 8, "1h"), "1h")
    intervals = {i["interval"]: i for i in client.get("/api/cryptocurrencies/BTC/").json()["intervals"]}
    assert sorted(intervals) == ["1d", "1h", "1w", "4h"]
    assert intervals["1h"]["derived_from"] is None
    assert (intervals["1d"]["bars"], intervals["1d"]["derived_from"]) == (8, "1h")
    assert (intervals["1w"]["first"], intervals["1w"]["last"], intervals["1w"]["bars"]) == (
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
        1,
    )
