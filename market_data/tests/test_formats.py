"""Every file format from real files (freqtrade's test candles in ../shared/data) and files converted from them.

No database: formats.py reads files into checked frames.
"""

import gzip
import hashlib
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from market_data import formats
from market_data.parsing import PriceFileError

DATA = settings.BASE_DIR.parent / "shared" / "data"


def feather(name: str) -> pd.DataFrame:
    return pd.read_feather(DATA / name)


def expected_frame(table: pd.DataFrame) -> pd.DataFrame:
    """A freqtrade table as the frame the readers give: int64 ns times, then the five float columns."""
    times = table["date"].astype("datetime64[ns, UTC]").array.asi8
    return pd.DataFrame({"time": times, **{c: table[c].to_numpy(np.float64) for c in formats.FRAME_COLUMNS[1:]}})


def binance_csv(table: pd.DataFrame, *, unit: str) -> str:
    """Binance kline lines (no header, 12 columns) from a freqtrade table; open time in ms or us."""
    ms = table["date"].astype("datetime64[ms, UTC]").array.asi8
    factor = 1000 if unit == "us" else 1
    lines = []
    for t, o, h, lo, c, v in zip(
        ms, *(table[k].tolist() for k in ("open", "high", "low", "close", "volume")), strict=True
    ):
        close_time = (t + 299_999) * factor
        lines.append(f"{t * factor},{o!r},{h!r},{lo!r},{c!r},{v!r},{close_time},{v * c!r},42,{v / 2!r},{v * c / 2!r},0")
    return "\n".join(lines) + "\n"


def read_one(path, **kwargs) -> formats.FileBars:
    (part,) = formats.read_price_file(path, **kwargs)
    return part


def test_a_freqtrade_feather_file_reads_every_bar_and_its_name_says_pair_and_interval():
    part = read_one(DATA / "ADA_BTC-5m.feather")
    assert (part.format, part.pair, part.interval, part.errors) == ("feather", "ADA/BTC", "5m", [])
    pd.testing.assert_frame_equal(part.frame, expected_frame(feather("ADA_BTC-5m.feather")))


def test_a_freqtrade_futures_file_name_gives_the_pair_without_the_settle_currency():
    part = read_one(DATA / "XRP_USDT_USDT-1h-futures.feather")
    assert (part.pair, part.interval, len(part.frame)) == ("XRP/USDT", "1h", 100)


def test_freqtrade_json_and_its_gzip_give_the_rows_of_the_file():
    rows = np.array(json.loads((DATA / "UNITTEST_BTC-1m.json").read_text()), dtype=np.float64)
    part = read_one(DATA / "UNITTEST_BTC-1m.json")
    assert (part.format, part.pair, part.interval) == ("freqtrade-json", "UNITTEST/BTC", "1m")
    assert part.frame["time"].tolist() == (rows[:, 0].astype(np.int64) * 1_000_000).tolist()
    np.testing.assert_array_equal(part.frame[["open", "high", "low", "close", "volume"]].to_numpy(), rows[:, 1:])
    gz = read_one(DATA / "UNITTEST_BTC-8m.json.gz")
    assert gz.interval == "8m"  # what the name says; the importer checks it against the spacing
    pd.testing.assert_frame_equal(gz.frame, part.frame)


def test_a_parquet_file_converted_from_feather_reads_the_same_bars(tmp_path):
    table = feather("UNITTEST_BTC-30m.feather")
    table.to_parquet(tmp_path / "UNITTEST_BTC-30m.parquet")
    part = read_one(tmp_path / "UNITTEST_BTC-30m.parquet")
    assert part.format == "parquet"
    pd.testing.assert_frame_equal(part.frame, expected_frame(table))


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_binance_klines_in_milliseconds_or_microseconds_read_the_same_bars(tmp_path, unit):
    table = feather("ETH_BTC-5m.feather")
    path = tmp_path / "ETHBTC-5m-2018-01.csv"
    path.write_text(binance_csv(table, unit=unit))
    part = read_one(path)
    assert (part.format, part.pair, part.interval, part.errors) == ("binance", "ETHBTC", "5m", [])
    pd.testing.assert_frame_equal(part.frame, expected_frame(table))


def zipped(tmp_path, text: str, name: str = "ETHBTC-5m-2018-01"):
    path = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.csv", text)
    return path


