"""The Content-Security-Policy in the real browser: every page of the site, used as a visitor uses it
(a run with its account panel and coin charts, a sweep with its heatmap and walk-forward curve, the
admin's login, the API docs), reports no violation and carries the header.

A violation fires `securitypolicyviolation` (recorded from before the page's first script) and logs
a console error (which the conftest's error check fails on as well).
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from rest_framework.test import APIClient

from runs.models import BacktestRun
from strategies.models import Strategy
from tests.support import wait_run

from .pages import BROWSER, RUN_TIMEOUT
from .test_sweep_page import wait_finished

pytestmark = BROWSER

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} at ${where} ${e.sample}`);
}, true);
"""


def policy_of(response) -> dict[str, str]:
    header = response.headers.get("content-security-policy")
    assert header, f"no Content-Security-Policy on {response.url}"
    return dict((part.strip().split(" ", 1) + [""])[:2] for part in header.split(";") if part.strip())


def visit(page: Page, url: str) -> dict[str, str]:
    response = page.goto(url)
    assert response is not None and response.ok, url
    policy = policy_of(response)
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    return policy


def hover_over(page: Page, selector: str) -> None:
    """Move the mouse across a chart, so its tooltip and crosshair are drawn (ECharts writes HTML)."""
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    for fraction in (0.3, 0.5, 0.7):
        page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.5)
        page.wait_for_timeout(120)


def no_violations(page: Page, where: str) -> None:
    violations = page.evaluate("window.__csp")
    assert violations == [], f"CSP violations on {where}: {violations}"


def test_no_page_of_the_site_breaks_its_content_security_policy(asgi_server, market, page):
    base = asgi_server.url
    page.add_init_script(RECORD_VIOLATIONS)

    # The backtest page: a run with an account panel (ECharts bars, lightweight-charts curves).
    visit(page, f"{base}/")
    expect(page.locator("#backtest-page")).to_have_attribute("data-ready", "true")
    page.locator("#coin-list input[value=XSS]").uncheck()
    page.get_by_label("Portfolio slots").fill("2")
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    expect(page.locator("#portfolio")).to_have_attribute("data-state", "stored")
    expect(page.locator("#contributions-chart")).to_have_attribute("data-bars", "3")
    hover_over(page, "#contributions-chart")
    hover_over(page, "#portfolio-chart")
    page.locator('#results-body tr[data-symbol="BTC"] .coin-open').click()
    expect(page.locator("#price-chart")).to_have_attribute("data-drawn", "true")
    hover_over(page, "#price-chart")
    no_violations(page, "/ after a run")
    run = BacktestRun.objects.order_by("-created_at").first()

    # The run's own page, reopened from the store.
    visit(page, f"{base}/runs/{run.id}/")
    expect(page.locator("#portfolio")).to_have_attribute("data-state", "stored")
    hover_over(page, "#contributions-chart")
    no_violations(page, "the run page")

    visit(page, f"{base}/runs/")
    expect(page.locator("#runs-page")).to_have_attribute("data-ready", "true")
    no_violations(page, "/runs/")

    second = APIClient().post(
        "/api/runs/",
        {"strategy_id": 2, "start_date": "2024-01-01", "end_date": "2024-12-31", "symbols": ["BTC", "ETH"]},
        format="json",
    )
    assert second.status_code == 201, second.json()
    wait_run(second.json()["id"])
    visit(page, f"{base}/compare/?runs={run.id},{second.json()['id']}")
    expect(page.locator("#compare-page")).to_have_attribute("data-ready", "true")
    no_violations(page, "/compare/")

    # Sweeps: the form, the list, and a sweep's page (heatmap and walk-forward curve, both ECharts).
    visit(page, f"{base}/sweeps/new")
    expect(page.locator("#sweep-form")).to_have_attribute("data-ready", "true")
    no_violations(page, "/sweeps/new")
    ma = Strategy.objects.get(key="ma_crossover")
    created = APIClient().post(
        "/api/sweeps/",
        {
            "strategy_id": ma.id,
            "start_date": "2024-01-01",
            "end_date": "2024-12-31",
            "grid": {"fast_ma_period": [5, 10], "slow_ma_period": [20, 40]},
            "walk_forward": {"folds": 2, "mode": "anchored"},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    wait_finished(created.json()["id"])
    visit(page, f"{base}/sweeps/")
    expect(page.locator("#sweeps-page")).to_have_attribute("data-ready", "true")
    no_violations(page, "/sweeps/")
    visit(page, f"{base}{created.json()['page_url']}")
    expect(page.locator("#sweep-page")).to_have_attribute("data-ready", "true")
    expect(page.locator("#wf-chart")).to_have_attribute("data-points", re.compile(r"\d+"))
    hover_over(page, "#heatmap")
    page.locator("#wf-chart").scroll_into_view_if_needed()
    hover_over(page, "#wf-chart")
    no_violations(page, "a sweep's page")

    for path, ready in (
        ("/methods/", "main h1"),
        ("/data/", "#data-page[data-ready=true]"),
        ("/admin/login/", "#id_username"),
    ):
        visit(page, f"{base}{path}")
        expect(page.locator(ready).first).to_be_visible()
        no_violations(page, path)

    visit(page, f"{base}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")
    no_violations(page, "/api/docs/")


def test_a_violation_would_be_seen(asgi_server, page, browser_errors):
    """The listener and the policy are live: an inline script injected into a page is refused,
    reported, and does not run."""
    browser_errors.expect(r"(Refused to execute|Executing) inline script")  # older and newer Chromium
    page.add_init_script(RECORD_VIOLATIONS)
    visit(page, f"{asgi_server.url}/methods/")
    page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.__ran = true";
            document.body.append(s);
        }"""
    )
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__ran === undefined")
    assert page.evaluate("window.__csp[0]").startswith("script-src-elem blocked inline")


def test_redoc_loads_under_its_relaxed_policy(asgi_server, page, browser_errors):
    """/api/redoc/ alone allows inline <style> elements (Redoc's styled-components) and a blob: worker.
    Its "powered by" logo from Redocly's CDN stays refused: no other origin, on this page too."""
    browser_errors.expect(r"cdn\.redoc\.ly")
    page.add_init_script(RECORD_VIOLATIONS)
    policy = visit(page, f"{asgi_server.url}/api/redoc/")
    assert policy["style-src-elem"] == "'self' 'unsafe-inline'" and "blob:" in policy["worker-src"]
    assert "unsafe-inline" not in policy["script-src"]
    page.wait_for_selector(".api-content h1")
    page.wait_for_timeout(500)
    violations = page.evaluate("window.__csp")
    assert [v for v in violations if not v.startswith("img-src blocked https://cdn.redoc.ly/")] == []
