"""The unit of work: a job is a plain function of ids, whatever backend runs it.

A **batch** is one strategy, one or more parameter sets (cells), a set of coins, a window
and the run options (ARCHITECTURE.md, "The unit of work"). A run is a batch of one cell.
`batch_compute` is the execution shared by every kind of batch: it takes the coins' price
series (loaded once per coin) and runs the engine for each cell; what is stored, counted and
published afterwards is the batch kind's (for a run: `services.run_results_store`).

A job over a chunk of coins of a run (`run_chunk(run_id, crypto_ids)`):

1. `run_chunk_load`: one query reads the chunk's pending result rows with the run's status, the
   run's settings are this process's copy (`run_spec`, read once per run);
   a cancelled run skips them (`services.run_results_skip`), an ended one returns;
2. `prices_get_many`: every series of the chunk in one cache round trip, the misses from
   the database;
3. `batch_compute`: the engine per coin (and cell);
4. `services.run_results_store`: the results written and counted in one transaction (only
   rows still pending, so a job delivered twice stores each coin once), then the events
   published in order; the chunk that counts the last coin finishes the run.

The backends (runs.backends) only decide where `run_chunk` runs: the in-process pool, or a
Celery worker. Jobs take ids, never model instances or arrays.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import close_old_connections, connection

from backtest_site.metrics import JOB_ERRORS
from market_data.selectors import PriceSeries, prices_get_many

from .backends import job_progress
from .db import CONNECTION_ERRORS, thread_connection_prepare
from .equity import equity_curve, equity_pack
from .models import INTEGER_METRICS, METRIC_FIELDS, BacktestRun, RunResult
from .tradelog import trades_pack

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchSpec:
    """What every job of one batch computes: one strategy, its cells, the window and the options."""

    strategy: Any  # the engine's strategy: a built-in's key, or a compiled rule strategy
    cells: Sequence[Mapping[str, Any]]  # resolved parameter sets; a run has one
    interval: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    fee_pct: float = 0.0
    fill: str = "close"
    stop_mode: str = "close"
    slippage_pct: float = 0.0


@dataclass
class CoinOutcome:
    """One coin and cell of a batch, as computed: the engine's result, or why it could not run."""

    crypto_id: int
    cell: int
    bars: int | None
    result: Any = None  # strategies.engine.BacktestResult
    error: str | None = None
    duration_ms: float = 0.0
    prices: PriceSeries | None = field(default=None, repr=False)


def batch_compute(spec: BatchSpec, prices: Mapping[int, PriceSeries | BaseException]) -> Iterator[CoinOutcome]:
    """Run the engine for each coin (in the order given) and each cell of the batch.

    `prices` maps a coin id to its windowed series, or to the exception raised loading it.
    An engine error (too few bars, bad prices) or anything unexpected fails that coin and cell
    only: the batch goes on.
    """
    from strategies.engine import EngineError, backtest_arrays

    for crypto_id, series in prices.items():
        for cell, params in enumerate(spec.cells):
            started = time.perf_counter()
            if isinstance(series, BaseException):
                yield CoinOutcome(crypto_id, cell, None, error=_internal_error(series, crypto_id))
                continue
            outcome = CoinOutcome(crypto_id, cell, len(series), prices=series)
            try:
                outcome.result = backtest_arrays(
                    spec.strategy,
                    **series.columns(),
                    params=params,
                    fee_pct=spec.fee_pct,
                    interval=spec.interval,
                    fill=spec.fill,
                    stop_mode=spec.stop_mode,
                    slippage_pct=spec.slippage_pct,
                )
            except EngineError as exc:
                outcome.error = str(exc)
            except Exception as exc:  # a bug: this coin fails, the batch goes on
                outcome.error = _internal_error(exc, crypto_id)
            outcome.duration_ms = (time.perf_counter() - started) * 1000
            yield outcome


