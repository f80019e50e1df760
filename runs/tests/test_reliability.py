"""A run always finishes: jobs that lose their database connection retry on a fresh one, a watchdog
ends runs whose jobs stopped making progress, nothing is published after `complete`, and a run
whose finish was lost is finished by the tick (issue 18, "A run always finishes")."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone
from django_eventstream.models import Event as EventRow
from rest_framework.test import APIClient

from runs import backends, events, jobs, lifecycle, services
from runs.models import BacktestRun, RunResult
from tests.support import add_coin, read_event_stream, wait_run

BODY = {"strategy_id": 1, "start_date": "2024-01-01", "end_date": "2024-12-31"}


def _stored(run_id) -> list[dict]:
    rows = EventRow.objects.filter(channel=events.channel_name(run_id), eid__gt=0).order_by("eid")
    out = [json.loads(data) for data in rows.values_list("data", flat=True)]
    return [json.loads(e) if isinstance(e, str) else e for e in out]  # the JSON text, stored as JSON


def _post(**body) -> str:
    response = APIClient().post("/api/runs/", {**BODY, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _terminate_others(keep: int) -> int:
    """pg_terminate_backend of every other session of the test database but `keep` (the test's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
            [keep],
        )
        return cursor.fetchone()[0]


# --- Connections lost mid-run -------------------------------------------------------------


