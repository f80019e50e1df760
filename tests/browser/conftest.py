"""Browser tests: headless Debian Chromium (Playwright) against the ASGI app under uvicorn.

- pytest-django's `live_server` is WSGI and cannot stream events, so `asgi_server` runs the
  production ASGI application under uvicorn in a thread (../shared/notes/ecosystem.md §5);
  it can be stopped and started again on the same port, to drop the browser's connections.
- Static files as in production: `collectstatic` into a temporary STATIC_ROOT with the
  manifest storage, served by whitenoise from inside the app.
- Every page records console errors, page errors and failed requests; a test fails on any
  it did not announce with `browser_errors.expect(...)`.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import uvicorn
from asgiref.sync import SyncToAsync
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections
from django.test.utils import override_settings
from playwright.sync_api import Browser, Page, sync_playwright

from market_data.models import Cryptocurrency, Price
from market_data.selectors import prices_version_bump
from market_data.services import demo_universe_load
from runs import backends
from tests.support import strategies_seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
MANIFEST_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"

# The demo coins of the tests: a year of hourly bars each (8,784), the size the chart must handle.
DEMO_SYMBOLS = ["BTC", "ETH", "SOL"]
# A coin too short for any strategy (its row shows the error) whose name is an HTML injection attempt.
XSS_SYMBOL = "XSS"
XSS_NAME = "<img src=x onerror=alert(1)>"


# --- Static files as in production ----------------------------------------------------------


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """STATIC_ROOT after `collectstatic` with the manifest storage (hashed names, compressed copies)."""
    root = tmp_path_factory.mktemp("staticfiles")
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": MANIFEST_STORAGE},
    }
    with override_settings(STATIC_ROOT=root, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
    assert (root / "staticfiles.json").exists()
    return root


@pytest.fixture
def production_static(settings, collected_static):
    settings.STATIC_ROOT = collected_static
    settings.STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": MANIFEST_STORAGE},
    }


# --- The ASGI server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AsgiServer:
    """uvicorn serving a fresh ASGI application in a thread; stop() and start() keep the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        from django.core.asgi import get_asgi_application

        # Django's ASGI handler, which backtest_site.asgi wraps; a new one per start, since
        # whitenoise reads STATIC_ROOT when the middleware is built. Without the wrapper's
        # lifespan hooks, stop() is a dropped connection, not a stopped process: the pool and
        # its runs go on, as they do when a client's network goes away.
        config = uvicorn.Config(
            get_asgi_application(),
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(10)
            assert not self.thread.is_alive(), "uvicorn did not stop"
        self.server = None
        # Sync code of the ASGI app (views, the event stream's storage reads) runs in asgiref's one
        # shared thread; a stream cut off mid-request can leave that thread's connection open, and
        # PostgreSQL then refuses to drop the test database.
        SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture
def asgi_server(transactional_db, production_static, settings) -> Iterator[AsgiServer]:
    settings.RUNS_THROTTLE_RATE = "100000/min"
    cache.clear()
    server = AsgiServer()
    server.start()
    yield server
    server.stop()
    # Jobs still running would write into tables that are about to be flushed.
    assert backends.wait_idle(timeout=30), "backtest jobs still running at teardown"
    cache.clear()


@pytest.fixture
def engine_gate(asgi_server, job_hook) -> Iterator[threading.Event]:
    """Backtest jobs wait until the test sets this event, so a run stays in progress meanwhile.

    Only the start of each job waits; the API, the jobs and the stream are the real ones. The
    gate opens at teardown, before the server's teardown waits for the jobs.
    """
    gate = threading.Event()
    job_hook(lambda crypto_ids: gate.wait(30))
    yield gate
    gate.set()


# --- Data ----------------------------------------------------------------------------------------


@pytest.fixture
def market(transactional_db) -> dict[str, Cryptocurrency]:
    """The six seeded strategies, three demo coins of 8,784 hourly bars, and a ten-bar coin that fails."""

    strategies_seed()  # an earlier transactional test may have flushed the seed migration's rows
    demo_universe_load(symbols=DEMO_SYMBOLS)
    short = Cryptocurrency.objects.create(symbol=XSS_SYMBOL, name=XSS_NAME)
    t0 = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    Price.objects.bulk_create(
        Price(
            crypto=short,
            datetime=t0 + dt.timedelta(hours=i),
            open=Decimal(100 + i),
            high=Decimal(101 + i),
            low=Decimal(99 + i),
            close=Decimal(100 + i),
            volume=Decimal(1),
            interval_type="1h",
        )
        for i in range(10)
    )
    prices_version_bump(crypto_id=short.id, interval="1h")
    return {c.symbol: c for c in Cryptocurrency.objects.all()}


# --- The browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class BrowserErrors:
    """What went wrong in the page: console errors, uncaught exceptions, failed requests, dialogs."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.expected: list[re.Pattern] = []

    def expect(self, pattern: str) -> None:
        """Announce an error the test provokes on purpose (e.g. the console line of a 400 answer)."""
        self.expected.append(re.compile(pattern))

    def add(self, text: str) -> None:
        self.errors.append(text)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]


def _request_failed(errors: BrowserErrors, request) -> None:
    # Closing a finished run's EventSource aborts its request: that is the page hanging up, not a failure.
    if request.failure == "net::ERR_ABORTED" and "/events/" in request.url:
        return
    # Leaving a page before its icon or an image arrived (the admin's icons when a form is saved)
    # cancels that request: the browser's, not a failure (a missing file is a 404 response instead).
    if request.failure == "net::ERR_ABORTED" and ("favicon" in request.url or request.resource_type == "image"):
        return
    errors.add(f"request failed: {request.method} {request.url} {request.failure}")


@pytest.fixture
def browser_errors() -> BrowserErrors:
    return BrowserErrors()


def new_page(browser: Browser, errors: BrowserErrors, **context_options) -> Page:
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 1000}, **context_options})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and errors.add(f"console: {m.text} @ {m.location.get('url', '')}"))
    page.on("pageerror", lambda exc: errors.add(f"page error: {exc}"))
    page.on("requestfailed", lambda r: _request_failed(errors, r))
    page.on("dialog", lambda d: (errors.add(f"dialog: {d.message}"), d.dismiss()))
    return page


@pytest.fixture
def open_page(browser, browser_errors, asgi_server):
    """open_page(**context options) -> a new page; every one is checked and closed after the test."""
    pages: list[Page] = []

    def factory(**context_options) -> Page:
        page = new_page(browser, browser_errors, **context_options)
        pages.append(page)
        return page

    yield factory
    for page in pages:
        page.context.close()
    assert browser_errors.unexpected() == [], "errors in the browser"


@pytest.fixture
def page(open_page) -> Page:
    return open_page()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


# --- Accessibility ----------------------------------------------------------------------------------

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"  # vendored by scripts/vendor.sh
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_violations(page: Page, include: str | None = None, exclude: list[str] | None = None) -> list[str]:
    """axe-core's WCAG 2.1 A/AA and best-practice violations on the page as it is now, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated by the test's driver, not added as an inline <script>: the site's
        # Content-Security-Policy refuses those, as it should.
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async ([include, exclude, tags]) => {
            const context = { include: include ? [include] : [document], exclude: exclude || [] };
            // No CSSOM preload: it copies the page's stylesheets into <style> elements, which the
            // site's Content-Security-Policy refuses, as it should.
            const r = await axe.run(context, { runOnly: { type: 'tag', values: tags }, preload: false });
            const where = (v) => v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(' | ');
            const why = (v) => v.nodes[0]?.failureSummary?.replace(/\\s+/g, ' ').slice(0, 300) || '';
            return r.violations.map(v => `${v.id} (${v.impact}): ${where(v)} -- ${why(v)}`);
        }""",
        [include, exclude, AXE_TAGS],
    )
    return result
