"""prices_bulk_upsert's two PostgreSQL paths (COPY straight into the table when no stored bar lies in the new
bars' span, else a temporary table and an upsert) store the same bars; numerics are PostgreSQL's rounding."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from market_data import services
from market_data.models import Cryptocurrency, Price

from .conftest import T0, csv_rows

pytestmark = pytest.mark.django_db

HOUR = dt.timedelta(hours=1)


def bars(n: int, *, start: dt.datetime = T0, close: float = 100.0) -> list[services.PriceBar]:
    """n bars an hour apart with prices of full float precision; every third one without volume."""
    rng = np.random.default_rng(n)
    out = []
    for i in range(n):
        c = close + rng.uniform(0, 50)
        o = c * rng.uniform(0.99, 1.01)
        volume = None if i % 3 == 2 else rng.uniform(0, 1e10)
        out.append(services.PriceBar(start + i * HOUR, o, max(o, c) * 1.01, min(o, c) * 0.99, c, volume))
    return out


def stored(coin) -> list[tuple]:
    return list(
        Price.objects.filter(crypto=coin, interval_type="1h")
        .order_by("datetime")
        .values_list("datetime", "open", "high", "low", "close", "volume")
    )


def version(coin) -> str:
    return Cryptocurrency.objects.get(id=coin.id).prices_version


def test_a_new_coin_and_an_overlapping_upsert_store_the_same_bars_and_bump_the_version():
    fresh = Cryptocurrency.objects.create(symbol="AAA", name="A")
    overlapped = Cryptocurrency.objects.create(symbol="BBB", name="B")
    new = bars(30)
    # One stored bar in the middle of the span, with other values: the upsert path, which changes it.
    services.prices_bulk_upsert(crypto_id=overlapped.id, interval="1h", bars=[new[10]._replace(close=1.0, low=0.5)])
    versions = version(fresh), version(overlapped)
    written = [services.prices_bulk_upsert(crypto_id=c.id, interval="1h", bars=new) for c in (fresh, overlapped)]
    assert written == [30, 30]  # 30 inserted; 29 inserted and 1 changed
    assert stored(fresh) == stored(overlapped)
    assert len(stored(fresh)) == 30
    assert [r[5] is None for r in stored(fresh)] == [b.volume is None for b in new]
    assert (version(fresh), version(overlapped)) != versions
    assert version(fresh) != versions[0] and version(overlapped) != versions[1]


def test_bars_after_the_stored_ones_are_added_and_the_stored_ones_left_alone():
    coin = Cryptocurrency.objects.create(symbol="AAA", name="A")
    first = bars(10)
    services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=first)
    before = list(Price.objects.filter(crypto=coin).order_by("datetime").values_list("id", "created_at"))
    later = bars(5, start=T0 + 10 * HOUR, close=300.0)
    assert services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=later) == 5
    assert list(Price.objects.filter(crypto=coin).order_by("datetime").values_list("id", "created_at"))[:10] == before
    assert [r[0] for r in stored(coin)] == [T0 + i * HOUR for i in range(15)]


def test_the_same_bars_again_write_nothing_and_keep_the_version():
    coin = Cryptocurrency.objects.create(symbol="AAA", name="A")
    services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=bars(20))
    old = version(coin), stored(coin)
    assert services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=bars(20)) == 0
    assert (version(coin), stored(coin)) == old


def test_one_changed_bar_among_stored_ones_is_the_only_one_written():
    coin = Cryptocurrency.objects.create(symbol="AAA", name="A")
    services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=bars(20))

    def rows():
        return list(Price.objects.filter(crypto=coin).order_by("datetime").values_list("id", "created_at", "volume"))

    before = rows()
    again = bars(20)
    again[7] = again[7]._replace(volume=None)  # a volume dropped is a change too
    again[8] = again[8]._replace(volume=123.25)
    assert services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=again) == 2
    after = rows()
    assert [r for k, r in enumerate(after) if k not in (7, 8)] == [r for k, r in enumerate(before) if k not in (7, 8)]
    assert (after[7][2], after[8][2]) == (None, Decimal("123.25"))


def test_another_interval_of_the_coin_does_not_count_as_stored_bars():
    coin = Cryptocurrency.objects.create(symbol="AAA", name="A")
    services.prices_bulk_upsert(crypto_id=coin.id, interval="4h", bars=bars(10))
    assert services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=bars(10)) == 10
    assert Price.objects.filter(crypto=coin, interval_type="4h").count() == 10


def exact(value: float) -> tuple[int, int]:
    """PostgreSQL's value::text::numeric(20, 8): the shortest text of the float, rounded half away from zero."""
    scaled = int(Decimal(repr(value)).quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP).scaleb(8))
    return divmod(scaled, 100_000_000)


def test_numeric_scaled_is_the_shortest_text_rounded_half_away_from_zero():
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            10 ** rng.uniform(-10, 11.9, 20_000),  # every magnitude, up to the numeric(20, 8) limit
            np.round(rng.uniform(0, 1e4, 20_000), 9),  # nine decimals: the ninth is a 5 in a tenth of them
            (np.floor(rng.uniform(0, 1e9, 5_000)) + 0.5) / 1e8,  # halves of the last decimal
            [0.0, 5e-9, 1.5e-8, 2.5e-8, 0.123456785, 0.999999995, 0.9999999949, 1e-300, 999_999_999_999.99],
        ]
    )
    whole, decimals = services.numeric_scaled(values)
    assert list(zip(whole.tolist(), decimals.tolist(), strict=True)) == [exact(v) for v in values.tolist()]
    assert exact(0.123456785) == (0, 12345679) and exact(0.999999995) == (1, 0)  # the oracle rounds half up


def test_a_csv_with_nine_decimals_is_stored_rounded_to_eight(write_csv):
    cells = ["0.123456785", "0.2", "0.1", "0.123456784999", "12345.123456785"]
    call_command("import_prices", str(write_csv([f"2024-01-01,{','.join(cells)}"])), symbol="BTC", stdout=StringIO())
    row = Price.objects.get(crypto__symbol="BTC")
    if connection.vendor == "postgresql":  # numeric(20, 8): the text rounded half away from zero
        expected = [Decimal(c).quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP) for c in cells]
    else:  # SQLite: the float rounded (Python's round), as the ORM stores it
        expected = [Decimal(str(round(float(c), 8))) for c in cells]
    assert [row.open, row.high, row.low, row.close, row.volume] == expected


@pytest.mark.django_db(transaction=True)
def test_the_table_is_analyzed_after_a_first_import_not_after_one_that_changed_nothing(write_csv):
    path = write_csv(csv_rows(50))
    if connection.vendor == "postgresql":  # the statistics of the empty table (another test's may remain)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE crypto_prices")
    analyzes = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            call_command("import_prices", str(path), symbol="BTC", stdout=StringIO())
        analyzes.append(sum(q["sql"] == "ANALYZE crypto_prices" for q in queries.captured_queries))
    assert analyzes == ([1, 0] if connection.vendor == "postgresql" else [0, 0])
