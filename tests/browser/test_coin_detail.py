"""The coin detail explains its trades, in a real browser against the real API (issues 11 and 16):
the strategy's indicators from the engine (a rule strategy's from the rules its run stored), the stop
level of each trade, a hovered marker's trade, a trade row moving both charts, drawdown, monthly
returns, a log-scale switch; smooth panning at 8,784 and 105,120 bars (Long Animation Frames);
screenshots for the README (docs/coin-detail*.png) and the layout at 1024 and 390 px."""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from market_data.models import Cryptocurrency, Price
from market_data.selectors import prices_version_bump
from market_data.services import _statistics_refresh
from runs.models import BacktestRun, RunResult
from strategies.models import Strategy
from strategies.services import strategy_import
from tests.support import wait_run

from .conftest import axe_violations
from .pages import BROWSER, RUN_TIMEOUT, ready
from .test_rules_admin import login

pytestmark = BROWSER

DOCS = Path(__file__).resolve().parents[2] / "docs"
RULES = {
    "name": "RSI dip in an uptrend",
    "description": "Buys an RSI dip above the 50-bar average; sells when the RSI recovers or the MACD turns down.",
    "entry_rule": "rsi(close, rsi_period) < oversold and close > sma(close, trend_period)",
    "exit_rule": (
        "crosses_above(rsi(close, rsi_period), 65) or crosses_below(macd(close, 12, 26), macd_signal(close, 12, 26, 9))"
    ),
    "parameters": [
        {"name": "rsi_period", "display_name": "RSI period", "type": "integer", "default": 14, "min": 2, "max": 100},
        {"name": "oversold", "display_name": "Oversold", "type": "number", "default": 35, "min": 0, "max": 100},
        {"name": "trend_period", "display_name": "Trend SMA", "type": "integer", "default": 50, "min": 2, "max": 500},
    ],
}
# Long Animation Frames from now on: [start, duration, time the page's scripts ran] in ms.
OBSERVE_FRAMES = """() => { window.__frames = [];
    new PerformanceObserver(l => window.__frames.push(...l.getEntries().map(e =>
      [Math.round(e.startTime), Math.round(e.duration),
       Math.round((e.scripts || []).reduce((sum, s) => sum + s.duration, 0))])))
      .observe({ type: 'long-animation-frame' }); }"""


def open_coin(page: Page, symbol: str) -> None:
    page.locator(f'#results-body tr[data-symbol="{symbol}"] .coin-open').click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator("#price-chart")).to_have_attribute("data-drawn", "true", timeout=RUN_TIMEOUT)
    expect(page.locator("#equity-chart")).to_have_attribute("data-drawn", "true")


def pan_and_zoom(page: Page) -> list[list[int]]:
    """Zoom in with the wheel and drag the price chart; the long frames meanwhile."""
    page.evaluate(OBSERVE_FRAMES)
    box = page.locator("#price-chart").bounding_box()
    y = box["y"] + 120
    page.mouse.move(box["x"] + box["width"] / 2, y)
    for _ in range(5):
        page.mouse.wheel(0, -300)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 4, y, steps=10)
    page.mouse.up()
    for _ in range(3):
        page.mouse.wheel(0, 400)
    page.wait_for_timeout(300)
    return page.evaluate("window.__frames")


def visible_range(page: Page, selector: str) -> tuple[float, float]:
    box = page.locator(selector)
    return float(box.get_attribute("data-visible-from")), float(box.get_attribute("data-visible-to"))


def hover_a_marker(page: Page, trade: int, entry_index: int) -> None:
    """Move the pointer along the price pane over the entry bar of `trade` until its trade shows."""
    start, end = visible_range(page, "#price-chart")
    box = page.locator("#price-chart").bounding_box()
    plot = box["width"] - 86  # the price axis is 84 px wide, plus the borders
    x = box["x"] + (entry_index - start + 0.5) / (end - start) * plot
    tip = page.locator("#trade-tip")
    for dx in (0, -2, 2, -4, 4, -6, 6, -8, 8, -10, 10):
        page.mouse.move(x + dx, box["y"] + 60)
        if tip.is_visible() and tip.get_attribute("data-trade") == str(trade):
            return
    raise AssertionError(f"no trade shown near x={x}")