def test_a_run_whose_database_connections_are_terminated_mid_run_completes_with_every_event(
    tdb, seeded, job_hook, settings
):
    """48 coins; twice during the run every app connection (the jobs', the event writer's) is
    terminated. Connections are kept between jobs, as in production. The run completes with every
    coin's result and every progress event stored once and in order."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (pg_terminate_backend)")
    settings.BACKTEST_THREAD_CONN_MAX_AGE = 300  # as in production: a job reuses its thread's connection
    settings.BACKTEST_CHUNK_MAX = 2
    for k in range(48):
        add_coin(f"C{k:02d}", f"Coin {k}", bars=300, seed=k)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        mine = cursor.fetchone()[0]
    calls = []
    lock = threading.Lock()
    terminated = []

    def hook(crypto_ids):
        with lock:
            calls.append(crypto_ids)
            n = len(calls)
        if n in (5, 14):  # other jobs are mid-way: their next statement finds the connection gone
            import psycopg2

            params = connection.get_connection_params()
            with psycopg2.connect(**params) as raw, raw.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
                    [mine],
                )
                terminated.append(cursor.fetchone()[0])
            raw.close()

    job_hook(hook)
    try:
        run_id = _post()
        run = wait_run(run_id, timeout=60)
    finally:
        backends.wait_idle(timeout=30)
        _terminate_others(mine)  # the pool's kept connections: the test database can be dropped
    assert terminated and sum(terminated) > 0
    assert run.status == "completed"
    assert (run.total, run.completed, run.successful) == (48, 48, 48)
    assert RunResult.objects.filter(run_id=run_id, state="done").count() == 48
    stored = _stored(run_id)
    types = [e["type"] for e in stored]
    assert types[0] == "start" and types[-1] == "complete" and types.count("complete") == 1
    assert sorted(e["data"]["crypto_symbol"] for e in stored if e["type"] == "result") == [
        f"C{k:02d}" for k in range(48)
    ]
    assert [e["completed"] for e in stored if e["type"] == "progress"] == list(range(1, 49))


def test_a_copy_whose_connection_was_lost_raises_the_error_a_job_retries(db):
    """The prices' and imports' binary COPY goes past Django's cursor: its psycopg2 error must
    still arrive as Django's OperationalError (runs.db.CONNECTION_ERRORS: the job is tried again),
    not as another error (the chunk's coins would fail)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (COPY, pg_terminate_backend)")
    import psycopg2

    from market_data.selectors import _copy_out
    from runs.db import CONNECTION_ERRORS

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with psycopg2.connect(**connection.get_connection_params()) as raw, raw.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    raw.close()
    with pytest.raises(CONNECTION_ERRORS):
        _copy_out("SELECT 1::int8", [])
    assert connection.errors_occurred  # Django's wrapper saw it: the connection is closed before reuse
    connection.close()


def test_connection_retry_tries_again_on_a_fresh_connection_a_bounded_number_of_times(tdb, settings):
    from django.db import OperationalError

    from runs.db import connection_retry

    settings.BACKTEST_DB_ATTEMPTS = 3
    seen = []

    def flaky(fail: int):
        seen.append(connection.connection is None)  # closed before each retry
        if len(seen) <= fail:
            raise OperationalError("server closed the connection unexpectedly")
        return "ok"

    assert connection_retry(flaky, 2, backoff=0.01) == "ok"
    assert len(seen) == 3 and seen[1] and seen[2]
    seen.clear()
    with pytest.raises(OperationalError):
        connection_retry(flaky, 5, backoff=0.01)
    assert len(seen) == 3
    seen.clear()
    with pytest.raises(ValueError):  # not a connection problem: no retry
        connection_retry(lambda: (seen.append(1), int("x")), backoff=0.01)
    assert len(seen) == 1


# --- The watchdog: jobs that stopped making progress ---------------------------------------


def _wait(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_run_with_a_hung_job_is_interrupted_its_slot_freed_and_its_stream_closed(
    coins, asgi_server, job_hook, settings
):
    """One job hangs before it starts (a hook that blocks); the others finish. After
    BACKTEST_STALL_SECONDS the tick ends the run `interrupted` with what it finished, the only
    concurrency slot is free again, and its stream ends with the final `complete`."""
    settings.BACKTEST_STALL_SECONDS = 3600
    settings.BACKTEST_MAX_CONCURRENT_RUNS = 1
    hung = coins["AAA"].coin.id
    gate = threading.Event()
    job_hook(lambda crypto_ids: gate.wait(30) if hung in crypto_ids else None)
    try:
        run_id = _post()
        _wait(lambda: BacktestRun.objects.get(id=run_id).completed == 2)
        assert APIClient().post("/api/runs/", BODY, format="json").status_code == 429  # the slot is taken
        assert lifecycle.leases_tick() == 0  # not silent for long enough yet
        settings.BACKTEST_STALL_SECONDS = 1
        time.sleep(1.2)
        assert lifecycle.leases_tick() == 1
        run = BacktestRun.objects.get(id=run_id)
        assert run.status == "interrupted" and run.finished_at is not None
        assert (run.completed, run.successful) == (2, 2)
        states = dict(RunResult.objects.filter(run_id=run_id).values_list("crypto_symbol", "state"))
        assert states == {"AAA": "pending", "BBB": "done", "CCC": "done"}
        assert events.channel_writer.wait_idle(timeout=10)
        stored = _stored(run_id)
        assert stored[-1]["type"] == "complete" and stored[-1]["summary"]["status"] == "interrupted"
        read = read_event_stream(asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0", timeout=20)
        assert [e["event"] for e in read][-1] == "complete"
        assert [e["data"]["completed"] for e in read if e["event"] == "progress"] == [1, 2]
        second = _post()  # the slot was freed
    finally:
        gate.set()
    wait_run(second)
    assert backends.wait_idle(timeout=20)
    assert events.channel_writer.wait_idle(timeout=10)
    assert _stored(run_id) == stored  # the hung job, released, found its run ended: nothing added
    assert RunResult.objects.get(run_id=run_id, crypto_symbol="AAA").state == "pending"


def test_a_late_job_of_an_interrupted_run_stores_and_publishes_nothing(coins, job_hook, settings, monkeypatch):
    """The job hangs mid-way (after it read its coins, while computing); the watchdog interrupts the
    run; when the job comes back it neither stores its coin nor publishes anything after `complete`."""
    settings.BACKTEST_STALL_SECONDS = 1
    hung = coins["AAA"].coin.id
    gate = threading.Event()
    real = jobs.run_chunk_compute

    def compute(chunk):
        if hung in chunk.coins:
            gate.wait(30)
        return real(chunk)

    monkeypatch.setattr(jobs, "run_chunk_compute", compute)
    job_hook(lambda crypto_ids: None)
    live = []
    listener = events.StreamListener.__new__(events.StreamListener)
    listener.deliver = live.append  # an in-process listener, as the original endpoint's
    try:
        run_id = _post()
        events.subscribe(run_id, listener)
        _wait(lambda: BacktestRun.objects.get(id=run_id).completed == 2)
        time.sleep(1.2)
        assert lifecycle.leases_tick() == 1
        assert events.channel_writer.wait_idle(timeout=10)
        stored = _stored(run_id)
        assert stored[-1]["type"] == "complete"
    finally:
        gate.set()
    assert backends.wait_idle(timeout=20)
    assert events.channel_writer.wait_idle(timeout=10)
    events.unsubscribe(run_id, listener)
    assert _stored(run_id) == stored
    assert not any(
        p["type"] in ("result", "error", "progress") and p.get("data", {}).get("crypto_symbol") == "AAA" for p in live
    )
    run = BacktestRun.objects.get(id=run_id)
    assert (run.status, run.completed) == ("interrupted", 2)
    assert RunResult.objects.get(run_id=run_id, crypto_symbol="AAA").state == "pending"


def test_a_job_that_loses_its_connection_before_the_finish_finishes_the_run_when_tried_again(
    coins, job_hook, monkeypatch
):
    """The last chunk's results are stored, then the connection drops before the run's finish: the
    job is tried again, finds its coins stored, and finishes the run (`complete` once)."""
    from django.db import OperationalError

    job_hook(lambda crypto_ids: None)
    real = services.run_finish
    failed = []

    def finish(**kwargs):
        if not failed:
            failed.append(True)
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(services, "run_finish", finish)
    run = wait_run(_post(), timeout=30)
    assert failed and run.status == "completed" and run.completed == 3
    assert [e["type"] for e in _stored(run.id)].count("complete") == 1


def test_the_tick_finishes_a_run_whose_coins_are_all_done_but_whose_finish_was_lost(coins, manual_backend):
    run_id = _post()
    while manual_backend.queued:  # the jobs store their coins, but the finish never happens
        _, (job_run_id, crypto_ids) = manual_backend.take()
        chunk = jobs.run_chunk_load(job_run_id, crypto_ids)
        with monkeypatch_finish():
            services.run_results_store(run_id=chunk.run_id, coins=chunk.coins, results=jobs.run_chunk_compute(chunk))
    assert BacktestRun.objects.get(id=run_id).status == "running"
    lifecycle.leases_tick()
    assert BacktestRun.objects.get(id=run_id).status == "running"  # its last count is too recent
    old = timezone.now() - dt.timedelta(seconds=lifecycle.LOST_FINISH_GRACE_SECONDS + 1)
    BacktestRun.objects.filter(id=run_id).update(heartbeat_at=old)
    lifecycle.leases_tick()
    run = BacktestRun.objects.get(id=run_id)
    assert run.status == "completed" and run.summary["successful"] == 3
    assert events.channel_writer.wait_idle(timeout=10)
    assert [e["type"] for e in _stored(run_id)][-2:] == ["portfolio", "complete"]


class monkeypatch_finish:
    """services.run_finish does nothing inside the block (its write lost)."""

    def __enter__(self):
        self.real = services.run_finish
        services.run_finish = lambda **kwargs: False

    def __exit__(self, *exc):
        services.run_finish = self.real
