"""The data-quality report: pure on a real series with gaps cut out, then through the API."""

import numpy as np
import pandas as pd
import pytest
from django.core.cache import cache

from market_data import services
from market_data.quality import quality_report

from .test_formats import DATA, expected_frame


def report_of(frame: pd.DataFrame, **options):
    return quality_report(
        frame["time"].to_numpy(), frame["close"].to_numpy(), frame["volume"].to_numpy(), interval="5m", **options
    )


def iso(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def test_gaps_cut_out_of_a_real_series_are_found_where_they_were_cut():
    frame = expected_frame(pd.read_feather(DATA / "ETH_BTC-5m.feather"))  # 5,760 bars without a gap
    assert report_of(frame)["gaps"] == []
    cuts = [(100, 103), (2000, 2001), (4000, 4144)]  # 3 bars, 1 bar, half a day
    keep = np.ones(len(frame), dtype=bool)
    for lo, hi in cuts:
        keep[lo:hi] = False
    report = report_of(frame[keep])
    times = frame["time"].to_numpy()
    assert report["gaps"] == [
        {"after": iso(times[lo - 1]), "before": iso(times[hi]), "missing": hi - lo} for lo, hi in cuts
    ]
    assert report["missing_bars"] == 3 + 1 + 144
    assert report["bars"] == len(frame) - 148
    assert (report["first"], report["last"]) == ("2018-01-10T04:55:00Z", "2018-01-30T04:50:00Z")


def test_the_real_gaps_of_ada_btc_are_reported():
    frame = expected_frame(pd.read_feather(DATA / "ADA_BTC-5m.feather"))  # 5 gaps, the longest 2 h 50 min
    report = report_of(frame)
    assert len(report["gaps"]) == 5
    assert max(g["missing"] for g in report["gaps"]) == 2 * 12 + 10 - 1  # 2 h 50 min apart: 33 bars between
    assert report["bars"] + report["missing_bars"] == 5760


def test_zero_volume_flat_runs_and_jumps():
    frame = expected_frame(pd.read_feather(DATA / "ETH_BTC-5m.feather")).head(100).copy()
    frame.loc[10:21, "close"] = 0.1  # 12 equal closes: a flat run
    frame.loc[50, "close"] = frame.loc[49, "close"] * 1.5  # +50 %, then back
    frame.loc[[5, 6], "volume"] = 0.0
    report = report_of(frame)
    times = frame["time"].to_numpy()
    assert report["zero_volume_bars"] == 2
    assert report["flat_runs"] == [{"start": iso(times[10]), "end": iso(times[21]), "bars": 12}]
    jumps = [(j["at"], round(j["change"], 4)) for j in report["jumps"]]
    assert (iso(times[50]), 0.5) in jumps
    assert (iso(times[51]), round(frame.loc[51, "close"] / frame.loc[50, "close"] - 1, 4)) in jumps
    assert report_of(frame, flat_run_bars=13)["flat_runs"] == []


def test_an_empty_series_reports_no_bars():
    report = quality_report(np.empty(0, np.int64), np.empty(0), np.empty(0), interval="1h")
    assert (report["first"], report["bars"], report["gaps"], report["missing_bars"]) == (None, 0, [], 0)


@pytest.fixture
def ada(db, django_capture_on_commit_callbacks):
    cache.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.prices_import_files(paths=[DATA / "ADA_BTC-5m.feather"], quote="BTC")
    yield
    cache.clear()


def test_the_quality_api_answers_the_report(client, ada):
    body = client.get("/api/cryptocurrencies/ada/quality/?interval=5m").json()
    assert list(body) == [
        "symbol",
        "interval",
        "first",
        "last",
        "bars",
        "missing_bars",
        "gaps",
        "zero_volume_bars",
        "flat_runs",
        "jumps",
    ]
    assert (body["symbol"], body["interval"], body["bars"], len(body["gaps"])) == ("ADA", "5m", 5720, 5)
    assert set(body["gaps"][0]) == {"after", "before", "missing"}


def test_the_quality_api_reports_a_window_and_derived_intervals(client, ada):
    window = client.get("/api/cryptocurrencies/ADA/quality/?interval=5m&start=2018-01-20&end=2018-01-20").json()
    assert window["first"] == "2018-01-20T00:00:00Z" and window["last"] == "2018-01-20T23:55:00Z"
    hourly = client.get("/api/cryptocurrencies/ADA/quality/?interval=1h").json()
    assert hourly["bars"] > 0 and hourly["interval"] == "1h"


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/api/cryptocurrencies/ADA/quality/?interval=2h", 400, "interval"),
        ("/api/cryptocurrencies/ADA/quality/?interval=1h&flat_run_bars=1", 400, "flat_run_bars"),
        ("/api/cryptocurrencies/ADA/quality/?interval=1h&jump_threshold=x", 400, "jump_threshold"),
        ("/api/cryptocurrencies/NOPE/quality/?interval=1h", 404, None),
    ],
)
def test_the_quality_api_refuses_bad_parameters_and_unknown_coins(client, ada, url, status, field):
    response = client.get(url)
    assert response.status_code == status
    if field:
        assert field in response.json()
