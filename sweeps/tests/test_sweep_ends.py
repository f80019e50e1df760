"""A sweep that has ended gets nothing more: a chunk still computing when its sweep was interrupted
stores and publishes no cell after the sweep's `complete`; its cells stay pending for a resume."""

from __future__ import annotations

from django_eventstream.models import Event
from rest_framework.test import APIClient

from runs import events
from runs import services as run_services
from sweeps import jobs, services
from sweeps.models import Sweep, SweepCell

BODY = {"strategy_id": 2, "grid": {"fast_ma_period": [3, 5]}, "parameters": {"slow_ma_period": 20}}


def _cell_events(sweep_id) -> int:
    return Event.objects.filter(channel=services.channel_name(sweep_id), type="cell").count()


def test_a_chunk_that_finishes_after_its_sweep_was_interrupted_stores_and_publishes_nothing(coins, manual_backend):
    sweep_id = APIClient().post("/api/sweeps/", BODY, format="json").json()["id"]
    job, (_, numbers) = manual_backend.take()
    assert job == "sweep_chunk"
    sweep = Sweep.objects.values(*jobs._SWEEP_FIELDS).get(id=sweep_id)
    rows = list(SweepCell.objects.filter(sweep_id=sweep_id, n__in=numbers).order_by("n").values_list("n", "parameters"))
    results = jobs.cells_compute(jobs._work(sweep), rows)  # the chunk computes ...
    assert run_services.batches_interrupt(batch_ids=[sweep_id]) == 1  # ... while the server stops
    services.sweep_cells_store(sweep_id=sweep_id, results=results)
    assert events.channel_writer.wait_idle(5)
    ended = Sweep.objects.get(id=sweep_id)
    assert (ended.status, ended.completed) == ("interrupted", 0)
    assert set(SweepCell.objects.filter(sweep_id=sweep_id).values_list("state", flat=True)) == {"pending"}
    assert _cell_events(sweep_id) == 0
    # The same chunk on a sweep in progress stores its cells and publishes them (the test can fail).
    Sweep.objects.filter(id=sweep_id).update(status="running", finished_at=None)
    services.sweep_cells_store(sweep_id=sweep_id, results=results)
    assert events.channel_writer.wait_idle(5)
    assert Sweep.objects.get(id=sweep_id).completed == len(results)
    assert _cell_events(sweep_id) == len(results)
