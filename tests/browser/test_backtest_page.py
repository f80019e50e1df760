"""The backtest page in a real browser, against the real API and event stream under uvicorn.

Data (see conftest): the six seeded strategies, three demo coins with a year of hourly bars
(8,784 each) and a ten-bar coin named like an HTML injection, which fails with an error.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from runs import backends
from runs.models import BacktestRun, RunResult
from strategies.models import StrategyParameter

from .conftest import XSS_NAME, XSS_SYMBOL
from .pages import BROWSER, RUN_TIMEOUT, ready

pytestmark = BROWSER


def card(page: Page, key: str):
    return page.locator(f'.summary-card[data-key="{key}"] .fs-5')


def row_symbols(page: Page) -> list[str]:
    return page.locator("#results-body tr").evaluate_all("rows => rows.map(r => r.dataset.symbol)")


def pct(value: float) -> str:
    """A percentage as the page prints it: 2 decimals, thousands commas, + on gains."""
    return f"{'+' if value > 0 else ''}{value:,.2f}%"


def candle_pixels(page: Page, selector: str) -> int:
    """Pixels of the candles' up or down colour on the chart's canvases (0 = nothing drawn)."""
    return page.locator(selector).evaluate(
        """box => {
          let n = 0;
          for (const c of box.querySelectorAll('canvas')) {
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < data.length; i += 4) {
              const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
              if ((r === 25 && g === 135 && b === 84) || (r === 220 && g === 53 && b === 69)) n++;
            }
          }
          return n;
        }"""
    )


def test_run_streams_rows_and_summary_sorts_opens_a_coin_and_reopens_from_the_list(
    asgi_server, market, page, output_dir
):
    base = asgi_server.url
    ready(page, f"{base}/")
    expect(page.locator("#demo-badge")).to_be_visible()
    expect(page.get_by_label("RSI period")).to_have_value("14")  # the first strategy's form, with its defaults

    # Pick a strategy: its form is generated from its definitions; change two parameters.
    page.get_by_label("Strategy").select_option(label="Moving Average Crossover")
    fast = page.get_by_label("Fast MA period")
    expect(fast).to_have_value("10")
    expect(fast).to_have_attribute("min", "1")
    expect(fast).to_have_attribute("step", "1")
    expect(page.get_by_label("Stop-loss (%)")).to_have_attribute("step", "0.1")
    fast.fill("8")
    page.get_by_label("Slow MA period").fill("21")
    expect(page.locator("#coins-count")).to_have_text("All 4 coins")
    page.get_by_role("button", name="Run backtest").click()

    # One row per coin as results arrive, then the summary.
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    run = BacktestRun.objects.get()
    # At the end the table is sorted by return, high to low, and the sort is in the address.
    expect(page).to_have_url(f"{base}/runs/{run.id}/?sort=total_return&dir=descending")
    assert run.strategy.key == "ma_crossover"
    assert run.parameters["fast_ma_period"] == 8 and run.parameters["slow_ma_period"] == 21
    assert run.symbols == []  # all coins: the page sends no subset
    expect(page.locator("#results-body tr")).to_have_count(4)
    expect(page.locator("#progress-text")).to_have_text("4 / 4 coins · 100%")
    expect(page.locator("#run-status")).to_have_text("Completed")

    # The failed coin shows its error in its row; its name is text, never markup.
    failed = RunResult.objects.get(run=run, crypto_symbol=XSS_SYMBOL)
    assert failed.state == "failed" and failed.error
    xss_row = page.locator(f'#results-body tr[data-symbol="{XSS_SYMBOL}"]')
    expect(xss_row.locator(".error-cell")).to_have_text(failed.error)
    expect(xss_row.locator(".coin-name")).to_have_text(XSS_NAME)
    assert page.locator("#results-body img").count() == 0

    summary = run.summary
    expect(card(page, "coins")).to_have_text("4")
    expect(card(page, "successful")).to_have_text("3")
    expect(card(page, "failed")).to_have_text("1")
    expect(card(page, "avg_return")).to_have_text(pct(summary["avg_return"]))
    expect(card(page, "total_trades")).to_have_text(f"{summary['total_trades']:,}")
    expect(card(page, "best")).to_have_text(summary["best_performer"]["crypto_symbol"])
    expect(card(page, "beat_buy_hold")).to_have_text(f"{summary['beat_buy_hold']} of 3")
    page.wait_for_timeout(700)  # the progress bar's width transition, for the screenshot
    page.screenshot(path=str(output_dir / "backtest-page.png"), full_page=True)

    # Sorted by return at the end (high to low); the next press (from the keyboard) low to high;
    # failures stay last; a first press on another column sorts it.
    done = list(RunResult.objects.filter(run=run, state="done").order_by("-total_return", "crypto_symbol"))
    by_return = [r.crypto_symbol for r in done]
    header = page.locator('#results-head th[data-key="total_return"]')
    expect(header).to_have_attribute("aria-sort", "descending")
    assert row_symbols(page) == [*by_return, XSS_SYMBOL]
    header.get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(header).to_have_attribute("aria-sort", "ascending")
    assert row_symbols(page) == [*reversed(by_return), XSS_SYMBOL]
    page.locator('#results-head th[data-key="symbol"] button').click()
    assert row_symbols(page) == sorted([*by_return, XSS_SYMBOL])
    expect(header).to_have_attribute("aria-sort", "none")
    # Gains green, losses red.
    for result in done:
        colour = "text-success" if result.total_return > 0 else "text-danger"
        cell = page.locator(f'#results-body tr[data-symbol="{result.crypto_symbol}"] td').first
        expect(cell).to_have_class(re.compile(rf"\b{colour}\b"))

    # CSV export of the table, in its current order.
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows[0][:3] == ["coin", "name", "total_return"]
    assert [r[0] for r in rows[1:]] == sorted([*by_return, XSS_SYMBOL])
    xss_csv = next(r for r in rows if r[0] == XSS_SYMBOL)
    assert xss_csv[1] == XSS_NAME and xss_csv[-1] == failed.error and xss_csv[-2] == "failed"
    btc_csv = next(r for r in rows if r[0] == "BTC")
    btc = next(r for r in done if r.crypto_symbol == "BTC")
    assert float(btc_csv[2]) == pytest.approx(btc.total_return, abs=0.006)

    # Look closer: a click on a row opens the coin's charts (a year of hourly candles) and trades.
    page.locator('#results-body tr[data-symbol="BTC"] td').first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#detail-title")).to_have_text("BTC · Bitcoin (demo)")
    price_chart = page.locator("#price-chart")
    expect(price_chart).to_have_attribute("data-drawn", "true")
    assert price_chart.get_attribute("data-bars") == "8784"
    btc_full = RunResult.objects.get(run=run, crypto_symbol="BTC")
    trades = btc_full.trades
    assert len(trades) > 0
    assert int(price_chart.get_attribute("data-markers")) == sum(2 if t["exit_time"] else 1 for t in trades)
    assert int(price_chart.get_attribute("data-draw-ms")) < 1500  # 8,784 candles and their markers
    expect(page.locator("#equity-chart")).to_have_attribute("data-drawn", "true")
    expect(page.locator("#trades-body tr")).to_have_count(len(trades))
    page.wait_for_timeout(300)
    assert candle_pixels(page, "#price-chart") > 500
    page.screenshot(path=str(output_dir / "coin-detail.png"))
    # Zooming and panning the 8,784 bars stays responsive: no frame whose scripts run 200 ms or more
    # (Long Animation Frames: the page's own work, not the time the busy machine took from it).
    page.evaluate("""() => { window.__frames = [];
        new PerformanceObserver(l => window.__frames.push(...l.getEntries().map(e =>
          [Math.round(e.startTime), Math.round(e.duration),
           Math.round((e.scripts || []).reduce((sum, s) => sum + s.duration, 0))])))
          .observe({ type: 'long-animation-frame' }); }""")
    box = price_chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(5):
        page.mouse.wheel(0, -300)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 4, box["y"] + box["height"] / 2, steps=10)
    page.mouse.up()
    page.wait_for_timeout(300)
    frames = page.evaluate("window.__frames")
    assert max((s for _, _, s in frames), default=0) < 200, frames
    # Keyboard: Escape closes the detail and gives the focus back to the coin.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator('#results-body tr[data-symbol="BTC"] .coin-open')).to_be_focused()

    # /runs/ lists the run; it reopens at its shareable URL with the same table and summary.
    page.goto(f"{base}/runs/")
    listed = page.locator(f'#runs-body tr[data-run-id="{run.id}"]')
    expect(listed).to_contain_text("Moving Average Crossover")
    expect(listed).to_contain_text("Completed")
    expect(listed).to_contain_text("Fast MA period 8")
    expect(listed).to_contain_text(pct(summary["avg_return"]))
    listed.get_by_role("link").click()
    expect(page).to_have_url(f"{base}/runs/{run.id}/")
    expect(page.locator("#backtest-page")).to_have_attribute("data-ready", "true")
    expect(page.locator("#results-body tr")).to_have_count(4)
    expect(card(page, "avg_return")).to_have_text(pct(summary["avg_return"]))
    expect(page.get_by_label("Fast MA period")).to_have_value("8")  # the form holds the run's settings
    page.locator('#results-body tr[data-symbol="ETH"] .coin-open').click()
    expect(page.locator("#price-chart")).to_have_attribute("data-drawn", "true")
    assert page.locator("#price-chart").get_attribute("data-bars") == "8784"


def test_bad_values_are_refused_next_to_their_field(asgi_server, market, page, browser_errors):
    # Definitions as an admin left them: the form follows without any change to the page.
    rsi = StrategyParameter.objects.filter(strategy__key="rsi")
    rsi.filter(parameter_name="rsi_period").update(display_name="RSI lookback", default_value="20", min_value=5)
    rsi.filter(parameter_name="rsi_smoothing").update(is_active=False)
    ready(page, f"{asgi_server.url}/")
    expect(page.get_by_label("RSI lookback")).to_have_value("20")
    expect(page.get_by_label("RSI lookback")).to_have_attribute("min", "5")
    expect(page.locator("#param-rsi_smoothing")).to_have_count(0)
    # Every control of the form has a label.
    unlabelled = page.locator("#run-form").evaluate(
        """form => [...form.querySelectorAll('input, select')]
             .filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')).map(c => c.id)"""
    )
    assert unlabelled == []

    # Checked in the browser against the definitions: nothing is sent.
    rsi = page.get_by_label("RSI lookback")
    rsi.fill("4")
    page.get_by_label("Fee per fill (%)").fill("9")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator('[data-field="parameters.rsi_period"] .invalid-feedback')).to_have_text("must be ≥ 5")
    expect(page.locator('[data-field="fee_pct"] .invalid-feedback')).to_have_text("must be between 0 and 5")
    expect(rsi).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(rsi).to_be_focused()
    rsi.fill("14.5")
    page.get_by_label("Fee per fill (%)").fill("0.1")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator('[data-field="parameters.rsi_period"] .invalid-feedback')).to_have_text(
        "must be a whole number"
    )
    expect(page.locator('[data-field="fee_pct"] .invalid-feedback')).to_have_text("")
    page.get_by_role("button", name="None").click()
    expect(page.locator("#coins-count")).to_have_text("0 of 4 coins")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#symbols-error")).to_have_text("choose at least one coin")
    assert BacktestRun.objects.count() == 0

    # A rule only the server knows (fast < slow): its 400 answer is shown next to the field it names.
    browser_errors.expect(r"status of 400")
    page.get_by_role("button", name="All").click()
    page.get_by_label("Strategy").select_option(label="Moving Average Crossover")
    page.get_by_label("Fast MA period").fill("40")
    page.get_by_role("button", name="Run backtest").click()
    feedback = page.locator('[data-field="parameters.fast_ma_period"] .invalid-feedback')
    expect(feedback).to_contain_text("must be less than Slow MA period (40 ≥ 30)")
    expect(page.get_by_label("Fast MA period")).to_be_focused()
    assert BacktestRun.objects.count() == 0

    # Searching the coins narrows the list; a subset is sent as `symbols`.
    page.get_by_label("Fast MA period").fill("10")
    page.get_by_label("Search coins").fill("eth")
    expect(page.locator("#coin-list .coin-item:visible")).to_have_count(1)
    page.get_by_role("button", name="None").click()  # acts on the coins shown: ETH off
    page.get_by_label("Search coins").fill("")
    expect(page.locator("#coins-count")).to_have_text("3 of 4 coins")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    assert sorted(BacktestRun.objects.get().symbols) == ["BTC", "SOL", XSS_SYMBOL]
    expect(page.locator("#results-body tr")).to_have_count(3)


