"""Price packs: a read that misses the caches takes each coin's pack of its current version, which
holds exactly the bars its rows hold; any write to the bars (import, demo load, admin edit or
delete) leaves the old pack unused, and the next read sees the new bars.

Runs on SQLite and on PostgreSQL (DATABASE_URL): the packs are read and written by binary COPY there.
"""

import datetime as dt
import io

import numpy as np
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction

from market_data import selectors, services
from market_data.models import Cryptocurrency, Price, PricePack
from market_data.parsing import PriceBar

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
FIELDS = ("times", "open", "high", "low", "close", "volume")


@pytest.fixture(autouse=True)
def _empty_caches():
    cache.clear()
    selectors.series_memo.clear()
    yield
    cache.clear()
    selectors.series_memo.clear()


@pytest.fixture
def row_reads(monkeypatch) -> list[int]:
    """The coins whose bars were read from their rows (not from a pack)."""
    seen: list[int] = []
    real = selectors._prices_load_stored_many

    def spy(*, crypto_ids, interval):
        seen.extend(crypto_ids)
        return real(crypto_ids=crypto_ids, interval=interval)

    monkeypatch.setattr(selectors, "_prices_load_stored_many", spy)
    return seen


def cold_read(ids, interval="1h"):
    """What a process with empty caches reads (a server's first run, Redis flushed)."""
    cache.clear()
    selectors.series_memo.clear()
    return selectors.prices_get_many(crypto_ids=ids, interval=interval)


def rows_of(ids, interval="1h"):
    """The bars as the rows hold them: the query every read made before the packs."""
    return selectors._prices_rows_load_many(crypto_ids=ids, interval=interval)


def assert_same(got, expected):
    assert set(got) == set(expected)
    for c in expected:
        for f in FIELDS:
            a, b = getattr(got[c], f), getattr(expected[c], f)
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), (c, f)


def bars(n, *, close=100.0, step=0.37, volume=True, start=T0):
    out = []
    for i in range(n):
        c = close + i * step
        moment = start + dt.timedelta(hours=i)
        out.append(PriceBar(moment, c - 0.125, c + 1.5, c - 2.25, c, 10.5 + i if volume else None))
    return out


@pytest.fixture
def coins(db):
    """Two demo coins (a year of generated hourly bars) and one imported coin with bars lacking volume."""
    services.demo_universe_load(count=2)
    odd = Cryptocurrency.objects.create(symbol="ODD", name="Odd")
    services.prices_bulk_upsert(crypto_id=odd.id, interval="1h", bars=bars(50, volume=False))
    return list(Cryptocurrency.objects.order_by("symbol").values_list("id", flat=True))


def versions_of(ids):
    return dict(Cryptocurrency.objects.filter(id__in=ids).values_list("id", "prices_version"))


def test_a_cold_read_packs_the_series_and_the_next_one_reads_the_packs_with_exactly_the_rows_bars(coins, row_reads):
    first = cold_read(coins)
    assert sorted(row_reads) == sorted(coins)  # no pack yet: the rows, then packed
    packs = dict(PricePack.objects.filter(interval_type="1h").values_list("crypto_id", "version"))
    assert packs == versions_of(coins)
    row_reads.clear()
    second = cold_read(coins)
    assert row_reads == []  # every coin from its pack
    assert_same(second, rows_of(coins))
    assert_same(first, second)
    assert np.isnan(second[coins[-1]].volume).all() and len(second[coins[0]]) == 366 * 24


def test_a_pack_is_served_only_under_the_version_it_was_read_with(coins, row_reads):
    cold_read(coins)
    versions = versions_of(coins)
    assert set(selectors._packs_get_many(crypto_ids=coins, interval="1h", versions=versions)) == set(coins)
    stale = {**versions, coins[0]: "0" * 32}
    assert set(selectors._packs_get_many(crypto_ids=coins, interval="1h", versions=stale)) == set(coins[1:])


