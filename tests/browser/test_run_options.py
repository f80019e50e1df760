"""The run page's fills, columns, names and the pages around a run (issues 11 and 17), in the real browser
against the real API: fill presets stamped on runs and in the list, the results' column chooser (kept in
this browser) and the CSV with every metric, the summary's averages, a run named, noted and deleted, the
list searched by name and shown as cards on a phone, a start date before the data, the Sweep button's
prefilled sweep form, and the Methods page; axe-core clean on what they add. Screenshots at 1440, 1024 and
390 px go to test-output/."""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import Page, expect

from runs.models import FILL_PRESETS, METRIC_FIELDS, BacktestRun, RunResult
from strategies.engine import METRICS

from .conftest import axe_violations
from .pages import BROWSER, RUN_TIMEOUT, ready

pytestmark = BROWSER

LABELS = {m.name: m.label for m in METRICS}


def run_and_wait(page: Page) -> BacktestRun:
    before = page.url
    page.get_by_role("button", name="Run backtest").click()
    expect(page).not_to_have_url(before)  # the new run's address: its own summary follows
    expect(page.locator("#summary")).to_be_visible(timeout=RUN_TIMEOUT)
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=RUN_TIMEOUT)
    # the page's last look at the stored run, before the test moves on
    expect(page.locator("#backtest-page")).to_have_attribute("data-settled", "true", timeout=RUN_TIMEOUT)
    return BacktestRun.objects.order_by("-created_at").first()


