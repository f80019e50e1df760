"""Every page checked by axe-core (WCAG 2.1 A and AA, and best practice) in the real browser, and the
keyboard paths axe cannot see: the skip link, the coin list as one Tab stop, the dialog's focus trap,
focus kept when a run ends, the charts and the trade list reachable."""

from __future__ import annotations

import re

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from .conftest import axe_violations
from .pages import BROWSER, RUN_TIMEOUT, ready

pytestmark = BROWSER


def test_every_page_is_clean_for_axe(asgi_server, market, page, settings):
    base = asgi_server.url
    ready(page, f"{base}/")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Run backtest").click()
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    page.wait_for_timeout(400)  # the progress bar's transition
    assert axe_violations(page) == []
    page.locator('#results-body tr[data-symbol="BTC"] .coin-open').click()
    expect(page.locator("#price-chart")).to_have_attribute("data-drawn", "true")
    expect(page.locator("#equity-chart")).to_have_attribute("data-drawn", "true")
    page.wait_for_timeout(400)  # the dialog's fade
    assert axe_violations(page, "#detail-modal") == []
    page.goto(f"{base}/runs/")
    expect(page.locator("#runs-page")).to_have_attribute("data-ready", "true")
    assert axe_violations(page) == []
    page.goto(f"{base}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")
    # Swagger UI's own version badges and schema link (its low-contrast styling) are the library's;
    # the rest of its header is checked, and the page loads with no console error (its favicon).
    assert (
        axe_violations(page, ".swagger-ui .information-container", exclude=[".version-stamp", ".version", ".url"]) == []
    )

    User.objects.create_superuser("admin", "admin@example.com", "pw-for-the-test-only")
    page.goto(f"{base}/admin/login/")
    assert axe_violations(page) == []
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("pw-for-the-test-only")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_be_visible()
    page.wait_for_load_state("load")  # its stylesheets too, before the next page cancels them
    for path in ("/admin/", "/admin/strategies/strategy/1/change/", "/admin/market_data/cryptocurrency/"):
        page.goto(f"{base}{path}")
        # Django's tabular inline leaves its first header cell empty (its own template); the rest is checked.
        assert axe_violations(page, "#content", exclude=["thead th.original"]) == [], path


def focused(page: Page) -> str:
    return page.evaluate("document.activeElement?.id || document.activeElement?.tagName || ''")