def test_series_read_under_a_version_since_replaced_are_not_packed(coins, row_reads):
    """A reader read the versions and the rows, then a write committed and another read packed the new
    bars: the late reader's store leaves the new pack as it is."""
    cold_read(coins)
    read_before = versions_of(coins)
    series = rows_of(coins[:1])
    services.prices_bulk_upsert(crypto_id=coins[0], interval="1h", bars=bars(3, close=7.0))
    cold_read(coins)  # packs the new bars under the new version
    selectors._packs_store(interval="1h", series=series, versions=read_before)
    pack = PricePack.objects.get(crypto_id=coins[0], interval_type="1h")
    assert pack.version == versions_of(coins)[coins[0]] != read_before[coins[0]]
    row_reads.clear()
    assert cold_read(coins)[coins[0]].close[:3].tolist() == [7.0, 7.37, 7.74] and row_reads == []


def test_an_import_is_seen_by_the_next_read_and_packed_when_it_commits(
    coins, row_reads, write_csv, django_capture_on_commit_callbacks
):
    cold_read(coins)
    btc = Cryptocurrency.objects.get(id=coins[0])
    lines = [f"{(T0 + dt.timedelta(hours=i)).isoformat()},1,9,0.5,{2 + i},5" for i in range(5)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.prices_import_csv(paths=[write_csv(lines)], symbol=btc.symbol, interval="1h")
    assert callbacks  # the pack refresh ran once the import committed
    pack = PricePack.objects.get(crypto_id=btc.id, interval_type="1h")
    assert pack.version == versions_of([btc.id])[btc.id]
    row_reads.clear()
    after = cold_read(coins)
    assert row_reads == []  # the import's own refresh packed the new bars
    assert after[btc.id].close.tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]  # a demo coin replaced by the import
    assert_same(after, rows_of(coins))


def test_a_write_whose_refresh_did_not_run_is_read_from_the_rows_and_repacked(coins, row_reads):
    cold_read(coins)
    services.prices_bulk_upsert(crypto_id=coins[1], interval="1h", bars=bars(2, close=5.0))  # on_commit not run
    row_reads.clear()
    after = cold_read(coins)
    assert row_reads == [coins[1]]
    assert after[coins[1]].close[:2].tolist() == [5.0, 5.37]
    assert_same(after, rows_of(coins))
    row_reads.clear()
    assert_same(cold_read(coins), after) and row_reads == []


def test_admin_edits_and_deletes_are_seen_by_the_next_read(admin_client, coins):
    odd = coins[-1]
    cold_read(coins)
    bar = Price.objects.filter(crypto_id=odd).order_by("datetime").first()
    form = {
        "crypto": odd,
        "datetime_0": "2024-01-01",
        "datetime_1": "00:00:00",
        "open": "1",
        "high": "9",
        "low": "0.5",
        "close": "8.25",
        "volume": "3",
        "interval_type": "1h",
    }
    assert admin_client.post(f"/admin/market_data/price/{bar.id}/change/", form).status_code == 302
    edited = cold_read(coins)[odd]
    assert edited.close[0] == 8.25 and edited.volume[0] == 3.0 and len(edited) == 50

    second = Price.objects.filter(crypto_id=odd).order_by("datetime")[1]
    admin_client.post(f"/admin/market_data/price/{second.id}/delete/", {"post": "yes"})
    after_delete = cold_read(coins)[odd]
    assert len(after_delete) == 49 and second.datetime.timestamp() * 1e9 not in after_delete.times

    selected = list(Price.objects.filter(crypto_id=odd).values_list("id", flat=True))
    admin_client.post(
        "/admin/market_data/price/", {"action": "delete_selected", "_selected_action": selected, "post": "yes"}
    )
    assert len(cold_read(coins)[odd]) == 0
    assert_same(cold_read(coins), rows_of(coins))


def test_a_derived_interval_is_packed_and_stored_bars_of_it_win_after_an_import(coins, row_reads):
    derived = cold_read(coins, "4h")
    assert len(derived[coins[0]]) == 366 * 6
    row_reads.clear()
    assert_same(cold_read(coins, "4h"), derived) and row_reads == []
    four = [PriceBar(T0 + dt.timedelta(hours=4 * i), 1.0, 2.0, 0.5, 1.5, 1.0) for i in range(3)]
    services.prices_bulk_upsert(crypto_id=coins[0], interval="4h", bars=four)
    assert cold_read(coins, "4h")[coins[0]].close.tolist() == [1.5, 1.5, 1.5]


