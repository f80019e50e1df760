"""Server start and stop: interrupted runs, the ASGI lifespan, a stream whose run was interrupted."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from django.utils import timezone
from rest_framework.test import APIClient

from runs import executor, lifecycle, services
from runs.models import BacktestRun, RunResult

from .conftest import post_stream, run_async


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
    newer = _run("running", minutes_ago=-1)  # created after this process started: a sibling's
    assert services.runs_recover(started_before=timezone.now()) == 2
    statuses = dict(BacktestRun.objects.values_list("id", "status"))
    assert statuses[running.id] == statuses[pending.id] == "interrupted"
    assert statuses[done.id] == "completed" and statuses[newer.id] == "running"
    assert BacktestRun.objects.get(id=running.id).finished_at is not None
    assert RunResult.objects.get(run=running).total_return == 1.5


def test_asgi_lifespan_recovers_runs_at_start_up_and_stops_the_pool_at_shutdown(coins, monkeypatch):
    import backtest_site.asgi as asgi

    stale = _run("running")
    monkeypatch.setattr(asgi, "_startup_done", False)
    monkeypatch.setattr(lifecycle, "PROCESS_STARTED_AT", timezone.now())
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


def test_server_stopping_interrupts_this_processes_runs(coins, monkeypatch):
    gate, entered = threading.Event(), threading.Event()
    real = executor._backtest
    monkeypatch.setattr(
        executor, "_backtest", lambda run, crypto_id: (entered.set(), gate.wait(10), real(run, crypto_id))[2]
    )
    own_pool = ThreadPoolExecutor(max_workers=1)
    monkeypatch.setattr(executor, "pool", own_pool)  # the shared pool must survive this test
    run_id = APIClient().post("/api/runs/", {"strategy_id": 1}, format="json").json()["id"]
    assert entered.wait(10)
    lifecycle.server_stopping()
    gate.set()
    assert executor.wait_idle(run_id, timeout=10)
    run = BacktestRun.objects.get(id=run_id)
    assert run.status == "interrupted"
    # The coin that was running finished and is stored; the queued ones never ran.
    assert sorted(RunResult.objects.filter(run=run).values_list("state", flat=True)) == ["done", "pending", "pending"]


def test_original_stream_ends_with_complete_when_its_run_is_interrupted(coins, asgi_server, monkeypatch):
    from runs import views

    gate = threading.Event()
    real = executor._backtest
    monkeypatch.setattr(executor, "_backtest", lambda run, crypto_id: (gate.wait(10), real(run, crypto_id))[1])
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
    executor.wait_idle(timeout=10)


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
