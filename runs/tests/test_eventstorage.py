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
