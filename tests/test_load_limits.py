"""Limits on run creation under load: the concurrent-run cap (BACKTEST_MAX_CONCURRENT_RUNS, default 8)
holds when many requests arrive at once on a real server, and the creation throttle is per client.

The single-request cases (429 with Retry-After on both endpoints, the throttle shared by both) are in
runs/tests/test_validation.py; the page's 429 message in tests/browser/test_backtest_page.py.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from market_data.models import Cryptocurrency
from runs.models import BacktestRun, RunResult
from tests.support import server_csrf_headers, setting_in_a_fresh_process, wait_run

pytestmark = pytest.mark.usefixtures("runs_settings")

ROOT = Path(__file__).resolve().parent.parent
BODY = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}


def _limit_in_a_fresh_process(**env: str) -> str:
    return setting_in_a_fresh_process("BACKTEST_MAX_CONCURRENT_RUNS", **env)


def test_concurrent_run_limit_defaults_to_8_and_is_read_from_the_environment():
    assert _limit_in_a_fresh_process() == "8"
    assert _limit_in_a_fresh_process(BACKTEST_MAX_CONCURRENT_RUNS="20") == "20"


def _post(server, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST a run and return (status, headers, body); a 200 stream is left after its headers."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request(
            "POST", path, body=json.dumps(BODY), headers={"Content-Type": "application/json", **(headers or {})}
        )
        resp = conn.getresponse()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        body = resp.read() if resp.status != 200 else b""
        return resp.status, headers, body
    finally:
        conn.close()


def test_the_limit_holds_when_many_runs_are_requested_at_once(coins, asgi_server, settings, job_hook):
    """Twelve POSTs at the same moment (both endpoints) while the runs are held in progress:
    exactly `limit` are accepted, every other one is a 429 with Retry-After, and nothing is
    stored for them. Once the runs finish, a new one is accepted again."""
    limit = 3
    settings.BACKTEST_MAX_CONCURRENT_RUNS = limit
    gate = threading.Event()
    job_hook(lambda crypto_ids: gate.wait(30))
    paths = ["/api/runs/", "/api/crypto/backtest/stream"] * 6
    csrf = server_csrf_headers(asgi_server)
    barrier = threading.Barrier(len(paths), timeout=30)

    def post(path: str):
        barrier.wait()
        return _post(asgi_server, path, csrf if path == "/api/runs/" else None)

    try:
        with ThreadPoolExecutor(len(paths)) as pool:
            answers = list(pool.map(post, paths))
        accepted = [a for a in answers if a[0] in (200, 201)]
        refused = [a for a in answers if a[0] == 429]
        assert len(accepted) + len(refused) == len(paths), [a[0] for a in answers]
        in_progress = BacktestRun.objects.in_progress().count()
        assert (len(accepted), in_progress, BacktestRun.objects.count()) == (limit, limit, limit)
        for _, headers, body in refused:
            assert int(headers["retry-after"]) > 0
            assert "in progress" in json.loads(body)["detail"]
    finally:
        gate.set()
    for run in BacktestRun.objects.all():
        assert wait_run(run.id).status == BacktestRun.Status.COMPLETED
    assert RunResult.objects.filter(state=RunResult.State.DONE).count() == limit * len(coins)
    status, _, _ = _post(asgi_server, "/api/runs/", csrf)
    assert status == 201


def test_creation_throttle_is_per_client(db, seeded, settings):  # noqa: F811
    """One client over RUNS_THROTTLE_RATE gets 429 with Retry-After; another client still may start runs."""
    Cryptocurrency.objects.create(symbol="AAA", name="Alpha")
    settings.RUNS_THROTTLE_RATE = "2/min"
    first = APIClient(REMOTE_ADDR="10.0.0.1")
    second = APIClient(REMOTE_ADDR="10.0.0.2")
    assert [first.post("/api/runs/", BODY, format="json").status_code for _ in range(2)] == [201, 201]
    refused = first.post("/api/runs/", BODY, format="json")
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert second.post("/api/runs/", BODY, format="json").status_code == 201
    assert BacktestRun.objects.count() == 3


def test_throttled_client_may_start_again_after_retry_after(db, seeded, settings):  # noqa: F811
    settings.RUNS_THROTTLE_RATE = "1/s"
    client = APIClient(REMOTE_ADDR="10.0.0.3")
    assert client.post("/api/runs/", BODY, format="json").status_code == 201
    refused = client.post("/api/runs/", BODY, format="json")
    assert refused.status_code == 429
    time.sleep(float(refused["Retry-After"]) + 0.05)
    assert client.post("/api/runs/", BODY, format="json").status_code == 201
