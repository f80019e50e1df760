"""The job, called directly and through backends: chunks, idempotence, a second backend."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from market_data import selectors
from runs import backends, events, jobs, services
from runs.models import BacktestRun, RunResult
from tests.support import wait_run

BODY = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}


class InlineBackend:
    """A second backend in a few lines: every job runs at once, in the thread that submits it,
    calling the same job by name as the pool (and Celery) do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def owner(self) -> str:
        return backends.process_id()

    def submit(self, job: str, *, batch_id: str, args) -> None:
        self.calls.append((job, list(args)))
        backends.job_call(job, args)

    def active_batch_ids(self) -> list[str]:
        return []

    def shutdown(self) -> None:
        pass


def _comparable(run: BacktestRun) -> list[tuple]:
    rows = RunResult.objects.filter(run=run).order_by("crypto_symbol")
    return [(r.crypto_symbol, r.state, r.bars, r.metrics, r.trades, bytes(r.equity)) for r in rows]


def test_a_run_through_a_synchronous_backend_equals_the_pools(coins, backend_swap):
    pooled = wait_run(APIClient().post("/api/runs/", BODY, format="json").json()["id"])
    inline = backend_swap(InlineBackend())
    response = APIClient().post("/api/runs/", BODY, format="json")
    assert response.status_code == 201
    run = BacktestRun.objects.get(id=response.json()["id"])
    # The jobs ran inside the request, on commit: the run is complete when the 201 is answered.
    assert run.status == "completed" and run.completed == 3
    assert [job for job, _ in inline.calls] == ["run_chunk"] * 3
    assert sorted(c for _, (_, ids) in inline.calls for c in ids) == sorted(c.coin.id for c in coins.values())
    assert _comparable(run) == _comparable(pooled)
    assert run.summary == pooled.summary


def test_chunks_take_about_four_per_worker_and_at_most_the_maximum():
    ids = list(range(500))
    chunks = services.chunks_of(ids, workers=4, max_size=32)
    assert [c for chunk in chunks for c in chunk] == ids
    # each worker's first chunk a quarter of the size, so the first results come early; then the maximum
    assert [len(c) for c in chunks[:4]] == [8] * 4 and {len(c) for c in chunks[4:-1]} == {32}
    assert services.chunks_of(ids[:3], workers=4, max_size=32) == [[0], [1], [2]]  # a small run: coin by coin
    # 48 coins: at least CHUNK_MIN (12) a chunk while every worker still gets one, after the four small ones
    assert [len(c) for c in services.chunks_of(ids[:48], workers=4, max_size=32)] == [3, 3, 3, 3, 12, 12, 12]
    for n in range(1, 120):  # every coin once, in order, whatever the count
        assert [c for chunk in services.chunks_of(ids[:n], workers=4, max_size=32) for c in chunk] == ids[:n]


def test_one_job_over_every_coin_stores_and_publishes_each_in_symbol_order(coins, manual_backend, short_coin):
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    ids = [args[1][0] for _, _, args in manual_backend.queued]
    manual_backend.queued.clear()
    published: list[dict] = []
    listener = events.StreamListener.__new__(events.StreamListener)
    listener.deliver = published.append
    events.subscribe(run_id, listener)
    try:
        jobs.run_chunk(run_id, ids)  # one chunk of all four coins, in any order
    finally:
        events.unsubscribe(run_id, listener)
    run = BacktestRun.objects.get(id=run_id)
    assert (run.status, run.completed, run.successful, run.failed) == ("completed", 4, 3, 1)
    kinds = [(p["type"], p.get("data", {}).get("crypto_symbol") or p.get("crypto")) for p in published]
    assert kinds == [
        ("result", "AAA"),
        ("progress", None),
        ("result", "BBB"),
        ("progress", None),
        ("result", "CCC"),
        ("progress", None),
        ("error", "DDD"),
        ("progress", None),
        ("portfolio", None),
        ("complete", None),
    ]
    assert [p["completed"] for p in published if p["type"] == "progress"] == [1, 2, 3, 4]
    assert [p["successful"] for p in published if p["type"] == "progress"] == [1, 2, 3, 3]