def test_fill_presets_are_sent_stamped_on_the_run_said_in_words_and_listed(asgi_server, market, open_page, output_dir):
    base = asgi_server.url
    page = open_page(viewport={"width": 1440, "height": 1000})
    ready(page, f"{base}/")
    preset = page.get_by_label("Fills", exact=True)
    expect(preset).to_have_value("original")
    expect(page.locator("#fill-custom")).to_be_hidden()
    realistic = FILL_PRESETS[2]
    preset.select_option(label=realistic["label"])
    expect(page.locator("#fill_preset-help")).to_contain_text("next bar's open")
    page.locator("#coin-list input[value=XSS]").uncheck()
    run = run_and_wait(page)
    assert (run.fill, run.stop_mode, run.slippage_pct) == ("next_open", "intrabar", 0.05)
    expect(page.locator("#run-fill-preset")).to_have_text(realistic["label"])
    expect(page.locator("#run-fills-text")).to_contain_text("next bar's open")
    expect(page.locator("#run-fills-text")).to_contain_text("0.05 % slippage")
    expect(page.locator("#run-meta")).to_contain_text("3 coins: BTC, ETH, SOL")
    page.locator("#run-bars").scroll_into_view_if_needed()
    page.screenshot(path=str(output_dir / "run-options-1440.png"), full_page=True)

    # Custom reveals the three fields; its values are sent as typed, and the run says "Custom".
    preset.select_option("custom")
    expect(page.locator("#fill-custom")).to_be_visible()
    page.get_by_label("Stop-loss", exact=True).select_option("close")
    page.get_by_label("Slippage per fill (%)").fill("0.2")
    assert axe_violations(page, "#run-form") == []
    run = run_and_wait(page)
    assert (run.fill, run.stop_mode, run.slippage_pct) == ("next_open", "close", 0.2)
    expect(page.locator("#run-fill-preset")).to_have_text("Custom")

    # Reopened, the form is filled with the run's fills; the list shows the fee, the fills and the coins.
    ready(page, f"{base}/runs/{run.id}/")
    expect(page.get_by_label("Fills", exact=True)).to_have_value("custom")
    expect(page.get_by_label("Slippage per fill (%)")).to_have_value("0.2")
    page.goto(f"{base}/runs/")
    expect(page.locator("#runs-page")).to_have_attribute("data-ready", "true")
    rows = page.locator("#runs-body tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator(".run-fill-preset")).to_have_text("Custom")
    expect(rows.nth(1).locator(".run-fill-preset")).to_have_text(realistic["label"])
    expect(rows.nth(0).locator(".run-fills")).to_contain_text("fee 0.00%")
    expect(rows.nth(0).locator(".run-coin-names")).to_have_text("BTC, ETH, SOL")


def test_the_column_chooser_is_remembered_and_the_csv_and_summary_carry_every_metric(
    asgi_server, market, open_page, output_dir
):
    base = asgi_server.url
    page = open_page(viewport={"width": 1024, "height": 900})
    ready(page, f"{base}/")
    run = run_and_wait(page)
    headers = page.locator("#results-head th")
    default = [h.strip() for h in headers.all_inner_texts()]
    assert LABELS["cagr"] not in default and LABELS["sortino_ratio"] not in default
    page.get_by_role("button", name="Columns").click()
    menu = page.locator("#columns-menu")
    expect(menu).to_be_visible()
    assert axe_violations(page, "#columns-menu") == []
    menu.get_by_label(LABELS["cagr"], exact=True).check()
    menu.get_by_label(LABELS["profit_factor"], exact=True).check()
    menu.get_by_label(LABELS["stop_loss_exits"], exact=True).uncheck()
    shown = [h.strip() for h in headers.all_inner_texts()]
    assert LABELS["cagr"] in shown and LABELS["profit_factor"] in shown and LABELS["stop_loss_exits"] not in shown
    btc = RunResult.objects.get(run=run, crypto_symbol="BTC")
    cagr_index = shown.index(LABELS["cagr"])
    cell = page.locator('#results-body tr[data-symbol="BTC"] > *').nth(cagr_index)
    expect(cell).to_have_text(f"{btc.cagr:+,.2f}%")
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    page.locator("#results-table").scroll_into_view_if_needed()
    # more columns than fit scroll inside the results card, never the page
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    page.screenshot(path=str(output_dir / "run-columns-1024.png"), full_page=False)

    # Remembered in this browser: a reload shows the same columns.
    ready(page, f"{base}/runs/{run.id}/")
    expect(page.locator('#results-head th[data-key="cagr"]')).to_have_count(1)
    expect(page.locator('#results-head th[data-key="stop_loss_exits"]')).to_have_count(0)
    # The CSV has every metric, shown or not.
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert set(METRIC_FIELDS) <= set(rows[0])
    line = next(r for r in rows if r[0] == "BTC")
    assert float(line[rows[0].index("max_drawdown_duration")]) == btc.max_drawdown_duration
    # The summary's averages, labelled as their metrics.
    summary = run.summary
    card = page.locator('.summary-card[data-key="avg_sharpe_ratio"]')
    expect(card).to_contain_text(f"Avg {LABELS['sharpe_ratio']}")
    expect(card.locator(".fs-5")).to_have_text(f"{summary['avg_sharpe_ratio']:.2f}")
    assert summary["avg_max_drawdown"] <= 0
    expect(page.locator('.summary-card[data-key="avg_max_drawdown"] .fs-5')).to_have_text(
        f"{summary['avg_max_drawdown']:,.2f}%"
    )
    # Back to the defaults.
    page.get_by_role("button", name="Columns").click()
    page.get_by_role("button", name="Default columns").click()
    assert [h.strip() for h in headers.all_inner_texts()] == default


def test_a_run_is_named_noted_found_by_name_shown_as_a_card_on_a_phone_and_deleted(
    asgi_server, market, open_page, output_dir
):
    base = asgi_server.url
    page = open_page()
    ready(page, f"{base}/")
    page.get_by_label("Run name").fill("Baseline RSI")
    run = run_and_wait(page)
    assert run.name == "Baseline RSI"
    expect(page.locator("#run-name")).to_have_text("Baseline RSI")
    page.get_by_role("button", name="Name and note…").click()
    page.get_by_label("Note").fill("no fee; compare with 0.1 %")
    assert axe_violations(page, "#run-panel") == []
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#run-note")).to_have_text("no fee; compare with 0.1 %")
    run.refresh_from_db()
    assert run.note == "no fee; compare with 0.1 %"
    # a second run to search past
    ready(page, f"{base}/")
    run_and_wait(page)

    phone = open_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(f"{base}/runs/")
    expect(phone.locator("#runs-page")).to_have_attribute("data-ready", "true")
    expect(phone.locator("#runs-body tr")).to_have_count(2)
    phone.get_by_label("Search by name").fill("baseline")
    expect(phone.locator("#runs-body tr")).to_have_count(1)
    assert "search=baseline" in phone.url
    card = phone.locator("#runs-body tr").first
    expect(card.locator(".run-link")).to_have_text("Baseline RSI")
    expect(card).to_contain_text("no fee; compare with 0.1 %")
    assert card.evaluate("tr => getComputedStyle(tr).display") == "block"  # a card, not a table row
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_violations(phone) == []
    phone.screenshot(path=str(output_dir / "runs-phone-390.png"), full_page=True)
    phone.get_by_label("Search by name").fill("nothing like it")
    expect(phone.locator("#runs-empty")).to_contain_text("No run is named like")

    # Delete: asked once more on the page, then gone with its results; the list says so.
    ready(page, f"{base}/runs/{run.id}/")
    page.get_by_role("button", name="Delete run").click()
    page.get_by_role("button", name="Delete it, with its results").click()
    expect(page.locator("#runs-deleted")).to_contain_text("Baseline RSI")
    assert not BacktestRun.objects.filter(id=run.id).exists()
    assert not RunResult.objects.filter(run_id=run.id).exists()
    expect(page.locator("#runs-body tr")).to_have_count(1)


def test_a_start_date_before_the_data_is_said_and_the_run_is_labelled_with_its_bars(asgi_server, market, page):
    ready(page, f"{asgi_server.url}/")
    page.locator("#coin-list input[value=XSS]").uncheck()
    page.get_by_label("From").fill("2023-01-01")
    expect(page.locator("#start_date-warning")).to_contain_text("Before the data: the first 1h bar is on 2024-01-01")
    run = run_and_wait(page)
    assert run.start_date == "2023-01-01"
    expect(page.locator("#run-bars")).to_have_text("Bars used: 2024-01-01 00:00 UTC → 2024-12-31 23:00 UTC")
    warning = page.locator('#run-warnings [data-field="start_date"]')
    expect(warning).to_contain_text("From: 2023-01-01 is before the data: the first bar used is 2024-01-01 00:00 UTC")


def test_the_sweep_button_opens_the_sweep_form_with_this_form(asgi_server, market, page):
    base = asgi_server.url
    ready(page, f"{base}/")
    page.get_by_label("Strategy").select_option(label="Moving Average Crossover")
    page.get_by_label("Fast MA period").fill("7")
    page.get_by_label("Stop-loss (%)").fill("6.5")
    page.get_by_label("Fee per fill (%)").fill("0.1")
    page.get_by_label("Fills", exact=True).select_option("next_open")
    page.get_by_label("From").fill("2024-02-01")
    page.get_by_role("button", name="None").click()
    for symbol in ("BTC", "SOL"):
        page.locator(f"#coin-list input[value={symbol}]").check()
    page.get_by_role("button", name="Sweep…").click()
    expect(page).to_have_url(re.compile(r"/sweeps/new\?"))
    form = page.locator("#sweep-form")
    expect(form).to_have_attribute("data-ready", "true")
    strategy_id = BacktestRun._meta.get_field("strategy").related_model.objects.get(key="ma_crossover").id
    expect(page.locator("#strategy")).to_have_value(str(strategy_id))
    expect(page.locator("#param-fast_ma_period")).to_have_value("7")
    expect(page.locator("#param-stop_loss_threshold")).to_have_value("6.5")
    expect(page.locator("#fee_pct")).to_have_value("0.1")
    expect(page.locator("#fill")).to_have_value("next_open")
    expect(page.locator("#stop_mode")).to_have_value("close")
    expect(page.locator("#start_date")).to_have_value("2024-02-01")
    checked = page.locator("#coin-list input:checked")
    expect(checked).to_have_count(2)
    assert sorted(checked.evaluate_all("boxes => boxes.map(b => b.value)")) == ["BTC", "SOL"]


def test_the_methods_page_is_linked_from_a_result_and_clean_for_axe(asgi_server, market, open_page, output_dir):
    base = asgi_server.url
    page = open_page(viewport={"width": 1440, "height": 1000})
    ready(page, f"{base}/")
    run_and_wait(page)
    page.get_by_role("link", name="How these numbers are computed").click()
    expect(page).to_have_url(f"{base}/methods/")
    for metric in METRICS:
        expect(page.locator(f"#metric-{metric.name}")).to_contain_text(metric.formula)
    assert axe_violations(page) == []
    page.screenshot(path=str(output_dir / "methods-1440.png"), full_page=False)
    for width in (1024, 390):
        narrow = open_page(viewport={"width": width, "height": 900})
        narrow.goto(f"{base}/methods/")
        assert narrow.evaluate("document.documentElement.scrollWidth") <= width
        narrow.screenshot(path=str(output_dir / f"methods-{width}.png"), full_page=False)
