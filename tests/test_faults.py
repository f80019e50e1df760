"""Faults a run must survive: the price cache (Redis) going away and coming back, a coin whose stored
prices break the engine, and the server process killed mid-run.

A client that disconnects mid-run is runs/tests/test_original_stream.py
`test_client_disconnect_does_not_stop_the_run` (a real uvicorn server, the socket closed after `start`).
Every test here runs on the embedded default (SQLite + local memory) and on PostgreSQL + Redis
(DATABASE_URL / REDIS_URL); the Redis tests bring a Redis server of their own.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.test.utils import override_settings
from rest_framework.test import APIClient

from backtest_site.cache import cache_guard
from market_data import selectors
from runs.api import run_request_create
from runs.models import BacktestRun, RunResult
from tests.support import XhrStreamReader, add_coin, run_async, wait_run

pytestmark = pytest.mark.usefixtures("runs_settings")

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = "/usr/bin/redis-server"
BODY = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_caches(port: int) -> dict:
    """The site's Redis cache settings (backtest_site/settings.py), pointed at another port."""
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "KEY_PREFIX": "faults",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }


class PrivateRedis:
    """A redis-server of this test's own on a free port, without persistence: killed, it comes back empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--daemonize", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def keys(self) -> int:
        return redis.Redis(port=self.port).dbsize()


@pytest.fixture
def private_redis(tmp_path, monkeypatch):
    """A private Redis as the site's cache. Changing CACHES resets Django's cache handler, and
    market_data.selectors reaches the cache through `django.core.cache.cache` (a proxy that looks
    the alias up on every call), so the selectors and the throttle use it at once. The outage guard
    starts fresh and retries after 0.2 s instead of 5 s."""
    server = PrivateRedis(tmp_path)
    server.start()
    cache_guard.reset()
    monkeypatch.setattr(cache_guard, "retry_after", 0.2)
    # Not the `settings` fixture: the runs fixtures clear the cache at teardown, which must be the
    # site's own again by then.
    with override_settings(CACHES=redis_caches(server.port)):
        yield server
    server.kill()


@pytest.fixture
def unreachable_redis(monkeypatch):
    """The cache pointed at a port nothing listens on."""
    cache_guard.reset()
    with override_settings(CACHES=redis_caches(free_port())):
        yield


def _run_to_the_end(**body) -> BacktestRun:
    """Validate and start a run without the API's throttle (a test of its own), wait for it."""
    run = run_request_create({**BODY, **body})
    return wait_run(run.id)


def _returns(run: BacktestRun) -> dict[str, float]:
    return dict(RunResult.objects.filter(run=run, state="done").values_list("crypto_symbol", "total_return"))


def _cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "backtest_site.cache" and r.levelno >= logging.WARNING]


# --- Redis down ------------------------------------------------------------------------------


def test_redis_outage_runs_complete_from_the_database_and_the_cache_recovers(
    coins,  # noqa: F811
    private_redis,
    db_loads,
    caplog,
):
    caplog.set_level(logging.WARNING, logger="backtest_site.cache")
    # 1. Redis up: the first run reads the database once per coin and fills the cache.
    first = _run_to_the_end()
    assert first.status == "completed" and first.successful == 3
    assert sorted(db_loads) == sorted(c.coin.id for c in coins.values())
    assert private_redis.keys() > 0
    assert _cache_warnings(caplog) == []

    # 2. Redis killed, and this process's memo empty (as a process started meanwhile): two runs
    #    complete from the database, with one warning in all. The coins are read from the database
    #    once: then this process's memo serves them, under the versions the database gives.
    private_redis.kill()
    selectors.series_memo.clear()
    db_loads.clear()
    during = [_run_to_the_end(), _run_to_the_end(strategy_id=2)]
    for run in during:
        assert run.status == "completed" and (run.successful, run.failed) == (3, 0)
        assert RunResult.objects.filter(run=run).count() == 3
    assert len(db_loads) == 3
    assert _returns(during[0]) == _returns(first)  # the same bars, from the database
    warnings = _cache_warnings(caplog)
    assert len(warnings) == 1 and "Price cache unavailable" in warnings[0], warnings

    # 3. Redis back on the same port (empty): after the guard's pause the cache is used and refilled.
    private_redis.start()
    time.sleep(0.25)
    selectors.series_memo.clear()
    db_loads.clear()
    after = _run_to_the_end()
    assert after.status == "completed" and after.successful == 3
    assert len(db_loads) == 3 and private_redis.keys() > 0
    assert any("Price cache is back" in w for w in _cache_warnings(caplog)[1:])
    selectors.series_memo.clear()
    db_loads.clear()
    assert _run_to_the_end(strategy_id=2).status == "completed"
    assert db_loads == []  # served from the refilled cache


