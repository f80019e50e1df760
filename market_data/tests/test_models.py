"""The catalogue tables mirror the original schema: names, columns, constraints, indexes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from market_data.models import Cryptocurrency, Price

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def bar(coin, when=T0, interval="1h", **kw):
    values = {"open": 1, "high": 2, "low": 0.5, "close": 1.5} | kw
    return Price.objects.create(crypto=coin, datetime=when, interval_type=interval, **values)


def test_symbol_is_unique(coin):
    with pytest.raises(IntegrityError), transaction.atomic():
        Cryptocurrency.objects.create(symbol="BTC", name="Other")


def test_a_coin_has_one_bar_per_time_and_interval(coin):
    bar(coin)
    bar(coin, interval="4h")  # same time, other interval: allowed
    bar(coin, when=T0 + dt.timedelta(hours=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        bar(coin)
    assert Price.objects.count() == 3


def test_interval_defaults_to_1h_and_volume_may_be_empty(coin):
    price = Price.objects.create(crypto=coin, datetime=T0, open=1, high=2, low=0.5, close=1.5)
    price.refresh_from_db()
    assert (price.interval_type, price.volume) == ("1h", None)


def test_prices_are_numeric_20_8(coin):
    # 15 significant digits: all SQLite keeps (PostgreSQL keeps numeric(20, 8) exactly).
    bar(coin, open=Decimal("1234567.12345678"))
    assert Price.objects.get().open == Decimal("1234567.12345678")
    field = Price._meta.get_field("open")
    assert (field.max_digits, field.decimal_places, field.column) == (20, 8, "open_price")


def test_tables_columns_and_indexes_are_the_originals():
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        price_columns = {c.name for c in connection.introspection.get_table_description(cursor, "crypto_prices")}
        coin_columns = {c.name for c in connection.introspection.get_table_description(cursor, "cryptocurrencies")}
        constraints = connection.introspection.get_constraints(cursor, "crypto_prices")
    assert {"cryptocurrencies", "crypto_prices", "crypto_strategies", "crypto_strategy_parameters"} <= set(tables)
    assert {
        "crypto_id",
        "datetime",
        "open_price",
        "high_price",
        "low_price",
        "close_price",
        "volume",
        "interval_type",
        "created_at",
    } <= price_columns
    assert {"symbol", "name", "is_active", "created_at"} <= coin_columns
    by_columns = {tuple(c["columns"]): c for c in constraints.values()}
    assert by_columns[("crypto_id", "datetime", "interval_type")]["unique"]
    assert constraints["idx_crypto_prices_datetime"]["columns"] == ["datetime"]
    # No index duplicates the unique constraint (each one more to update for every bar written):
    # neither the composite of the same columns nor the foreign key's own index on its first one.
    indexes = [tuple(c["columns"]) for c in constraints.values() if c["index"] and not c["unique"]]
    assert sorted(indexes) == [("datetime",)]


def test_interval_stats_counts_bars_per_coin_and_interval_in_one_query(coin, django_assert_num_queries):
    eth = Cryptocurrency.objects.create(symbol="ETH", name="Ethereum")
    for h in range(3):
        bar(coin, when=T0 + dt.timedelta(hours=h))
    bar(coin, when=T0, interval="1d")
    with django_assert_num_queries(2):
        coins = Cryptocurrency.objects.with_interval_stats()
    stats = {c.symbol: [(s.interval, s.bars, s.first, s.last) for s in c.interval_stats] for c in coins}
    assert stats == {"BTC": [("1d", 1, T0, T0), ("1h", 3, T0, T0 + dt.timedelta(hours=2))], "ETH": []}
    assert eth.symbol in stats


def test_active_coins():
    Cryptocurrency.objects.create(symbol="A", name="a")
    Cryptocurrency.objects.create(symbol="B", name="b", is_active=False)
    assert list(Cryptocurrency.objects.active().values_list("symbol", flat=True)) == ["A"]
