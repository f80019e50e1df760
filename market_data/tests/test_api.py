"""The coin catalogue API: shapes, filters, pagination, errors; read-only; schema and docs without a CDN."""

import datetime as dt
import re

import pytest
from rest_framework.test import APIClient

from market_data import services
from market_data.models import Cryptocurrency
from market_data.parsing import PriceBar

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def api():
    return APIClient()


def add_bars(coin, n, *, interval="1h", step=dt.timedelta(hours=1), start=T0):
    bars = [PriceBar(start + i * step, 100.0 + i, 101.5 + i, 99.0 + i, 100.5 + i, 1000.0 + i) for i in range(n)]
    services.prices_bulk_upsert(crypto_id=coin.id, interval=interval, bars=bars)


@pytest.fixture
def market(coin):
    add_bars(coin, 48)  # two days of hourly bars
    add_bars(coin, 3, interval="1d", step=dt.timedelta(days=1))
    Cryptocurrency.objects.create(symbol="DOGE", name="Dogecoin (demo)", is_demo=True, is_active=False)
    return coin


def test_coin_list_gives_bar_count_and_first_last_per_interval(api, market, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):  # the session lookup aside: the coins, then one GROUP BY
        body = api.get("/api/cryptocurrencies/").json()
    assert body == [
        {
            "id": market.id,
            "symbol": "BTC",
            "name": "Bitcoin",
            "is_active": True,
            "is_demo": False,
            "intervals": [
                {
                    "interval": "1d",
                    "bars": 3,
                    "first": "2024-01-01T00:00:00Z",
                    "last": "2024-01-03T00:00:00Z",
                    "derived_from": None,
                },
                {
                    "interval": "1h",
                    "bars": 48,
                    "first": "2024-01-01T00:00:00Z",
                    "last": "2024-01-02T23:00:00Z",
                    "derived_from": None,
                },
                # Derived from the 1h bars (1d is stored, so it is not derived; no whole week is stored).
                {
                    "interval": "4h",
                    "bars": 12,
                    "first": "2024-01-01T00:00:00Z",
                    "last": "2024-01-02T20:00:00Z",
                    "derived_from": "1h",
                },
            ],
        },
        {
            "id": body[1]["id"],
            "symbol": "DOGE",
            "name": "Dogecoin (demo)",
            "is_active": False,
            "is_demo": True,
            "intervals": [],
        },
    ]


def test_coin_list_query_count_does_not_grow_with_coins(api, market, django_assert_max_num_queries):
    for k in range(10):
        add_bars(Cryptocurrency.objects.create(symbol=f"C{k}", name=f"c{k}"), 2)
    with django_assert_max_num_queries(3):
        assert len(api.get("/api/cryptocurrencies/").json()) == 12


def test_coin_detail_by_symbol_in_any_case(api, market):
    body = api.get("/api/cryptocurrencies/btc/").json()
    assert (body["symbol"], [i["interval"] for i in body["intervals"]]) == ("BTC", ["1d", "1h", "4h"])


def test_unknown_coin_is_404(api, market):
    assert api.get("/api/cryptocurrencies/NOPE/").status_code == 404
    assert api.get("/api/cryptocurrencies/NOPE/prices/").status_code == 404


def test_prices_are_paginated_bars_with_numbers_not_strings(api, market):
    body = api.get("/api/cryptocurrencies/BTC/prices/?page_size=2").json()
    assert body["count"] == 48
    assert body["previous"] is None
    assert "page=2" in body["next"]
    assert body["results"] == [
        {
            "datetime": "2024-01-01T00:00:00Z",
            "open": 100.0,
            "high": 101.5,
            "low": 99.0,
            "close": 100.5,
            "volume": 1000.0,
        },
        {
            "datetime": "2024-01-01T01:00:00Z",
            "open": 101.0,
            "high": 102.5,
            "low": 100.0,
            "close": 101.5,
            "volume": 1001.0,
        },
    ]


