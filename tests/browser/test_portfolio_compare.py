"""The run's account on the run page (live from its `portfolio` event, and reopened) and runs compared
side by side (`/runs/` ticks -> `/compare/?runs=...`), in the real browser against the real API and stream.
Screenshots of both at 1440 px go to docs/ (the README shows them), 1024 and 390 px to test-output/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from market_data.services import demo_universe_load
from runs.models import BacktestRun
from tests.support import wait_run

from .conftest import axe_violations
from .pages import BROWSER, RUN_TIMEOUT, ready

pytestmark = BROWSER

DOCS = Path(__file__).resolve().parents[2] / "docs"
# The panel's data-state as it changes: "event" (the live `portfolio` event), then "stored" (the API).
RECORD_STATES = """
window.__portfolioStates = [];
document.addEventListener("DOMContentLoaded", () => {
  const panel = document.getElementById("portfolio");
  if (!panel) return;
  new MutationObserver(() => {
    const s = panel.dataset.state;
    if (s && window.__portfolioStates.at(-1) !== s) window.__portfolioStates.push(s);
  }).observe(panel, { attributes: true, attributeFilter: ["data-state"] });
});
"""


def pct(value: float) -> str:
    return f"{'+' if value > 0 else ''}{value:,.2f}%"


def post_run(page: Page, body: dict) -> BacktestRun:
    """A run made through the page's own origin (its session and CSRF token), waited for."""
    answer = page.evaluate(
        """async (body) => {
            const token = document.querySelector('meta[name="csrf-token"]')?.content || '';
            const r = await fetch('/api/runs/', { method: 'POST', credentials: 'same-origin',
              headers: { 'Content-Type': 'application/json', 'X-CSRFToken': token }, body: JSON.stringify(body) });
            return { status: r.status, body: await r.json() };
        }""",
        body,
    )
    assert answer["status"] == 201, answer
    return wait_run(answer["body"]["id"])


BODY = {
    "strategy_id": 1,
    "parameters": {},
    "start_date": "2024-01-01",
    "end_date": "2024-12-31",
    "symbols": ["BTC", "ETH", "SOL"],
}


# A dozen coins for the panel (its screenshot in the README): the test's three and nine more.
MORE_COINS = ["BNB", "XRP", "ADA", "DOGE", "AVAX", "DOT", "LINK", "LTC", "ATOM"]


def test_portfolio_panel_live_from_its_event_then_stored_and_reopened(asgi_server, market, page, output_dir):
    demo_universe_load(symbols=MORE_COINS)
    page.add_init_script(RECORD_STATES)
    page.set_viewport_size({"width": 1440, "height": 1000})
    ready(page, f"{asgi_server.url}/")
    page.locator("#coin-list input[value=XSS]").uncheck()
    page.get_by_label("Portfolio slots").fill("4")
    page.get_by_role("button", name="Run backtest").click()
    panel = page.locator("#portfolio")
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    expect(panel).to_have_attribute("data-state", "stored")
    # The metrics came first from the run's `portfolio` event, then the curves from the stored run.
    assert page.evaluate("window.__portfolioStates") == ["event", "stored"]
    run = BacktestRun.objects.select_related("portfolio").order_by("-created_at").first()
    assert run.portfolio_slots == 4 and run.portfolio.slots == 4 and run.portfolio.coins == 12
    detail = page.evaluate(f"fetch('/api/runs/{run.id}/').then(r => r.json())")["portfolio"]
    metrics, isolated = detail["metrics"], detail["isolated"]

    expect(page.locator("#portfolio-meta")).to_have_text("12 coins · at most 4 positions at once")
    row = page.locator('#portfolio-metrics-body tr[data-key="total_return"]')
    expect(row.locator('[data-col="shared"]')).to_have_text(pct(metrics["total_return"]))
    expect(row.locator('[data-col="alone"]')).to_have_text(pct(isolated["metrics"]["total_return"]))
    diff = round(metrics["total_return"] - isolated["metrics"]["total_return"], 2)
    expect(row.locator('[data-col="diff"]')).to_have_text(pct(diff))
    trades = page.locator('#portfolio-metrics-body tr[data-key="total_trades"] [data-col="alone"]')
    expect(trades).to_have_text(f"{isolated['metrics']['total_trades']:,}")
    skipped = metrics["skipped_entries"]
    assert skipped > 0  # four slots for twelve coins: some entries find them taken
    expect(page.locator("#portfolio-skipped")).to_have_text(f"{skipped:,} entries skipped for want of a slot")
    expect(page.locator('#portfolio-metrics-body tr[data-key="skipped_entries"] [data-col="shared"]')).to_have_text(
        f"{skipped:,}"
    )
    chart = page.locator("#portfolio-chart")
    expect(chart).to_have_attribute("data-drawn", "true")
    assert chart.get_attribute("data-lines") == "2" and chart.get_attribute("data-panes") == "2"  # + drawdown pane
    assert chart.locator("canvas").count() > 0
    bars = page.locator("#contributions-chart")
    expect(bars).to_have_attribute("data-bars", "12")
    assert bars.locator("canvas").count() > 0
    # The contributions table: each coin's share, shared and alone, as the API says (largest first).
    page.locator("#contributions-details summary").click()
    contributions = detail["contributions"]
    order = sorted(contributions, key=lambda s: (-contributions[s], s))
    expect(page.locator("#contributions-body tr")).to_have_count(12)
    assert page.locator("#contributions-body tr").evaluate_all("rs => rs.map(r => r.dataset.symbol)") == order
    first = page.locator(f'#contributions-body tr[data-symbol="{order[0]}"] td')
    expect(first.nth(0)).to_have_text(pct(contributions[order[0]]))
    expect(first.nth(1)).to_have_text(pct(isolated["contributions"][order[0]]))
    page.locator("#contributions-details summary").click()
    assert axe_violations(page, "#portfolio") == []
    page.wait_for_timeout(300)
    panel.screenshot(path=str(DOCS / "portfolio.png"))

    # Reopened: the same panel straight from the stored run, no event; the form shows the slots.
    page.goto(f"{asgi_server.url}/runs/{run.id}/")
    expect(panel).to_have_attribute("data-state", "stored")
    assert page.evaluate("window.__portfolioStates") == ["stored"]
    expect(page.get_by_label("Portfolio slots")).to_have_value("4")
    expect(row.locator('[data-col="shared"]')).to_have_text(pct(metrics["total_return"]))
    expect(page.locator("#contributions-chart")).to_have_attribute("data-bars", "12")
    expect(page.locator("#portfolio-chart")).to_have_attribute("data-drawn", "true")
    for width in (1024, 390):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), width
        panel.screenshot(path=str(output_dir / f"portfolio-{width}.png"))