def test_runs_can_be_started_over_the_api_while_redis_is_unreachable(coins, unreachable_redis, caplog):  # noqa: F811
    """Nothing listens on the cache's port: both endpoints still start runs, which complete.

    The creation throttle keeps its counters in the same cache; it must not turn a cache
    outage into a 500 (or the runs into an outage)."""
    caplog.set_level(logging.WARNING, logger="backtest_site.cache")
    api = APIClient()
    api.raise_request_exception = False
    response = api.post("/api/runs/", BODY, format="json")
    assert response.status_code == 201, response.content[:300]
    run = wait_run(response.json()["id"])
    assert run.status == "completed" and run.successful == 3

    async def stream():
        from django.test import AsyncClient

        client = AsyncClient(raise_request_exception=False)
        response = await client.post("/api/crypto/backtest/stream", data=BODY, content_type="application/json")
        reader = XhrStreamReader()
        if response.streaming:
            async for chunk in response.streaming_content:
                reader.feed(chunk)
        return response.status_code, reader

    status, reader = run_async(stream)
    assert status == 200 and reader.types[-1] == "complete"
    assert reader.state["summary"]["successful"] == 3
    assert len(_cache_warnings(caplog)) == 1


# --- Prices that break the engine ------------------------------------------------------------


def _corrupt_close(crypto_id: int, bar: int, value: str) -> None:
    """Overwrite one stored close with raw SQL, as a bad row that bypassed the importer would be
    (no cache version bump either)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE crypto_prices SET close_price = {value} WHERE id = "
            "(SELECT id FROM crypto_prices WHERE crypto_id = %s ORDER BY datetime LIMIT 1 OFFSET %s)",
            [crypto_id, bar],
        )
        assert cursor.rowcount == 1


def test_a_coin_with_a_zero_or_nan_close_fails_alone(coins):  # noqa: F811
    """AAA has a zero close; BBB a NaN close where the database can hold one (PostgreSQL numeric;
    SQLite keeps the text 'NaN', which reads as 0). Each gets an `error` event and a failed row
    naming the bad bar; CCC completes, and so does the run."""
    _corrupt_close(coins["AAA"].coin.id, 100, "0")
    _corrupt_close(coins["BBB"].coin.id, 200, "'NaN'")
    bbb_value = "NaN" if connection.vendor == "postgresql" else r"not positive \(0(\.0)?\)"

    async def stream():
        from django.test import AsyncClient

        response = await AsyncClient().post("/api/crypto/backtest/stream", data=BODY, content_type="application/json")
        reader = XhrStreamReader()
        async for chunk in response.streaming_content:
            reader.feed(chunk)
        return reader

    reader = run_async(stream)
    errors = {e["crypto"]: e["error"] for e in reader.events if e["type"] == "error"}
    # A message for people: the value as a plain number (not numpy's repr, "np.float64(0.0)"), the bar.
    assert sorted(errors) == ["AAA", "BBB"]
    assert re.fullmatch(r"Invalid price data: close is not positive \(0(\.0)?\) at bar 100", errors["AAA"]), errors
    assert re.fullmatch(rf"Invalid price data: close is {bbb_value} at bar 200", errors["BBB"]), errors
    assert [e["data"]["crypto_symbol"] for e in reader.events if e["type"] == "result"] == ["CCC"]
    summary = reader.state["summary"]
    assert (summary["status"], summary["successful"], summary["failed"]) == ("completed", 1, 2)

    run = wait_run(reader.events[0]["run_id"])
    assert (run.status, run.completed, run.successful, run.failed) == ("completed", 3, 1, 2)
    rows = {r.crypto_symbol: r for r in RunResult.objects.filter(run=run)}
    assert (rows["AAA"].state, rows["AAA"].error) == ("failed", errors["AAA"])
    assert (rows["BBB"].state, rows["BBB"].error) == ("failed", errors["BBB"])
    assert rows["CCC"].state == "done" and rows["CCC"].total_return is not None
    api = APIClient()
    detail = api.get(f"/api/runs/{run.id}/")
    assert detail.status_code == 200
    assert {r["crypto_symbol"]: r["success"] for r in detail.json()["results"]} == {
        "AAA": False,
        "BBB": False,
        "CCC": True,
    }
    coin = api.get(f"/api/runs/{run.id}/results/BBB/")
    assert coin.status_code == 200 and coin.json()["error"] == errors["BBB"] and coin.json()["metrics"] is None


# --- The server killed mid-run ----------------------------------------------------------------

# The server as uvicorn runs it, with each coin's backtest slowed down, so that the run is still
# going when the process is killed. Only the slowing is added; start-up and the app are the real ones.
SLOW_SERVER = """
import os, sys, time
import django
django.setup()
from runs import jobs
real = jobs.JOBS["run_chunk"]
def slowed(run_id, crypto_ids):
    time.sleep(float(os.environ["FAULTS_COIN_SECONDS"]) * len(crypto_ids))
    return real(run_id, crypto_ids)
