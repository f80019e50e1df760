"""Writes of runs: create (validate everything first), start, cancel, recover after a restart."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from market_data.models import INTERVALS, Cryptocurrency
from market_data.selectors import coins_with_bars
from strategies.engine import InvalidParameters
from strategies.models import Strategy
from strategies.services import strategy_parameters_resolve

from . import events
from .models import BacktestRun, RunResult

logger = logging.getLogger(__name__)

FEE_PCT_MIN, FEE_PCT_MAX = 0.0, 5.0


class RunValidationError(Exception):
    """The request cannot run; `errors` maps each bad field to its messages (HTTP 400)."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {field: list(messages) for field, messages in errors.items()}
        super().__init__("; ".join(f"{f}: {' '.join(m)}" for f, m in self.errors.items()))


class TooManyRuns(Exception):
    """BACKTEST_MAX_CONCURRENT_RUNS runs are pending or running (HTTP 429)."""

    retry_after = 5

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"{limit} runs are already in progress; try again in a few seconds")


class RunNotCancellable(Exception):
    """The run has already finished (HTTP 409)."""


# --- Parsing the request (pure) ----------------------------------------------------


@dataclass(frozen=True)
class Window:
    start: dt.datetime | None
    end: dt.datetime | None
    start_text: str
    end_text: str


def date_parse(value: Any, *, end_of_day: bool) -> tuple[dt.datetime | None, str]:
    """A request date: "YYYY-MM-DD" (an end date covers its whole day) or an ISO datetime.

    Returns (aware UTC datetime or None, the text to echo). Naive datetimes are UTC.
    Raises ValueError with a message for the API.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, ""
    if not isinstance(value, str):
        raise ValueError("must be a date string (YYYY-MM-DD) or an ISO 8601 datetime")
    text = value.strip()
    if len(text) == 10:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid date (YYYY-MM-DD)") from None
        moment = dt.datetime.combine(day, dt.time.max if end_of_day else dt.time.min, tzinfo=dt.UTC)
        return moment, day.isoformat()
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid date (YYYY-MM-DD) or ISO 8601 datetime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC), text


def window_parse(start_date: Any, end_date: Any, errors: dict[str, list[str]]) -> Window:
    start = end = None
    start_text = end_text = ""
    try:
        start, start_text = date_parse(start_date, end_of_day=False)
    except ValueError as exc:
        errors["start_date"] = [str(exc)]
    try:
        end, end_text = date_parse(end_date, end_of_day=True)
    except ValueError as exc:
        errors["end_date"] = [str(exc)]
    if start and end and start > end:
        errors["start_date"] = [f"must not be after end_date ({start_text} > {end_text})"]
    return Window(start, end, start_text, end_text)


def fee_parse(value: Any, errors: dict[str, list[str]]) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors["fee_pct"] = ["must be a number"]
        return 0.0
    try:
        fee = float(value)
    except ValueError:
        errors["fee_pct"] = ["must be a number"]
        return 0.0
    if not FEE_PCT_MIN <= fee <= FEE_PCT_MAX:  # also rejects NaN
        errors["fee_pct"] = [f"must be between {FEE_PCT_MIN:g} and {FEE_PCT_MAX:g} (percent per fill), got {value}"]
    return fee


def interval_parse(value: Any, errors: dict[str, list[str]]) -> str:
    if value is None or value == "":
        return "1h"
    if value not in INTERVALS:
        errors["interval"] = [f"must be one of {', '.join(INTERVALS)}, got {value!r}"]
        return "1h"
    return value


def symbols_parse(value: Any, errors: dict[str, list[str]]) -> list[str]:
    """A list of symbols (or one comma-separated string); upper-cased, duplicates dropped."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        errors["symbols"] = ["must be a list of coin symbols"]
        return []
    return list(dict.fromkeys(s.strip().upper() for s in value))


def strategy_get(value: Any, errors: dict[str, list[str]]) -> Strategy | None:
    if isinstance(value, bool) or value is None or value == "":
        errors["strategy_id"] = ["is required" if value in (None, "") else "must be an integer"]
        return None
    try:
        strategy_id = int(value)
    except (TypeError, ValueError):
        errors["strategy_id"] = [f"must be an integer, got {value!r}"]
        return None
    strategy = Strategy.objects.filter(id=strategy_id).first()
    if strategy is None:
        errors["strategy_id"] = [f"unknown strategy {strategy_id}"]
    elif not strategy.is_active:
        errors["strategy_id"] = [f"strategy {strategy_id} is not active"]
        strategy = None
    return strategy


def parameters_resolve(strategy: Strategy, params: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    """The strategy's parameters with defaults filled in, checked against the admin's definitions
    and the engine's rules."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        errors["parameters"] = ["must be an object of parameter names and values"]
        return {}
    try:
        return strategy_parameters_resolve(strategy=strategy, params=params)
    except InvalidParameters as exc:
        if exc.parameter == "strategy":
            errors["strategy_id"] = [exc.rule]
        else:
            errors[f"parameters.{exc.parameter}"] = [exc.rule]
        return {}


def symbols_check(symbols: Sequence[str], errors: dict[str, list[str]]) -> None:
    if not symbols:
        return
    found = dict(Cryptocurrency.objects.filter(symbol__in=symbols).values_list("symbol", "is_active"))
    unknown = [s for s in symbols if s not in found]
    inactive = [s for s in symbols if found.get(s) is False]
    messages = []
    if unknown:
        messages.append(f"unknown symbols: {', '.join(unknown)}")
    if inactive:
        messages.append(f"inactive symbols: {', '.join(inactive)}")
    if messages:
        errors["symbols"] = messages


# --- Services ---------------------------------------------------------------------


# Any constant: the key of the advisory lock that serialises run creation on PostgreSQL.
_RUN_CREATE_LOCK_KEY = 0x62745F72756E73  # "bt_runs"


def _runs_create_lock() -> None:
    """Serialise "count the runs in progress, then insert" across processes and threads.

    On PostgreSQL concurrent transactions would each see a count under the limit; a
    transaction-scoped advisory lock makes them take turns (released at commit). SQLite's
    IMMEDIATE transactions already hold the write lock from their start.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RUN_CREATE_LOCK_KEY])


