"""What a server process does for runs when it starts and stops (called from backtest_site.asgi)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time

import numpy as np
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from . import events, services
from .backends import backend, process_id, stalled_batch_ids

logger = logging.getLogger(__name__)


def server_started() -> None:
    """1. Mark runs that no live process is executing any more `interrupted` (a stale heartbeat).
    2. Start this process's heartbeat thread, which renews its own runs' heartbeats.
    3. Load what the first request would otherwise load: the URLconf with every view module,
       and the code of a run request's validation (a dry run that stores nothing).
    4. Load the engine's compiled kernels (numba's cache) with a tiny backtest of each strategy."""
    close_old_connections()
    try:
        leases_tick()
        heartbeat_start()
        request_path_warm_up()
    finally:
        close_old_connections()
    engine_warm_up()


# A run whose coins are all counted but which is still in progress this long after its last count
# lost its finish (the job that counted it normally finishes it within milliseconds).
LOST_FINISH_GRACE_SECONDS = 10.0


def leases_tick() -> int:
    """One heartbeat:
    1. the watchdog: end `interrupted` the runs of this process with a job that has made no
       progress for BACKTEST_STALL_SECONDS (hung: its slot is freed, its stream gets `complete`;
       should the job ever return, it stores nothing);
    2. renew the other runs this process's backend is executing;
    3. end `interrupted` the runs whose executor is gone: at once those of a dead process of this
       host, and any run whose heartbeat is older than the lease;
    4. finish the runs whose coins are all counted but whose finish was lost.
    Returns how many were interrupted."""
    stalled = stalled_batch_ids(settings.BACKTEST_STALL_SECONDS)
    count = services.batches_interrupt(batch_ids=stalled)
    if count:
        logger.warning(
            "Run(s) %s made no progress for %d s: interrupted", ", ".join(stalled), settings.BACKTEST_STALL_SECONDS
        )
    services.batches_heartbeat(batch_ids=[b for b in backend().active_batch_ids() if b not in stalled])
    now = timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.BACKTEST_LEASE_SECONDS)
    gone = services.batches_orphans_recover(me=process_id(), alive=pid_alive)
    gone += services.batches_recover(stale_before=stale_before)
    if gone:
        logger.warning("Marked %d run(s) that no process executes any more as interrupted", gone)
    services.runs_finish_lost(settled_before=now - dt.timedelta(seconds=LOST_FINISH_GRACE_SECONDS))
    return count + gone


def pid_alive(pid: int) -> bool:
    """Whether a process of this host has that pid (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


_heartbeat: threading.Thread | None = None


def heartbeat_start() -> None:
    """Every BACKTEST_HEARTBEAT_SECONDS, `leases_tick` on a daemon thread (once per process; 0: none)."""
    global _heartbeat
    seconds = settings.BACKTEST_HEARTBEAT_SECONDS
    if not seconds or (_heartbeat is not None and _heartbeat.is_alive()):
        return

    def beat() -> None:
        while True:
            time.sleep(seconds)
            try:
                leases_tick()
            except Exception:  # the database may be briefly away: try again next time
                logger.exception("Run heartbeat failed")
            finally:
                close_old_connections()

    _heartbeat = threading.Thread(target=beat, name="runs-heartbeat", daemon=True)
    _heartbeat.start()


def request_path_warm_up() -> None:
    from django.urls import get_resolver
    from rest_framework.exceptions import ValidationError

    from .api import run_request_create

    get_resolver().url_patterns  # noqa: B018 - imports every urls and view module
    try:  # a valid strategy and an invalid fee: validated through, refused before anything is stored
        run_request_create({"strategy_id": 1, "start_date": "2024-01-01", "end_date": "2024-12-31", "fee_pct": -1})
    except ValidationError:
        pass


def engine_warm_up() -> float:
    """Run every strategy on a small synthetic series; returns the seconds it took.

    Numba compiles (or loads from its cache) one specialisation per array type, and a
    read-only array is a type of its own: the price cache hands out read-only arrays
    (`np.frombuffer`), the database path writable ones. The engine passes read-only views
    of both to its kernels (one specialisation); both paths are run here all the same, so
    no request pays for a compilation.
    """
    from market_data.selectors import PriceSeries
    from strategies.engine import STRATEGIES, EngineError, backtest_arrays
    from strategies.engine.warmup import warm_up
    from strategies.engine.windows import window_metrics

    started = time.perf_counter()
    n = 400
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    times = (np.arange(n, dtype=np.int64) + 1_700_000_000 // 3600) * 3_600_000_000_000
    writable = PriceSeries(times, close, close * 1.01, close * 0.99, close, np.ones(n))
    readonly = PriceSeries.from_bytes(writable.to_bytes())
    for series in (writable, readonly):
        for key in STRATEGIES:
            try:
                result = backtest_arrays(
                    key, times=series.times, open=series.open, high=series.high, low=series.low, close=series.close
                )
                window_metrics(result, series.close, min(result.warmup, 10))  # a sweep's test window
            except EngineError:
                logger.exception("Engine warm-up of %s failed", key)
    warm_up()  # every other entry point: execution options, the portfolio, the charts' indicators
    seconds = time.perf_counter() - started
    logger.info("Backtest engine loaded in %.2f s", seconds)
    return seconds


def server_stopping() -> None:
    """Drop queued jobs, mark this process's runs interrupted, give queued events 2 s to be stored."""
    close_old_connections()
    try:
        interrupted = backend().active_batch_ids()
        backend().shutdown()
        services.batches_interrupt(batch_ids=interrupted)
        if interrupted:
            logger.warning("Server stopping: run(s) %s interrupted", ", ".join(interrupted))
        if not events.channel_writer.wait_idle(timeout=2.0):
            logger.warning("Server stopping: some run events were not stored")
    finally:
        close_old_connections()
