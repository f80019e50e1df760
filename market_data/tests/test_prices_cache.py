"""prices_get: cache-aside per coin and interval, version bump on import, database fallback."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backtest_site.cache import cache_guard
from market_data import selectors
from market_data.models import Cryptocurrency, Price
from market_data.selectors import PriceSeries, coins_with_bars, prices_get, prices_version_bump

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _bars(coin, closes, interval="1h", start=T0):
    Price.objects.bulk_create(
        Price(
            crypto=coin,
            datetime=start + dt.timedelta(hours=i),
            open=Decimal(str(c)),
            high=Decimal(str(c + 1)),
            low=Decimal(str(c - 1)),
            close=Decimal(str(c)),
            volume=Decimal("10.5"),
            interval_type=interval,
        )
        for i, c in enumerate(closes)
    )


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def coin(db):
    return Cryptocurrency.objects.create(symbol="AAA", name="Aaa")


def test_prices_come_back_as_float_arrays_in_order(coin):
    _bars(coin, [10.5, 11.25, 12.125])
    s = prices_get(crypto_id=coin.id, interval="1h")
    assert s.close.dtype == np.float64 and s.times.dtype == np.int64
    assert s.close.tolist() == [10.5, 11.25, 12.125]
    assert s.high.tolist() == [11.5, 12.25, 13.125]
    assert s.volume.tolist() == [10.5, 10.5, 10.5]
    assert (np.diff(s.times) == 3600 * 10**9).all()
    assert s.times[0] == int(T0.timestamp()) * 10**9


@pytest.fixture
def loads(monkeypatch):
    """Counts the database reads of prices_get (the PostgreSQL path is a COPY, not a logged query)."""
    calls = []
    real = selectors.prices_load_many

    def spy(*, crypto_ids, interval, **kwargs):
        calls.extend({"crypto_id": c, "interval": interval} for c in crypto_ids)
        return real(crypto_ids=crypto_ids, interval=interval, **kwargs)

    monkeypatch.setattr(selectors, "prices_load_many", spy)
    return calls


def test_second_read_is_served_from_cache_with_only_the_versions_query(coin, loads):
    _bars(coin, [1, 2, 3])
    prices_get(crypto_id=coin.id, interval="1h")
    assert len(loads) == 1
    with CaptureQueriesContext(connection) as ctx:
        s = prices_get(crypto_id=coin.id, interval="1h")
    assert [q["sql"] for q in ctx.captured_queries if "crypto_prices" in q["sql"]] == [] and len(loads) == 1
    assert len(ctx.captured_queries) == 1  # the coin's version, from its row
    assert s.close.tolist() == [1, 2, 3]


def test_version_bump_makes_the_next_read_see_new_bars(coin, loads):
    _bars(coin, [1, 2, 3])
    prices_get(crypto_id=coin.id, interval="1h")
    Price.objects.filter(crypto=coin, datetime=T0).update(close=Decimal("9"))
    assert prices_get(crypto_id=coin.id, interval="1h").close[0] == 1  # stale until bumped
    assert len(loads) == 1
    prices_version_bump(crypto_id=coin.id, interval="1h")
    assert prices_get(crypto_id=coin.id, interval="1h").close[0] == 9
    assert len(loads) == 2


def test_window_is_inclusive_at_both_ends(coin):
    _bars(coin, list(range(1, 49)))  # 48 hourly bars over two days
    end_of_day_one = dt.datetime(2024, 1, 1, 23, 59, 59, 999999, tzinfo=dt.UTC)
    s = prices_get(crypto_id=coin.id, interval="1h", start=T0, end=end_of_day_one)
    assert len(s) == 24 and s.close[0] == 1 and s.close[-1] == 24
    s = prices_get(crypto_id=coin.id, interval="1h", start=T0 + dt.timedelta(hours=5), end=T0 + dt.timedelta(hours=5))
    assert s.close.tolist() == [6]


def test_intervals_are_cached_separately(coin):
    _bars(coin, [1, 2, 3], interval="1h")
    _bars(coin, [100, 200], interval="4h")
    assert prices_get(crypto_id=coin.id, interval="1h").close.tolist() == [1, 2, 3]
    assert prices_get(crypto_id=coin.id, interval="4h").close.tolist() == [100, 200]
    assert len(prices_get(crypto_id=coin.id, interval="1d")) == 0


def test_series_round_trips_through_bytes():
    s = PriceSeries(np.arange(3, dtype=np.int64), *(np.arange(3, dtype=np.float64) + k for k in range(5)))
    blob = s.to_bytes()
    assert len(blob) == 8 + 6 * 8 * 3
    back = PriceSeries.from_bytes(blob)
    for f in ("times", "open", "high", "low", "close", "volume"):
        assert getattr(back, f).tolist() == getattr(s, f).tolist()
    with pytest.raises(ValueError):
        PriceSeries.from_bytes(blob[:-8])


def test_cache_outage_falls_back_to_database_and_warns_once(coin, monkeypatch, caplog):
    _bars(coin, [5, 6, 7])

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    cache_guard.reset()
    for name in ("get", "set", "add", "get_many", "set_many"):
        monkeypatch.setattr(selectors.cache, name, broken)
    with caplog.at_level("WARNING", logger="backtest_site.cache"):
        for _ in range(3):
            assert prices_get(crypto_id=coin.id, interval="1h").close.tolist() == [5, 6, 7]
    assert sum("Price cache unavailable" in r.message for r in caplog.records) == 1
    assert cache_guard.is_down


def test_coins_with_bars_only_lists_active_coins_with_bars_in_the_window(db):
    a = Cryptocurrency.objects.create(symbol="AAA", name="A")
    b = Cryptocurrency.objects.create(symbol="BBB", name="B")
    c = Cryptocurrency.objects.create(symbol="CCC", name="C", is_active=False)
    Cryptocurrency.objects.create(symbol="DDD", name="D")  # no bars
    _bars(a, [1, 2])
    _bars(b, [1, 2], start=T0 + dt.timedelta(days=30))
    _bars(c, [1, 2])
    assert [r.symbol for r in coins_with_bars(interval="1h")] == ["AAA", "BBB"]
    assert [r.symbol for r in coins_with_bars(interval="1h", end=T0 + dt.timedelta(days=1))] == ["AAA"]
    assert [r.symbol for r in coins_with_bars(interval="1h", symbols=["BBB", "CCC"])] == ["BBB"]
    assert coins_with_bars(interval="4h") == []


def test_missing_volume_reads_as_nan_and_empty_series_is_empty(coin):
    _bars(coin, [3, 4])
    Price.objects.filter(crypto=coin, datetime=T0).update(volume=None)
    s = selectors.prices_load(crypto_id=coin.id, interval="1h")
    assert np.isnan(s.volume[0]) and s.volume[1] == 10.5
    assert s.close.tolist() == [3, 4]
    assert len(selectors.prices_load(crypto_id=coin.id, interval="1w")) == 0


def test_the_process_memo_keeps_the_latest_series_within_its_size():
    def series(n):
        return PriceSeries(np.arange(n, dtype=np.int64), *(np.zeros(n) for _ in range(5)))

    memo = selectors.SeriesMemo(max_bytes=48 * 25)  # 25 bars
    memo.set_many({"a": series(10), "b": series(10)})
    assert set(memo.get_many(["a", "b", "c"])) == {"a", "b"}
    memo.get_many(["a"])  # a is now the most recent
    memo.set_many({"c": series(10), "huge": series(26)})  # c pushes out b; too large is never kept
    assert set(memo.get_many(["a", "b", "c", "huge"])) == {"a", "c"}


def test_a_second_read_in_this_process_needs_only_the_versions_from_the_database(coin, loads):
    _bars(coin, [1, 2, 3])
    prices_get(crypto_id=coin.id, interval="1h")
    real_get_many = cache.get_many
    asked = []
    cache.get_many = lambda keys, *a, **k: (asked.append(list(keys)), real_get_many(keys, *a, **k))[1]
    try:
        with CaptureQueriesContext(connection) as queries:
            s = prices_get(crypto_id=coin.id, interval="1h")
    finally:
        del cache.get_many
    assert s.close.tolist() == [1, 2, 3] and len(loads) == 1
    assert asked == []  # the memo holds it under the version the database gave
    assert len(queries) == 1 and "prices_version" in queries[0]["sql"]


def test_stored_times_become_whole_seconds_as_postgresql_extract_rounds_them():
    """The binary COPY carries timestamps as microseconds since 2000: rounded half away from zero,
    as EXTRACT(EPOCH ...)::int8 did on the server."""
    us = np.array([0, 500_000, 1_499_999, -500_000, -1_500_000, -1_499_999], dtype=np.int64)
    seconds = selectors.pg_epoch_seconds(us - selectors.PG_EPOCH_US)
    assert seconds.tolist() == [0, 1, 1, -1, -2, -1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")
def test_the_copy_read_gives_the_times_extract_gives(coin):
    times = [T0 + dt.timedelta(seconds=s, microseconds=u) for s, u in ((0, 0), (3600, 500_000), (7200, 499_999))]
    Price.objects.bulk_create(
        Price(crypto=coin, datetime=t, open=1, high=1, low=1, close=1, interval_type="1h") for t in times
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(EPOCH FROM datetime)::int8 FROM crypto_prices WHERE crypto_id = %s ORDER BY datetime",
            [coin.id],
        )
        expected = [row[0] * 10**9 for row in cursor.fetchall()]
    assert selectors.prices_load(crypto_id=coin.id, interval="1h").times.tolist() == expected
