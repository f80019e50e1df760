"""What every browser test module shares: its marks, the run timeout and the wait for a ready page."""

import pytest
from playwright.sync_api import Page, expect

# Every module here: `pytestmark = BROWSER`. whitenoise 6 answers with a file iterator that Django's
# ASGI handler reads in a thread (and warns about); harmless for the few small files these tests
# serve, and the only sync stream they serve.
BROWSER = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators:Warning"),
]

RUN_TIMEOUT = 30_000


def ready(page: Page, url: str) -> None:
    """Open the backtest page (or a run's) and wait until its script has read the catalogue."""
    page.goto(url)
    expect(page.locator("#backtest-page")).to_have_attribute("data-ready", "true")
