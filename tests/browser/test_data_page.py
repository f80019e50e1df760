"""The Data page (/data/) in a real browser: coverage timelines with gaps, the quality summary per interval."""

from __future__ import annotations

from django.conf import settings
from playwright.sync_api import expect

from market_data import services

from .pages import BROWSER

pytestmark = BROWSER

DATA = settings.BASE_DIR.parent / "shared" / "data"


def test_the_data_page_shows_coverage_gaps_and_quality_per_coin_and_interval(asgi_server, page):
    services.prices_import_files(paths=[DATA / "ADA_BTC-5m.feather", DATA / "ETH_BTC-5m.feather"], quote="BTC")
    page.goto(f"{asgi_server.url}/data/")
    expect(page.locator("#data-page")).to_have_attribute("data-ready", "true")
    ada = page.locator('#data-body tr[data-symbol="ADA"][data-interval="5m"]')
    expect(ada.locator(".coverage-gap")).to_have_count(5)  # ADA/BTC's five real gaps
    expect(ada.locator(".quality-cell")).to_contain_text("5 gaps (40 missing bars)")
    eth = page.locator('#data-body tr[data-symbol="ETH"][data-interval="5m"]')
    expect(eth.locator(".coverage-gap")).to_have_count(0)
    expect(eth.locator(".quality-cell")).to_contain_text("0 gaps")
    expect(page.locator("#data-body")).to_contain_text("also 15m, 30m, 1h, 4h, 1d, 1w (derived)")
    expect(page.locator('nav a[aria-current="page"]')).to_have_text("Data")
