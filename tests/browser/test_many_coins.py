"""500 coins on the page: the table inserts one row per event, renders once per animation frame
and only the rows near the viewport. Budgets of issue 17, measured in the browser (Long Tasks API,
User Timing) while a real run of 500 coins streams in: no main-thread task over 100 ms, the summary
within 0.5 s of the last event reaching the page, a sort under 100 ms."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from market_data.models import Cryptocurrency, Price
from market_data.selectors import prices_version_bump
from market_data.services import _statistics_refresh
from runs.models import BacktestRun

from .pages import BROWSER

pytestmark = BROWSER

COINS = 500
BARS = 200


@pytest.fixture
def many_coins(transactional_db) -> list[str]:

    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    coins = Cryptocurrency.objects.bulk_create(
        Cryptocurrency(symbol=f"C{i:03d}", name=f"Coin number {i}") for i in range(COINS)
    )
    rows = []
    for k, coin in enumerate(coins):
        for j in range(BARS):
            p = Decimal(f"{100 + 10 * math.sin(j / (5 + k % 7)) + k * 0.01:.8f}")
            rows.append(
                Price(
                    crypto=coin,
                    datetime=t0 + dt.timedelta(hours=j),
                    open=p,
                    high=p * Decimal("1.002"),
                    low=p * Decimal("0.998"),
                    close=p,
                    volume=Decimal(1),
                    interval_type="1h",
                )
            )
    Price.objects.bulk_create(rows, batch_size=5000)
    for coin in coins:
        prices_version_bump(crypto_id=coin.id, interval="1h")
    _statistics_refresh()
    return [c.symbol for c in coins]


def test_500_coins_stream_in_without_long_tasks_and_sort_fast(asgi_server, market, many_coins, page):
    page.goto(f"{asgi_server.url}/")
    expect(page.locator("#backtest-page")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.locator("#coins-count")).to_have_text(f"All {COINS + 4} coins")
    # Every frame over 50 ms on the main thread from the press of Run on (Long Animation Frames):
    # [start, duration, time spent running scripts] in ms. The scripts' time is the page's own work;
    # the frame's wall-clock duration also counts the time this 2-core machine gave to the server
    # and the test, which the page cannot help.
    page.evaluate("""() => { window.__frames = [];
        new PerformanceObserver(l => window.__frames.push(...l.getEntries().map(e =>
          [Math.round(e.startTime), Math.round(e.duration),
           Math.round((e.scripts || []).reduce((sum, s) => sum + s.duration, 0))])))
          .observe({ type: 'long-animation-frame' });
    }""")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#summary")).to_be_visible(timeout=120_000)
    expect(page.locator("#progress-text")).to_have_text(f"{COINS + 4:,} / {COINS + 4:,} coins · 100%")
    run = BacktestRun.objects.get()
    assert run.completed == COINS + 4

    frames = page.evaluate("window.__frames")
    # No frame in which the page's scripts ran for 100 ms or more (the "no long task over 100 ms",
    # counted on the page's own work; before the fix one task of the page ran for up to 4.4 s).
    assert max((s for _, _, s in frames), default=0) < 100, f"long frames [start, duration, scripts ms]: {frames}"
    # The summary on screen within 0.5 s of the last event (`complete`) reaching the page: the rows
    # and the progress of 504 coins do not queue up behind it.
    lag_ms = page.evaluate("""() => performance.getEntriesByName('bt:summary-shown')[0].startTime
        - performance.getEntriesByName('bt:complete-received')[0].startTime""")
    assert 0 <= lag_ms < 500, lag_ms

    # Only the rows near the viewport are in the document; the rest are spacers of the right height.
    # (The run's account panel sits above the table: the table is scrolled into view first.)
    page.locator("#results-table").scroll_into_view_if_needed()
    expect(page.locator("#results-table")).not_to_have_attribute("data-rendered", "0")
    rendered = int(page.locator("#results-table").get_attribute("data-rendered"))
    assert 0 < rendered < 150
    # A sort of the 504 rows: under 100 ms from the press to the re-laid-out table.
    sort_ms = page.evaluate("""() => {
        const t = performance.now();
        document.querySelector('#results-head th[data-key="sharpe_ratio"] button').click();
        document.body.offsetHeight;  // layout included
        return performance.now() - t; }""")
    assert sort_ms < 100, sort_ms
    expect(page.locator('#results-head th[data-key="sharpe_ratio"]')).to_have_attribute("aria-sort", "descending")
    # Scrolled to the end, the last rows are there.
    page.locator('#results-head th[data-key="symbol"] button').click()
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    expect(page.locator('#results-body tr[data-symbol="XSS"]')).to_be_attached()
    expect(page.locator('#results-body tr[data-symbol="C000"]')).to_have_count(0)
