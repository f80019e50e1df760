"""Where jobs run. A backend only submits jobs (runs.jobs, by name, with ids); it knows nothing
of runs' lifecycle, which is services' business.

- `ThreadPoolBackend` (the default): a module-level pool of BACKTEST_WORKERS threads in this
  process. The engine releases the GIL in its compiled kernels, so the threads run in parallel.
- `CeleryBackend` (when CELERY_BROKER_URL is set): each job a Celery task (runs.tasks.job)
  carrying the job's name and ids; any worker of any machine may execute it.

`backend()` is the one in use; `backend_use()` swaps it (tests, a worker process).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from django.conf import settings

logger = logging.getLogger(__name__)


def process_id() -> str:
    """This process, as "host:pid:token" (a new token after a fork, so a child is not its parent)."""
    global _process
    pid = os.getpid()
    if _process is None or _process[0] != pid:
        _process = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:12]}")
    return _process[1]


_process: tuple[int, str] | None = None


class Backend(Protocol):
    def owner(self) -> str:
        """Who executes the jobs submitted here: this process's id for an in-process backend,
        "" for a queue that any worker may take them from."""

    def submit(self, job: str, *, batch_id: str, args: Sequence[Any]) -> None:
        """Queue `runs.jobs.JOBS[job](*args)` for the batch. Raises RuntimeError when it cannot."""

    def active_batch_ids(self) -> list[str]:
        """The batches with jobs queued or running in this process (for heartbeats and shutdown)."""

    def shutdown(self) -> None:
        """Stop taking jobs and drop the queued ones (server shutdown)."""

    # Optional: `batch_cancel(batch_id)`, drop the batch's jobs not yet started (services.run_cancel).


class BackendUnavailable(RuntimeError):
    """The backend cannot take jobs now (its broker is unreachable): the request answers 503."""


def job_call(job: str, args: Sequence[Any]) -> None:
    from .jobs import JOBS

    JOBS[job](*args)


# The jobs executing in this process's pool threads: thread id -> [batch id, when it last made
# progress (time.monotonic)]. A job notes its progress (`job_progress`) as it computes each coin;
# one silent for BACKTEST_STALL_SECONDS is hung (`stalled_batch_ids`, runs.lifecycle's watchdog).
_running_lock = threading.Lock()
_running: dict[int, list[Any]] = {}


def job_progress() -> None:
    """The job of this thread is alive: it made progress (a coin computed, a retry begun)."""
    entry = _running.get(threading.get_ident())
    if entry is not None:
        entry[1] = time.monotonic()


def stalled_batch_ids(seconds: float) -> list[str]:
    """The batches with a job executing here that has made no progress for `seconds`."""
    before = time.monotonic() - seconds
    with _running_lock:
        return sorted({batch for batch, at in _running.values() if at < before})


class ThreadPoolBackend:
    """Jobs on a fixed pool of threads; a done-callback logs whatever escaped a job."""

    def __init__(self, workers: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backtest")
        self._lock = threading.Lock()
        self._futures: dict[str, set[Future]] = {}  # in-flight jobs per batch

    def owner(self) -> str:
        return process_id()

    def submit(self, job: str, *, batch_id: str, args: Sequence[Any]) -> None:
        future = self.pool.submit(self._execute, batch_id, job, list(args))
        with self._lock:
            self._futures.setdefault(batch_id, set()).add(future)
        future.add_done_callback(lambda f: self._done(f, batch_id, job))

    def _execute(self, batch_id: str, job: str, args: Sequence[Any]) -> None:
        """In a pool thread: the job, registered as executing (for the watchdog) while it runs."""
        me = threading.get_ident()
        with _running_lock:
            _running[me] = [str(batch_id), time.monotonic()]
        try:
            self.run(job, args)
        finally:
            with _running_lock:
                _running.pop(me, None)

    def run(self, job: str, args: Sequence[Any]) -> None:
        """The job itself; one that loses its database connection is tried again on a fresh one
        (runs.db.connection_retry: BACKTEST_DB_ATTEMPTS in all, with backoff)."""
        from .db import connection_retry

        connection_retry(job_call, job, args)

    def _done(self, future: Future, batch_id: str, job: str) -> None:
        with self._lock:
            jobs = self._futures.get(batch_id)
            if jobs is not None:
                jobs.discard(future)
                if not jobs:
                    del self._futures[batch_id]
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            logger.error("Job %s of batch %s failed", job, batch_id, exc_info=exc)

    def active_batch_ids(self) -> list[str]:
        with self._lock:
            return [key for key, jobs in self._futures.items() if jobs]

    def wait_idle(self, batch_id: Any = None, timeout: float = 30.0) -> bool:
        """Wait until the jobs of one batch (or of all) have finished; True if they did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = bool(self._futures.get(str(batch_id))) if batch_id is not None else bool(self._futures)
            if not busy:
                return True
            time.sleep(0.01)
        return False

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class CeleryBackend:
    """Jobs as Celery tasks on the broker at CELERY_BROKER_URL (backtest_site.celery).

    A task is `runs.tasks.job(name, args)`: ids only. Each is stamped with its batch id, so
    `batch_cancel` revokes a batch's tasks on every worker with one broadcast, wherever the
    batch was submitted from; a worker discarding a revoked task skips its coins
    (runs.tasks), and one that never heard of the revoke finds the run cancelled and skips
    them too. A broker that does not answer within a couple of seconds raises
    BackendUnavailable (no retry: settings, CELERY_BROKER_*).
    """

    def __init__(self, app: Any = None) -> None:
        if app is None:
            from backtest_site.celery import app
        self.app = app

    def owner(self) -> str:
        return ""  # any worker may take the jobs: the run's lease is renewed by whoever executes them

    def submit(self, job: str, *, batch_id: str, args: Sequence[Any]) -> None:
        from kombu.exceptions import OperationalError

        from .tasks import TASK_NAME

        try:
            self.app.send_task(
                TASK_NAME, args=[job, list(args)], retry=False, stamped_headers=["batch_id"], batch_id=str(batch_id)
            )
        except (OperationalError, OSError) as exc:
            raise BackendUnavailable(f"The task broker is unreachable: {exc}") from exc

    def batch_cancel(self, batch_id: str) -> None:
        try:
            self.app.control.revoke_by_stamped_headers({"batch_id": [str(batch_id)]})
        except Exception:  # the broker is down: the jobs find the run cancelled and skip their coins
            logger.exception("Could not revoke the tasks of batch %s", batch_id)

    def active_batch_ids(self) -> list[str]:
        return []  # nothing executes here

    def shutdown(self) -> None:
        pass  # the queued tasks belong to the broker and its workers


_backend: Backend | None = None
_backend_lock = threading.Lock()


def backend() -> Backend:
    """The backend in use: created on first use from the settings."""
    global _backend
    if _backend is None:
        with _backend_lock:
            if _backend is None:
                if settings.CELERY_BROKER_URL:
                    _backend = CeleryBackend()
                else:
                    _backend = ThreadPoolBackend(settings.BACKTEST_WORKERS)
    return _backend


def backend_use(new: Backend | None) -> Backend | None:
    """Make `new` the backend in use (None: back to the default on next use); returns the previous one."""
    global _backend
    with _backend_lock:
        previous, _backend = _backend, new
    return previous


def wait_idle(batch_id: Any = None, timeout: float = 30.0) -> bool:
    """Wait for this process's jobs (tests, shutdown); True at once for a backend that runs elsewhere."""
    waiter = getattr(backend(), "wait_idle", None)
    return True if waiter is None else waiter(batch_id, timeout)
