"""Runs on Celery: real `celery -A backtest_site worker` subprocesses on a real broker.

The broker is a private redis-server of these tests on a free port (nothing else shares its
queues), and RabbitMQ at 127.0.0.1:5672 for the one test that shows it works too. The workers
use the test database (tests/celery_support.py).
"""

from __future__ import annotations

import re
import signal
import socket
import time
from pathlib import Path

import pytest
import redis
from django.test import Client
from rest_framework.test import APIClient

from runs import backends, events
from runs.models import BacktestRun, RunResult
from tests.celery_support import Worker, client_app, unacked_jobs
from tests.support import PageLikeClient, add_coin, post_stream, wait_run
from tests.test_faults import PrivateRedis

BODY = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}


@pytest.fixture
def broker(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield f"redis://127.0.0.1:{server.port}/0", redis.Redis(port=server.port)
    server.kill()


@pytest.fixture
def celery_runs(broker, tdb, backend_swap, tmp_path):
    """Runs submitted to the broker through a CeleryBackend; `start_worker(name)` starts a
    worker subprocess (all are stopped at the end, before the tables are flushed)."""
    url, client = broker
    app = client_app(url)
    started: list[Worker] = []

    def start_worker(name: str = "w1", **kwargs) -> Worker:
        worker = Worker(url, name, log=tmp_path / f"{name}.log", **kwargs).start(app)
        started.append(worker)
        return worker

    backend = backend_swap(backends.CeleryBackend(app))
    yield type("CeleryRuns", (), {"app": app, "backend": backend, "redis": client, "start_worker": start_worker})
    for worker in started:
        worker.stop()
    app.close()


def _comparable(run_id) -> list[tuple]:
    rows = RunResult.objects.filter(run_id=run_id).order_by("crypto_symbol")
    return [(r.crypto_symbol, r.state, r.bars, r.metrics, r.trades, bytes(r.equity)) for r in rows]


def _stored_events(run_id) -> list[dict]:
    import json

    from django_eventstream.models import Event

    rows = Event.objects.filter(channel=events.channel_name(run_id), eid__gt=0).order_by("eid")
    return [json.loads(json.loads(r.data)) for r in rows]


def _check_each_coin_once(run_id, total: int) -> None:
    """Every coin stored once and every event once, in order: start, a result or error and its
    progress per coin (progress counting 1..total), the portfolio (a completed run's), complete."""
    stored = _stored_events(run_id)
    kinds = [e["type"] for e in stored]
    assert kinds[0] == "start" and kinds[-1] == "complete" and kinds.count("complete") == 1
    assert kinds.count("portfolio") <= 1 and "portfolio" not in kinds[:-2]
    body = [e for e in stored[1:-1] if e["type"] != "portfolio"]
    assert len(body) == 2 * total
    assert [e["completed"] for e in body[1::2]] == list(range(1, total + 1))
    coins = [e["data"]["crypto_symbol"] if e["type"] == "result" else e["crypto"] for e in body[0::2]]
    assert sorted(coins) == sorted(RunResult.objects.filter(run_id=run_id).values_list("crypto_symbol", flat=True))
    assert len(set(coins)) == total


def test_a_run_through_celery_equals_the_in_process_run(coins, short_coin, celery_runs, backend_swap):
    previous = backends.backend_use(None)  # the in-process pool, for the reference run
    pooled = wait_run(APIClient().post("/api/runs/", BODY, format="json").json()["id"])
    backends.backend_use(previous)
    worker = celery_runs.start_worker("w1", concurrency=2)
    # The kernels are loaded in the worker's main process before it forks, then in each child (already there).
    deadline = time.monotonic() + 30
    while len(loads := re.findall(r"Backtest engine loaded in ([\d.]+) s", worker.log.read_text())) < 3:
        assert time.monotonic() < deadline, worker.log.read_text()[-2000:]
        time.sleep(0.05)
    assert len(loads) == 3  # the main process and each child, once
    response = APIClient().post("/api/runs/", BODY, format="json")
    assert response.status_code == 201
    run = wait_run(response.json()["id"])
    assert (run.status, run.completed, run.successful, run.failed, run.owner) == ("completed", 4, 3, 1, "")
    assert _comparable(run.id) == _comparable(pooled.id)  # metrics, trades and equity byte for byte
    assert run.summary == pooled.summary
    _check_each_coin_once(run.id, 4)


def test_the_original_stream_with_celery_sends_the_contract(coins, celery_runs, asgi_server):
    """Its events come from a worker's process: the endpoint follows the run's stored channel."""
    pooled = backends.backend_use(None)
    reference = post_stream(asgi_server, BODY)
    backends.backend_use(pooled)
    celery_runs.start_worker("w1")
    read = post_stream(asgi_server, BODY)
    assert read.status == 200 and read.headers["content-type"].startswith("text/event-stream")
    got, want = read.reader.events, reference.reader.events
    assert [e["type"] for e in got] == ["start"] + ["result", "progress"] * 3 + ["complete"]
    assert [e["completed"] for e in got if e["type"] == "progress"] == [1, 2, 3]
    assert got[0]["run_id"] != want[0]["run_id"]
    assert {**got[0], "run_id": ""} == {**want[0], "run_id": ""}
    results = sorted((e for e in got if e["type"] == "result"), key=lambda e: e["data"]["crypto_symbol"])
    assert results == sorted((e for e in want if e["type"] == "result"), key=lambda e: e["data"]["crypto_symbol"])
    assert got[-1]["summary"] == want[-1]["summary"]
    run = BacktestRun.objects.get(id=got[0]["run_id"])
    assert run.status == "completed" and run.owner == ""


def _many_coins(n: int) -> None:
    for i in range(n):
        add_coin(f"K{i:02d}", f"Coin {i}", bars=500, seed=100 + i)


def test_a_worker_killed_mid_run_has_its_task_delivered_again(seeded, celery_runs):
    """kill -9 of a worker (its pool too) while it holds a task it has not acknowledged; a
    replacement takes that task again once the visibility timeout (3 s here) has passed: the run
    completes with every coin stored once and every event stored once."""
    _many_coins(24)  # 24 chunks of one coin
    first = celery_runs.start_worker("w1")
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    held: list = []
    deadline = time.monotonic() + 60
    while not held:
        assert time.monotonic() < deadline, "the worker never held an unfinished task"
        if RunResult.objects.filter(run_id=run_id).exclude(state="pending").exists():
            first.signal(signal.SIGSTOP)  # frozen mid-run: what does it hold?
            pending = set(RunResult.objects.filter(run_id=run_id, state="pending").values_list("crypto_id", flat=True))
            held = [args for job, args in unacked_jobs(celery_runs.redis) if set(args[1]) & pending]
            if not held:
                first.signal(signal.SIGCONT)
        time.sleep(0.002)
    done_before = RunResult.objects.filter(run_id=run_id).exclude(state="pending").count()
    first.kill()
    assert 0 < done_before < 24
    assert BacktestRun.objects.get(id=run_id).status == "running"
    celery_runs.start_worker("w2")
    run = wait_run(run_id, timeout=90)
    assert (run.status, run.completed, run.successful, run.skipped) == ("completed", 24, 24, 0)
    assert set(RunResult.objects.filter(run_id=run_id).values_list("state", flat=True)) == {"done"}
    _check_each_coin_once(run_id, 24)


def test_cancel_revokes_the_chunks_not_started_and_the_run_still_ends(seeded, celery_runs):
    """The worker is frozen while the run is submitted and cancelled: when it thaws, it discards
    the revoked tasks (and skips their coins), so the run ends `cancelled` with every coin counted."""
    _many_coins(24)
    worker = celery_runs.start_worker("w1")
    worker.signal(signal.SIGSTOP)
    page = PageLikeClient()  # keeps the run's cancel token, as the page does
    run_id = page.post("/api/runs/", BODY, format="json").json()["id"]
    assert page.post(f"/api/runs/{run_id}/cancel/").json()["status"] == "cancelled"
    worker.signal(signal.SIGCONT)
    run = wait_run(run_id, timeout=60)
    assert run.status == "cancelled"
    assert run.completed + run.skipped == 24 and run.skipped >= 1
    assert set(RunResult.objects.filter(run_id=run_id).values_list("state", flat=True)) <= {"done", "skipped"}
    assert "Discarding revoked task" in worker.log.read_text()
    stored = _stored_events(run_id)
    assert [e["type"] for e in stored].count("complete") == 1
    assert stored[-1]["type"] == "complete" and stored[-1]["summary"]["status"] == "cancelled"


@pytest.mark.parametrize("endpoint", ["runs", "original"])
def test_broker_down_at_submit_gives_503_and_the_run_ends_failed(coins, backend_swap, endpoint):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = client_app(f"redis://127.0.0.1:{port}/0")
    backend_swap(backends.CeleryBackend(app))
    if endpoint == "runs":
        response = APIClient().post("/api/runs/", BODY, format="json")
        body = response.json()
    else:
        response = Client().post("/api/crypto/backtest/stream", BODY, content_type="application/json")
        body = response.json() if not response.streaming else {}
    app.close()
    assert response.status_code == 503
    assert "task queue is unreachable" in body["detail"] and response.headers["Retry-After"] == "10"
    run = BacktestRun.objects.get()
    assert run.status == "failed" and run.finished_at is not None
    assert set(RunResult.objects.filter(run=run).values_list("state", flat=True)) == {"pending"}


def _rabbitmq_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _rabbitmq_up(), reason="RabbitMQ does not answer on 127.0.0.1:5672")
def test_a_run_on_rabbitmq_equals_the_in_process_run(coins, backend_swap, tmp_path):
    import uuid

    vhost_queue = f"bt-test-{uuid.uuid4().hex[:8]}"  # a queue of this test's own on the shared server
    url = "amqp://guest:guest@127.0.0.1:5672//"
    pooled = wait_run(APIClient().post("/api/runs/", BODY, format="json").json()["id"])
    app = client_app(url)
    app.conf.task_default_queue = vhost_queue
    backend_swap(backends.CeleryBackend(app))
    worker = Worker(url, "rabbit", log=tmp_path / "rabbit.log", queue=vhost_queue)
    try:
        worker.start(app)
        run = wait_run(APIClient().post("/api/runs/", BODY, format="json").json()["id"])
        assert run.status == "completed" and _comparable(run.id) == _comparable(pooled.id)
        assert run.summary == pooled.summary
    finally:
        worker.stop()
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(vhost_queue)
        app.close()


