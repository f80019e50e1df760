"""Server start and stop: interrupted runs, the ASGI lifespan, a stream whose run was interrupted."""

from __future__ import annotations

import datetime as dt
import threading
import time

import numpy as np
from django.utils import timezone
from django_eventstream.models import Event as EventRow
from rest_framework.test import APIClient

from runs import backends, events, jobs, lifecycle, services
from runs.models import BacktestRun, RunResult
from tests.support import post_stream, run_async


def _run(status, *, minutes_ago=10, **fields):
    run = BacktestRun.objects.create(strategy_id=1, status=status, **fields)
    BacktestRun.objects.filter(id=run.id).update(created_at=timezone.now() - dt.timedelta(minutes=minutes_ago))
    return run


def test_recover_marks_runs_of_a_stopped_server_interrupted_and_keeps_their_results(coins):
    running = _run("running", total=2, completed=1)
    RunResult.objects.create(
        run=running, crypto=coins["AAA"].coin, crypto_symbol="AAA", crypto_name="A", state="done", total_return=1.5
    )
    pending = _run("pending")
    done = _run("completed")
    newer = _run("running", minutes_ago=-1)  # created after the moment given: a sibling's
    assert services.batches_recover(stale_before=timezone.now()) == 2
    statuses = dict(BacktestRun.objects.values_list("id", "status"))
    assert statuses[running.id] == statuses[pending.id] == "interrupted"
    assert statuses[done.id] == "completed" and statuses[newer.id] == "running"
    assert BacktestRun.objects.get(id=running.id).finished_at is not None
    assert RunResult.objects.get(run=running).total_return == 1.5


def test_asgi_lifespan_recovers_runs_at_start_up_and_stops_the_pool_at_shutdown(coins, monkeypatch):
    import backtest_site.asgi as asgi

    stale = _run("running")
    monkeypatch.setattr(asgi, "_startup_done", False)
    stopped = []
    # The real shutdown would stop the pool the other tests share.
    monkeypatch.setattr(lifecycle, "server_stopping", lambda: stopped.append(True))
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    run_async(asgi.application, {"type": "lifespan"}, receive, send)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert BacktestRun.objects.get(id=stale.id).status == "interrupted"
    assert stopped == [True]


def test_a_run_that_a_live_worker_elsewhere_executes_is_never_recovered(coins, settings):
    """Another process's run: created long ago, but its jobs (or its owner) renewed its heartbeat
    within the lease, so this process's start-up leaves it alone; once the heartbeat is older
    than the lease, nobody executes it any more and it ends interrupted."""
    settings.BACKTEST_LEASE_SECONDS = 60
    alive = _run("running", minutes_ago=30)
    gone = _run("running", minutes_ago=30)
    BacktestRun.objects.filter(id=alive.id).update(heartbeat_at=timezone.now() - dt.timedelta(seconds=20))
    BacktestRun.objects.filter(id=gone.id).update(heartbeat_at=timezone.now() - dt.timedelta(seconds=90))
    assert lifecycle.leases_tick() == 1
    assert BacktestRun.objects.get(id=alive.id).status == "running"
    assert BacktestRun.objects.get(id=gone.id).status == "interrupted"


def test_the_runs_of_a_dead_process_of_this_host_are_recovered_at_once(coins):
    """No lease to wait for when the owner is known gone: its pid is not alive, or it is this
    process's pid with another token (a restarted container). Live owners keep their runs."""
    import subprocess
    import sys

    from runs.backends import process_id

    me = process_id()
    host, pid, _ = me.split(":")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    runs = {
        "dead pid": _run("running", minutes_ago=0, owner=f"{host}:{dead.stdout.strip()}:aaaa"),
        "my pid, old token": _run("running", minutes_ago=0, owner=f"{host}:{pid}:bbbb"),
        "me": _run("running", minutes_ago=0, owner=me),
        "live sibling": _run("running", minutes_ago=0, owner=f"{host}:1:cccc"),
        "other host": _run("running", minutes_ago=0, owner="elsewhere:12345:dddd"),
        "a shared queue's": _run("running", minutes_ago=0),
    }
    assert lifecycle.leases_tick() == 2
    statuses = {name: BacktestRun.objects.get(id=run.id).status for name, run in runs.items()}
    assert statuses == {
        "dead pid": "interrupted",
        "my pid, old token": "interrupted",
        "me": "running",
        "live sibling": "running",
        "other host": "running",
        "a shared queue's": "running",
    }


