"""What a server process does for runs when it starts and stops (called from backtest_site.asgi)."""

from __future__ import annotations

import logging
import time

import numpy as np
from django.db import close_old_connections
from django.utils import timezone

from . import events, executor, services

logger = logging.getLogger(__name__)

# When this process loaded the runs app: runs created before it belong to a stopped server.
PROCESS_STARTED_AT = timezone.now()


def server_started() -> None:
    """1. Mark runs left pending/running by a stopped server `interrupted`.
    2. Load what the first request would otherwise load: the URLconf with every view module,
       and the code of a run request's validation (a dry run that stores nothing).
    3. Load the engine's compiled kernels (numba's cache) with a tiny backtest of each strategy."""
    close_old_connections()
    try:
        count = services.runs_recover(started_before=PROCESS_STARTED_AT)
        if count:
            logger.warning("Marked %d run(s) left by a stopped server as interrupted", count)
        request_path_warm_up()
    finally:
        close_old_connections()
    engine_warm_up()


def request_path_warm_up() -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every urls and view module
    try:  # a valid strategy and an invalid fee: validated through, refused before anything is stored
        services.run_create(strategy_id=1, parameters={}, start_date="2024-01-01", end_date="2024-12-31", fee_pct=-1)
    except services.RunValidationError:
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
                backtest_arrays(
                    key, times=series.times, open=series.open, high=series.high, low=series.low, close=series.close
                )
            except EngineError:
                logger.exception("Engine warm-up of %s failed", key)
    seconds = time.perf_counter() - started
    logger.info("Backtest engine loaded in %.2f s", seconds)
    return seconds


def server_stopping() -> None:
    """Drop queued jobs, mark this process's runs interrupted, give queued events 2 s to be stored."""
    close_old_connections()
    try:
        interrupted = executor.shutdown(wait=False)
        if interrupted:
            logger.warning("Server stopping: run(s) %s interrupted", ", ".join(interrupted))
        if not events.channel_writer.wait_idle(timeout=2.0):
            logger.warning("Server stopping: some run events were not stored")
    finally:
        close_old_connections()