def test_bad_slots_are_refused_next_to_the_field(asgi_server, market, page):
    ready(page, f"{asgi_server.url}/")
    page.get_by_label("Portfolio slots").fill("0")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#portfolio_slots-error")).to_contain_text("from 1 to 1000")
    expect(page.get_by_label("Portfolio slots")).to_be_focused()
    assert BacktestRun.objects.count() == 0


def test_compare_from_the_runs_list(asgi_server, market, page, output_dir):
    page.set_viewport_size({"width": 1440, "height": 1000})
    ready(page, f"{asgi_server.url}/")
    a = post_run(page, BODY)
    b = post_run(page, {**BODY, "parameters": {"rsi_period": 21}, "portfolio_slots": 2})
    c = post_run(page, {**BODY, "parameters": {"rsi_period": 21}, "portfolio_slots": 2, "fee_pct": 0.2})

    page.goto(f"{asgi_server.url}/runs/")
    expect(page.locator("#runs-page")).to_have_attribute("data-ready", "true")
    compare = page.locator("#compare-button")
    expect(compare).to_be_disabled()
    # Ticking a box never opens its run (the row's click does).
    page.locator(f'tr[data-run-id="{c.id}"] input[type=checkbox]').check()
    expect(page).to_have_url(f"{asgi_server.url}/runs/")
    expect(compare).to_be_disabled()
    page.locator(f'tr[data-run-id="{a.id}"] input[type=checkbox]').check()
    page.locator(f'tr[data-run-id="{b.id}"] input[type=checkbox]').check()
    expect(compare).to_be_enabled()
    expect(compare).to_have_text("Compare 3")
    compare.click()
    # The oldest first: A is the reference of the deltas.
    expect(page).to_have_url(f"{asgi_server.url}/compare/?runs={a.id},{b.id},{c.id}")
    root = page.locator("#compare-page")
    expect(root).to_have_attribute("data-ready", "true")
    api = page.evaluate(f"fetch('/api/runs/compare/?ids={a.id},{b.id},{c.id}').then(r => r.json())")

    # What changed: every input that differs, and said plainly that more than one does.
    expect(page.locator("#changes-body tr")).to_have_count(3)
    inputs = page.locator("#changes-body tr").evaluate_all("rs => rs.map(r => r.dataset.input)")
    assert set(inputs) == {"parameters.rsi_period", "portfolio_slots", "fee_pct"}
    expect(page.locator("#changes-verdict")).to_contain_text("3 inputs differ")
    expect(page.locator("#changes-verdict")).to_contain_text("cannot be pinned on one")
    slots = page.locator('#changes-body tr[data-input="portfolio_slots"] td')
    expect(slots).to_have_text(["one per coin", "2", "2"])
    fee = page.locator('#changes-body tr[data-input="fee_pct"] td')
    expect(fee).to_have_text(["0.00%", "0.00%", "0.20%"])

    # Metrics: rows as the API, the best of each row marked in its column (and only there).
    rows = {r["metric"]: r for r in api["metrics"]}
    expect(page.locator("#metrics-body tr[data-metric]")).to_have_count(len(api["metrics"]))
    marked = 0
    for name, r in rows.items():
        cells = page.locator(f'#metrics-body tr[data-metric="{name}"] td')
        best = cells.evaluate_all("cs => cs.map(c => c.dataset.best === 'true')")
        assert best == [r["best"] == k for k in range(3)], name
        marked += r["best"] is not None
    assert marked >= 5  # the runs differ: most rows have one best
    ret = rows["total_return"]
    cells = page.locator('#metrics-body tr[data-metric="total_return"] td')
    expect(cells.nth(0)).to_contain_text(pct(ret["values"][0]))
    if ret["best"] is not None:
        expect(cells.nth(ret["best"]).locator(".best-mark")).to_have_text("best")

    # The accounts' curves overlaid, one line per run, with the drawdown pane.
    chart = page.locator("#compare-chart")
    expect(chart).to_have_attribute("data-drawn", "true")
    assert chart.get_attribute("data-lines") == "3" and chart.get_attribute("data-panes") == "2"
    expect(page.locator("#curves-legend")).to_contain_text("A RSI Mean Reversion")

    # Per-coin deltas: the coins of every run, sorted by B's change in return (largest first), then by a click.
    body = page.locator("#deltas-body tr")
    expect(body).to_have_count(3)
    by_b = sorted(api["coins"], key=lambda e: (-e["runs"][0]["total_return"], e["crypto_symbol"]))
    assert body.evaluate_all("rs => rs.map(r => r.dataset.symbol)") == [e["crypto_symbol"] for e in by_b]
    btc = next(e for e in api["coins"] if e["crypto_symbol"] == "BTC")
    expect(page.locator('#deltas-body tr[data-symbol="BTC"] td[data-key="0.total_return"]')).to_have_text(
        pct(btc["runs"][0]["total_return"])
    )
    header = page.locator('#deltas-head th[data-key="1.total_trades"]')
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    by_trades = sorted(api["coins"], key=lambda e: (-e["runs"][1]["total_trades"], e["crypto_symbol"]))
    assert body.evaluate_all("rs => rs.map(r => r.dataset.symbol)") == [e["crypto_symbol"] for e in by_trades]
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    ascending = sorted(api["coins"], key=lambda e: (e["runs"][1]["total_trades"], e["crypto_symbol"]))
    assert body.evaluate_all("rs => rs.map(r => r.dataset.symbol)") == [e["crypto_symbol"] for e in ascending]
    page.locator('#deltas-head th[data-key="symbol"] button').click()
    assert body.evaluate_all("rs => rs.map(r => r.dataset.symbol)") == ["BTC", "ETH", "SOL"]

    assert axe_violations(page) == []
    page.wait_for_timeout(300)
    page.screenshot(path=str(DOCS / "compare.png"), full_page=True)
    for width in (1024, 390):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), width
        page.screenshot(path=str(output_dir / f"compare-{width}.png"), full_page=True)