def _internal_error(exc: BaseException, crypto_id: int) -> str:
    JOB_ERRORS.labels(kind="coin").inc()
    logger.error("Backtest of coin %s failed unexpectedly", crypto_id, exc_info=exc)
    return f"Internal error: {exc.__class__.__name__}: {exc}"


# --- The run's job ------------------------------------------------------------------------


@dataclass
class RunChunk:
    """A chunk of a run as its job read it: the run's spec and the chunk's coins still pending."""

    run_id: str
    status: str
    spec: BatchSpec
    coins: dict[int, tuple[str, str]]  # crypto id -> (symbol, name), pending only, in symbol order


# The run's settings a job computes with, by run id (`run_spec`): fixed when the run is created
# (only its name, note and lifecycle columns change later), so read once per process and run.
_SPEC_FIELDS = {
    "strategy": "strategy__key",
    "rules": "rules",
    "parameters": "parameters",
    "window_start": "window_start",
    "window_end": "window_end",
    "interval": "interval",
    "fee_pct": "fee_pct",
    "fill": "fill",
    "stop_mode": "stop_mode",
    "slippage_pct": "slippage_pct",
}


@functools.lru_cache(maxsize=64)
def run_spec(run_id: str) -> BatchSpec:
    """What every job of the run computes (a BatchSpec of one cell), from this process's copy."""
    row = BacktestRun.objects.filter(id=run_id).values(*_SPEC_FIELDS.values()).get()
    row = {name: row[column] for name, column in _SPEC_FIELDS.items()}
    return BatchSpec(
        strategy=engine_strategy(row.pop("strategy"), row.pop("rules")),
        cells=[row.pop("parameters")],
        **row,
    )


def _pending_rows(run_id: str, crypto_ids: Sequence[int]) -> list[tuple[int, str, str, str]]:
    """(crypto id, symbol, name, the run's status) of the chunk's coins still pending, by symbol.

    One statement written out: a job pays it once per chunk, and the ORM's compilation of it
    cost more than the database's answer."""
    results = RunResult._meta
    runs = BacktestRun._meta
    quote = connection.ops.quote_name
    r, b = quote(results.db_table), quote(runs.db_table)
    ids = [int(c) for c in crypto_ids]
    sql = (
        f"SELECT {r}.crypto_id, {r}.crypto_symbol, {r}.crypto_name, {b}.status FROM {r} "
        f"JOIN {b} ON {b}.id = {r}.run_id WHERE {r}.run_id = %s AND {r}.state = %s "
        f"AND {r}.crypto_id IN ({', '.join(['%s'] * len(ids))}) ORDER BY {r}.crypto_symbol"
    )
    run_key = runs.pk.get_db_prep_value(uuid.UUID(run_id), connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_key, RunResult.State.PENDING, *ids])
        return cursor.fetchall()


def run_chunk_load(run_id: Any, crypto_ids: Sequence[int]) -> RunChunk | None:
    """Step 1: the chunk's pending coins and the run's status (one query) and settings (`run_spec`);
    None when nothing is left to do."""
    from . import services

    run_id = str(uuid.UUID(str(run_id)))  # one spelling: the key of this process's settings (run_spec)
    rows = _pending_rows(run_id, crypto_ids) if crypto_ids else []
    if not rows:  # done already: a job delivered twice, or tried again after its results were stored
        services.run_finish_if_done(run_id=run_id)  # ... but perhaps not the run's finish
        return None
    status = rows[0][3]
    if status == BacktestRun.Status.CANCELLED:
        services.run_results_skip(run_id=run_id, crypto_ids=[r[0] for r in rows])
        return None
    if status not in BacktestRun.IN_PROGRESS:
        return None  # ended (interrupted/failed) while this job waited
    if status == BacktestRun.Status.PENDING:
        services.run_mark_running(run_id=run_id)
    coins = {crypto_id: (symbol, name) for crypto_id, symbol, name, _ in rows}
    return RunChunk(run_id, status, run_spec(run_id), coins)


_compiled_lock = threading.Lock()
_compiled: dict[str, Any] = {}  # rule strategies compiled from their snapshot text, by that text