def test_the_heartbeat_renews_the_runs_this_processes_backend_holds(coins, manual_backend, settings):
    """Queued jobs keep their run alive: this process's tick renews it, so a sibling's start-up
    does not interrupt a run that is merely waiting for a free worker."""
    settings.BACKTEST_LEASE_SECONDS = 60
    run_id = APIClient().post("/api/runs/", {"strategy_id": 1}, format="json").json()["id"]
    old = timezone.now() - dt.timedelta(seconds=90)
    BacktestRun.objects.filter(id=run_id).update(created_at=old, heartbeat_at=old)
    assert lifecycle.leases_tick() == 0
    run = BacktestRun.objects.get(id=run_id)
    assert run.status == "pending" and run.heartbeat_at > old
    manual_backend.run_all()
    assert BacktestRun.objects.get(id=run_id).status == "completed"


def test_server_stopping_interrupts_this_processes_runs(coins, manual_backend):
    run_id = APIClient().post("/api/runs/", {"strategy_id": 1}, format="json").json()["id"]
    _, (job_run_id, crypto_ids) = manual_backend.take()
    chunk = jobs.run_chunk_load(job_run_id, crypto_ids)  # the first coin is inside its job
    lifecycle.server_stopping()
    assert manual_backend.queued == []  # the queued jobs were dropped
    services.run_results_store(run_id=chunk.run_id, coins=chunk.coins, results=jobs.run_chunk_compute(chunk))
    run = BacktestRun.objects.get(id=run_id)
    assert run.status == "interrupted" and run.completed == 0
    # The coin that was running finished after its run had ended: it adds nothing after the run's
    # `complete` (issue 18); the queued ones never ran.
    assert sorted(RunResult.objects.filter(run=run).values_list("state", flat=True)) == ["pending"] * 3
    assert events.channel_writer.wait_idle(timeout=10)
    channel = EventRow.objects.filter(channel=events.channel_name(run_id), eid__gt=0).order_by("eid")
    assert list(channel.values_list("type", flat=True)) == ["start", "complete"]


def test_original_stream_ends_with_complete_when_its_run_is_interrupted(coins, asgi_server, job_hook, monkeypatch):
    from runs import views

    gate = threading.Event()
    job_hook(lambda crypto_ids: gate.wait(10))
    monkeypatch.setattr(views, "KEEPALIVE_SECONDS", 0.2)

    def interrupt_soon():
        time.sleep(0.7)  # a few keep-alive comments go out first
        run = BacktestRun.objects.get()
        BacktestRun.objects.filter(id=run.id).update(status="interrupted", finished_at=timezone.now())

    t = threading.Thread(target=interrupt_soon)
    t.start()
    read = post_stream(asgi_server, {"strategy_id": 1}, timeout=10)
    t.join()
    gate.set()
    assert read.reader.types[0] == "start" and read.reader.types[-1] == "complete"
    assert read.reader.events[-1]["summary"]["status"] == "interrupted"
    assert b": keep-alive\n\n" in read.body  # ignored by the XHR reader: only `data: ` lines count
    backends.wait_idle(timeout=10)


def test_engine_warm_up_leaves_nothing_to_compile_for_either_array_kind():
    # The price cache hands out read-only arrays, the database path writable ones; numba
    # compiles per array type. After the warm-up neither kind may compile anything more.
    from strategies.engine import STRATEGIES, backtest_arrays, kernels

    assert lifecycle.engine_warm_up() >= 0.0
    dispatchers = [value for value in vars(kernels).values() if hasattr(value, "signatures")]
    before = {dispatcher: len(dispatcher.signatures) for dispatcher in dispatchers}
    rng = np.random.default_rng(3)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
    times = np.arange(300, dtype=np.int64) * 3_600_000_000_000
    for writable in (True, False):
        arrays = {"times": times.copy(), "close": close.copy(), "high": close * 1.01, "low": close * 0.99}
        for array in arrays.values():
            array.flags.writeable = writable
        for key in STRATEGIES:
            backtest_arrays(key, **arrays)
    assert {dispatcher: len(dispatcher.signatures) for dispatcher in dispatchers} == before


def test_recover_command(coins):
    from django.core.management import call_command

    stale = _run("running")
    call_command("runs_recover")
    assert BacktestRun.objects.get(id=stale.id).status == "interrupted"
