"""A rule strategy written in the real admin form, in a real browser: refused with a caret, then
saved, understood, and tried on one coin."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from strategies.models import Strategy

from .pages import BROWSER

pytestmark = BROWSER

PARAMETERS = [
    ("rsi_period", "integer", "14", "2", "500"),
    ("oversold", "number", "30", "0", "100"),
    ("overbought", "number", "70", "0", "100"),
    ("trend_period", "integer", "200", "1", "2000"),
]


def login(page: Page, base: str) -> None:
    get_user_model().objects.create_superuser("admin", "admin@example.com", "pw-for-tests-only")
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "pw-for-tests-only")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()


def test_a_rule_strategy_written_in_the_admin_form(page: Page, asgi_server, market, browser_errors):
    browser_errors.expect(r"favicon\.ico")  # the admin's pages name no icon; the browser asks anyway
    base = asgi_server.url
    login(page, base)
    page.goto(f"{base}/admin/strategies/strategy/add/")
    page.fill("#id_name", "Trend-filtered RSI")
    page.select_option("#id_kind", "rules")
    page.fill("#id_entry_rule", "rsi(close, rsi_period) < oversold and close > sma(close, trend_periodd)")
    page.fill("#id_exit_rule", "crosses_above(rsi(close, rsi_period), overbought)")
    for i, (name, kind, default, low, high) in enumerate(PARAMETERS):
        if i > 0:
            page.click(".add-row a")
        page.fill(f"#id_parameters-{i}-parameter_name", name)
        page.select_option(f"#id_parameters-{i}-parameter_type", kind)
        page.fill(f"#id_parameters-{i}-default_value", default)
        page.fill(f"#id_parameters-{i}-min_value", low)
        page.fill(f"#id_parameters-{i}-max_value", high)
    page.click("input[name=_continue]")

    # refused: the error under the entry rule, the caret under the column of the unknown name
    error = page.locator("#id_entry_rule_error")
    expect(error).to_contain_text("line 1, column 58: unknown name 'trend_periodd'")
    caret_line = error.locator("pre").inner_text().split("\n")[1]
    assert caret_line.index("^") == 57
    assert not Strategy.objects.filter(name="Trend-filtered RSI").exists()

    page.fill("#id_entry_rule", "rsi(close, rsi_period) < oversold and close > sma(close, trend_period)")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("Rules understood as: warm-up 200 bars at the defaults")
    expect(page.locator(".field-understood")).to_contain_text("parameters used: overbought, oversold, rsi_period")
    strategy = Strategy.objects.get(name="Trend-filtered RSI")
    assert strategy.is_rules and strategy.parameters.filter(parameter_name="stop_loss_threshold").exists()

    page.click("text=Try on one coin")
    page.select_option("#coin", "BTC")
    page.click("#try-run")
    expect(page.locator("#try-summary")).to_contain_text("Return")
    rows = page.locator("#try-trades tbody tr").count()
    assert rows > 0
    assert f"over {rows} trades" in page.locator("#try-summary").inner_text()
