"""Test support shared by every package's tests: seeded strategies, coins with random-walk bars,
test backends, a reader that parses a stream exactly as the original documentation's XHR code does,
and helpers for a live ASGI server. The fixtures that use these are in the root conftest.py."""

from __future__ import annotations

import asyncio
import codecs
import datetime as dt
import http.client
import importlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from asgiref.sync import async_to_sync
from django.apps import apps as django_apps
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from market_data.models import Cryptocurrency, Price
from market_data.selectors import prices_version_bump
from runs import backends, events
from runs.models import BacktestRun

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
BARS = 500


def strategies_seed() -> None:
    """The six strategies of the seed migration, again (a transactional test before may have flushed them)."""
    from strategies.models import Strategy

    if Strategy.objects.count() < 6:
        seed = importlib.import_module("strategies.migrations.0002_seed_strategies").seed
        seed(django_apps, SimpleNamespace(connection=connection))


# --- Test backends: the real job, run where and when a test says -----------------------------


class HookedBackend(backends.ThreadPoolBackend):
    """The thread-pool backend, calling `before(job, args)` in the job's thread before each job
    (to hold a job at a gate, or slow one coin down). The jobs themselves are the real ones."""

    def __init__(self, before: Callable[[str, Sequence[Any]], None], workers: int = 4) -> None:
        super().__init__(workers)
        self.before = before

    def run(self, job: str, args: Sequence[Any]) -> None:
        self.before(job, args)
        super().run(job, args)


class ManualBackend:
    """Keeps the jobs submitted; the test runs them (or parts of them) itself, in its own thread."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, str, list[Any]]] = []
        self.closed = False

    def owner(self) -> str:
        return backends.process_id()

    def submit(self, job: str, *, batch_id: str, args: Sequence[Any]) -> None:
        if self.closed:
            raise RuntimeError("backend is shut down")
        self.queued.append((job, batch_id, list(args)))

    def active_batch_ids(self) -> list[str]:
        return list(dict.fromkeys(batch_id for _, batch_id, _ in self.queued))

    def shutdown(self) -> None:
        self.closed = True
        self.queued.clear()

    def take(self) -> tuple[str, list[Any]]:
        job, _, args = self.queued.pop(0)
        return job, args

    def run_all(self) -> None:
        while self.queued:
            backends.job_call(*self.take())


@dataclass
class CoinBars:
    coin: Cryptocurrency
    times: np.ndarray  # int64 ns
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


def random_walk(seed: int, n: int, start: float = 100.0) -> dict[str, np.ndarray]:
    """Hourly OHLC of a geometric random walk, rounded to 8 decimals as the price table stores them."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    open_ = np.concatenate([[start], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.005, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.005, n)))
    cols = {"open": open_, "high": high, "low": low, "close": close}
    return {k: np.array([float(f"{x:.8f}") for x in v]) for k, v in cols.items()}


def add_coin(
    symbol: str,
    name: str,
    *,
    bars: int,
    seed: int,
    start: dt.datetime = T0,
    interval: str = "1h",
    is_active: bool = True,
    is_demo: bool = False,
) -> CoinBars:
    coin = Cryptocurrency.objects.create(symbol=symbol, name=name, is_active=is_active, is_demo=is_demo)
    cols = random_walk(seed, bars)
    step = dt.timedelta(hours=1)
    Price.objects.bulk_create(
        Price(
            crypto=coin,
            datetime=start + i * step,
            open=Decimal(f"{cols['open'][i]:.8f}"),
            high=Decimal(f"{cols['high'][i]:.8f}"),
            low=Decimal(f"{cols['low'][i]:.8f}"),
            close=Decimal(f"{cols['close'][i]:.8f}"),
            volume=Decimal("1000"),
            interval_type=interval,
        )
        for i in range(bars)
    )
    prices_version_bump(crypto_id=coin.id, interval=interval)  # as every import does
    first = int(start.timestamp()) * 10**9
    times = first + np.arange(bars, dtype=np.int64) * 3600 * 10**9
    return CoinBars(coin, times, cols["open"], cols["high"], cols["low"], cols["close"])


def run_async(fn, *args, **kwargs):
    """Call an async function from a sync test.

    async_to_sync refuses to run where an event loop is already running in this thread (the
    browser tests' Playwright leaves one in the main thread); then the call runs on a thread
    of its own. That thread has its own database connection, so it sees committed data only:
    fine for the transactional tests, and the `db` tests run before the browser tests.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return async_to_sync(fn)(*args, **kwargs)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(fn(*args, **kwargs))).result()


def wait_run(run_id: Any, timeout: float = 60.0) -> BacktestRun:
    """Wait until a run has finished and its jobs are done; return it fresh from the database."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = BacktestRun.objects.get(id=run_id)
        if run.finished_at is not None and backends.wait_idle(run_id, timeout=max(0.0, deadline - time.monotonic())):
            events.channel_writer.wait_idle(timeout=max(0.0, deadline - time.monotonic()))
            return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


# --- The documented XHR client --------------------------------------------------------


class XhrStreamReader:
    """`xhr.onprogress` of the original documentation, line for line:

        buffer += newData; lines = buffer.split('\\n\\n'); buffer = lines.pop() || '';
        for (line of lines) if (line.trim().startsWith('data: ')) JSON.parse(line.trim().substring(6))

    plus `handleStreamEvent`'s state (total, results, completed, successful, summary)."""

    def __init__(self) -> None:
        self.buffer = ""
        self.events: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {"results": [], "completed": 0, "total": 0, "successful": 0, "summary": None}
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        self.buffer += self._decoder.decode(chunk)
        lines = self.buffer.split("\n\n")
        self.buffer = lines.pop() or ""
        new = []
        for line in lines:
            if line.strip().startswith("data: "):
                event = json.loads(line.strip()[6:])  # JSON.parse: raises on anything malformed
                self._handle(event)
                new.append(event)
        self.events.extend(new)
        return new

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "start":
            self.state["total"] = event["total"]
        elif kind == "result":
            self.state["results"].append(event["data"])
        elif kind == "progress":
            self.state["completed"] = event["completed"]
            self.state["successful"] = event["successful"]
        elif kind == "complete":
            self.state["summary"] = event["summary"]

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