def test_a_worker_process_renews_the_lease_of_the_runs_it_is_executing(coins, manual_backend, backend_swap):
    """A worker's backend holds no queue: its heartbeat renews only the runs whose chunks it is
    executing; once none is, a run left with a stale heartbeat ends interrupted."""
    import datetime as dt

    from django.utils import timezone

    from runs import lifecycle, tasks

    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    worker = backend_swap(tasks.WorkerBackend())
    old = timezone.now() - dt.timedelta(seconds=90)
    BacktestRun.objects.filter(id=run_id).update(created_at=old, heartbeat_at=old)
    worker.executing(run_id, +1)
    assert worker.active_batch_ids() == [run_id]
    assert lifecycle.leases_tick() == 0
    assert BacktestRun.objects.get(id=run_id).heartbeat_at > old
    worker.executing(run_id, -1)
    assert worker.active_batch_ids() == []
    BacktestRun.objects.filter(id=run_id).update(heartbeat_at=old)
    assert lifecycle.leases_tick() == 1
    assert BacktestRun.objects.get(id=run_id).status == "interrupted"
    manual_backend.queued.clear()


def test_compose_has_a_worker_service_that_scales_on_the_web_image_and_its_broker():
    import re

    import yaml

    from backtest_site import settings as site_settings

    root = Path(site_settings.BASE_DIR)
    services = yaml.safe_load((root / "docker-compose.yml").read_text())["services"]
    worker, web = services["worker"], services["web"]
    assert worker["image"] == web["image"] and "build" not in worker  # the web's image, built once
    assert worker["command"][:4] == ["celery", "-A", "backtest_site", "worker"]
    assert "container_name" not in worker and "ports" not in worker  # so --scale worker=N works
    assert worker["depends_on"] == {"web": {"condition": "service_healthy"}}  # migrated by then
    broker = web["environment"]["CELERY_BROKER_URL"]
    assert broker == worker["environment"]["CELERY_BROKER_URL"] and "redis://redis:6379/" in broker
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        assert worker["environment"][name] == web["environment"][name]
    settings_text = (root / "backtest_site" / "settings.py").read_text()
    for name in worker["environment"]:
        assert re.search(rf"\b{name}\b", settings_text), f"{name} is not read by settings.py"


