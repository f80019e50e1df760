"""The run channels' storage: DjangoModelStorage's tables and ids, a faster append on PostgreSQL."""

import json

from django_eventstream.storage import DjangoModelStorage, EventDoesNotExist

from runs.eventstorage import RunEventStorage


def test_appended_events_replay_in_order_with_the_stock_reader(db):
    storage = RunEventStorage()
    ids = [storage.append_event("run-t", "progress", f'{{"n": {n}}}').id for n in range(1, 6)]
    assert ids == [1, 2, 3, 4, 5]
    replay = DjangoModelStorage().get_events("run-t", 0)
    assert [(e.id, e.type, e.data) for e in replay] == [(n, "progress", f'{{"n": {n}}}') for n in range(1, 6)]
    assert [e.id for e in storage.get_events("run-t", 3)] == [4, 5]
    assert storage.get_current_id("run-t") == 5


def test_channels_count_separately(db):
    storage = RunEventStorage()
    storage.append_event("run-a", "start", "{}")
    storage.append_event("run-a", "result", "{}")
    assert storage.append_event("run-b", "start", "{}").id == 1
    assert storage.append_event("run-a", "complete", "{}").id == 3


def test_an_unknown_id_is_reported_for_a_reset(db):
    storage = RunEventStorage()
    storage.append_event("run-c", "start", "{}")
    try:
        storage.get_events("run-c", 99)
    except EventDoesNotExist as exc:
        assert exc.current_id == 1
    else:
        raise AssertionError("expected EventDoesNotExist")


def test_the_writer_stores_what_it_found_queued_in_order_in_one_transaction(db):
    """events.send_events: several channels interleaved, each channel's ids in publish order (a new
    channel's first event creates its counter), the same rows the stock reader replays."""
    from runs import events

    payloads = [("run-w", {"type": "start", "n": 0}), ("run-v", {"type": "start", "n": 0})]
    payloads += [("run-w" if n % 3 else "run-v", {"type": "progress", "n": n}) for n in range(1, 10)]
    events.send_events(payloads)
    for channel in ("run-w", "run-v"):
        replay = DjangoModelStorage().get_events(channel, 0)
        sent = [p for c, p in payloads if c == channel]
        assert [e.id for e in replay] == list(range(1, len(sent) + 1))
        assert [json.loads(e.data) for e in replay] == sent
    events.send_events([("run-w", {"type": "complete"})])
    assert DjangoModelStorage().get_current_id("run-w") == 8


def test_a_trim_that_loses_the_connection_loses_no_events(transactional_db, monkeypatch):
    """The trim of old events runs after the commit of the events that were appended: inside their
    transaction, a trim whose connection was lost (here on PostgreSQL it ends its own session, as a
    restart would; elsewhere it fails) rolled them back without a word, and the writer never retried."""
    from django.db import OperationalError, connection
    from django_eventstream.utils import get_storage

    from runs import events

    events.send_events([("run-x", {"type": "start"}), ("run-x", {"type": "progress", "n": 0})])
    storage = get_storage()  # this thread's, as the writer's thread has its own
    seen = []

    def trim(self):
        seen.append(len(connection.atomic_blocks))
        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":
                raise OperationalError("server closed the connection unexpectedly")
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(DjangoModelStorage, "trim_event_log", trim)  # what RunEventStorage._trim calls
    monkeypatch.setattr(storage, "_next_trim", 0.0)
    events.send_events([("run-x", {"type": "result", "n": 1}), ("run-x", {"type": "progress", "n": 1})])
    connection.close()
    assert seen == [1]  # it ran, in its own block only: after the events' commit
    replay = DjangoModelStorage().get_events("run-x", 0)
    assert [json.loads(e.data) for e in replay] == [
        {"type": "start"},
        {"type": "progress", "n": 0},
        {"type": "result", "n": 1},
        {"type": "progress", "n": 1},
    ]


def test_the_writer_tells_the_other_processes_in_order_in_one_round_trip(db, settings, tmp_path, monkeypatch):
    """With EVENTSTREAM_REDIS, what the writer stored together is published to the other processes'
    streams (runs.streams listens on `events_channel`) in one pipeline, in the stored order."""
    import redis

    from runs import events
    from tests.test_faults import PrivateRedis

    server = PrivateRedis(tmp_path)
    server.start()
    try:
        settings.EVENTSTREAM_REDIS = {"host": "127.0.0.1", "port": server.port}
        monkeypatch.setattr(events, "_redis", None)  # a client of this server
        listener = redis.Redis(port=server.port).pubsub(ignore_subscribe_messages=True)
        listener.subscribe("events_channel")
        listener.get_message(timeout=1)  # the subscription's confirmation
        calls = []
        execute = redis.client.Pipeline.execute
        monkeypatch.setattr(redis.client.Pipeline, "execute", lambda self: calls.append(1) or execute(self))
        payloads = [("run-p", {"type": "start"}), ("run-q", {"type": "start"})]
        payloads += [("run-p", {"type": "progress", "n": n}) for n in range(1, 4)]
        events.send_events(payloads)
        got = []
        while len(got) < len(payloads):
            message = listener.get_message(timeout=2)
            assert message is not None, f"only {len(got)} of {len(payloads)} messages"
            got.append(json.loads(message["data"]))
        assert [(m["channel"], json.loads(m["data"])) for m in got] == payloads
        assert [m["pub_id"] for m in got if m["channel"] == "run-p"] == ["1", "2", "3", "4"]
        assert calls == [1]
        listener.close()
    finally:
        server.kill()