def test_a_chunk_delivered_twice_stores_and_publishes_each_coin_once(coins, manual_backend):
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    queued = list(manual_backend.queued)
    manual_backend.queued.clear()
    first = queued[0][2]
    # Two deliveries of the same chunk that both read it before either stored it (a worker
    # killed after its compute, the task delivered again): only one of them stores it.
    chunk_a = jobs.run_chunk_load(*first)
    chunk_b = jobs.run_chunk_load(*first)
    results = jobs.run_chunk_compute(chunk_a)
    services.run_results_store(run_id=chunk_a.run_id, coins=chunk_a.coins, results=results)
    services.run_results_store(run_id=chunk_b.run_id, coins=chunk_b.coins, results=jobs.run_chunk_compute(chunk_b))
    jobs.run_chunk(*first)  # a third, after the store: nothing pending, nothing done
    for _, _, args in queued[1:]:
        jobs.run_chunk(*args)
    run = BacktestRun.objects.get(id=run_id)
    assert (run.status, run.completed, run.successful) == ("completed", 3, 3)
    events.channel_writer.wait_idle()
    stored = events_stored(run_id)
    assert [e for e in stored if e == "result"] == ["result"] * 3
    assert stored.count("progress") == 3 and stored.count("complete") == 1


def events_stored(run_id) -> list[str]:
    from django_eventstream.models import Event

    return list(
        Event.objects.filter(channel=events.channel_name(run_id)).order_by("eid").values_list("type", flat=True)
    )


def test_the_chunks_prices_come_in_one_cache_round_trip_and_one_database_read(coins, monkeypatch):
    ids = [c.coin.id for c in coins.values()]
    reads: list[list[int]] = []
    real_load = selectors.prices_load_many
    monkeypatch.setattr(
        selectors, "prices_load_many", lambda **kw: (reads.append(list(kw["crypto_ids"])), real_load(**kw))[1]
    )
    calls: list[str] = []
    inside: list[str] = []  # a cache's get_many may call its own get (local memory does): count the outer call

    def counted(name, real):
        def call(*args, **kwargs):
            if not inside:
                calls.append(name)
            inside.append(name)
            try:
                return real(*args, **kwargs)
            finally:
                inside.pop()

        return call

    for name in ("get", "get_many", "set", "set_many", "add"):
        monkeypatch.setattr(selectors.cache, name, counted(name, getattr(selectors.cache, name)))
    cold = selectors.prices_get_many(crypto_ids=ids, interval="1h")
    assert reads == [ids]  # the misses, in one statement
    calls.clear()
    warm = selectors.prices_get_many(crypto_ids=ids, interval="1h")
    assert reads == [ids] and calls == []  # the versions from the database; the series from this process's memo
    selectors.series_memo.clear()  # as another process finds them: every series in one round trip
    calls.clear()
    shared = selectors.prices_get_many(crypto_ids=ids, interval="1h")
    assert reads == [ids] and calls == ["get_many"]
    for c in ids:
        assert (warm[c].close == cold[c].close).all() and len(warm[c]) == 500
        assert (shared[c].close == cold[c].close).all()


@pytest.mark.parametrize(("interval", "bars"), [("1h", 500), ("1d", 20), ("1m", 0)])
def test_prices_of_a_coin_without_bars_are_empty_not_missing(coins, interval, bars):
    """Every coin asked for is in the answer: 500 stored hourly bars, 20 whole days derived from
    them (the 21st is incomplete), and no 1-minute bars at all."""
    ids = [c.coin.id for c in coins.values()]
    got = selectors.prices_get_many(crypto_ids=ids, interval=interval)
    assert list(got) == ids
    assert all(len(s) == bars for s in got.values())


def test_the_chunk_read_is_one_query_once_the_process_has_the_runs_settings(coins, manual_backend):
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    BacktestRun.objects.filter(id=run_id).update(status="running")
    ids = [args[1][0] for _, _, args in manual_backend.queued]
    with CaptureQueriesContext(connection) as queries:
        chunk = jobs.run_chunk_load(run_id, ids)
    assert len(queries) == 2  # the pending rows with the run's status, then the run's settings (once)
    assert chunk.spec.strategy == "rsi" and list(chunk.coins) == ids and len(chunk.spec.cells) == 1
    with CaptureQueriesContext(connection) as queries:
        again = jobs.run_chunk_load(run_id, ids[:1])
    assert len(queries) == 1 and again.spec is chunk.spec and list(again.coins) == ids[:1]
    manual_backend.run_all()