def test_keyboard_paths_skip_link_coin_list_dialog_charts_trades_and_focus_at_the_end(asgi_server, market, page):
    ready(page, f"{asgi_server.url}/")
    # The skip link, focused, is painted on top (not under the navbar).
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y)?.textContent",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top == "Skip to content"

    # The coin list is one Tab stop: from the search box, Tab reaches All, None, then one coin, then the Run button.
    page.get_by_label("Search coins").focus()
    stops = []
    for _ in range(8):
        page.keyboard.press("Tab")
        stops.append(focused(page))
        if stops[-1] == "run-button":
            break
    assert stops[-1] == "run-button", stops
    assert len(stops) == 4, stops  # All, None, one coin, Run
    # Arrow keys move within the list; Space ticks.
    page.locator("#coin-list input").first.focus()
    page.keyboard.press("ArrowDown")
    second = page.locator("#coin-list input").nth(1)
    expect(second).to_be_focused()
    page.keyboard.press("Space")
    expect(second).not_to_be_checked()
    expect(page.locator("#coins-count")).to_have_text("3 of 4 coins")
    page.keyboard.press("Space")

    # Run from the keyboard: when it ends the focus is on the page's content, never lost to <body>.
    page.get_by_role("button", name="Run backtest").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    expect(page.locator("#run-status")).to_have_text("Completed")
    assert page.evaluate("document.activeElement !== document.body")
    # The run's final state read back and drawn (the page's last GET after `complete`) before the re-sort below.
    expect(page.locator("#backtest-page")).to_have_attribute("data-settled", "true", timeout=RUN_TIMEOUT)

    # The coin dialog keeps the focus inside, however many Tabs; the charts and the trade list are stops in it.
    expect(page.locator('#results-head th[data-key="total_return"]')).to_have_attribute("aria-sort", "descending")
    opener = page.locator('#results-body tr[data-symbol="BTC"] .coin-open')
    opener.focus()
    page.locator('#results-head th[data-key="symbol"] button').evaluate("b => b.click()")  # a re-sort moves the row
    expect(opener).to_be_focused()  # the focus moved with it
    page.keyboard.press("Enter")
    chart = page.locator("#price-chart")
    expect(chart).to_have_attribute("data-drawn", "true")
    expect(page.locator("#equity-chart")).to_have_attribute("data-drawn", "true")
    page.wait_for_timeout(400)  # the dialog's fade-in
    seen = set()
    for _ in range(12):
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('#detail-modal')"), focused(page)
        seen.add(focused(page))
    assert {"price-chart", "equity-chart"} <= seen, seen
    assert page.evaluate("[...document.querySelectorAll('#detail-modal .trades-scroll')].every(e => e.tabIndex === 0)")
    # A focused chart zooms in with "+" and pans with the arrow keys (zoomed in, a pan has bars to move to;
    # at the fitted view the chart stops a pan that would leave too few bars in view).
    chart.focus()
    page.keyboard.press("+")
    zoomed_in = "b => b.dataset.visibleTo - b.dataset.visibleFrom < 0.9 * parseInt(b.dataset.bars, 10)"
    page.wait_for_function(zoomed_in, arg=chart.element_handle())
    zoomed = float(chart.get_attribute("data-visible-from"))
    page.keyboard.press("ArrowLeft")
    left = "([box, than]) => parseFloat(box.dataset.visibleFrom) < than"
    page.wait_for_function(left, arg=[chart.element_handle(), zoomed])
    once = float(chart.get_attribute("data-visible-from"))
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(left, arg=[chart.element_handle(), once])
    # The chart containers hold the library's attribution link, so they are groups, not images.
    assert page.locator("#detail-modal [role=img] a").count() == 0
    page.keyboard.press("Escape")
    expect(page.locator('#results-body tr[data-symbol="BTC"] .coin-open')).to_be_focused()


def test_admin_formats_decimals_names_the_app_and_fits_1440_px(asgi_server, market, page):
    User.objects.create_superuser("admin", "admin@example.com", "pw-for-the-test-only")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{asgi_server.url}/admin/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("pw-for-the-test-only")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#content")).to_contain_text("Market data")
    page.wait_for_load_state("load")
    assert "MARKET_DATA" not in page.locator("#content").inner_text()
    page.goto(f"{asgi_server.url}/admin/strategies/strategy/1/change/")
    values = page.locator("input[name$='-min_value'], input[name$='-max_value']").evaluate_all(
        "es => es.map(e => e.value)"
    )
    assert values and all(re.fullmatch(r"-?\d+(\.\d*[1-9])?|", v) for v in values), values  # 2, 0.5, never 2.0000000000
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_compare_page_and_the_runs_ticks_are_clean_for_axe(asgi_server, market, page, browser_errors):
    from .test_portfolio_compare import BODY, post_run

    base = asgi_server.url
    ready(page, f"{base}/")
    a = post_run(page, BODY)
    b = post_run(page, {**BODY, "parameters": {"rsi_period": 21}})
    page.goto(f"{base}/runs/")
    expect(page.locator("#runs-page")).to_have_attribute("data-ready", "true")
    for run in (a, b):
        page.locator(f'tr[data-run-id="{run.id}"] input[type=checkbox]').check()
    expect(page.locator("#compare-button")).to_be_enabled()
    assert axe_violations(page) == []
    page.locator("#compare-button").click()
    expect(page.locator("#compare-page")).to_have_attribute("data-ready", "true")
    expect(page.locator("#compare-chart")).to_have_attribute("data-drawn", "true")
    assert axe_violations(page) == []
    # The tables that scroll sideways on a phone are Tab stops, so the keyboard scrolls them too.
    page.set_viewport_size({"width": 390, "height": 900})
    page.wait_for_timeout(200)
    assert axe_violations(page) == []
    browser_errors.expect(r"status of 400")  # the API's answer to a bad id, which the page then explains
    page.goto(f"{base}/compare/?runs={a.id},not-a-run")
    page_errors = page.locator("#compare-error")
    expect(page_errors).to_be_visible()
    assert axe_violations(page) == []
