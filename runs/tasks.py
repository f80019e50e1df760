"""The one Celery task: a job of runs.jobs by name, with its ids (runs.backends.CeleryBackend).

A job's first argument is its batch's id (a run's id): the worker renews the lease of the
batches it is executing, and skips the coins of a revoked task. A sweep's job is one more
entry in `runs.jobs.JOBS` and in `SKIPS` (its revoked chunks' cells are cancelled), not another task.

In a worker process (`worker_process_setup`, from backtest_site.celery's signals):
- events are stored in the transaction that stores their results (events.ChannelWriter), so a
  worker killed at any point leaves each coin stored with its events, or neither, and the task
  (acknowledged late) is delivered again;
- the backend in use is `WorkerBackend`: nothing is submitted from here, and its
  `active_batch_ids` are the runs being executed, which `lifecycle.leases_tick` renews.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from celery import shared_task, signals
from django.db import DatabaseError, close_old_connections

logger = logging.getLogger(__name__)

TASK_NAME = "runs.job"


def _run_chunk_skip(run_id: Any, crypto_ids: Sequence[int]) -> None:
    from . import services

    services.run_results_skip(run_id=run_id, crypto_ids=crypto_ids)


def _sweep_chunk_skip(sweep_id: Any, cell_numbers: Sequence[int]) -> None:
    from sweeps import services

    services.sweep_cells_cancel(sweep_id=sweep_id, numbers=cell_numbers)


# What a revoked job's coins or cells become (a run's coins: skipped and counted; a sweep's cells:
# cancelled and counted), so the batch still finishes.
SKIPS: dict[str, Callable[..., None]] = {"run_chunk": _run_chunk_skip, "sweep_chunk": _sweep_chunk_skip}


class WorkerBackend:
    """The backend of a worker process: the batches it is executing, for their heartbeat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executing: Counter[str] = Counter()

    def owner(self) -> str:
        return ""

    def submit(self, job: str, *, batch_id: str, args: Sequence[Any]) -> None:
        raise RuntimeError("a worker process does not submit jobs")

    def active_batch_ids(self) -> list[str]:
        with self._lock:
            return [batch for batch, n in self._executing.items() if n]

    def shutdown(self) -> None:
        pass

    def executing(self, batch_id: str, delta: int) -> None:
        with self._lock:
            self._executing[batch_id] += delta
            if self._executing[batch_id] <= 0:
                del self._executing[batch_id]


_worker_backend: WorkerBackend | None = None


def worker_process_setup(*, heartbeat: bool) -> None:
    """Make this process a worker: events stored in the results' transaction, the worker
    backend, the engine's compiled kernels loaded, and (`heartbeat`) the lease thread."""
    global _worker_backend
    from . import backends, events, lifecycle

    events.channel_writer.synchronous = True
    if _worker_backend is None:
        _worker_backend = WorkerBackend()
        backends.backend_use(_worker_backend)
    lifecycle.engine_warm_up()
    if heartbeat:
        lifecycle.heartbeat_start()


@shared_task(name=TASK_NAME, autoretry_for=(DatabaseError,), retry_backoff=1, max_retries=3)
def job(name: str, args: list[Any]) -> None:
    """Execute `runs.jobs.JOBS[name](*args)` (ids only). A database error (the chunk's transaction
    rolled back, nothing of it stored) tries the task again, up to 3 times, 1, 2, 4 s later."""
    from .backends import job_call

    batch = str(args[0]) if args else ""
    if _worker_backend is not None:
        _worker_backend.executing(batch, +1)
    try:
        job_call(name, args)
    finally:
        if _worker_backend is not None:
            _worker_backend.executing(batch, -1)


@signals.task_revoked.connect
def _task_revoked(sender=None, request=None, terminated: bool = False, **_: Any) -> None:
    """A worker discarded a revoked task before it started (a cancelled run): skip its coins, as
    the job itself would have, so the run still counts every coin and finishes."""
    if getattr(sender, "name", None) != TASK_NAME or request is None or terminated:
        return
    name, args = request.args
    skip = SKIPS.get(name)
    if skip is None:
        return
    close_old_connections()
    try:
        skip(*args)
    except Exception:  # the run then ends `interrupted` when its lease runs out
        logger.exception("Could not skip the coins of revoked task %s[%s]", name, request.id)
    finally:
        close_old_connections()