def test_a_sweep_through_celery_equals_the_in_process_sweep(coins, celery_runs):
    """A sweep's chunks are jobs like a run's: through a worker, every cell's aggregates and each
    coin's metrics are the in-process pool's to the last bit, each cell stored once."""
    from sweeps.models import Sweep, SweepCell
    from sweeps.tests.test_sweeps_api import wait_sweep

    body = {"strategy_id": 2, "grid": {"fast_ma_period": [3, 5, 8, 13]}, "parameters": {"slow_ma_period": 20}}
    previous = backends.backend_use(None)
    pooled = wait_sweep(APIClient().post("/api/sweeps/", body, format="json").json()["id"])
    backends.backend_use(previous)
    celery_runs.start_worker("w1", concurrency=2)
    response = APIClient().post("/api/sweeps/", body, format="json")
    assert response.status_code == 201
    sweep_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while Sweep.objects.get(id=sweep_id).finished_at is None:
        assert time.monotonic() < deadline, "the sweep did not finish on the worker"
        time.sleep(0.1)
    sweep = Sweep.objects.get(id=sweep_id)
    assert sweep.status == "completed" and sweep.completed == 4 and sweep.owner == ""

    def cells(s):
        return [(c.n, c.aggregates, bytes(c.coin_metrics)) for c in SweepCell.objects.filter(sweep=s).order_by("n")]

    assert cells(sweep) == cells(pooled)
    assert sweep.summary["best"] == pooled.summary["best"]