jobs.JOBS["run_chunk"] = slowed
import uvicorn
uvicorn.run("backtest_site.asgi:application", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _database_url() -> str:
    """The URL of the test database, for a server process of its own."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _server(args: list[str], port: int, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc  # uvicorn listens once its lifespan start-up has finished
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"server on {port} did not start") from None
            time.sleep(0.05)


def test_server_killed_mid_run_leaves_it_interrupted_at_the_next_start_with_its_results(tdb, seeded):  # noqa: F811
    """kill -9 of a real uvicorn server while a run's coins are being backtested; the next start
    marks the run `interrupted` (not `running` forever), and what was stored stays."""
    for k in range(6):
        add_coin(f"K{k}", f"Kill {k}", bars=300, seed=10 + k)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backtest_site.settings",
        "DATABASE_URL": _database_url(),
        "SECRET_KEY": "faults-test-server-" + "x" * 40,
        "DEBUG": "0",
        "STATIC_MANIFEST": "0",
        "BACKTEST_WORKERS": "1",
        "FAULTS_COIN_SECONDS": "0.6",
        "LOG_LEVEL": "WARNING",
    }
    port = free_port()
    first = _server(["-c", SLOW_SERVER, str(port)], port, env)
    # The original endpoint (scripts need no CSRF token); the stream stays open while the server dies.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST", "/api/crypto/backtest/stream", body=json.dumps(BODY), headers={"Content-Type": "application/json"}
        )
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        reader = XhrStreamReader()
        while not reader.events:
            reader.feed(resp.read1(65536))
        run_id = reader.events[0]["run_id"]
        deadline = time.monotonic() + 30
        while RunResult.objects.filter(run_id=run_id, state="done").count() < 2:
            assert time.monotonic() < deadline, "the run stored no results"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
        conn.close()
    stored = sorted(RunResult.objects.filter(run_id=run_id, state="done").values_list("crypto_symbol", flat=True))
    run = BacktestRun.objects.get(id=run_id)
    assert run.status == "running" and 2 <= len(stored) < 6  # killed: nothing marked it

    # The next start, as the README serves the site.
    second = _server(
        ["-m", "uvicorn", "backtest_site.asgi:application", "--port", str(port), "--timeout-graceful-shutdown", "2"]
        + ["--log-level", "warning"],
        port,
        env,
    )
    try:
        run = BacktestRun.objects.get(id=run_id)
        assert run.status == "interrupted" and run.finished_at is not None
        assert (
            sorted(RunResult.objects.filter(run_id=run_id, state="done").values_list("crypto_symbol", flat=True))
            == stored
        )
        assert RunResult.objects.filter(run_id=run_id).count() == 6
        assert run.completed == len(stored)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/api/runs/{run_id}/")
        detail = json.loads(conn.getresponse().read())
        conn.close()
        assert detail["status"] == "interrupted"
        assert sum(r["state"] == "done" for r in detail["results"]) == len(stored)
    finally:
        second.terminate()
        second.wait(15)
