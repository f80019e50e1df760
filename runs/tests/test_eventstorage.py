"""The run channels' storage: DjangoModelStorage's tables and ids, a faster append on PostgreSQL."""

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
