"""500 coins on the page: the table inserts one row per event, renders once per animation frame
and only the rows near the viewport, while a real run of 500 coins streams in.

Issue 17's budgets (no frame with 100 ms of the page's scripts, the summary within 0.5 s of the last
event, a sort under 100 ms) are measured by bench/page.py, not here: tests never time things, and on
this 2-core machine a frame's script time also counts the server, the database and the browser's
other processes taking the cores (the CI's PostgreSQL run failed twice on a 121 to 142 ms frame
whose script took 7 to 55 ms in runs on a quieter machine)."""

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
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#summary")).to_be_visible(timeout=120_000)
    expect(page.locator("#progress-text")).to_have_text(f"{COINS + 4:,} / {COINS + 4:,} coins · 100%")
    run = BacktestRun.objects.get()
    assert run.completed == COINS + 4

    # The summary is shown once, after the last event (`complete`) reached the page.
    marks = page.evaluate("""() => ['bt:complete-received', 'bt:summary-shown'].map(
        (name) => performance.getEntriesByName(name).map((m) => m.startTime))""")
    assert len(marks[0]) == 1 and len(marks[1]) == 1 and marks[1][0] >= marks[0][0], marks

    # Only the rows near the viewport are in the document; the rest are spacers of the right height.
    # (The run's account panel sits above the table: the table is scrolled into view first.)
    page.locator("#results-table").scroll_into_view_if_needed()
    expect(page.locator("#results-table")).not_to_have_attribute("data-rendered", "0")
    rendered = int(page.locator("#results-table").get_attribute("data-rendered"))
    assert 0 < rendered < 150
    # A sort of the 504 rows by Sharpe: the best coin first, and still only the rows near the viewport.
    page.locator('#results-head th[data-key="sharpe_ratio"] button').click()
    expect(page.locator('#results-head th[data-key="sharpe_ratio"]')).to_have_attribute("aria-sort", "descending")
    best = run.results.filter(state="done", sharpe_ratio__isnull=False).order_by("-sharpe_ratio").first()
    page.locator("#results-table").evaluate("(table) => table.scrollIntoView({ block: 'start' })")
    shown = page.evaluate("""() => {
        const heads = [...document.querySelectorAll('#results-head th')];
        const at = heads.findIndex((th) => th.dataset.key === 'sharpe_ratio');
        const rows = [...document.querySelectorAll('#results-body tr[data-symbol]')];
        return rows.map((tr) => tr.children[at].textContent);
    }""")
    values = [float(v.replace(",", "")) for v in shown if v not in ("", "–")]
    assert len(values) > 10 and values == sorted(values, reverse=True), shown  # high to low, as shown
    assert values[0] == round(best.sharpe_ratio, 2), (values[0], best.sharpe_ratio)  # from the top: the best
    assert 0 < int(page.locator("#results-table").get_attribute("data-rendered")) < 150
    # Scrolled to the end, the last rows are there.
    page.locator('#results-head th[data-key="symbol"] button').click()
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    expect(page.locator('#results-body tr[data-symbol="XSS"]')).to_be_attached()
    expect(page.locator('#results-body tr[data-symbol="C000"]')).to_have_count(0)