def run_create(
    *,
    strategy_id: Any,
    parameters: Any = None,
    start_date: Any = None,
    end_date: Any = None,
    fee_pct: Any = None,
    interval: Any = None,
    symbols: Any = None,
    start: bool = True,
) -> BacktestRun:
    """Validate a request and store the run, with one pending result row per coin.

    1. Check every field; collect all errors, raise RunValidationError (nothing stored).
    2. Refuse with TooManyRuns when BACKTEST_MAX_CONCURRENT_RUNS runs are in progress.
    3. Pick the coins: active, with bars of the interval in the window (and in `symbols`).
    4. Store the run and its result rows in one transaction.
    5. With start=True, `run_start` once the transaction commits. The original endpoint
       passes start=False: it subscribes to the run's events first, then starts it.
    """
    errors: dict[str, list[str]] = {}
    strategy = strategy_get(strategy_id, errors)
    resolved = parameters_resolve(strategy, parameters, errors) if strategy else {}
    window = window_parse(start_date, end_date, errors)
    fee = fee_parse(fee_pct, errors)
    interval = interval_parse(interval, errors)
    wanted = symbols_parse(symbols, errors)
    if "symbols" not in errors:
        symbols_check(wanted, errors)
    if errors:
        raise RunValidationError(errors)

    with transaction.atomic():
        _runs_create_lock()
        limit = settings.BACKTEST_MAX_CONCURRENT_RUNS
        if BacktestRun.objects.in_progress().count() >= limit:
            raise TooManyRuns(limit)
        coins = coins_with_bars(interval=interval, start=window.start, end=window.end, symbols=wanted or None)
        run = BacktestRun.objects.create(
            strategy=strategy,
            parameters=resolved,
            start_date=window.start_text,
            end_date=window.end_text,
            window_start=window.start,
            window_end=window.end,
            interval=interval,
            fee_pct=fee,
            symbols=wanted,
            total=len(coins),
        )
        RunResult.objects.bulk_create(
            RunResult(run=run, crypto_id=c.id, crypto_symbol=c.symbol, crypto_name=c.name, is_demo=c.is_demo)
            for c in coins
        )
        if start:
            run_id = run.id
            transaction.on_commit(lambda: run_start(run_id=run_id))
    return run


def run_start(*, run_id: Any) -> None:
    """Publish `start` and submit one job per coin to the pool; a run of no coins completes at once."""
    from . import executor  # the pool module imports this one

    run = BacktestRun.objects.select_related("strategy").get(id=run_id)
    events.publish(
        run.id,
        events.start_payload(
            run_id=run.id,
            total=run.total,
            strategy_id=run.strategy_id,
            start_date=run.start_date,
            end_date=run.end_date,
            interval=run.interval,
        ),
    )
    if run.total == 0:
        executor.run_finish(run_id=run.id, message=_no_bars_message(run))
        return
    crypto_ids = list(RunResult.objects.filter(run=run).order_by("crypto_symbol").values_list("crypto_id", flat=True))
    try:
        executor.submit_run(run_id=run.id, crypto_ids=crypto_ids)
    except RuntimeError:  # the pool is shut down: the server is stopping
        logger.exception("Could not submit run %s", run.id)
        BacktestRun.objects.filter(id=run.id, status__in=BacktestRun.IN_PROGRESS).update(
            status=BacktestRun.Status.FAILED, finished_at=timezone.now()
        )


def _no_bars_message(run: BacktestRun) -> str:
    where = f" of {', '.join(run.symbols)}" if run.symbols else ""
    start = run.start_date or "the first bar"
    end = run.end_date or "the last bar"
    return f"No bars{where} at interval {run.interval} between {start} and {end}: nothing to backtest"


def run_cancel(*, run_id: Any) -> BacktestRun:
    """Cancel a pending or running run: coins not yet started are skipped, the run ends `cancelled`
    (its last job publishes `complete`). Raises RunNotCancellable when it has finished."""
    updated = BacktestRun.objects.filter(id=run_id, status__in=BacktestRun.IN_PROGRESS).update(
        status=BacktestRun.Status.CANCELLED
    )
    run = BacktestRun.objects.get(id=run_id)
    if not updated:
        raise RunNotCancellable(f"run {run_id} is already {run.status}")
    return run


def runs_recover(*, started_before: dt.datetime) -> int:
    """Mark runs a stopped server left pending or running as `interrupted`; their stored results stay.

    Only runs created before `started_before` (this process's start) are touched, so a
    sibling worker process started together with this one keeps its runs.
    """
    return (
        BacktestRun.objects.in_progress()
        .filter(created_at__lt=started_before)
        .update(status=BacktestRun.Status.INTERRUPTED, finished_at=timezone.now())
    )
