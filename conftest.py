"""Fixtures shared by every package's tests (their helpers are in tests/support.py)."""

import os

# Playwright's sync API leaves an event loop running in the main thread; Django's
# async-safety check would then refuse the test database set-up and teardown.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


import threading  # noqa: E402
import time  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _asgiref_thread_connection_closed():
    """After each test, close the database connection of asgiref's shared thread.

    Sync code called from async views and async tests (`sync_to_async`) runs in that one
    thread, which keeps its own connection; left open at the end of the session, it
    stops PostgreSQL from dropping the test database ("being accessed by other users").
    """
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


@pytest.fixture(autouse=True)
def _cache_guard_fresh():
    """Every test starts and ends with no cache outage remembered (a test may break the cache)."""
    from backtest_site.cache import cache_guard

    cache_guard.reset()
    yield
    cache_guard.reset()


@pytest.fixture
def runs_settings(settings):
    """A high run-creation rate, so the throttle only bites in the test that lowers it; a clean cache."""
    from django.core.cache import cache

    settings.RUNS_THROTTLE_RATE = "100000/min"
    cache.clear()
    yield settings
    cache.clear()


@pytest.fixture
def tdb(transactional_db):
    """A database the backend's threads share (committed data); at teardown, wait until every
    job has finished before the tables are flushed."""
    from runs import backends, events

    yield
    assert backends.wait_idle(timeout=60), "backtest jobs still running at teardown"
    assert events.channel_writer.wait_idle(timeout=30), "events still being stored at teardown"


@pytest.fixture
def seeded(db):
    """The six strategies of the seed migration."""
    from strategies.models import Strategy
    from tests.support import strategies_seed

    strategies_seed()
    return Strategy.objects.order_by("id")


@pytest.fixture
def coins(tdb, seeded):
    """Three active coins with 500 hourly bars each, from 2024-01-01 00:00 UTC."""
    from tests.support import BARS, add_coin

    return {
        "AAA": add_coin("AAA", "Alpha", bars=BARS, seed=1),
        "BBB": add_coin("BBB", "Beta", bars=BARS, seed=2, is_demo=True),
        "CCC": add_coin("CCC", "Gamma", bars=BARS, seed=3),
    }


@pytest.fixture
def short_coin(coins):
    """A fourth coin with too few bars for any default strategy: it produces an `error` event."""
    from tests.support import add_coin

    return add_coin("DDD", "Delta", bars=10, seed=4)


@pytest.fixture
def backend_swap():
    """`backend_swap(new)` makes `new` the backend of runs for this test; the previous one is back after."""
    from runs import backends

    swapped = []

    def swap(new):
        swapped.append(backends.backend_use(new))
        return new

    yield swap
    if swapped:
        current = backends.backend_use(swapped[0])
        if current is not None and hasattr(current, "wait_idle"):
            current.wait_idle(timeout=30)
            current.shutdown()


@pytest.fixture
def job_hook(backend_swap):
    """`job_hook(before)`: runs go through a pool whose jobs first call `before(crypto_ids)`
    (hold them at a gate, slow one coin down); the jobs are the real ones."""
    from tests.support import HookedBackend

    return lambda before: backend_swap(HookedBackend(lambda job, args: before(args[1])))


@pytest.fixture
def manual_backend(backend_swap):
    """Runs whose jobs wait until the test runs them (`.take()`, `.run_all()`)."""
    from tests.support import ManualBackend

    return backend_swap(ManualBackend())


@pytest.fixture
def asgi_server(tdb):
    """uvicorn serving backtest_site.asgi:application in a thread (pytest-django's live_server is
    WSGI, which buffers streams). Lifespan is off: its shutdown would stop the shared backend."""
    import uvicorn

    from backtest_site.asgi import application
    from tests.support import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=port, lifespan="off", log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield SimpleNamespace(host="127.0.0.1", port=port, url=f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def db_loads(monkeypatch) -> list[int]:
    """The coin ids whose series were read from the database (cache misses or an outage), from any thread."""
    from market_data import selectors

    seen: list[int] = []
    lock = threading.Lock()
    real = selectors.prices_load_many

    def spy(*, crypto_ids, interval, **kwargs):
        with lock:
            seen.extend(crypto_ids)
        return real(crypto_ids=crypto_ids, interval=interval, **kwargs)

    monkeypatch.setattr(selectors, "prices_load_many", spy)
    return seen