def test_a_binance_zip_is_read_directly_and_its_checksum_verified(tmp_path):
    table = feather("ETH_BTC-5m.feather")
    path = zipped(tmp_path, binance_csv(table, unit="ms"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / f"{path.name}.CHECKSUM").write_text(f"{digest}  {path.name}\n")
    part = read_one(path)
    assert (part.format, part.pair, part.interval) == ("binance", "ETHBTC", "5m")
    pd.testing.assert_frame_equal(part.frame, expected_frame(table))


def test_a_zip_whose_checksum_does_not_match_is_refused(tmp_path):
    path = zipped(tmp_path, binance_csv(feather("ETH_BTC-5m.feather").head(10), unit="ms"))
    (tmp_path / f"{path.name}.CHECKSUM").write_text(f"{'0' * 64}  {path.name}\n")
    with pytest.raises(PriceFileError, match="checksum mismatch.*says sha256 0{64}, the file's is [0-9a-f]{64}"):
        formats.read_price_file(path)


@pytest.mark.parametrize("unit", ["s", "ms"])
def test_a_cryptodatadownload_file_newest_first_reads_every_bar(tmp_path, unit):
    table = feather("UNITTEST_BTC-30m.feather")
    seconds = table["date"].astype("datetime64[s, UTC]").array.asi8
    lines = ["https://www.CryptoDataDownload.com", "Unix,Date,Symbol,Open,High,Low,Close,Volume UNITTEST,Volume BTC"]
    for k in reversed(range(len(table))):  # newest first
        row = {c: float(table[c].iloc[k]) for c in ("open", "high", "low", "close", "volume")}
        unix = seconds[k] * (1000 if unit == "ms" else 1)
        when = table["date"].iloc[k].strftime("%Y-%m-%d %H:%M:%S")
        prices = ",".join(repr(row[c]) for c in ("open", "high", "low", "close", "volume"))
        lines.append(f"{unix},{when},UNITTEST/BTC,{prices},1")
    path = tmp_path / "Bitstamp_UNITTESTBTC_30m.csv"
    path.write_text("\n".join(lines) + "\n")
    part = read_one(path)
    assert (part.format, part.pair, part.errors) == ("cdd", "UNITTEST/BTC", [])
    got = part.frame.sort_values("time").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected_frame(table))


def test_a_bad_binance_row_is_reported_with_its_line_number(tmp_path):
    text = binance_csv(feather("ETH_BTC-5m.feather").head(5), unit="ms").splitlines()
    cells = text[2].split(",")
    cells[4] = "oops"  # the close
    text[2] = ",".join(cells)
    path = tmp_path / "ETHBTC-5m-2018-01.csv"
    path.write_text("\n".join(text) + "\n")
    part = read_one(path)
    assert len(part.frame) == 4
    assert [str(e) for e in part.errors] == ["line 3: unparsable close 'oops'"]


def test_a_headerless_csv_says_it_found_no_header_and_which_formats_it_tried(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("1704067200,1,2,0.5\n1704070800,1,2,0.5\n")
    with pytest.raises(PriceFileError) as refused:
        formats.read_price_file(path)
    text = str(refused.value)
    assert "no header found" in text
    assert "generic CSV" in text and "Binance klines" in text and "CryptoDataDownload" in text


def test_a_binary_file_says_it_is_not_text_and_names_the_binary_formats(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(PriceFileError) as refused:
        formats.read_price_file(path)
    assert "not a text file" in str(refused.value)
    assert "zip" in str(refused.value) and "feather" in str(refused.value) and "parquet" in str(refused.value)


def test_the_format_can_be_named(tmp_path):
    path = tmp_path / "klines.txt"
    path.write_text(binance_csv(feather("ETH_BTC-5m.feather").head(3), unit="ms"))
    assert read_one(path, fmt="binance").format == "binance"
    with pytest.raises(PriceFileError, match="no time column"):
        formats.read_price_file(path, fmt="csv")


def test_gzip_of_a_csv_is_read(tmp_path):
    path = tmp_path / "ETHBTC-5m-2018-01.csv.gz"
    path.write_bytes(gzip.compress(binance_csv(feather("ETH_BTC-5m.feather").head(3), unit="ms").encode()))
    assert len(read_one(path).frame) == 3


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("BTCUSDT-1h-2024-01.zip", ("BTCUSDT", "1h")),
        ("BTCUSDT-1m-2025-03-14.csv", ("BTCUSDT", "1m")),
        ("BTC_USDT-1h.json", ("BTC/USDT", "1h")),
        ("ETH_BTC-5m.feather", ("ETH/BTC", "5m")),
        ("XRP_USDT_USDT-1h-futures.feather", ("XRP/USDT", "1h")),
        ("UNITTEST_BTC-8m.json.gz", ("UNITTEST/BTC", "8m")),
        ("Binance_BTCUSDT_1h.csv", ("BTCUSDT", "1h")),
        ("Bitstamp_ETHUSD_d.csv", ("ETHUSD", "1d")),
        ("prices.csv", (None, None)),
    ],
)
def test_file_names_say_pair_and_interval(filename, expected):
    assert formats.name_parts(filename) == expected


@pytest.mark.parametrize(
    ("pair", "quote", "symbol"),
    [
        ("ETH/BTC", None, "ETH-BTC"),
        ("ETH/BTC", "BTC", "ETH"),
        ("ETH/BTC", "USDT", "ETH-BTC"),  # quoted in something else: a different series
        ("ETHBTC", "BTC", "ETH"),
        ("ETHBTC", "USDT", "ETHBTC"),
        ("BTCUSDT", None, "BTCUSDT"),
        ("btc/usdt", "usdt", "BTC"),
        ("XRP/USDT:USDT", "USDT", "XRP"),
        ("BTC", "USDT", "BTC"),
    ],
)
def test_pair_names_to_coin_symbols(pair, quote, symbol):
    assert formats.symbol_from_pair(pair, quote=quote) == symbol


def test_the_spacing_is_the_most_common_step_so_gaps_do_not_change_it():
    hour = 3_600_000_000_000
    times = np.array([0, 1, 2, 5, 6, 30, 31]) * hour
    assert formats.spacing_seconds(times) == 3600
    assert formats.spacing_seconds(times[:1]) is None
