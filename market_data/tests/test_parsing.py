"""The CSV parser on its own: time columns, time formats, column order, every kind of bad row. No database."""

import datetime as dt

import pytest

from market_data.parsing import PriceFileError, parse_price_csv, parse_time

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def parse(text: str):
    return parse_price_csv(text.strip().splitlines())


@pytest.mark.parametrize("header", ["datetime", "Date", "TIMESTAMP", "time", "Open_Time", " datetime "])
def test_time_column_is_found_by_its_name_in_any_case(header):
    parsed = parse(f"{header},open,high,low,close,volume\n2024-01-01T00:00:00Z,1,2,0.5,1.5,10")
    assert parsed.errors == []
    assert parsed.bars[0].datetime == T0


def test_unnamed_first_column_is_the_time_as_pandas_writes_its_index():
    parsed = parse(",open,high,low,close,volume\n2024-01-01 00:00:00,1,2,0.5,1.5,10")
    assert parsed.bars[0].datetime == T0


def test_named_time_column_wins_over_an_unnamed_index_column():
    parsed = parse(",timestamp,open,high,low,close\n0,1704067200,1,2,0.5,1.5\n1,1704070800,1,2,0.5,1.5")
    assert [b.datetime for b in parsed.bars] == [T0, T0 + dt.timedelta(hours=1)]


def test_open_time_is_preferred_to_close_time_and_time():
    parsed = parse("close_time,open_time,open,high,low,close\n1704070799999,1704067200000,1,2,0.5,1.5")
    assert parsed.bars[0].datetime == T0


@pytest.mark.parametrize(
    "raw",
    [
        "2024-01-01T00:00:00Z",
        "2024-01-01 00:00:00",
        "2024-01-01T01:00:00+01:00",
        "2024-01-01",
        "1704067200",
        "1704067200000",
        "1704067200.0",
        " 2024-01-01T00:00:00+00:00 ",
    ],
)
def test_times_in_iso_8601_or_epoch_seconds_or_milliseconds_are_utc(raw):
    assert parse_time(raw) == T0


def test_price_columns_in_any_case_and_order_and_extra_columns_ignored():
    parsed = parse("Volume,CLOSE,Low,note,High,open,Date\n10,1.5,0.5,x,2,1,2024-01-01")
    bar = parsed.bars[0]
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (1.0, 2.0, 0.5, 1.5, 10.0)


def test_volume_column_is_optional():
    parsed = parse("date,open,high,low,close\n2024-01-01,1,2,0.5,1.5")
    assert parsed.bars[0].volume is None


def test_a_byte_order_mark_before_the_header_is_ignored(tmp_path):
    from market_data.parsing import parse_price_file

    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffdatetime,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n".encode())
    assert len(parse_price_file(path).bars) == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("yesterday,1,2,0.5,1.5,10", "unparsable time"),
        ("2024-01-01,abc,2,0.5,1.5,10", "unparsable open"),
        ("2024-01-01,nan,2,0.5,1.5,10", "unparsable open"),
        ("2024-01-01,1,2,0.5,,10", "missing close"),
        ("2024-01-01,1,2,0.5,1.5", "missing value"),
        (",1,2,0.5,1.5,10", "missing time"),
        ("2024-01-01,0,2,0.5,1.5,10", "non-positive price"),
        ("2024-01-01,1,2,-0.5,1.5,10", "non-positive price"),
        ("2024-01-01,1,1.2,0.5,1.5,10", "high 1.2 below open/close"),
        ("2024-01-01,1,2,1.1,1.5,10", "low 1.1 above open/close"),
        ("2024-01-01,1,2,0.5,1.5,-3", "negative volume"),
        ("2024-01-01,1,2e12,0.5,1.5,10", "out of range"),
        ("99999999999999999999,1,2,0.5,1.5,10", "out of range"),
    ],
)
def test_each_kind_of_bad_row_is_reported_with_its_line_number(row, message):
    parsed = parse(f"datetime,open,high,low,close,volume\n2023-12-31,1,2,0.5,1.5,10\n{row}\n2024-01-02,1,2,0.5,1.5,10")
    assert len(parsed.bars) == 2
    assert len(parsed.errors) == 1
    assert parsed.errors[0].line == 3
    assert message in parsed.errors[0].message


def test_a_repeated_timestamp_is_a_bad_row_naming_the_first_line():
    parsed = parse(
        "datetime,open,high,low,close\n2024-01-01T00:00:00Z,1,2,0.5,1.5\n2024-01-01T01:00:00Z,1,2,0.5,1.5\n"
        "1704067200,1,2,0.5,1.5"
    )
    assert len(parsed.bars) == 2
    assert [(e.line, "duplicate timestamp" in e.message, "first on line 2" in e.message) for e in parsed.errors] == [
        (4, True, True)
    ]


def test_blank_lines_are_skipped_and_line_numbers_stay_physical():
    parsed = parse("datetime,open,high,low,close\n\n2024-01-01,1,2,0.5,1.5\n\n2024-01-02,x,2,0.5,1.5")
    assert len(parsed.bars) == 1
    assert parsed.errors[0].line == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("when,open,high,low,close\n2024-01-01,1,2,0.5,1.5", "no time column"),
        ("datetime,open,high,close\n2024-01-01,1,2,1.5", "missing column(s): low"),
    ],
)
def test_a_file_without_usable_header_is_refused_whole(text, message):
    with pytest.raises(PriceFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_price_csv(text.splitlines())
