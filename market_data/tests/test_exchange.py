"""fetch_prices against a local server that answers as Binance does: no test reaches the internet.

The server answers exchangeInfo and ticker/24hr from recorded responses (exchange_data/), and klines
from freqtrade's real 5m candles of ETH/BTC and ADA/BTC (../shared/data), with Binance's own limit of
1,000 candles per request. It can drop a connection or answer 429 on a chosen request.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from market_data import exchange as exchange_module
from market_data import services
from market_data.exchange import ExchangeFetchError, fetch_plan
from market_data.models import Cryptocurrency, Price

from .test_formats import DATA

RECORDED = Path(__file__).parent / "exchange_data"
KLINE_LIMIT = 1000
STEP = 300_000  # 5m in ms


def klines_of(name: str) -> np.ndarray:
    table = pd.read_feather(DATA / name)
    ms = table["date"].astype("datetime64[ms, UTC]").array.asi8
    return np.column_stack([ms, *(table[c].to_numpy() for c in ("open", "high", "low", "close", "volume"))])


class FakeBinance(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.faults: dict[int, str] = {}  # kline request number (from 1) -> "drop" or "429"
        self.klines = {"ETHBTC": klines_of("ETH_BTC-5m.feather"), "ADABTC": klines_of("ADA_BTC-5m.feather")}
        self.kline_requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def kline_starts(self) -> list[int]:
        return [int(q["startTime"]) for path, q in self.requests if path.endswith("/klines")]


class Handler(BaseHTTPRequestHandler):
    server: FakeBinance

    def log_message(self, *args):  # quiet
        pass

    def send_json(self, body, status=200, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.server.requests.append((parts.path, query))
        if parts.path == "/api/v3/exchangeInfo":
            return self.send_json(json.loads((RECORDED / "binance_exchangeInfo.json").read_text()))
        if parts.path == "/api/v3/ticker/24hr":
            return self.send_json(json.loads((RECORDED / "binance_ticker_24hr.json").read_text()))
        if parts.path == "/api/v3/klines":
            self.server.kline_requests += 1
            fault = self.server.faults.pop(self.server.kline_requests, None)
            if fault == "drop":
                self.connection.shutdown(2)  # no answer at all: ccxt sees a network error
                return None
            if fault == "429":
                return self.send_json({"code": -1003, "msg": "Too many requests."}, 429, {"Retry-After": "3"})
            return self.klines(query)
        return self.send_json({"code": -1, "msg": f"unknown path {parts.path}"}, 404)

    def klines(self, query):
        rows = self.server.klines.get(query["symbol"])
        if rows is None:
            return self.send_json({"code": -1121, "msg": "Invalid symbol."}, 400)
        start = int(query.get("startTime", 0))
        end = int(query.get("endTime", 2**62))
        limit = min(int(query.get("limit", 500)), KLINE_LIMIT)
        chosen = rows[(rows[:, 0] >= start) & (rows[:, 0] <= end)][:limit]
        body = [
            [
                int(r[0]),
                repr(r[1]),
                repr(r[2]),
                repr(r[3]),
                repr(r[4]),
                repr(r[5]),
                int(r[0]) + STEP - 1,
                "0",
                1,
                "0",
                "0",
                "0",
            ]
            for r in chosen.tolist()
        ]
        return self.send_json(body)


@pytest.fixture
def fake_binance():
    server = FakeBinance()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# The exchange's clock: two minutes into the candle after the last one served (2018-01-30 04:50 is the last).
AFTER_LAST = 1517287800000 + STEP + 120_000


def fetch(server, *, sleeps=None, now=AFTER_LAST, **options):
    options.setdefault("exchange_name", "binance")
    options.setdefault("interval", "5m")
    options.setdefault("since", "2018-01-10")
    return services.prices_fetch_exchange(
        api_base=server.url,
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
        now_ms=lambda: now,
        **options,
    )


def stored(symbol: str) -> pd.DataFrame:
    rows = Price.objects.filter(crypto__symbol=symbol).order_by("datetime").values_list("datetime", "close")
    return pd.DataFrame(list(rows), columns=["datetime", "close"])


pytestmark = pytest.mark.django_db


def test_pages_through_every_candle_with_the_exchange_limit(fake_binance):
    (report,) = fetch(fake_binance, pairs=["ETH/BTC"], quote="BTC")
    assert (report.symbol, report.bars, report.written) == ("ETH", 5760, 5760)
    starts = fake_binance.kline_starts()
    first = 1515560100000  # 2018-01-10 04:55, the first candle
    assert starts[0] == 1515542400000  # --since 2018-01-10 00:00
    assert starts[1:] == [first + k * KLINE_LIMIT * STEP for k in range(1, 6)]  # last candle + 5m each time
    assert all(q["limit"] == str(KLINE_LIMIT) for p, q in fake_binance.requests if p.endswith("/klines"))
    closes = stored("ETH")["close"].astype(float).to_numpy()
    np.testing.assert_allclose(closes, fake_binance.klines["ETHBTC"][:, 4], rtol=1e-8)
    assert (report.gaps, report.missing_bars) == (0, 0)


def test_the_open_candle_is_never_stored(fake_binance):
    # The exchange's clock is inside the last served candle's interval: that candle is still open.
    (report,) = fetch(fake_binance, pairs=["ETH/BTC"], quote="BTC", now=AFTER_LAST - STEP)
    assert report.bars == 5759
    assert stored("ETH")["datetime"].iloc[-1] == pd.Timestamp("2018-01-30 04:45", tz="UTC")


def test_a_second_run_fetches_only_after_the_last_stored_bar(fake_binance):
    fetch(fake_binance, pairs=["ADA/BTC"], quote="BTC", until="2018-01-20")
    last = Price.objects.filter(crypto__symbol="ADA").latest("datetime").datetime
    fake_binance.requests.clear()
    (report,) = fetch(fake_binance, pairs=["ADA/BTC"], quote="BTC")
    assert fake_binance.kline_starts()[0] == int(last.timestamp() * 1000) + STEP
    assert Price.objects.filter(crypto__symbol="ADA").count() == 5720  # every real candle, once
    assert report.gaps == 5  # ADA/BTC's real gaps, found in the summary
    fake_binance.requests.clear()
    (again,) = fetch(fake_binance, pairs=["ADA/BTC"], quote="BTC")
    assert (again.skipped, again.bars, fake_binance.kline_starts()) == ("up to date", 0, [])


def test_prepend_fetches_what_is_missing_before_the_first_bar(fake_binance):
    fetch(fake_binance, pairs=["ETH/BTC"], since="2018-01-20", quote="BTC")
    fake_binance.requests.clear()
    (report,) = fetch(fake_binance, pairs=["ETH/BTC"], since="2018-01-10", quote="BTC", prepend=True)
    assert Price.objects.filter(crypto__symbol="ETH").count() == 5760
    assert all(start < 1516406400000 for start in fake_binance.kline_starts())  # all before 2018-01-20
    later = Price.objects.filter(crypto__symbol="ETH", datetime__gte=pd.Timestamp("2018-01-20", tz="UTC")).count()
    assert report.written == 5760 - later


def test_a_dropped_connection_is_retried_with_backoff(fake_binance):
    fake_binance.faults = {2: "drop", 3: "drop"}
    sleeps = []
    (report,) = fetch(fake_binance, pairs=["ETH/BTC"], quote="BTC", sleeps=sleeps)
    assert report.bars == 5760 and report.retries == 2
    assert sleeps == [exchange_module.BACKOFF_SECONDS, 2 * exchange_module.BACKOFF_SECONDS]


def test_a_rate_limit_answer_waits_and_retries(fake_binance):
    fake_binance.faults = {1: "429"}
    sleeps = []
    (report,) = fetch(fake_binance, pairs=["ETH/BTC"], quote="BTC", sleeps=sleeps)
    assert report.bars == 5760 and report.retries == 1
    assert len(sleeps) == 1 and sleeps[0] >= exchange_module.BACKOFF_SECONDS


def test_requests_are_rate_limited_by_ccxt(fake_binance):
    exchange = exchange_module.exchange_open("binance", api_base=fake_binance.url)
    assert exchange.enableRateLimit is True and exchange.rateLimit > 0
    assert exchange_module.page_limit(exchange) == KLINE_LIMIT


def test_a_failure_that_does_not_stop_is_refused_after_the_retries(fake_binance):
    fake_binance.faults = {k: "drop" for k in range(1, 10)}
    with pytest.raises(ExchangeFetchError, match="still failing after 5 retries"):
        fetch(fake_binance, pairs=["ETH/BTC"], quote="BTC")


def test_an_unknown_pair_is_refused_before_any_candle_is_fetched(fake_binance):
    with pytest.raises(ExchangeFetchError, match="binance has no market 'NOPE/BTC'"):
        fetch(fake_binance, pairs=["ETH/BTC", "NOPE/BTC"])
    assert fake_binance.kline_starts() == []
    assert not Price.objects.exists()


def test_an_interval_the_exchange_does_not_offer_is_refused(fake_binance):
    exchange = exchange_module.exchange_open("binance", api_base=fake_binance.url)
    exchange_module.markets_load(exchange, sleep=lambda s: None)
    del exchange.timeframes["5m"]
    with pytest.raises(ExchangeFetchError, match="binance does not offer 5m candles"):
        exchange_module.pair_check(exchange, pair="ETH/BTC", interval="5m")


def test_an_exchange_error_is_refused_with_its_message(fake_binance):
    exchange = exchange_module.exchange_open("binance", api_base=fake_binance.url)
    exchange_module.markets_load(exchange, sleep=lambda s: None)
    report = exchange_module.PairReport("XRP/BTC", "XRP", "XRP")  # listed, but the server has no klines for it
    with pytest.raises(ExchangeFetchError, match="the exchange refused.*Invalid symbol"):
        exchange_module.candles_fetch(
            exchange,
            pair="XRP/BTC",
            interval="5m",
            plan=exchange_module.FetchPlan(1515542400000, AFTER_LAST),
            report=report,
            sleep=lambda s: None,
        )


def test_top_takes_the_pairs_with_the_largest_quote_volume(fake_binance):
    reports = fetch(fake_binance, top=2, quote="BTC", until="2018-01-11")
    assert [(r.pair, r.symbol) for r in reports] == [("ADA/BTC", "ADA"), ("ETH/BTC", "ETH")]


def test_a_pair_quoted_in_another_currency_than_quote_keeps_it(fake_binance):
    (report,) = fetch(fake_binance, pairs=["ETH/BTC"], quote="USDT", until="2018-01-11")
    assert report.symbol == "ETH-BTC"
    assert Cryptocurrency.objects.get(symbol="ETH-BTC").is_demo is False


def test_the_command_prints_progress_and_a_summary(fake_binance):
    out = StringIO()
    call_command(
        "fetch_prices",
        "--symbols",
        "ETH/BTC",
        "--quote",
        "BTC",
        "--interval",
        "5m",
        "--since",
        "2018-01-10",
        "--until",
        "2018-01-30T04:55",
        "--api-url",
        fake_binance.url,
        stdout=out,
    )
    text = out.getvalue()
    assert "ETH/BTC        [" in text and "100%" in text
    assert "ETH/BTC -> ETH 5m: 5,760 candles fetched, 5,760 bars added" in text
    assert "1 pair(s): 5,760 bars added or changed, 0 gaps" in text
    with pytest.raises(CommandError, match="has no market"):
        call_command("fetch_prices", "--symbols", "NOPE/BTC", "--since", "2018-01-10", "--api-url", fake_binance.url)


def test_fetch_plan_resumes_after_the_last_bar_or_before_the_first():
    assert fetch_plan(since=0, until=100, step=10, first_stored=None, last_stored=None, prepend=False).since == 0
    assert fetch_plan(since=0, until=100, step=10, first_stored=20, last_stored=50, prepend=False).since == 60
    assert fetch_plan(since=0, until=100, step=10, first_stored=20, last_stored=50, prepend=True).until == 20
    assert fetch_plan(since=0, until=60, step=10, first_stored=20, last_stored=50, prepend=False).since is None


@pytest.mark.usefixtures("plain_static")
def test_the_admin_action_updates_coins_from_the_exchange_in_the_background(
    transactional_db, fake_binance, admin_client, settings
):
    settings.MARKET_EXCHANGE_API = fake_binance.url
    settings.MARKET_QUOTE = "BTC"
    fetch(fake_binance, pairs=["ETH/BTC"], quote="BTC", until="2018-01-20")
    coin = Cryptocurrency.objects.get(symbol="ETH")
    before = Price.objects.filter(crypto=coin).count()
    response = admin_client.post(
        "/admin/market_data/cryptocurrency/",
        {"action": "update_from_exchange", "_selected_action": [coin.id]},
        follow=True,
    )
    assert "in the background" in response.content.decode()
    services.exchange_updates.submit(lambda: None).result(timeout=60)  # the one worker is done with the job
    assert before < 5760 == Price.objects.filter(crypto=coin).count()
