"""The run page's finer points (issue 17), each in the real browser against the real API and stream:
which run the results belong to, Back, the fee, undefined metrics and thin results, skipped coins,
the sort in the address, widths at 1024 px, the parameter grid, copying the link, saved presets,
and price precision for a cheap coin."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import math
import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from market_data.models import Cryptocurrency, Price
from market_data.selectors import prices_version_bump
from market_data.services import _statistics_refresh
from runs import backends
from runs.models import BacktestRun, RunResult
from strategies.models import StrategyParameter
from tests.support import wait_run

from .pages import BROWSER, RUN_TIMEOUT, ready

pytestmark = BROWSER


def add_coin(symbol: str, name: str, prices: list[float]) -> Cryptocurrency:
    coin = Cryptocurrency.objects.create(symbol=symbol, name=name)
    t0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    Price.objects.bulk_create(
        Price(
            crypto=coin,
            datetime=t0 + dt.timedelta(hours=i),
            open=Decimal(f"{p:.8f}"),
            high=Decimal(f"{p * 1.002:.8f}"),
            low=Decimal(f"{p * 0.998:.8f}"),
            close=Decimal(f"{p:.8f}"),
            volume=Decimal(1),
            interval_type="1h",
        )
        for i, p in enumerate(prices)
    )
    prices_version_bump(crypto_id=coin.id, interval="1h")
    _statistics_refresh()
    return coin


def run_and_wait(page: Page) -> BacktestRun:
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    return BacktestRun.objects.order_by("-created_at").first()


def test_results_belong_to_their_run_back_restores_the_form_and_an_empty_fee_is_refused(asgi_server, market, page):
    base = asgi_server.url
    ready(page, f"{base}/")
    page.get_by_label("Strategy").select_option(label="Moving Average Crossover")
    page.get_by_label("Fast MA period").fill("8")
    page.locator("#coin-list input[value=SOL]").uncheck()
    run_and_wait(page)
    note = page.locator("#stale-note")
    expect(note).to_be_hidden()
    # Any change to the form: the results say they are the shown run's, not the form's.
    page.get_by_label("Strategy").select_option(label="RSI Mean Reversion")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Moving Average Crossover")
    expect(page.locator("#results-table")).to_have_class(re.compile(r"\bresults-stale\b"))

    # Back: the form as it was when the run was started, not a blank one with every coin ticked.
    page.go_back()
    expect(page).to_have_url(f"{base}/")
    expect(page.locator("#backtest-page")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label("Strategy")).to_have_value(str(BacktestRun.objects.get().strategy_id))
    expect(page.get_by_label("Fast MA period")).to_have_value("8")
    expect(page.locator("#coins-count")).to_have_text("3 of 4 coins")

    # An empty fee is refused with the reason, never sent as 0.
    page.get_by_label("Fee per fill (%)").fill("")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#fee_pct-error")).to_have_text("a number is required (0 for no fee)")
    assert BacktestRun.objects.count() == 1


def test_undefined_metrics_show_a_dash_and_thin_results_are_flagged(asgi_server, market, page):
    ready(page, f"{asgi_server.url}/")
    page.get_by_label("Oversold threshold").fill("3")  # RSI almost never that low: few or no trades
    run = run_and_wait(page)
    done = list(RunResult.objects.filter(run=run, state="done"))
    assert done and any(r.total_trades < 5 for r in done)
    for r in done:
        row = page.locator(f'#results-body tr[data-symbol="{r.crypto_symbol}"]')
        cells = row.locator("td")
        win_rate, trades, sharpe = cells.nth(3), cells.nth(4), cells.nth(5)
        if r.total_trades == 0:
            expect(win_rate).to_have_text("–")
            expect(sharpe).to_have_text("–")
        assert (trades.locator(".few-flag").count() == 1) == (r.total_trades < 5), r.crypto_symbol
    expect(page.locator("#few-trades-note")).to_be_visible()
    expect(page.locator("#few-trades-note")).to_contain_text("fewer than 5 closed trades")


def test_a_cancelled_run_counts_its_skipped_coins_in_the_summary(asgi_server, market, engine_gate, page):
    for i in range(6):  # more coins than the pool's 4 threads, so a cancel leaves some unstarted
        add_coin(f"EXT{i}", f"Extra {i}", [100 + 5 * math.sin(j / 7) for j in range(300)])
    ready(page, f"{asgi_server.url}/")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#stream-status")).to_have_text("Live")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-message")).to_contain_text("Cancelling")
    engine_gate.set()
    assert backends.wait_idle(timeout=30)
    expect(page.locator("#run-status")).to_have_text("Cancelled", timeout=RUN_TIMEOUT)
    run = BacktestRun.objects.get()
    skipped = RunResult.objects.filter(run=run, state="skipped").count()
    assert skipped > 0
    expect(page.locator('.summary-card[data-key="skipped"] .fs-5')).to_have_text(str(skipped))


def test_sort_in_the_address_widths_at_1024_the_parameter_grid_copy_and_presets(asgi_server, market, open_page):
    StrategyParameter.objects.filter(strategy__key="ma_crossover", parameter_name="fast_ma_period").update(
        display_name="Fast moving-average period in bars"
    )
    base = asgi_server.url
    page = open_page(viewport={"width": 1024, "height": 800})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    ready(page, f"{base}/")
    over, smoothing = page.get_by_label("Overbought threshold"), page.get_by_label("RSI smoothing")
    assert over.bounding_box()["y"] == pytest.approx(smoothing.bounding_box()["y"], abs=1)  # an input beside a select
    page.get_by_label("Strategy").select_option(label="Moving Average Crossover")
    # A label wrapped to two lines keeps its input level with the neighbour's.
    fast = page.get_by_label("Fast moving-average period in bars")
    slow = page.get_by_label("Slow MA period")
    assert fast.bounding_box()["y"] == pytest.approx(slow.bounding_box()["y"], abs=1)
    run = run_and_wait(page)

    # At 1024 px every column is in view and no coin name is cut off.
    assert page.locator("#results-table").evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth")
    assert page.locator(".coin-name").evaluate_all("ns => ns.every(n => n.scrollWidth <= n.clientWidth)")

    # The sort is kept in the address: a reload (or the link) shows the same order.
    page.locator('#results-head th[data-key="symbol"] button').click()
    expect(page).to_have_url(f"{base}/runs/{run.id}/?sort=symbol&dir=ascending")
    page.reload()
    expect(page.locator("#backtest-page")).to_have_attribute("data-ready", "true")
    expect(page.locator('#results-head th[data-key="symbol"]')).to_have_attribute("aria-sort", "ascending")
    symbols = page.locator("#results-body tr").evaluate_all("rows => rows.map(r => r.dataset.symbol)")
    assert symbols == sorted(symbols)

    # Copy the shareable link.
    page.get_by_role("button", name="Copy link").click()
    expect(page.locator("#copy-status")).to_have_text("Link copied")
    assert page.evaluate("navigator.clipboard.readText()") == f"{base}/runs/{run.id}/"

    # Save the form as a preset, change it, pick the preset: the form is back; it survives a reload.
    page.get_by_label("Name for the current form").fill("MA 10/50")
    page.get_by_role("button", name="Save set").click()
    expect(page.locator("#preset-status")).to_have_text("Saved “MA 10/50”.")
    page.get_by_label("Strategy").select_option(label="RSI Mean Reversion")
    page.goto(f"{base}/")
    expect(page.locator("#backtest-page")).to_have_attribute("data-ready", "true")
    page.get_by_label("Saved parameter sets").select_option(label="MA 10/50 · Moving Average Crossover")
    expect(page.get_by_label("Strategy")).to_have_value(str(run.strategy_id))
    expect(page.get_by_label("Fast moving-average period in bars")).to_have_value("10")


def test_price_precision_and_trade_decimals_fit_a_cheap_coin(asgi_server, market, page):
    add_coin("DOGE", "Dogecoin", [0.08 + 0.01 * math.sin(i / 9) for i in range(800)])
    ready(page, f"{asgi_server.url}/")
    page.get_by_role("button", name="None").click()
    page.locator("#coin-list input[value=DOGE]").check()
    run = run_and_wait(page)
    doge = RunResult.objects.get(run=run, crypto_symbol="DOGE")
    assert doge.total_trades > 0
    page.locator('#results-body tr[data-symbol="DOGE"] .coin-open').click()
    chart = page.locator("#price-chart")
    expect(chart).to_have_attribute("data-drawn", "true")
    assert chart.get_attribute("data-decimals") == "5"  # 0.07000, not 0.07 or -0.00
    page.wait_for_timeout(300)
    for column in (3, 5):  # entry and exit prices: the same decimals all down the column
        texts = page.locator(f"#trades-body tr td:nth-child({column})").all_inner_texts()
        assert texts and all(re.fullmatch(r"0\.\d{5}", t) for t in texts), texts
    returns = page.locator("#trades-body tr td:nth-child(6)").all_inner_texts()
    assert all(re.fullmatch(r"[+-]?\d+\.\d{2}%", t) for t in returns), returns


def test_someone_elses_run_offers_no_controls_and_the_owners_browser_does(asgi_server, market, page):
    # The page's own run: its browser holds the cancel token, so it may rename and delete it.
    ready(page, f"{asgi_server.url}/")
    run_and_wait(page)
    expect(page.locator("#run-edit")).to_be_visible()
    expect(page.locator("#run-delete")).to_be_visible()
    expect(page.locator("#run-owner-note")).to_be_hidden()

    # A script's run (no cookies; the token is only in its 201 answer): opened here, it is someone else's.
    conn = http.client.HTTPConnection("127.0.0.1", asgi_server.port, timeout=30)
    body = json.dumps({"strategy_id": 1, "symbols": ["BTC"]})
    conn.request("POST", "/api/runs/", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    created = json.loads(response.read())
    conn.close()
    assert response.status == 201, created
    wait_run(created["id"])
    page.goto(f"{asgi_server.url}{created['page_url']}")
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=RUN_TIMEOUT)
    expect(page.locator("#run-owner-note")).to_be_visible()
    expect(page.locator("#run-edit")).to_be_hidden()
    expect(page.locator("#run-delete")).to_be_hidden()

    # Given the token, the same browser owns it: the page reads `controllable` with it.
    key, token = json.dumps(f"bt-cancel-token:{created['id']}"), json.dumps(created["cancel_token"])
    page.add_init_script(f"localStorage.setItem({key}, {token})")
    page.goto(f"{asgi_server.url}{created['page_url']}")
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=RUN_TIMEOUT)
    expect(page.locator("#run-delete")).to_be_visible()
    expect(page.locator("#run-owner-note")).to_be_hidden()