@pytest.mark.parametrize(
    ("query", "message", "kind"),
    [  # too few runs is guidance (info), a bad or unknown id an error (danger)
        ("", "No runs are named", "alert-info"),
        ("?runs=00000000-0000-0000-0000-000000000001", "Only one run is named", "alert-info"),
        ("?runs=nope,also-nope", "not a run id", "alert-danger"),
        (
            "?runs=00000000-0000-0000-0000-000000000001,00000000-0000-0000-0000-000000000002",
            "unknown runs",
            "alert-danger",
        ),
    ],
)
def test_bad_or_unknown_ids_in_the_address_say_so(asgi_server, market, page, browser_errors, query, message, kind):
    browser_errors.expect(r"status of 400")
    page.goto(f"{asgi_server.url}/compare/{query}")
    expect(page.locator("#compare-page")).to_have_attribute("data-ready", "error")
    alert = page.locator("#compare-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(re.compile(message))
    expect(alert).to_have_class(re.compile(rf"\b{kind}\b"))
    other = "alert-danger" if kind == "alert-info" else "alert-info"
    expect(alert).not_to_have_class(re.compile(rf"\b{other}\b"))
    expect(page.locator("#compare-body")).to_be_hidden()


def test_one_change_is_named_alone_and_the_coins_in_both_runs_are_compared(asgi_server, market, page):
    ready(page, f"{asgi_server.url}/")
    a = post_run(page, BODY)
    b = post_run(page, {**BODY, "symbols": ["BTC", "ETH"]})
    page.goto(f"{asgi_server.url}/compare/?runs={a.id},{b.id}")
    expect(page.locator("#compare-page")).to_have_attribute("data-ready", "true")
    expect(page.locator("#changes-verdict")).to_have_text(re.compile(r"^One input differs: Coins\."))
    expect(page.locator('#changes-body tr[data-input="coins"] td')).to_have_text(["3 coins", "2 coins · −SOL"])
    # Same settings on the coins both ran: no change at all, coin by coin.
    expect(page.locator("#deltas-body tr")).to_have_count(2)
    # equal changes (none) keep the coins in symbol order
    assert page.locator("#deltas-body tr").evaluate_all("rs => rs.map(r => r.dataset.symbol)") == ["BTC", "ETH"]
    changes = page.locator('#deltas-body td[data-key="0.total_return"]').all_inner_texts()
    assert changes == ["0.00%", "0.00%"]
    expect(page.locator("#deltas-summary")).to_have_text("B: 0 coins better, 0 worse than A on return")