def test_prices_default_to_the_1h_interval_and_the_interval_can_be_chosen(api, market):
    assert api.get("/api/cryptocurrencies/BTC/prices/").json()["count"] == 48
    daily = api.get("/api/cryptocurrencies/BTC/prices/?interval=1d").json()
    assert [r["datetime"] for r in daily["results"]] == [
        "2024-01-01T00:00:00Z",
        "2024-01-02T00:00:00Z",
        "2024-01-03T00:00:00Z",
    ]


def test_start_and_end_dates_are_inclusive_whole_days(api, market):
    body = api.get("/api/cryptocurrencies/BTC/prices/?start=2024-01-02&end=2024-01-02&page_size=100").json()
    times = [r["datetime"] for r in body["results"]]
    assert (len(times), times[0], times[-1]) == (24, "2024-01-02T00:00:00Z", "2024-01-02T23:00:00Z")


def test_start_and_end_may_be_date_times(api, market):
    body = api.get("/api/cryptocurrencies/BTC/prices/?start=2024-01-01T05:00:00Z&end=2024-01-01T07:00:00Z").json()
    assert [r["datetime"] for r in body["results"]] == [
        "2024-01-01T05:00:00Z",
        "2024-01-01T06:00:00Z",
        "2024-01-01T07:00:00Z",
    ]


def test_page_size_is_capped_at_prices_max_page_size(api, coin):
    add_bars(coin, 2_050)
    body = api.get("/api/cryptocurrencies/BTC/prices/?page_size=20000").json()
    assert (body["count"], len(body["results"])) == (2_050, 2_000)  # the default limit
    assert body["results"][-1]["datetime"] == (T0 + dt.timedelta(hours=1_999)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["next"] is not None and "page=2" in body["next"]


def test_the_page_size_limit_is_a_setting(api, coin, settings):
    settings.PRICES_MAX_PAGE_SIZE = 30
    add_bars(coin, 48)
    assert len(api.get("/api/cryptocurrencies/BTC/prices/?page_size=40").json()["results"]) == 30
    assert len(api.get("/api/cryptocurrencies/BTC/prices/").json()["results"]) == 30  # the default too
    assert len(api.get("/api/cryptocurrencies/BTC/prices/?page_size=20").json()["results"]) == 20


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2024-13-01", "start"),
        ("end=yesterday", "end"),
        ("start=2024-02-01&end=2024-01-01", "end"),
        ("interval=2h", "interval"),
    ],
)
def test_bad_dates_or_unknown_interval_give_400_naming_the_field(api, market, query, field):
    response = api.get(f"/api/cryptocurrencies/BTC/prices/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_catalogue_cannot_be_written(api, market, admin_user):
    assert api.post("/api/cryptocurrencies/", {"symbol": "X", "name": "x"}).status_code == 403
    api.force_authenticate(admin_user)
    assert api.post("/api/cryptocurrencies/", {"symbol": "X", "name": "x"}).status_code == 405
    assert api.delete("/api/cryptocurrencies/BTC/").status_code == 405
    assert api.post("/api/cryptocurrencies/BTC/prices/", {}).status_code == 405
    assert Cryptocurrency.objects.count() == 2


def test_openapi_schema_lists_the_catalogue(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {
        "/api/cryptocurrencies/",
        "/api/cryptocurrencies/{symbol}/",
        "/api/cryptocurrencies/{symbol}/prices/",
        "/api/strategies/",
        "/api/strategies/{id}/",
    } <= set(paths)


def test_api_docs_load_their_assets_from_this_site_not_a_cdn(client, plain_static):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in a for a in assets)
    assert [a for a in assets if a.startswith(("http:", "https:", "//"))] == []
    bundle = next(a for a in assets if a.endswith("swagger-ui-bundle.js"))
    assert client.get(bundle).status_code == 200
