"""import_prices: file formats, refusals that write nothing, --skip-invalid, idempotence, the cache version bump."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import transaction

from market_data import services
from market_data.models import Cryptocurrency, Price
from market_data.selectors import prices_get

from .conftest import T0, csv_rows

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_prices", *map(str, args), stdout=out, stderr=out, **options)
    return out.getvalue()


def stored(symbol="BTC", interval="1h"):
    return list(
        Price.objects.filter(crypto__symbol=symbol, interval_type=interval)
        .order_by("datetime")
        .values_list("datetime", "open", "high", "low", "close", "volume")
    )


def test_import_creates_the_coin_and_its_bars_and_prints_the_rate(write_csv):
    out = run(write_csv(csv_rows(3)), symbol="btc", name="Bitcoin")
    coin = Cryptocurrency.objects.get(symbol="BTC")
    assert (coin.name, coin.is_demo) == ("Bitcoin", False)
    assert stored()[0] == (T0, Decimal("99.5"), Decimal("101"), Decimal("98.5"), Decimal("100"), Decimal("10"))
    assert len(stored()) == 3
    assert "3 rows read, 3 inserted or changed" in out
    assert "rows/s" in out


def test_values_keep_eight_decimals_and_round_the_ninth(write_csv):
    # 15 significant digits: all SQLite keeps (PostgreSQL keeps numeric(20, 8) exactly).
    run(write_csv(["2024-01-01,0.12345678,0.2,0.1,0.123456789,1234567.12345678"]), symbol="BTC")
    (row,) = stored()
    assert (row[1], row[4], row[5]) == (Decimal("0.12345678"), Decimal("0.12345679"), Decimal("1234567.12345678"))


@pytest.mark.parametrize(
    ("header", "time_cell"),
    [
        ("datetime,open,high,low,close,volume", "2024-01-01T00:00:00Z"),
        ("Date,Open,High,Low,Close,Volume", "2024-01-01"),
        ("timestamp,open,high,low,close,volume", "1704067200"),
        ("time,open,high,low,close,volume", "1704067200000"),
        ("open_time,open,high,low,close,volume", "2024-01-01 01:00:00+01:00"),
        (",open,high,low,close,volume", "2024-01-01 00:00:00"),
    ],
)
def test_each_time_column_and_format_lands_on_the_same_bar(write_csv, header, time_cell):
    run(write_csv([f"{time_cell},1,2,0.5,1.5,7"], header=header), symbol="BTC")
    assert [r[0] for r in stored()] == [T0]


def test_columns_in_any_order_and_case(write_csv):
    run(write_csv(["7,1.5,0.5,2,1,2024-01-01"], header="VOLUME,Close,low,HIGH,Open,datetime"), symbol="BTC")
    assert stored()[0][1:] == (Decimal("1"), Decimal("2"), Decimal("0.5"), Decimal("1.5"), Decimal("7"))


def test_interval_option_stores_bars_under_that_interval(write_csv):
    run(write_csv(csv_rows(2, hours=4)), symbol="BTC", interval="4h")
    assert len(stored(interval="4h")) == 2
    assert stored(interval="1h") == []


def test_reimporting_the_same_file_changes_nothing(write_csv):
    path = write_csv(csv_rows(5))
    run(path, symbol="BTC")
    before = list(Price.objects.order_by("datetime").values_list("id", "created_at", "close"))
    out = run(path, symbol="BTC")
    assert "5 rows read, 0 inserted or changed" in out
    assert list(Price.objects.order_by("datetime").values_list("id", "created_at", "close")) == before


def test_an_overlapping_file_updates_the_bars_it_covers_and_adds_the_new_ones(write_csv):
    run(write_csv(csv_rows(4), name="a.csv"), symbol="BTC")
    out = run(write_csv(csv_rows(4, start=T0 + dt.timedelta(hours=2), close=500), name="b.csv"), symbol="BTC")
    closes = [r[4] for r in stored()]
    assert closes == [Decimal("100"), Decimal("101"), Decimal("500"), Decimal("501"), Decimal("502"), Decimal("503")]
    assert "4 inserted or changed" in out


def test_several_files_in_one_import_later_file_wins_on_overlap(write_csv):
    a = write_csv(csv_rows(2), name="a.csv")
    b = write_csv(csv_rows(2, start=T0 + dt.timedelta(hours=1), close=900), name="b.csv")
    run(a, b, symbol="BTC")
    assert [r[4] for r in stored()] == [Decimal("100"), Decimal("900"), Decimal("901")]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("not-a-date,1,2,0.5,1.5,1", "unparsable time"),
        ("2024-02-01,1,2,0.5,,1", "missing close"),
        ("2024-02-01,-1,2,0.5,1.5,1", "non-positive price"),
        ("2024-02-01,1,1.2,0.5,1.5,1", "below open/close"),
        ("2024-02-01,1,2,1.2,1.5,1", "above open/close"),
        ("2024-01-01T00:00:00Z,1,2,0.5,1.5,1", "duplicate timestamp"),
    ],
)
def test_a_file_with_a_bad_row_is_refused_whole_naming_its_line(write_csv, bad_row, message):
    rows = csv_rows(3)
    rows.insert(2, bad_row)  # line 4: the header is line 1
    with pytest.raises(CommandError) as refused:
        run(write_csv(rows), symbol="BTC")
    assert "line 4" in str(refused.value)
    assert message in str(refused.value)
    assert "nothing was imported" in str(refused.value)
    assert not Cryptocurrency.objects.exists()
    assert not Price.objects.exists()


def test_refusal_lists_the_first_bad_rows_and_counts_the_rest(write_csv):
    rows = [f"2024-02-{d:02d},x,2,0.5,1.5,1" for d in range(1, 16)]
    with pytest.raises(CommandError) as refused:
        run(write_csv(rows), symbol="BTC")
    text = str(refused.value)
    assert "15 bad row(s)" in text
    assert "line 2:" in text and "line 11:" in text and "line 12:" not in text
    assert "and 5 more" in text


def test_a_bad_second_file_refuses_the_first_too(write_csv):
    good = write_csv(csv_rows(3), name="good.csv")
    bad = write_csv(["2024-03-01,1,2,0.5,oops,1"], name="bad.csv")
    with pytest.raises(CommandError, match="bad.csv line 2"):
        run(good, bad, symbol="BTC")
    assert not Price.objects.exists()


def test_skip_invalid_imports_the_good_rows_and_reports_the_rest(write_csv):
    rows = csv_rows(3)
    rows.insert(1, "2024-02-01,1,0.9,0.5,1.5,1")
    rows.append("2024-01-01T00:00:00Z,1,2,0.5,1.5,1")
    out = run(write_csv(rows), symbol="BTC", skip_invalid=True)
    assert len(stored()) == 3
    assert "Skipped 2 bad row(s)" in out
    assert "line 3: high 0.9 below open/close" in out
    assert "line 6: duplicate timestamp" in out


@pytest.mark.parametrize(
    ("header", "message"),
    [("when,open,high,low,close", "no time column"), ("datetime,open,high,close", "missing column(s): low")],
)
def test_a_file_without_the_needed_columns_is_refused(write_csv, header, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(write_csv(["2024-01-01,1,2,0.5,1.5"], header=header), symbol="BTC")
    assert not Cryptocurrency.objects.exists()


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run(tmp_path / "nope.csv", symbol="BTC")


def test_importing_into_a_demo_coin_replaces_its_generated_bars(write_csv):
    demo_coin = Cryptocurrency.objects.create(symbol="ETH", name="Ethereum (demo)", is_demo=True)
    services.prices_bulk_upsert(
        crypto_id=demo_coin.id,
        interval="1h",
        bars=[services.PriceBar(T0 - dt.timedelta(days=30), 1.0, 2.0, 0.5, 1.5, 1.0)],
    )
    out = run(write_csv(csv_rows(2)), symbol="ETH")
    demo_coin.refresh_from_db()
    assert (demo_coin.is_demo, demo_coin.name) == (False, "Ethereum")
    assert [r[0] for r in stored("ETH")] == [T0, T0 + dt.timedelta(hours=1)]
    assert "was a demo coin" in out


def test_the_coins_version_changes_in_the_imports_transaction(write_csv):
    coin = Cryptocurrency.objects.create(symbol="BTC", name="Bitcoin")
    old = coin.prices_version
    with pytest.raises(RuntimeError), transaction.atomic():
        run(write_csv(csv_rows(2, hours=4)), symbol="BTC", interval="4h")
        assert Cryptocurrency.objects.get(id=coin.id).prices_version != old  # with the bars it wrote
        raise RuntimeError("the import's transaction rolls back")
    assert Cryptocurrency.objects.get(id=coin.id).prices_version == old  # ... and goes with them
    run(write_csv(csv_rows(2, hours=4)), symbol="BTC", interval="4h")
    new = Cryptocurrency.objects.get(id=coin.id).prices_version
    assert new != old
    run(write_csv(csv_rows(2, hours=4)), symbol="BTC", interval="4h")  # the same bars: nothing written
    assert Cryptocurrency.objects.get(id=coin.id).prices_version == new


def test_after_an_import_the_cached_series_shows_the_new_bars(write_csv, django_capture_on_commit_callbacks):
    cache.clear()
    with django_capture_on_commit_callbacks(execute=True):
        run(write_csv(csv_rows(3), name="a.csv"), symbol="BTC")
    coin = Cryptocurrency.objects.get(symbol="BTC")
    assert prices_get(crypto_id=coin.id, interval="1h").close.tolist() == [100.0, 101.0, 102.0]  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        run(write_csv(csv_rows(1, start=T0 + dt.timedelta(hours=2), close=700), name="b.csv"), symbol="BTC")
    assert prices_get(crypto_id=coin.id, interval="1h").close.tolist() == [100.0, 101.0, 700.0]
    cache.clear()


def test_bulk_upsert_refuses_an_unknown_interval(coin):
    with pytest.raises(ValueError, match="unknown interval"):
        services.prices_bulk_upsert(crypto_id=coin.id, interval="2h", bars=[services.PriceBar(T0, 1, 2, 0.5, 1.5, 1)])


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_files_without_a_single_good_bar_are_refused_and_create_no_coin(write_csv, skip_invalid):
    with pytest.raises(CommandError, match="no valid bars"):
        run(write_csv(["2024-01-01,x,2,0.5,1.5,1"] if skip_invalid else []), symbol="BTC", skip_invalid=skip_invalid)
    assert not Cryptocurrency.objects.exists()


def test_replacing_a_demo_coin_gives_its_series_a_new_version(write_csv):
    demo_coin = Cryptocurrency.objects.create(symbol="ETH", name="Ethereum (demo)", is_demo=True)
    for interval in ("1h", "1d"):
        services.prices_bulk_upsert(
            crypto_id=demo_coin.id, interval=interval, bars=[services.PriceBar(T0, 1.0, 2.0, 0.5, 1.5, 1.0)]
        )
    old = Cryptocurrency.objects.get(id=demo_coin.id).prices_version
    run(write_csv(csv_rows(2, hours=4)), symbol="ETH", interval="4h")
    assert Cryptocurrency.objects.get(id=demo_coin.id).prices_version != old
    assert list(Price.objects.filter(crypto=demo_coin).values_list("interval_type", flat=True).distinct()) == ["4h"]
