"""Admin: coins show their bars per interval; the price list never counts the whole table."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from market_data import selectors, services
from market_data.admin import EstimatedCountPaginator
from market_data.models import Cryptocurrency, Price
from market_data.parsing import PriceBar

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def add_bars(coin, n, interval="1h"):
    services.prices_bulk_upsert(
        crypto_id=coin.id,
        interval=interval,
        bars=[PriceBar(T0 + dt.timedelta(hours=i), 1.0, 2.0, 0.5, 1.5, 1.0) for i in range(n)],
    )


def test_admin_pages_require_staff(client, coin):
    for url in ("/admin/market_data/cryptocurrency/", "/admin/market_data/price/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_coin_list_shows_bar_count_and_first_last_bar_per_interval(admin_client, coin):
    add_bars(coin, 30)
    add_bars(coin, 2, interval="4h")
    html = admin_client.get("/admin/market_data/cryptocurrency/").content.decode()
    assert "1h: 30 bars, 2024-01-01 00:00 → 2024-01-02 05:00" in html
    assert "4h: 2 bars, 2024-01-01 00:00 → 2024-01-01 01:00" in html


def test_coin_list_reads_all_stats_in_one_query_and_the_quality_series_through_the_cache(admin_client, coin):
    cache.clear()
    for k in range(5):
        add_bars(Cryptocurrency.objects.create(symbol=f"C{k}", name=f"c{k}"), 3)
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get("/admin/market_data/cryptocurrency/").status_code == 200
    price_queries = [q["sql"] for q in queries.captured_queries if "crypto_prices" in q["sql"]]
    assert sum("GROUP BY" in sql for sql in price_queries) == 1
    for coin_id in Cryptocurrency.objects.filter(symbol__startswith="C").values_list("id", flat=True):
        version = selectors._versions_get_many([coin_id], "1h")[coin_id]  # each series was loaded once, and cached
        assert cache.get(selectors._series_key(coin_id, "1h", version)) is not None
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get("/admin/market_data/cryptocurrency/").status_code == 200
    assert sum("crypto_prices" in q["sql"] for q in queries.captured_queries) == 1  # the series are cached
    cache.clear()


def test_coin_list_shows_the_data_quality_summary_per_interval(admin_client, coin):
    services.prices_bulk_upsert(
        crypto_id=coin.id,
        interval="1h",
        bars=[
            PriceBar(T0 + dt.timedelta(hours=i), 1.0, 2.0, 0.5, 1.5, 0.0 if i == 3 else 1.0) for i in (0, 1, 2, 3, 7)
        ],
    )
    html = admin_client.get("/admin/market_data/cryptocurrency/").content.decode()
    assert "1h: 1 gaps (3 missing bars), 1 zero-volume, 0 flat runs, 0 jumps" in html


def counts_over_whole_table(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if "COUNT(" in q["sql"].upper() and "crypto_prices" in q["sql"] and "WHERE" not in q["sql"].upper()
    ]


def test_price_list_makes_no_count_over_a_large_table(admin_client, coin, monkeypatch):
    from market_data import admin as market_admin

    add_bars(coin, 250)
    monkeypatch.setattr(market_admin, "COUNT_CAP", 200)  # 250 rows count as "large"
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/market_data/price/")
    assert response.status_code == 200
    assert counts_over_whole_table(queries) == []
    assert response.context["cl"].paginator.count >= 250
    assert len(response.context["cl"].result_list) == 100


def test_a_small_price_table_is_counted_exactly(coin):
    add_bars(coin, 7)
    assert EstimatedCountPaginator(Price.objects.order_by("-datetime"), 100).count == 7


def test_price_list_filters_by_coin_and_interval(admin_client, coin):
    other = Cryptocurrency.objects.create(symbol="ETH", name="Ethereum")
    add_bars(coin, 5)
    add_bars(coin, 3, interval="1d")
    add_bars(other, 4)
    response = admin_client.get(f"/admin/market_data/price/?crypto__id__exact={coin.id}&interval_type__exact=1d")
    rows = response.context["cl"].result_list
    assert {(p.crypto_id, p.interval_type) for p in rows} == {(coin.id, "1d")}
    assert response.context["cl"].paginator.count == 3


def test_filtered_count_is_capped(coin, monkeypatch):
    from market_data import admin as market_admin

    add_bars(coin, 30)
    monkeypatch.setattr(market_admin, "COUNT_CAP", 10)
    assert EstimatedCountPaginator(Price.objects.filter(crypto=coin).order_by("-datetime"), 5).count == 10


def test_estimate_of_an_empty_table_is_zero():
    assert EstimatedCountPaginator(Price.objects.order_by("-datetime"), 100).count == 0


def fill_prices(coins: int, bars: int) -> None:
    """coins x bars hourly rows written by the database itself (fast enough for half a million)."""
    Cryptocurrency.objects.bulk_create(Cryptocurrency(symbol=f"S{k:03d}", name=f"s{k}") for k in range(coins))
    columns = "crypto_id, datetime, open_price, high_price, low_price, close_price, volume, interval_type, created_at"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO crypto_prices ({columns}) "
                "SELECT c.id, '2024-01-01T00:00:00Z'::timestamptz + g * interval '1 hour', "
                "1, 2, 0.5, 1.5, 1, '1h', now() FROM generate_series(0, %s) g CROSS JOIN cryptocurrencies c",
                [bars - 1],
            )
            cursor.execute("ANALYZE crypto_prices")
        else:
            cursor.execute(
                f"WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < %s) "
                f"INSERT INTO crypto_prices ({columns}) SELECT c.id, datetime('2024-01-01', '+' || n || ' hours'), "
                "1, 2, 0.5, 1.5, 1, '1h', datetime('now') FROM g CROSS JOIN cryptocurrencies c",
                [bars - 1],
            )


@pytest.mark.slow
def test_price_list_stays_fast_with_half_a_million_rows(admin_client):
    fill_prices(50, 10_000)
    coin = Cryptocurrency.objects.get(symbol="S007")
    for url in (
        "/admin/market_data/price/",
        "/admin/market_data/price/?p=200",
        f"/admin/market_data/price/?crypto__id__exact={coin.id}&interval_type__exact=1h",
        "/admin/market_data/price/?interval_type__exact=1h",
    ):
        admin_client.get(url)  # warm
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url)
        assert response.status_code == 200, url
        assert counts_over_whole_table(queries) == [], url
        # A handful of queries whatever the page (session, user, the count or its estimate, the page's
        # rows with their coins, the filters): none per row. Speed itself is bench work, not a test's.
        assert len(queries) <= 8, (url, [q["sql"] for q in queries])
    assert response.context["cl"].paginator.count == 100_000  # the capped count of a broad filter
    unfiltered = admin_client.get("/admin/market_data/price/").context["cl"].paginator.count
    assert 400_000 <= unfiltered <= 600_000  # an estimate, not a count


def test_editing_or_deleting_bars_in_the_admin_gives_the_coins_series_a_new_version(admin_client, coin):
    add_bars(coin, 3)
    other = Cryptocurrency.objects.create(symbol="ETH", name="Ether")

    def versions():
        return dict(Cryptocurrency.objects.values_list("symbol", "prices_version"))

    before = versions()
    first, second, third = Price.objects.order_by("datetime")
    form = {
        "crypto": other.id,
        "datetime_0": "2024-01-01",
        "datetime_1": "00:00:00",
        "open": "1",
        "high": "3",
        "low": "0.5",
        "close": "2",
        "volume": "1",
        "interval_type": "4h",
    }
    response = admin_client.post(f"/admin/market_data/price/{first.id}/change/", form)
    assert response.status_code == 302
    after = versions()
    assert after["BTC"] != before["BTC"] and after["ETH"] != before["ETH"]  # the coin it left and the one it joined

    before = versions()
    admin_client.post(f"/admin/market_data/price/{second.id}/delete/", {"post": "yes"})
    assert versions()["BTC"] != before["BTC"] and versions()["ETH"] == before["ETH"]

    before = versions()
    admin_client.post(
        "/admin/market_data/price/", {"action": "delete_selected", "_selected_action": [third.id], "post": "yes"}
    )
    assert versions()["BTC"] != before["BTC"]
    assert list(Price.objects.values_list("interval_type", flat=True)) == ["4h"]