def engine_strategy(key: str, rules: Mapping[str, Any] | None) -> Any:
    """What the engine runs for a batch: the built-in's key, or the rule strategy compiled from
    the snapshot the batch stored (once per process and snapshot)."""
    if not rules:
        return key
    from strategies.services import rules_from_snapshot

    text = json.dumps(rules, sort_keys=True)
    with _compiled_lock:
        compiled = _compiled.get(text)
    if compiled is None:
        compiled = rules_from_snapshot(rules)
        with _compiled_lock:
            if len(_compiled) > 64:
                _compiled.clear()
            _compiled[text] = compiled
    return compiled


def run_chunk_compute(chunk: RunChunk) -> list[dict[str, Any]]:
    """Steps 2 and 3: the chunk's prices in one read, the engine per coin; the RunResult fields."""
    spec = chunk.spec
    prices: Mapping[int, PriceSeries | BaseException]
    try:
        prices = prices_get_many(
            crypto_ids=list(chunk.coins), interval=spec.interval, start=spec.window_start, end=spec.window_end
        )
    except CONNECTION_ERRORS:  # the connection is lost: the whole job is tried again (runs.db)
        raise
    except Exception as exc:  # another database error: the chunk's coins fail, the run goes on
        JOB_ERRORS.labels(kind="prices").inc()
        prices = dict.fromkeys(chunk.coins, exc)
    fields = []
    for outcome in batch_compute(spec, prices):
        fields.append(outcome_fields(outcome))
        job_progress()  # the watchdog's sign of life (runs.backends.stalled_batch_ids)
    return fields


def outcome_fields(outcome: CoinOutcome) -> dict[str, Any]:
    """A coin's RunResult fields: state, error, bars, metrics at full precision, trades and equity packed."""
    fields: dict[str, Any] = {
        "crypto_id": outcome.crypto_id,
        "bars": outcome.bars,
        "duration_ms": outcome.duration_ms,
        "state": RunResult.State.FAILED if outcome.error else RunResult.State.DONE,
        "error": outcome.error or "",
    }
    series = outcome.prices
    if series is not None and len(series):  # the bars actually used, failed coins' too
        fields["first_bar"] = _moment(series.times[0])
        fields["last_bar"] = _moment(series.times[-1])
    result = outcome.result
    if result is None:
        return fields
    for name in METRIC_FIELDS:
        value = result.metrics.get(name)
        fields[name] = None if value is None else int(value) if name in INTEGER_METRICS else float(value)
    fields["trade_log"] = trade_log_pack(result.trade_log)
    fields["equity"] = equity_pack(equity_curve(series.times, result.equity, series.close))
    return fields


def run_chunk(run_id: Any, crypto_ids: Sequence[int]) -> None:
    """Backtest a chunk of a run's coins (see the module docstring). The job every backend runs."""
    from . import services

    close_old_connections()
    try:
        thread_connection_prepare()
        chunk = run_chunk_load(run_id, crypto_ids)
        if chunk is None:
            return
        services.run_results_store(run_id=chunk.run_id, coins=chunk.coins, results=run_chunk_compute(chunk))
    except Exception:
        JOB_ERRORS.labels(kind="job").inc()
        raise
    finally:
        close_old_connections()


# The jobs a backend may run, by name (a Celery task carries the name and the ids).
JOBS: dict[str, Callable[..., None]] = {"run_chunk": run_chunk}


def _moment(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ns) // 1_000_000_000, tz=dt.UTC)


def trade_log_pack(log: Any) -> bytes:
    """A coin's trades as stored (runs.tradelog), from the engine's TradeLog arrays."""
    from strategies.engine import REASONS

    return trades_pack(
        entry_time=log.entry_time,
        exit_time=log.exit_time,
        entry_price=log.entry_price,
        exit_price=log.exit_price,
        return_pct=log.return_pct,
        reason=log.reason,
        reasons=REASONS,
    )
