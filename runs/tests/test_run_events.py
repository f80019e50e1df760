"""GET /api/runs/<id>/events/: the run's stored event stream through django-eventstream."""

from __future__ import annotations

import threading
import time

from rest_framework.test import APIClient

from runs import events
from tests.support import post_stream, read_event_stream, run_async, wait_run

BODY = {"strategy_id": 1, "start_date": "2024-01-01", "end_date": "2024-12-31"}


def _ids(events, run_id):
    prefix = f"run-{run_id}:"
    assert all(e["id"].startswith(prefix) for e in events)
    return [int(e["id"][len(prefix) :]) for e in events]


def _check_complete_sequence(events, total):
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "complete"
    assert kinds.count("result") + kinds.count("error") == total and kinds.count("progress") == total
    assert [e["data"]["completed"] for e in events if e["event"] == "progress"] == list(range(1, total + 1))
    for e in events:
        assert e["data"]["type"] == e["event"]  # SSE event name = payload type


def test_a_late_client_replays_every_event_once_in_order(coins, short_coin, asgi_server):
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    wait_run(run_id)  # connect only after the run has finished
    events = read_event_stream(asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0")
    ids = _ids(events, run_id)
    assert ids == list(range(1, len(events) + 1))  # every stored event, once, in order
    assert len(events) == 1 + 2 * 4 + 1 + 1  # start, result/error and progress per coin, portfolio, complete
    _check_complete_sequence(events, total=4)
    assert events[-2]["event"] == "portfolio" and events[-2]["data"]["coins"] == 3
    assert events[0]["data"]["run_id"] == run_id


def test_the_run_stream_carries_the_same_payloads_as_the_original_stream(coins, asgi_server):
    """The same payloads: the run stream's with every metric and average, the original stream's
    the original's fields of them (runs.events.original_payload), event for event."""
    read = post_stream(asgi_server, BODY)
    run_id = read.reader.events[0]["run_id"]
    wait_run(run_id)
    stored = read_event_stream(asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0")
    original = [e for e in stored if e["event"] in events.ORIGINAL_TYPES]  # the run stream's own: portfolio
    assert [e["event"] for e in stored if e["event"] not in events.ORIGINAL_TYPES] == ["portfolio"]
    assert [events.original_payload(e["data"]) for e in original] == read.reader.events
    results = [e["data"]["data"] for e in stored if e["event"] == "result"]
    assert results and all("sortino_ratio" in r and "max_drawdown_duration" in r for r in results)
    assert all("sortino_ratio" not in e["data"] for e in read.reader.events if e["type"] == "result")


def test_a_reconnecting_client_gets_what_it_missed_then_live_events(coins, asgi_server, job_hook):
    """Read the first events live, drop the connection, let the run go on, reconnect with the
    Last-Event-ID header: the missed events arrive once each, in order, then the live ones."""
    gate = threading.Event()
    first = coins["AAA"].coin.id

    def gated(crypto_ids):
        if crypto_ids != [first]:
            assert gate.wait(20)

    job_hook(gated)
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    before = read_event_stream(
        asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0", stop_after=3
    )  # start, result of AAA, progress 1
    assert [e["event"] for e in before] == ["start", "result", "progress"]
    last_id = before[-1]["id"]
    gate.set()
    time.sleep(0.2)  # some of the rest is published while no client is connected
    after = read_event_stream(asgi_server, f"/api/runs/{run_id}/events/", headers={"Last-Event-ID": last_id})
    everything = before + after
    assert _ids(everything, run_id) == list(range(1, len(everything) + 1))
    _check_complete_sequence(everything, total=3)
    wait_run(run_id)


def test_a_client_connected_before_the_run_starts_sees_it_live(coins, asgi_server, job_hook):
    gate = threading.Event()
    job_hook(lambda crypto_ids: gate.wait(20))
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    received = []
    reader = threading.Thread(
        target=lambda: received.extend(
            read_event_stream(asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0")
        )
    )
    reader.start()
    time.sleep(0.3)
    gate.set()
    reader.join(30)
    _check_complete_sequence(received, total=3)
    assert _ids(received, run_id) == list(range(1, len(received) + 1))
    wait_run(run_id)


def test_an_unknown_event_id_resets_the_stream(coins, asgi_server):
    run_id = APIClient().post("/api/runs/", BODY, format="json").json()["id"]
    wait_run(run_id)
    events = read_event_stream(asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:999")
    assert events[0]["event"] == "stream-reset"


def test_only_run_channels_are_open_to_anyone():
    from runs.events import RunChannelManager

    manager = RunChannelManager()
    assert manager.can_read_channel(None, "run-0b7c")
    assert not manager.can_read_channel(None, "admin-secrets")
    assert manager.is_channel_reliable("run-0b7c") and not manager.is_channel_reliable("other")


def test_repeated_events_of_a_replay_are_dropped():
    """django-eventstream re-sends the first replayed batch when an event lands during the replay."""

    from runs.views import once_each

    def ev(n, kind="result"):
        return f'event: {kind}\nid: run-x:{n}\ndata: {{"n": {n}}}\n\n'

    chunks = [
        ":" + " " * 10 + "\n\nevent: stream-open\ndata:\n\n" + ev(1, "start") + ev(2),
        ev(1, "start") + ev(2) + ev(3),  # the repeat, then one new event
        "event: keep-alive\ndata:\n\n",
        ev(4)[:12],  # an event split across chunks
        ev(4)[12:] + ev(3),
    ]

    async def source():
        for c in chunks:
            yield c

    async def collect():
        return "".join([c.decode() async for c in once_each(source())])

    out = run_async(collect)
    assert [int(line.rpartition(":")[2]) for line in out.split("\n") if line.startswith("id: ")] == [1, 2, 3, 4]
    assert out.count("stream-open") == 1 and out.count("keep-alive") == 1 and out.endswith("\n\n")