def test_cancel_revokes_a_sweeps_chunks_not_started_and_the_sweep_still_ends(coins, celery_runs):
    """As a run's: the worker, frozen while the sweep is submitted and cancelled, discards the revoked
    chunks when it thaws and their cells are cancelled and counted, so the sweep ends `cancelled`."""
    from sweeps.models import Sweep, SweepCell

    body = {
        "strategy_id": 2,
        "grid": {"fast_ma_period": list(range(3, 15)), "slow_ma_period": [20, 30]},
        "parameters": {},
    }
    worker = celery_runs.start_worker("w1")
    worker.signal(signal.SIGSTOP)
    page = PageLikeClient()  # keeps the sweep's cancel token, as the page does
    response = page.post("/api/sweeps/", body, format="json")
    assert response.status_code == 201
    sweep_id = response.json()["id"]
    assert page.post(f"/api/sweeps/{sweep_id}/cancel/").json()["status"] == "cancelled"
    worker.signal(signal.SIGCONT)
    deadline = time.monotonic() + 60
    while Sweep.objects.get(id=sweep_id).finished_at is None:
        assert time.monotonic() < deadline, "the cancelled sweep did not end"
        time.sleep(0.1)
    sweep = Sweep.objects.get(id=sweep_id)
    assert sweep.status == "cancelled" and sweep.total == 24
    assert sweep.completed + sweep.cancelled_cells == 24 and sweep.cancelled_cells >= 1
    assert set(SweepCell.objects.filter(sweep=sweep).values_list("state", flat=True)) <= {"done", "cancelled"}
    assert SweepCell.objects.filter(sweep=sweep, state="cancelled").count() == sweep.cancelled_cells
    assert "Discarding revoked task" in worker.log.read_text()