# --- The page's CSRF token ---------------------------------------------------------------

CSRF_META_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def page_csrf_token(html: bytes | str) -> str:
    """The CSRF token a page carries in <meta name="csrf-token"> (its session holds the secret)."""
    text = html.decode() if isinstance(html, bytes) else html
    found = CSRF_META_RE.search(text)
    assert found, 'the page has no <meta name="csrf-token">'
    return found.group(1)


def page_has_csrf(response) -> bool:
    """Whether a page carries what its writes need: <meta name="csrf-token"> and the session cookie
    whose session holds the secret (one never comes without the other)."""
    meta = CSRF_META_RE.search(response.content.decode()) is not None
    session = settings.SESSION_COOKIE_NAME in response.cookies
    assert meta == session, f"csrf-token meta {meta}, session cookie {session}"
    return meta


def client_csrf_token(client, path: str = "/") -> str:
    """Open a page with a Django test client (which keeps the session cookie) and return its CSRF token."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return page_csrf_token(response.content)


def server_csrf_headers(server, path: str = "/") -> dict[str, str]:
    """The headers a page sends with its writes, from a real GET of the page on `server`: its
    session cookie and the X-CSRFToken of its <meta name="csrf-token">."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        html = resp.read()
        cookie = SimpleCookie()
        for name, value in resp.getheaders():
            if name.lower() == "set-cookie":
                cookie.load(value)
    finally:
        conn.close()
    session = cookie[settings.SESSION_COOKIE_NAME].value
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}", "X-CSRFToken": page_csrf_token(html)}


UUID_IN_PATH_RE = re.compile(r"/api/(?:runs|sweeps)/([0-9a-f-]{36})/")


class PageLikeClient(APIClient):
    """An API client that keeps the cancel token of each run and sweep it creates and sends it
    back (X-Cancel-Token) with every write to that run or sweep, as the page does (static/app/api.js)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cancel_tokens: dict[str, str] = {}

    def request(self, **kwargs: Any):
        found = UUID_IN_PATH_RE.match(kwargs.get("PATH_INFO", ""))
        if found and kwargs.get("REQUEST_METHOD") != "GET" and found.group(1) in self.cancel_tokens:
            kwargs.setdefault("HTTP_X_CANCEL_TOKEN", self.cancel_tokens[found.group(1)])
        response = super().request(**kwargs)
        if response.status_code == 201 and response.get("Content-Type", "").startswith("application/json"):
            body = response.json()
            if isinstance(body, dict) and body.get("cancel_token"):
                self.cancel_tokens[body["id"]] = body["cancel_token"]
        return response


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StreamRead:
    status: int
    headers: dict[str, str]
    reader: XhrStreamReader
    # (seconds since the request was sent, event) as each event was parsed
    arrivals: list[tuple[float, dict[str, Any]]]
    body: bytes


def post_stream(server, body: dict[str, Any], *, stop_after: int | None = None, timeout: float = 60) -> StreamRead:
    """POST to the original endpoint over a real socket and read the body chunk by chunk, as a
    browser's XHR sees it. stop_after: disconnect after that many events."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    started = time.perf_counter()
    conn.request(
        "POST", "/api/crypto/backtest/stream", body=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    resp = conn.getresponse()
    headers = {k.lower(): v for k, v in resp.getheaders()}
    reader = XhrStreamReader()
    arrivals: list[tuple[float, dict[str, Any]]] = []
    raw = b""
    try:
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            raw += chunk
            for event in reader.feed(chunk):
                arrivals.append((time.perf_counter() - started, event))
            if stop_after is not None and len(reader.events) >= stop_after:
                break
    finally:
        conn.close()
    return StreamRead(resp.status, headers, reader, arrivals, raw)


def read_event_stream(
    server,
    path: str,
    *,
    until_type: str = "complete",
    headers: dict[str, str] | None = None,
    stop_after: int | None = None,
    timeout: float = 30,
) -> list[dict[str, Any]]:
    """GET a django-eventstream SSE URL and parse `event:`/`id:`/`data:` blocks until an event of
    `until_type` (or stop_after events). Returns [{"event", "id", "data"}] (data JSON-decoded)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    decoder = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    out: list[dict[str, Any]] = []
    try:
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            buffer += decoder.decode(chunk)
            *blocks, buffer = buffer.split("\n\n")
            for block in blocks:
                fields: dict[str, str] = {}
                for line in block.split("\n"):
                    if line.startswith(":") or ":" not in line:
                        continue
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value
                if not fields:  # a comment block (the 2 KB padding)
                    continue
                kind = fields.get("event", "message")
                if kind in ("stream-open", "keep-alive"):
                    continue
                data = fields.get("data", "")
                out.append({"event": kind, "id": fields.get("id"), "data": json.loads(data) if data else None})
                if kind == until_type or kind in ("stream-error", "stream-reset"):
                    return out
                if stop_after is not None and len(out) >= stop_after:
                    return out
    finally:
        conn.close()
    return out


ROOT = Path(__file__).resolve().parent.parent


def setting_in_a_fresh_process(name: str, **env: str) -> str:
    """The value of settings.<name> as a new process reads it from the environment: the BACKTEST_*
    variables of this one left out, `env` added."""
    code = f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BACKTEST_")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "backtest_site.settings", "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()
