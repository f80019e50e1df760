"""The run stream ends: after `complete`, for runs that ended without one, at a reconnect after the
last event (204), when the server stops; a malformed lastEventId is a 400; open streams are
limited; an idle stream holds no database connection. All on a real uvicorn server."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from runs import events, services
from runs.models import BacktestRun
from runs.streams import Reads, hub
from tests.support import read_event_stream, wait_run

BODY = {"strategy_id": 1, "start_date": "2024-01-01", "end_date": "2024-12-31"}


def _get(server, path, headers=None, timeout=10):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    return conn, conn.getresponse()


def _read_to_end(server, path, headers=None, timeout=10) -> tuple[int, bytes]:
    """The whole body: returns only if the server ends the response (a hang is a socket timeout)."""
    conn, resp = _get(server, path, headers, timeout)
    try:
        return resp.status, resp.read()
    finally:
        conn.close()


def _ids(raw: bytes) -> list[str]:
    return [line[4:] for line in raw.decode().split("\n") if line.startswith("id: ")]


def test_the_response_ends_after_complete_and_a_reconnect_after_it_is_204(coins, asgi_server):
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    wait_run(run_id)
    status, raw = _read_to_end(asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0")
    assert status == 200
    assert raw.decode().rstrip().split("\n\n")[-1].startswith("event: complete")
    last = _ids(raw)[-1]
    assert _read_to_end(asgi_server, f"/api/runs/{run_id}/events/", {"Last-Event-ID": last}) == (204, b"")
    assert _read_to_end(asgi_server, f"/api/runs/{run_id}/events/?lastEventId={last}")[0] == 204
    # One before the last: the complete again, then the end.
    n = int(last.rpartition(":")[2])
    status, raw = _read_to_end(asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:{n - 1}")
    assert status == 200 and _ids(raw) == [last]


def test_a_live_stream_ends_with_the_run(coins, asgi_server, job_hook):
    gate = threading.Event()
    job_hook(lambda crypto_ids: gate.wait(20))
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    out = {}
    reader = threading.Thread(
        target=lambda: out.update(
            r=_read_to_end(asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0", timeout=30)
        )
    )
    reader.start()
    time.sleep(0.3)
    gate.set()
    reader.join(30)
    assert not reader.is_alive()
    status, raw = out["r"]
    assert status == 200 and "event: complete" in raw.decode().rstrip().split("\n\n")[-1]
    wait_run(run_id)


def test_an_interrupted_run_stream_gets_the_final_complete_and_ends(coins, asgi_server, manual_backend):
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    assert manual_backend.queued  # its jobs wait; nothing runs
    out = {}
    path = f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0"
    reader = threading.Thread(target=lambda: out.update(r=_read_to_end(asgi_server, path, timeout=30)))
    reader.start()
    time.sleep(0.3)
    assert services.batches_interrupt(batch_ids=[run_id]) == 1  # what a server stopping (or the watchdog) does
    reader.join(30)
    assert not reader.is_alive()
    events_read = read_event_stream(asgi_server, path)
    assert [e["event"] for e in events_read] == ["start", "complete"]
    assert events_read[-1]["data"]["summary"] == {
        "total_cryptos": 3,
        "successful": 0,
        "failed": 0,
        "status": "interrupted",
    }
    assert "interrupted" in out["r"][1].decode()


def test_a_run_that_ended_with_no_complete_stored_gets_one_once(coins, asgi_server, manual_backend):
    """Its process died before storing `complete` (kill -9): the stream stores it, once."""
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    assert events.channel_writer.wait_idle(5)
    BacktestRun.objects.filter(id=run_id).update(status="interrupted", finished_at="2024-01-01T00:00:00Z")
    path = f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0"
    first = read_event_stream(asgi_server, path)
    second = read_event_stream(asgi_server, path)
    assert [e["event"] for e in first] == ["start", "complete"] and first == second
    assert _read_to_end(asgi_server, f"/api/runs/{run_id}/events/", {"Last-Event-ID": first[-1]["id"]})[0] == 204


def test_an_interrupted_sweep_stream_gets_the_final_complete_once_and_ends(coins, asgi_server, manual_backend):
    """As a run's: a sweep whose process died before its `complete` (or that a stopping server
    interrupted) gets it stored by the stream, once, with its status; a reconnect after it is 204."""
    from sweeps.models import Sweep

    body = {"strategy_id": 2, "grid": {"fast_ma_period": [3, 5]}, "parameters": {"slow_ma_period": 20}}
    sweep_id = APIClient().post("/api/sweeps/", body, format="json").json()["id"]
    assert manual_backend.queued  # its chunks wait; nothing runs
    assert events.channel_writer.wait_idle(5)
    Sweep.objects.filter(id=sweep_id).update(status="interrupted", finished_at="2024-01-01T00:00:00Z")
    path = f"/api/sweeps/{sweep_id}/events/?lastEventId=sweep-{sweep_id}:0"
    first = read_event_stream(asgi_server, path)
    second = read_event_stream(asgi_server, path)
    assert [e["event"] for e in first] == ["start", "complete"] and first == second
    assert first[-1]["data"]["summary"] == {"status": "interrupted", "total": 2, "completed": 0, "cancelled": 0}
    assert _read_to_end(asgi_server, f"/api/sweeps/{sweep_id}/events/", {"Last-Event-ID": first[-1]["id"]})[0] == 204


@pytest.mark.parametrize("bad", [":1e3", ":0%00", "9" * 5000, "run-x:-1", "a:1,b:2", "%ff"])
def test_a_malformed_last_event_id_is_a_400(coins, asgi_server, bad):
    run = BacktestRun.objects.create(strategy_id=1, status="running")
    assert _read_to_end(asgi_server, f"/api/runs/{run.id}/events/?lastEventId={bad}")[0] == 400
    header = bad.replace("%00", "x").replace("%ff", "\u00ff")
    assert _read_to_end(asgi_server, f"/api/runs/{run.id}/events/", {"Last-Event-ID": header})[0] == 400


def test_an_unknown_run_is_a_404(asgi_server, tdb):
    assert _read_to_end(asgi_server, "/api/runs/00000000-0000-0000-0000-000000000000/events/")[0] == 404


def _open_idle(server, run_id, n):
    opened = []
    for _ in range(n):
        conn, resp = _get(server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0", timeout=10)
        opened.append((conn, resp))
    return opened


def test_open_streams_are_limited_per_client_and_in_all(coins, asgi_server, manual_backend, settings):
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    settings.RUN_STREAMS_PER_CLIENT = 2
    opened = _open_idle(asgi_server, run_id, 2)
    try:
        assert [r.status for _, r in opened] == [200, 200]
        status, body = _read_to_end(asgi_server, f"/api/runs/{run_id}/events/")
        assert status == 429 and b"Too many open event streams" in body
        settings.RUN_STREAMS_PER_CLIENT = 10
        settings.RUN_STREAMS_MAX = 2
        assert _read_to_end(asgi_server, f"/api/runs/{run_id}/events/")[0] == 503
    finally:
        for conn, _ in opened:
            conn.close()
    deadline = time.monotonic() + 10
    while hub.open_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.open_count() == 0  # closed streams are counted out
    services.batches_interrupt(batch_ids=[run_id])


def test_draining_ends_every_stream(coins, asgi_server, manual_backend):
    """What SIGTERM does (runs.streams.drain_on_signals): open streams end at once."""
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    opened = _open_idle(asgi_server, run_id, 3)
    try:
        time.sleep(0.3)
        hub.drain()
        for _, resp in opened:
            resp.read()  # returns: the server ended the response
    finally:
        hub.draining = False
        for conn, _ in opened:
            conn.close()
    services.batches_interrupt(batch_ids=[run_id])


def _sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_idle_streams_hold_no_database_connection(coins, asgi_server, manual_backend, settings):
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL sessions")
    settings.RUN_STREAMS_PER_CLIENT = 100
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    assert events.channel_writer.wait_idle(5)
    time.sleep(0.5)
    before = _sessions()
    opened = _open_idle(asgi_server, run_id, 40)
    try:
        assert all(r.status == 200 for _, r in opened)
        time.sleep(1.0)
        assert _sessions() <= before
    finally:
        for conn, _ in opened:
            conn.close()
        services.batches_interrupt(batch_ids=[run_id])


def test_a_reader_thread_that_finishes_while_another_reads_keeps_no_connection(tdb):
    """Two reads at once on the streams' two reader threads: the one that ends first used to keep
    its connection (another read was still in progress), so idle streams held it for ever."""
    reads = Reads(workers=2)
    used = []

    def read(seconds: float) -> None:
        with connection.cursor() as cursor:  # opens this thread's connection
            cursor.execute("SELECT 1")
        used.append(connections["default"])
        time.sleep(seconds)

    async def both() -> None:
        await asyncio.gather(reads.call(read, 0.2), reads.call(read, 0.6))

    asyncio.run(both())
    assert len(used) == 2 and used[0] is not used[1]  # one read on each thread
    time.sleep(0.2)  # the last thread closes its connection just after handing back its result
    assert [wrapper.connection for wrapper in used] == [None, None]
