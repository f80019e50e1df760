"""Bad input on the catalogue: every endpoint answers a 4xx that names the field, never a 5xx.

The corners a random fuzzer rarely hits (tests/test_schema_fuzz.py covers the rest): dates at
the ends of the calendar, numbers too long to convert, a NUL character (PostgreSQL refuses it
in any string), a symbol longer than the column.
"""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from market_data import services
from market_data.models import Cryptocurrency
from market_data.parsing import PriceBar
from strategies.engine import InvalidParameters
from strategies.models import Strategy
from strategies.services import strategy_parameters_resolve
from tests.support import strategies_seed

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
HUGE = "9" * 5000  # beyond the 4,300 digits Python converts to int


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def coin(db):
    coin = Cryptocurrency.objects.create(symbol="BTC", name="Bitcoin")
    bars = [PriceBar(T0 + dt.timedelta(hours=i), 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, 5.0) for i in range(24)]
    services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=bars)
    return coin


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2024-02-30", "start"),
        ("end=not-a-date", "end"),
        ("start=2024-01-02&end=2024-01-01", "end"),
        ("start=0001-01-01T00:00:00%2B01:00", "start"),  # the year 0 in UTC
        ("end=9999-12-31T23:00:00-02:00", "end"),  # the year 10000 in UTC
        (f"start={HUGE}", "start"),
        ("interval=2h", "interval"),
        ("interval=1h%00", "interval"),
        ("page=0", "page"),
        ("page=-3", "page"),
        ("page=two", "page"),
        (f"page={HUGE}", "page"),
        ("page_size=0", "page_size"),
        ("page_size=ten", "page_size"),
        ("page_size=%C2%B2", "page_size"),  # a superscript two: a digit to str.isdigit, not to int()
        (f"page_size={HUGE}", "page_size"),
    ],
)
def test_bad_price_query_is_a_400_naming_the_field(api, coin, query, field):
    response = api.get(f"/api/cryptocurrencies/BTC/prices/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_page_past_the_last_is_a_404_naming_the_page(api, coin):
    response = api.get("/api/cryptocurrencies/BTC/prices/?page=999999999999999999999&page_size=10")

    assert response.status_code == 404
    assert response.json()["detail"].startswith("Invalid page 999999999999999999999:")


@pytest.mark.parametrize(
    ("query", "bars"),
    [
        ("end=9999-12-31", 24),  # the whole last day of the calendar, without overflowing
        ("start=0001-01-01", 24),
        ("page_size=1000000000", 24),  # capped at PRICES_MAX_PAGE_SIZE, not refused
        ("page=last&page_size=10", 4),
    ],
)
def test_extreme_but_valid_price_queries_are_answered(api, coin, query, bars):
    response = api.get(f"/api/cryptocurrencies/BTC/prices/?{query}")

    assert response.status_code == 200
    assert len(response.json()["results"]) == bars


@pytest.mark.parametrize("symbol", ["NOPE", "B%00TC", "A" * 500, "BTC%27%3B--"])
@pytest.mark.parametrize("suffix", ["", "prices/"])
def test_an_unknown_or_impossible_symbol_is_a_404_naming_it(api, coin, symbol, suffix):
    response = api.get(f"/api/cryptocurrencies/{symbol}/{suffix}")

    assert response.status_code == 404
    assert "No coin with symbol" in response.json()["detail"]


@pytest.mark.parametrize("strategy_id", ["abc", "-1", "0", "99999999999999999999999", "1%00", HUGE])
def test_an_unknown_or_malformed_strategy_id_is_a_404(api, strategy_id):
    assert api.get(f"/api/strategies/{strategy_id}/").status_code == 404


@pytest.mark.parametrize("path", ["/api/strategies/", "/api/strategies/1/"])
def test_a_bad_all_flag_is_a_400_naming_it(api, path):
    response = api.get(path, {"all": "maybe"})

    assert response.status_code == 400
    assert list(response.json()) == ["all"]
    assert api.get(path, {"all": ""}).status_code == 200  # empty means no


@pytest.fixture
def rsi(db):
    """The seeded RSI strategy (a transactional test before this one may have flushed the seed)."""
    strategies_seed()
    return Strategy.objects.get(key="rsi")


@pytest.mark.parametrize("value", [10**400, -(10**400)])
def test_a_parameter_too_large_for_a_float_is_refused_naming_it(rsi, value):
    """A JSON integer of 400 digits used to escape as OverflowError: a 500 on POST /api/runs/."""

    with pytest.raises(InvalidParameters) as refused:
        strategy_parameters_resolve(strategy=rsi, params={"rsi_period": value})

    assert refused.value.parameter == "rsi_period"


@pytest.mark.parametrize(
    ("symbol", "name", "refused"),
    [
        ("B" * 21, None, "symbol"),  # longer than the column: PostgreSQL would raise DataError
        ("BTC.USD", None, "symbol"),  # could not be addressed in the API's URLs (BTC/USD is a pair: BTC-USD)
        ("B\x00TC", None, "symbol"),
        ("", None, "symbol"),
        ("BTC", "N" * 101, "name"),
        ("BTC", "Bit\x00coin", "name"),
    ],
)
def test_an_import_symbol_or_name_the_database_cannot_hold_is_refused_naming_it(db, tmp_path, symbol, name, refused):
    csv = tmp_path / "x.csv"
    csv.write_text("datetime,open,high,low,close\n2024-02-01T00:00:00,1,2,0.5,1.5\n")

    with pytest.raises(services.PriceImportError, match=f"^{refused} .* refused"):
        services.prices_import_csv(paths=[csv], symbol=symbol, name=name)
    assert not Cryptocurrency.objects.exists()


def test_a_symbol_of_twenty_letters_digits_dashes_and_underscores_is_imported(db, tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("datetime,open,high,low,close\n2024-02-01T00:00:00,1,2,0.5,1.5\n")

    report = services.prices_import_csv(paths=[csv], symbol="1000shib-usd_perp_x1", name="Shiba Inu perpetual")

    assert report.symbol == "1000SHIB-USD_PERP_X1"
    assert Cryptocurrency.objects.get().name == "Shiba Inu perpetual"
