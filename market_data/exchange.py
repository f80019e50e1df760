"""Candles from an exchange through ccxt: paginated, rate-limited, retried, resumable.

`pair_fetch` pages through `fetch_ohlcv` with the exchange's own limit (`since` = last candle + one
interval), with ccxt's `enableRateLimit` spacing the requests. A network error (a dropped
connection, a time-out, HTTP 429) is retried with exponential backoff; an exchange error (an
unknown symbol, an unsupported interval) is refused with a clear message. The still-open candle
(its interval not over at the exchange's clock) is never stored. A second run fetches only what is
missing after the last stored bar, or, with `prepend`, before the first.

Tests point ccxt at a local server with `api_base` (every URL of the exchange's `urls['api']`
then goes to that host), so no test reaches the internet.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import ccxt
import numpy as np
import pandas as pd

from .models import INTERVAL_SECONDS, INTERVALS

RETRIES = 5
BACKOFF_SECONDS = 1.0  # doubled after each failed try
DEFAULT_LIMIT = 500


class ExchangeFetchError(Exception):
    """The exchange refused (unknown symbol, unsupported interval) or kept failing; the message says which."""


@dataclass
class PairReport:
    pair: str
    symbol: str  # the coin
    name: str
    bars: int = 0  # candles fetched (closed ones)
    written: int = 0
    requests: int = 0
    retries: int = 0
    skipped: str = ""  # why nothing was fetched (up to date)
    gaps: int = 0  # gaps found in the stored series afterwards
    missing_bars: int = 0


@dataclass
class FetchPlan:
    """What to fetch of one pair: [since, until) in ms; None since: nothing to fetch."""

    since: int | None
    until: int
    reason: str = ""


def exchange_open(name: str, *, api_base: str | None = None) -> ccxt.Exchange:
    """A ccxt exchange with rate limiting on, spot markets only; `api_base` replaces the host of every API URL."""
    try:
        cls = getattr(ccxt, name)
    except AttributeError:
        raise ExchangeFetchError(
            f"unknown exchange {name!r} (ccxt knows {len(ccxt.exchanges)}, e.g. binance)"
        ) from None
    exchange = cls({"enableRateLimit": True, "options": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}})
    if api_base:
        base = api_base.rstrip("/")

        def local(url):
            if isinstance(url, dict):
                return {k: local(v) for k, v in url.items()}
            parts = urlsplit(url)
            return f"{base}{parts.path}"

        exchange.urls["api"] = local(exchange.urls["api"])
    return exchange


def page_limit(exchange: ccxt.Exchange) -> int:
    """The most candles one fetch_ohlcv request returns on this exchange (ccxt's features, e.g. 1000 on Binance)."""
    features = getattr(exchange, "features", None) or {}
    limit = ((features.get("spot") or {}).get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else DEFAULT_LIMIT


def with_retries(call: Callable[[], object], *, report: PairReport, sleep: Callable[[float], None], what: str):
    """Run a request; retry network errors with backoff; turn exchange errors into ExchangeFetchError."""
    delay = BACKOFF_SECONDS
    for attempt in range(RETRIES + 1):
        try:
            report.requests += 1
            return call()
        except ccxt.NetworkError as exc:  # includes RequestTimeout, DDoSProtection (HTTP 429), ExchangeNotAvailable
            if attempt == RETRIES:
                raise ExchangeFetchError(f"{what}: still failing after {RETRIES} retries: {exc}") from None
            report.retries += 1
            sleep(delay)
            delay *= 2
        except ccxt.ExchangeError as exc:
            raise ExchangeFetchError(f"{what}: the exchange refused: {exc}") from None
    raise AssertionError("unreachable")


def markets_load(exchange: ccxt.Exchange, *, sleep: Callable[[float], None]) -> None:
    with_retries(exchange.load_markets, report=PairReport("", "", ""), sleep=sleep, what="loading the markets")


def pair_check(exchange: ccxt.Exchange, *, pair: str, interval: str) -> dict:
    """The market of `pair`; refuses an unknown pair or an interval the exchange does not offer."""
    if interval not in INTERVALS:
        raise ExchangeFetchError(f"unknown interval {interval!r}; known: {', '.join(INTERVALS)}")
    if exchange.timeframes and interval not in exchange.timeframes:
        raise ExchangeFetchError(
            f"{exchange.id} does not offer {interval} candles (it offers {', '.join(exchange.timeframes)})"
        )
    if pair not in exchange.markets:
        raise ExchangeFetchError(f"{exchange.id} has no market {pair!r} (spot markets, as BASE/QUOTE)")
    return exchange.markets[pair]


def coin_of(exchange: ccxt.Exchange, market: dict, *, quote: str | None) -> tuple[str, str]:
    """(symbol, name) of the pair's coin: the base currency, named from the exchange's currency list.

    With `quote` given and the pair quoted in something else, the quote stays in the symbol (ETH-BTC).
    """
    base, pair_quote = market["base"].upper(), market["quote"].upper()
    symbol = base if quote is None or pair_quote == quote.upper() else f"{base}-{pair_quote}"
    currency = (exchange.currencies or {}).get(market["base"]) or {}
    return symbol, str(currency.get("name") or base)


def top_pairs(exchange: ccxt.Exchange, *, quote: str, count: int, sleep: Callable[[float], None]) -> list[str]:
    """The `count` active spot pairs quoted in `quote` with the largest 24 h quote volume."""
    tickers = with_retries(exchange.fetch_tickers, report=PairReport("", "", ""), sleep=sleep, what="tickers")
    quote = quote.upper()
    candidates = []
    for pair, market in exchange.markets.items():
        if market.get("spot") and market.get("active", True) is not False and market["quote"].upper() == quote:
            volume = (tickers.get(pair) or {}).get("quoteVolume") or 0
            candidates.append((-float(volume), pair))
    return [pair for _, pair in sorted(candidates)[:count]]


def fetch_plan(
    *, since: int, until: int, step: int, first_stored: int | None, last_stored: int | None, prepend: bool
) -> FetchPlan:
    """[since, until) to fetch, given the stored bars: after the last one, or with prepend before the first."""
    if prepend:
        if first_stored is None:
            return FetchPlan(since, until)
        end = min(until, first_stored)
        return FetchPlan(since, end) if since < end else FetchPlan(None, end, "nothing before the first stored bar")
    start = since if last_stored is None else max(since, last_stored + step)
    return FetchPlan(start, until) if start < until else FetchPlan(None, until, "up to date")


def candles_fetch(
    exchange: ccxt.Exchange,
    *,
    pair: str,
    interval: str,
    plan: FetchPlan,
    report: PairReport,
    sleep: Callable[[float], None] = time.sleep,
    now_ms: Callable[[], int] | None = None,
    on_page: Callable[[pd.DataFrame, int], None] | None = None,
) -> None:
    """Page through the candles of [plan.since, plan.until); hand each page of closed candles to on_page.

    1. Ask for `page_limit` candles from `since`; 2. keep the ones before `until` whose interval is
    over at the exchange's clock (the open candle is never stored); 3. `since` = last candle + one
    interval; stop on an empty page, at `until`, or at the open candle (or when the next is not closed).
    """
    step = INTERVAL_SECONDS[interval] * 1000
    limit = page_limit(exchange)
    clock = now_ms or exchange.milliseconds
    since = plan.since
    while since is not None and since < plan.until:
        batch = with_retries(
            lambda since=since: exchange.fetch_ohlcv(pair, interval, since=since, limit=limit),
            report=report,
            sleep=sleep,
            what=f"{pair} {interval} candles from {_iso(since)}",
        )
        if not batch:
            break
        rows = np.asarray(batch, dtype=np.float64)
        times = rows[:, 0].astype(np.int64)
        closed = (times >= since) & (times < plan.until) & (times + step <= clock())
        last_time = int(times[-1])
        if closed.any():
            page = pd.DataFrame(
                {
                    "time": times[closed] * 1_000_000,
                    "open": rows[closed, 1],
                    "high": rows[closed, 2],
                    "low": rows[closed, 3],
                    "close": rows[closed, 4],
                    "volume": rows[closed, 5],
                }
            )
            report.bars += len(page)
            if on_page is not None:
                on_page(page, last_time)
        if not closed.all() or last_time + step >= plan.until:
            break  # the open candle, or the end of the range
        since = last_time + step
        if since + step > clock():
            break  # the next candle is not closed yet


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def ms_of(value: dt.datetime | dt.date | str) -> int:
    """A date or date-time (ISO text; naive means UTC) in epoch milliseconds."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)