def test_run_in_progress_joins_its_stream_and_catches_up_after_the_connection_drops(
    asgi_server, market, engine_gate, open_page, browser_errors, settings, output_dir
):
    base = asgi_server.url
    page = open_page()
    ready(page, f"{base}/")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#run-status")).to_have_text(re.compile("Pending|Running"))
    expect(page.locator("#stream-status")).to_have_text("Live")
    expect(page.locator("#progress-text")).to_have_text("0 / 4 coins · 0%")
    run = BacktestRun.objects.get()

    # Too many runs: the 429 answer becomes a message with its Retry-After.
    settings.BACKTEST_MAX_CONCURRENT_RUNS = 1
    browser_errors.expect(r"status of 429")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#form-alert")).to_contain_text(re.compile(r"Too many runs .* try again in \d+ second"))
    expect(page.get_by_role("button", name="Run backtest")).to_be_disabled()

    # On a phone, the list shows the run in progress; opened, it joins the live stream.
    phone = open_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2)
    phone.goto(f"{base}/runs/")
    listed = phone.locator(f'#runs-body tr[data-run-id="{run.id}"]')
    expect(listed).to_contain_text(re.compile("Pending|Running"))
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # a card per run, no wide table
    listed.get_by_role("link").click()
    expect(phone.locator("#stream-status")).to_have_text("Live")
    # Another browser, without the run's cancel token: it may watch, not cancel (that would be 403).
    expect(phone.locator("#run-owner-note")).to_be_visible()
    expect(phone.locator("#cancel-button")).to_be_hidden()
    expect(page.locator("#cancel-button")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # The connection drops (the server goes away) while the run goes on without it.
    resumed: list[str | None] = []  # Last-Event-ID of the phone's stream requests from now on
    phone.on("request", lambda r: "/events/" in r.url and resumed.append(r.all_headers().get("last-event-id")))
    browser_errors.expect(r"ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|ERR_INCOMPLETE_CHUNKED")
    asgi_server.stop()
    for p in (page, phone):
        expect(p.locator("#stream-status")).to_contain_text(re.compile("reconnecting|checking"), timeout=10_000)
    engine_gate.set()
    assert backends.wait_idle(timeout=30)
    assert BacktestRun.objects.get().status == "completed"
    asgi_server.start()

    # Both pages catch up from the stored events: every row, the summary, no row twice.
    for p in (page, phone):
        expect(p.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
        expect(p.locator("#results-body tr")).to_have_count(4)
        expect(p.locator("#run-status")).to_have_text("Completed")
        expect(p.locator("#progress-text")).to_have_text("4 / 4 coins · 100%")
        expect(p.locator("#cancel-button")).to_be_hidden()
    # The browser reconnected by itself and said where it had stopped (after `start`).
    assert any(re.fullmatch(rf"run-{run.id}:[1-9]\d*", last or "") for last in resumed), resumed
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.wait_for_timeout(700)  # the progress bar's width transition
    phone.screenshot(path=str(output_dir / "backtest-page-phone.png"), full_page=True)


def test_run_interrupted_by_a_server_restart_ends_on_the_page(asgi_server, market, engine_gate, page, browser_errors):
    """A restarted server marks the runs it lost `interrupted` and sends no `complete`: after
    reconnecting, the page checks the stored run and stops waiting."""
    ready(page, f"{asgi_server.url}/")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#stream-status")).to_have_text("Live")
    browser_errors.expect(r"ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|ERR_INCOMPLETE_CHUNKED")
    asgi_server.stop()
    expect(page.locator("#stream-status")).to_contain_text("reconnecting", timeout=10_000)
    # What runs.lifecycle does when a server starts: runs a stopped server left become interrupted.
    BacktestRun.objects.update(status="interrupted")
    asgi_server.start()
    expect(page.locator("#run-status")).to_have_text("Interrupted", timeout=10_000)  # before the 15 s watchdog
    expect(page.locator("#stream-status")).to_have_text("Finished")
    expect(page.locator("#run-message")).to_contain_text("Interrupted")
    expect(page.locator("#cancel-button")).to_be_hidden()