def test_a_rule_strategy_run_from_the_page_draws_its_indicators_and_keeps_its_rules_after_an_edit(
    asgi_server, market, page, browser_errors, output_dir
):
    browser_errors.expect(r"favicon\.ico")  # the admin's pages name no icon; the browser asks anyway
    strategy = strategy_import(data=RULES)
    base = asgi_server.url
    page.set_viewport_size({"width": 1440, "height": 1000})
    ready(page, f"{base}/")
    page.get_by_label("Strategy").select_option(label=RULES["name"])
    expect(page.get_by_label("Trend SMA")).to_have_value("50")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    run = BacktestRun.objects.get()
    assert run.status == "completed" and run.rules["entry_rule"] == RULES["entry_rule"]
    expect(page.locator("#run-entry-rule")).to_have_text(RULES["entry_rule"])
    expect(page.locator("#run-rules-edited")).to_have_count(0)
    # The run's final state on the page (sorted at the end, the stored copy read back) before the rows are
    # read; as text, whatever the layout at that moment (innerText of a row not yet laid out has no tabs).
    expect(page.locator("#backtest-page")).to_have_attribute("data-settled", "true", timeout=RUN_TIMEOUT)
    returns = page.locator("#results-body tr").all_text_contents()

    # The coin detail draws each series function of the rules: the SMA on the candles, the RSI with
    # its two numbers in one pane, the MACD and its signal line in another.
    open_coin(page, "BTC")
    price = page.locator("#price-chart")
    names = ["macd(close, 12, 26)", "macd_signal(close, 12, 26, 9)", "rsi(close, 14)", "sma(close, 50)"]
    assert price.get_attribute("data-indicators").split("|") == names
    assert price.get_attribute("data-panes") == "3"
    for name in names:
        expect(page.locator(f'#indicator-legend [data-indicator="{name}"]')).to_have_text(name)
    expect(page.locator('#indicator-legend [data-indicator="sma(close, 50)"]')).to_have_attribute("data-pane", "0")
    btc = RunResult.objects.get(run=run, crypto_symbol="BTC")
    assert len(btc.trades) > 3
    assert int(price.get_attribute("data-stops")) == len(btc.trades)  # the stop-loss is on (10 %)
    # The hover read-out names each indicator's value at the bar under the pointer.
    box = price.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 100)
    expect(page.locator(".chart-readout")).to_contain_text(re.compile(r"rsi\(close, 14\) \d+\.\d\d"))
    expect(page.locator(".chart-readout")).to_contain_text(re.compile(r" O [\d,]+\.\d\d · H "))

    # A trade row moves both charts to that trade; its marker, hovered, shows the trade.
    trade = 2
    page.locator("#trades-body tr").nth(trade).click()
    expect(price).to_have_attribute("data-trade", str(trade))
    expect(page.locator("#trades-body tr").nth(trade)).to_have_attribute("aria-current", "true")
    page.wait_for_timeout(200)
    assert visible_range(page, "#price-chart") == visible_range(page, "#equity-chart")
    times = page.evaluate(
        "url => fetch(url).then(r => r.json()).then(c => c.bars.times)",
        f"/api/runs/{run.id}/results/BTC/chart/",
    )
    entry = times.index(int(dt.datetime.fromisoformat(btc.trades[trade]["entry_time"]).timestamp()))
    start, end = visible_range(page, "#price-chart")
    assert start < entry < end and end - start < 1000
    hover_a_marker(page, trade, entry)
    tip = page.locator("#trade-tip")
    expect(tip).to_contain_text(f"Trade {trade + 1}")
    expect(tip).to_contain_text(re.compile(r"return [+-]?\d+\.\d\d%"))
    expect(tip).to_contain_text(re.compile(r"\d+ bars held"))
    page.locator("#detail-modal .modal-body").evaluate("b => b.scrollTo(0, 0)")
    page.wait_for_timeout(200)
    page.locator(".modal-content").screenshot(path=str(output_dir / "coin-detail-rules.png"))
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()

    # The rules are edited in the admin; the old run still shows (and draws) the rules it ran with.
    login(page, base)
    page.goto(f"{base}/admin/strategies/strategy/{strategy.id}/change/")
    page.fill("#id_entry_rule", "rsi(close, rsi_period) < oversold and close > ema(close, trend_period)")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("Rules understood as")
    strategy.refresh_from_db()
    assert "ema(close, trend_period)" in strategy.entry_rule
    ready(page, f"{base}/runs/{run.id}/")
    expect(page.locator("#run-entry-rule")).to_have_text(RULES["entry_rule"])
    expect(page.locator("#run-exit-rule")).to_have_text(RULES["exit_rule"])
    expect(page.locator("#run-rules-edited")).to_be_visible()
    page.locator("#run-panel").screenshot(path=str(output_dir / "run-rules.png"))
    expect(page.locator("#results-body tr")).to_have_count(4)
    expect(page.locator("#backtest-page")).to_have_attribute("data-settled", "true", timeout=RUN_TIMEOUT)
    assert page.locator("#results-body tr").all_text_contents() == returns
    open_coin(page, "BTC")
    assert page.locator("#price-chart").get_attribute("data-indicators").split("|") == names
    expect(page.locator("#trades-body tr")).to_have_count(len(btc.trades))