def test_a_deleted_coin_takes_its_packs_with_it(coins):
    cold_read(coins)
    Cryptocurrency.objects.filter(id=coins[0]).delete()
    assert not PricePack.objects.filter(crypto_id=coins[0]).exists()
    assert PricePack.objects.count() == len(coins) - 1


def test_pack_prices_packs_every_stored_series_not_current(coins, row_reads):
    services.prices_bulk_upsert(crypto_id=coins[0], interval="4h", bars=bars(3))  # a second stored interval
    cold_read(coins)
    PricePack.objects.filter(crypto_id=coins[1]).delete()
    Cryptocurrency.objects.filter(id=coins[2]).update(prices_version="f" * 32)  # a write the packs have not seen
    call_command("pack_prices", stdout=io.StringIO())
    packs = set(PricePack.objects.values_list("crypto_id", "interval_type", "version"))
    current = versions_of(coins)
    assert packs == {(c, "1h", current[c]) for c in coins} | {(coins[0], "4h", current[coins[0]])}
    row_reads.clear()
    assert_same(cold_read(coins), rows_of(coins)) and row_reads == []


def test_an_import_of_a_new_series_is_packed_from_memory_exactly_as_its_rows_read(
    db, row_reads, django_capture_on_commit_callbacks
):
    """A write that is all of a coin's bars of an interval packs them from what it holds (on
    PostgreSQL, where the importer builds the numerics itself), bit for bit what a read of the rows
    gives: prices that need more than float64's exact integers once scaled, volumes missing, decimals
    beyond the eighth rounded. Elsewhere the rows are read back."""
    coin = Cryptocurrency.objects.create(symbol="NEW", name="New")
    big = [
        PriceBar(
            T0 + dt.timedelta(hours=i), 95_000_000.123456785 + i, 95_000_100.5, 94_999_999.99999999, 95e6 + i / 3, v
        )
        for i, v in enumerate([1.5e11 + 1 / 3, None, 0.0, 2.675e-5, 12345.678901234])
    ]
    small = bars(40, close=2.3, step=1 / 7, start=T0 + dt.timedelta(hours=10))
    with django_capture_on_commit_callbacks(execute=True):
        services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=small + big)
    packed_from_rows = coin.id in row_reads  # (other coins: writes of earlier tests whose commit never came)
    pack = PricePack.objects.get(crypto_id=coin.id, interval_type="1h")
    assert pack.version == versions_of([coin.id])[coin.id]
    assert_same({coin.id: selectors.PriceSeries.from_bytes(bytes(pack.bars))}, rows_of([coin.id]))
    assert packed_from_rows == (connection.vendor != "postgresql")


def test_a_series_written_twice_in_one_transaction_is_packed_from_its_rows(
    db, row_reads, django_capture_on_commit_callbacks
):
    """Two writes of one coin in one transaction (two intervals: the version is the coin's) leave
    the first one's series to the rows; both packs hold exactly what the rows do."""
    coin = Cryptocurrency.objects.create(symbol="TWO", name="Two")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=bars(30))
        services.prices_bulk_upsert(
            crypto_id=coin.id,
            interval="4h",
            bars=[b._replace(datetime=T0 + dt.timedelta(hours=4 * i)) for i, b in enumerate(bars(6))],
        )
    reads = row_reads.count(coin.id)
    for interval in ("1h", "4h"):
        pack = PricePack.objects.get(crypto_id=coin.id, interval_type=interval)
        assert pack.version == versions_of([coin.id])[coin.id]
        assert_same({coin.id: selectors.PriceSeries.from_bytes(bytes(pack.bars))}, rows_of([coin.id], interval))
    assert reads == (1 if connection.vendor == "postgresql" else 2)
