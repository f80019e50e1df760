"""import_prices on real and converted files: formats recognised, coins from file names, folders, globs, zips,
the spacing checked against the interval, re-imports that change nothing."""

import shutil
from io import StringIO

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from market_data.models import Cryptocurrency, Price

from .test_formats import DATA, binance_csv, expected_frame, feather, zipped

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    out = StringIO()
    call_command("import_prices", *map(str, args), stdout=out, stderr=out, **options)
    return out.getvalue()


def stored_frame(symbol: str, interval: str) -> pd.DataFrame:
    rows = list(
        Price.objects.filter(crypto__symbol=symbol, interval_type=interval)
        .order_by("datetime")
        .values_list("datetime", "open", "high", "low", "close", "volume")
    )
    frame = pd.DataFrame(rows, columns=["time", "open", "high", "low", "close", "volume"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[ns, UTC]").array.asi8
    for column in ("open", "high", "low", "close", "volume"):
        frame[column] = frame[column].astype(float)
    return frame


def assert_same_bars(got: pd.DataFrame, table: pd.DataFrame) -> None:
    want = expected_frame(table)
    assert got["time"].tolist() == want["time"].tolist()
    for column in ("open", "high", "low", "close", "volume"):  # stored with 8 decimals
        assert (got[column] - want[column]).abs().max() <= 5e-9, column


def test_a_folder_of_freqtrade_files_imports_each_coin_from_its_file_name(tmp_path):
    for name in ("ADA_BTC-5m.feather", "ETH_BTC-5m.feather", "UNITTEST_BTC-1m.json"):
        shutil.copy(DATA / name, tmp_path / name)
    out = run(tmp_path, quote="BTC")
    assert sorted(Cryptocurrency.objects.values_list("symbol", flat=True)) == ["ADA", "ETH", "UNITTEST"]
    assert_same_bars(stored_frame("ADA", "5m"), feather("ADA_BTC-5m.feather"))
    assert Price.objects.filter(crypto__symbol="UNITTEST", interval_type="1m").count() == 13_681
    assert "ADA 5m (feather, 1 file(s)): 5,720 rows read, 5,720 inserted or changed" in out
    assert "UNITTEST 1m (freqtrade-json" in out


def test_a_glob_and_a_pair_without_quote_keep_the_quote_in_the_symbol(tmp_path):
    shutil.copy(DATA / "XRP_ETH-5m.feather", tmp_path / "XRP_ETH-5m.feather")
    shutil.copy(DATA / "XRP_ETH-1m.feather", tmp_path / "XRP_ETH-1m.feather")
    run(tmp_path / "XRP_ETH-*.feather")
    assert list(Cryptocurrency.objects.values_list("symbol", flat=True)) == ["XRP-ETH"]
    counts = dict(Price.objects.order_by().values_list("interval_type").annotate(n=Count("id")))
    assert counts == {"1m": 2469, "5m": 706}


def test_a_binance_zip_by_its_name_with_quote_stripped(tmp_path):
    table = feather("ETH_BTC-5m.feather")
    path = zipped(tmp_path, binance_csv(table, unit="us"))
    run(path, quote="BTC")
    assert_same_bars(stored_frame("ETH", "5m"), table)
    run(path)  # without --quote the concatenated pair is the symbol
    assert Cryptocurrency.objects.filter(symbol="ETHBTC").exists()


def test_bars_of_another_spacing_than_the_interval_are_refused_naming_both(tmp_path):
    with pytest.raises(CommandError, match="the bars are 5m apart but --interval says 1h"):
        run(DATA / "ETH_BTC-5m.feather", symbol="ETH", interval="1h")
    shutil.copy(DATA / "ETH_BTC-5m.feather", tmp_path / "ETH_BTC-1h.feather")
    with pytest.raises(CommandError, match="the bars are 5m apart but the file name says 1h"):
        run(tmp_path / "ETH_BTC-1h.feather")
    assert not Price.objects.exists()


def test_the_interval_is_inferred_from_the_spacing_when_the_name_says_none_we_store(tmp_path):
    run(DATA / "UNITTEST_BTC-8m.json.gz", quote="BTC")  # freqtrade's test file: 1m bars named 8m
    assert list(Price.objects.values_list("interval_type", flat=True).distinct()) == ["1m"]


def test_a_file_that_does_not_name_its_coin_needs_symbol(tmp_path):
    shutil.copy(DATA / "ETH_BTC-5m.feather", tmp_path / "prices.feather")
    with pytest.raises(CommandError, match="give --symbol"):
        run(tmp_path / "prices.feather")
    run(tmp_path / "prices.feather", symbol="ETH/BTC", quote="BTC")
    assert Price.objects.filter(crypto__symbol="ETH", interval_type="5m").count() == 5760


def test_reimporting_real_files_changes_nothing(tmp_path):
    run(DATA / "ADA_BTC-5m.feather", quote="BTC")
    before = list(Price.objects.order_by("datetime").values_list("id", "created_at", "close"))
    out = run(DATA / "ADA_BTC-5m.feather", quote="BTC")
    assert "5,720 rows read, 0 inserted or changed" in out
    assert list(Price.objects.order_by("datetime").values_list("id", "created_at", "close")) == before


def test_a_bad_row_in_a_zip_refuses_the_import_naming_member_and_line(tmp_path):
    lines = binance_csv(feather("ETH_BTC-5m.feather").head(6), unit="ms").splitlines()
    cells = lines[3].split(",")
    cells[2] = str(float(cells[4]) / 2)  # high below the close
    lines[3] = ",".join(cells)
    path = zipped(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(CommandError, match=r"ETHBTC-5m-2018-01.zip:ETHBTC-5m-2018-01.csv line 4: high .* below"):
        run(path, quote="BTC")
    assert not Cryptocurrency.objects.exists()
    run(path, quote="BTC", skip_invalid=True)
    assert Price.objects.count() == 5