def test_a_builtins_detail_has_its_pane_stops_drawdown_months_log_scale_and_pans_smoothly(
    asgi_server, market, page, output_dir
):
    page.set_viewport_size({"width": 1440, "height": 1000})
    ready(page, f"{asgi_server.url}/")  # RSI, the first strategy, with its defaults
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    run = BacktestRun.objects.get()
    open_coin(page, "ETH")
    price = page.locator("#price-chart")
    assert price.get_attribute("data-bars") == "8784"
    assert price.get_attribute("data-indicators") == "rsi" and price.get_attribute("data-panes") == "2"
    expect(page.locator('#indicator-legend [data-indicator="rsi"]')).to_have_text("RSI 14")
    eth = RunResult.objects.get(run=run, crypto_symbol="ETH")
    assert int(price.get_attribute("data-stops")) == len(eth.trades) > 0
    # Trades list the bars each was held (the engine's count).
    held = page.locator("#trades-body tr td:nth-child(8)").all_inner_texts()
    assert len(held) == len(eth.trades) and all(h.isdigit() for h in held)
    assert sum(map(int, held)) / len(held) == pytest.approx(eth.avg_bars_held, abs=0.01)

    # Monthly returns: a row for 2024, twelve shaded months that compound to the year's return.
    row = page.locator('#monthly-body tr[data-year="2024"]')
    expect(row.locator("td")).to_have_count(13)
    months = [float(t.rstrip("%").replace(",", "")) for t in row.locator("td[data-month]").all_inner_texts()]
    year = math.prod(1 + m / 100 for m in months) - 1
    assert year * 100 == pytest.approx(eth.total_return, abs=0.6)  # each month shown with 1 decimal
    assert row.locator('td[class*="ret-"]').count() >= 10

    # Equity in percent; the log-scale switch.
    equity = page.locator("#equity-chart")
    expect(equity).to_have_attribute("data-scale", "linear")
    page.get_by_label("Log scale").check()
    expect(equity).to_have_attribute("data-scale", "log")
    assert "%" in equity.get_attribute("aria-label") and "drawdown" in equity.get_attribute("aria-label")

    frames = pan_and_zoom(page)
    assert max((s for _, _, s in frames), default=0) < 200, frames
    # Both charts moved together.
    page.wait_for_timeout(200)
    assert visible_range(page, "#price-chart") == visible_range(page, "#equity-chart")

    # Screenshots for the README: the whole dialog at 1440 px (a tall window, nothing scrolled away).
    page.set_viewport_size({"width": 1440, "height": 2300})
    page.get_by_label("Log scale").uncheck()
    page.locator("#trades-body tr").nth(3).click()
    page.wait_for_timeout(400)
    page.locator("#detail-modal .modal-body").evaluate("b => b.scrollTo(0, 0)")
    times = page.evaluate(
        "url => fetch(url).then(r => r.json()).then(c => c.bars.times)", f"/api/runs/{run.id}/results/ETH/chart/"
    )
    entry = times.index(int(dt.datetime.fromisoformat(eth.trades[3]["entry_time"]).timestamp()))
    hover_a_marker(page, 3, entry)
    page.locator(".modal-content").screenshot(path=str(output_dir / "coin-detail-full.png"))
    assert axe_violations(page, include="#detail-modal") == []

    # 1024 and 390 px: nothing wider than the window.
    for width, height in ((1024, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
        assert page.locator("#detail-modal .modal-body").evaluate("b => b.scrollWidth <= b.clientWidth + 1"), width
        assert page.locator("#price-chart").evaluate("c => c.getBoundingClientRect().right <= window.innerWidth"), width
        page.locator(".modal-content").screenshot(path=str(output_dir / f"coin-detail-{width}.png"))


@pytest.fixture
def five_minute_coin(transactional_db) -> Cryptocurrency:
    """A coin at DOGE's price level (about 0.08) with a year of 5-minute bars: 105,120."""
    coin = Cryptocurrency.objects.create(symbol="DOGE", name="Dogecoin (5-minute bars)")
    n = 105_120
    rng = np.random.default_rng(5)
    close = 0.08 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate([[0.08], close[:-1]])
    spread = np.abs(rng.normal(0, 0.001, n))
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    step = dt.timedelta(minutes=5)
    Price.objects.bulk_create(
        (
            Price(
                crypto=coin,
                datetime=t0 + i * step,
                open=Decimal(f"{open_[i]:.8f}"),
                high=Decimal(f"{max(open_[i], close[i]) * (1 + spread[i]):.8f}"),
                low=Decimal(f"{min(open_[i], close[i]) * (1 - spread[i]):.8f}"),
                close=Decimal(f"{close[i]:.8f}"),
                volume=Decimal(int(1e6 * (1 + spread[i] * 100))),
                interval_type="5m",
            )
            for i in range(n)
        ),
        batch_size=5000,
    )
    prices_version_bump(crypto_id=coin.id, interval="5m")
    _statistics_refresh()
    return coin


def test_a_year_of_five_minute_bars_draws_and_pans_smoothly(asgi_server, market, five_minute_coin, page):
    from rest_framework.test import APIClient

    api = APIClient()
    api.default_format = "json"
    created = api.post(
        "/api/runs/",
        {
            "strategy_id": Strategy.objects.get(key="bollinger_bands").id,
            "interval": "5m",
            "symbols": ["DOGE"],
            "parameters": {"bb_period": 200},
        },
    )
    assert created.status_code == 201, created.json()
    run = wait_run(created.json()["id"], timeout=120)
    assert run.status == "completed" and RunResult.objects.get(run=run).bars == 105_120
    page.set_viewport_size({"width": 1440, "height": 1000})
    ready(page, f"{asgi_server.url}/runs/{run.id}/")
    open_coin(page, "DOGE")
    price = page.locator("#price-chart")
    assert price.get_attribute("data-bars") == "105120"
    assert price.get_attribute("data-indicators") == "bb_upper|bb_middle|bb_lower"
    assert price.get_attribute("data-panes") == "1"  # the bands are on the candles
    # DOGE at 0.08: prices with 5 decimals (axis, read-out, trades), not 2.
    assert price.get_attribute("data-decimals") == "5"
    expect(page.locator(".chart-readout")).to_contain_text(re.compile(r" C 0\.\d{5} "))
    page.wait_for_timeout(500)
    frames = pan_and_zoom(page)
    assert max((s for _, _, s in frames), default=0) < 200, frames


def test_a_coin_whose_window_has_gaps_says_so_in_its_detail(asgi_server, market, page):
    sol = market["SOL"]
    first = Price.objects.filter(crypto=sol, interval_type="1h").order_by("datetime").first().datetime
    cut = [first + dt.timedelta(hours=h) for h in range(200, 205)]
    assert Price.objects.filter(crypto=sol, interval_type="1h", datetime__in=cut).delete()[0] == 5
    prices_version_bump(crypto_id=sol.id, interval="1h")
    ready(page, f"{asgi_server.url}/")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    open_coin(page, "SOL")
    gaps = page.locator("#detail-gaps")
    expect(gaps).to_be_visible()
    expect(gaps).to_contain_text("5 missing bars in 1 gap")
    expect(gaps.get_by_role("link", name="the Data page")).to_have_attribute("href", "/data/")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    open_coin(page, "ETH")  # a coin without holes: no warning, none left over from SOL
    expect(gaps).to_be_hidden()
