"""The sweep's job: a chunk of cells over every coin, a plain function of ids like a run's.

`sweep_chunk(sweep_id, cell_numbers)`:

1. one query reads the chunk's pending cells with the sweep's status; a cancelled sweep's
   cells are marked cancelled, an ended sweep's are left;
2. the sweep's work, built once per process and kept while its jobs run (`_work`): its
   settings, its windows, and every coin's series read once (`prices_get_many`);
3. for each coin, every cell on every window in one compiled call (`strategies.engine.sweep`;
   a rule strategy's cells one `backtest_arrays` each), one float32 column of metrics per coin;
   then the cell's aggregates across coins;
4. `services.sweep_cells_store`: stored, counted and published in one go.

Each cell's metrics on the whole window (or the bars before `test_start`) are a single
backtest's with the same parameters, by construction: the same kernels on the same bars.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import close_old_connections

from market_data.selectors import PriceSeries, prices_get_many
from runs.db import rows_update, thread_connection_prepare
from runs.downsample import minmax_indices
from runs.jobs import engine_strategy
from strategies.engine import EngineError, backtest_arrays, periods_per_year, warmup_bars
from strategies.engine.sweep import sweep_cells, sweep_coin
from strategies.engine.windows import window_metrics

from . import analysis
from .models import COIN_METRICS, Sweep, SweepCell, metrics_pack, metrics_unpack

logger = logging.getLogger(__name__)


def _ns(moment: dt.datetime | None) -> int | None:
    if moment is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@dataclass
class SweepWork:
    """What every job of a sweep shares in one process: settings, coins' series, windows."""

    strategy: Any  # a built-in's key or a compiled rule strategy
    objective: str
    interval: str
    options: dict[str, Any]
    coin_ids: list[int]
    series: dict[int, PriceSeries]
    windows: list[analysis.Window]
    # per coin, per window: (first bar index, one past the last)
    bounds: dict[int, list[tuple[int, int]]]


_works: OrderedDict[str, SweepWork] = OrderedDict()
_works_lock = threading.Lock()
_KEPT = 4  # sweeps whose work a process keeps at once


_building: dict[str, threading.Lock] = {}


def _work(sweep: Mapping[str, Any]) -> SweepWork:
    """The sweep's work in this process, built once: the jobs that start together wait for the first."""
    key = str(sweep["id"])
    with _works_lock:
        if key in _works:
            _works.move_to_end(key)
            return _works[key]
        lock = _building.setdefault(key, threading.Lock())
    with lock:
        with _works_lock:
            if key in _works:
                return _works[key]
        work = _work_build(sweep)
        with _works_lock:
            _works[key] = work
            _building.pop(key, None)
            while len(_works) > _KEPT:
                _works.popitem(last=False)
    return work


def work_forget(sweep_id: Any) -> None:
    with _works_lock:
        _works.pop(str(sweep_id), None)


def _work_build(sweep: Mapping[str, Any]) -> SweepWork:
    coin_ids = [c[0] for c in sweep["coins"]]
    series = prices_get_many(
        crypto_ids=coin_ids, interval=sweep["interval"], start=sweep["window_start"], end=sweep["window_end"]
    )
    nonempty = [s for s in series.values() if len(s)]
    first = min(int(s.times[0]) for s in nonempty) if nonempty else 0
    last = max(int(s.times[-1]) for s in nonempty) if nonempty else 0
    windows = analysis.windows_plan(
        first=first, last=last, test_start=_ns(sweep["test_start"]), walk_forward=sweep["walk_forward"]
    )
    bounds = {}
    for cid, s in series.items():
        bounds[cid] = [
            (
                0 if w.start is None else int(np.searchsorted(s.times, w.start, side="left")),
                len(s) if w.end is None else int(np.searchsorted(s.times, w.end, side="right")),
            )
            for w in windows
        ]
    return SweepWork(
        strategy=engine_strategy(sweep["strategy__key"], sweep["rules"]),
        objective=sweep["objective"],
        interval=sweep["interval"],
        options={
            "fee_pct": sweep["fee_pct"],
            "interval": sweep["interval"],
            "fill": sweep["fill"],
            "stop_mode": sweep["stop_mode"],
            "slippage_pct": sweep["slippage_pct"],
        },
        coin_ids=coin_ids,
        series=series,
        windows=windows,
        bounds=bounds,
    )


_SWEEP_FIELDS = (
    "id",
    "status",
    "strategy__key",
    "rules",
    "objective",
    "interval",
    "fee_pct",
    "fill",
    "stop_mode",
    "slippage_pct",
    "window_start",
    "window_end",
    "test_start",
    "walk_forward",
    "coins",
)


def window_backtest(work: SweepWork, crypto_id: int, window: int, params: Mapping[str, Any]):
    """One coin, one cell, one window: (result, its metrics, the close of its bars), or an EngineError."""
    s = work.series[crypto_id]
    lo, hi = work.bounds[crypto_id][window]
    measure = 0
    if work.windows[window].warm:
        warm_lo = max(0, lo - warmup_bars(work.strategy, params))
        measure, lo = lo - warm_lo, warm_lo
    result = backtest_arrays(work.strategy, **s.columns(lo, hi), params=params, **work.options)
    close = s.close[lo:hi]
    metrics = window_metrics(result, close, measure) if work.windows[window].warm else result.metrics
    return result, metrics, close, measure


def cells_compute(work: SweepWork, cells: Sequence[tuple[int, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Steps 3: every coin's metrics for each cell and window, then each cell's aggregates.

    A built-in strategy's cells run on each coin in one compiled call (strategies.engine.sweep:
    the same kernels as a single backtest, each shared mean once per length); a rule strategy's,
    or a coin whose prices fail a check, one backtest per cell and window."""
    n_windows, n_coins = len(work.windows), len(work.coin_ids)
    matrices = np.full((len(cells), n_windows, len(COIN_METRICS), n_coins), np.nan, dtype=np.float32)
    compiled = sweep_cells(work.strategy, [params for _, params in cells], **work.options)
    for k, crypto_id in enumerate(work.coin_ids):
        if compiled is not None:
            windows = [(lo, hi, w.warm) for (lo, hi), w in zip(work.bounds[crypto_id], work.windows, strict=True)]
            metrics = sweep_coin(compiled, windows, **work.series[crypto_id].columns())
            if metrics is not None:
                matrices[:, :, :, k] = metrics
                continue
        for c, (_, params) in enumerate(cells):
            for w in range(n_windows):
                try:
                    _, metrics, _, _ = window_backtest(work, crypto_id, w, params)
                except EngineError:
                    continue  # too few bars in this window, bad prices: the coin is NaN here
                except Exception:  # a bug: this coin fails in this cell, the sweep goes on
                    logger.exception("Sweep backtest of coin %s failed unexpectedly", crypto_id)
                    continue
                matrices[c, w, :, k] = analysis.metrics_row(metrics)
    names = [w.name for w in work.windows]
    out = []
    for c, (n, _) in enumerate(cells):
        by_window = {name: analysis.aggregates(matrices[c, w]) for w, name in enumerate(names)}
        train = by_window["train"]
        folds = None
        if any(name.startswith("wf_") for name in names):
            folds = {
                part: [_objective(by_window[name], work.objective) for name in names if name.startswith(f"wf_{part}_")]
                for part in ("train", "test")
            }
            folds["train_cagr"] = [_objective(by_window[nm], "avg_cagr") for nm in names if nm.startswith("wf_train_")]
            folds["test_cagr"] = [_objective(by_window[nm], "avg_cagr") for nm in names if nm.startswith("wf_test_")]
        out.append(
            {
                "n": n,
                "aggregates": train,
                "test_aggregates": by_window.get("test"),
                "folds": folds,
                "objective": _objective(train, work.objective),
                "coin_metrics": metrics_pack(matrices[c, 0]),
                "test_coin_metrics": metrics_pack(matrices[c, 1]) if "test" in names else b"",
            }
        )
    return out


def _objective(aggregates: Mapping[str, Any] | None, name: str) -> float | None:
    if aggregates is None:
        return None
    value = aggregates.get(name)
    return None if value is None else float(value)


def sweep_chunk(sweep_id: Any, cell_numbers: Sequence[int]) -> None:
    """Backtest a chunk of a sweep's cells over every coin (see the module docstring)."""
    from . import services

    close_old_connections()
    try:
        thread_connection_prepare()
        sweep = Sweep.objects.values(*_SWEEP_FIELDS).get(id=sweep_id)
        rows = list(
            SweepCell.objects.filter(sweep_id=sweep_id, n__in=list(cell_numbers), state=SweepCell.State.PENDING)
            .order_by("n")
            .values_list("n", "parameters")
        )
        if not rows:
            return
        if sweep["status"] == Sweep.Status.CANCELLED:
            services.sweep_cells_cancel(sweep_id=sweep_id, numbers=[n for n, _ in rows])
            return
        if sweep["status"] not in Sweep.IN_PROGRESS:
            return
        if sweep["status"] == Sweep.Status.PENDING:
            services.sweep_mark_running(sweep_id=sweep_id)
        results = cells_compute(_work(sweep), rows)
        services.sweep_cells_store(sweep_id=sweep_id, results=results)
    finally:
        close_old_connections()


# --- At the end: what the sweep concludes --------------------------------------------------------


def sweep_conclusions(sweep: Sweep) -> dict[str, Any]:
    """The summary of a finished sweep, stored and sent with `complete`:

    1. robustness of every done cell (its objective and its grid neighbours'), stored per cell;
    2. the best cell by the objective, and by robustness;
    3. the deflated Sharpe ratio of the best cell: its coins' bar returns averaged bar by bar
       (an equal-weight basket), against the per-bar Sharpe of every cell tried;
    4. with walk-forward, each fold's chosen cell (best train objective), its train and test
       objective, the walk-forward efficiency, and the out-of-sample curves stitched.
    """
    cells = list(
        SweepCell.objects.filter(sweep=sweep, state=SweepCell.State.DONE).values_list(
            "id", "n", "coordinate", "parameters", "objective", "aggregates", "folds"
        )
    )
    summary: dict[str, Any] = {
        "cells": sweep.total,
        "done": len(cells),
        "skipped": sweep.skipped,
        "cancelled_cells": SweepCell.objects.filter(sweep=sweep, state=SweepCell.State.CANCELLED).count(),
        "objective": sweep.objective,
        "best": None,
        "most_robust": None,
        "deflated_sharpe": None,
        "walk_forward": None,
    }
    scored = [c for c in cells if c[4] is not None]
    if not scored:
        return summary
    robust = analysis.robustness({tuple(c[2]): c[4] for c in scored})
    for k in range(0, len(scored), 2000):
        rows = [(c[0], {"robustness": robust[tuple(c[2])]}) for c in scored[k : k + 2000]]
        rows_update(SweepCell, fields=["robustness"], rows=rows)
    best = max(scored, key=lambda c: (c[4], -c[1]))
    most_robust = max(scored, key=lambda c: (robust[tuple(c[2])], -c[1]))
    swept = [a["name"] for a in sweep.axes]

    def describe(cell) -> dict[str, Any]:
        return {
            "n": cell[1],
            "parameters": {name: cell[3][name] for name in swept},
            "objective": cell[4],
            "robustness": robust[tuple(cell[2])],
            "aggregates": cell[5],
        }

    summary["best"] = describe(best)
    summary["most_robust"] = describe(most_robust)
    work = _work(Sweep.objects.values(*_SWEEP_FIELDS).get(id=sweep.id))
    summary["deflated_sharpe"] = _deflated(work, best[3], [c[5]["avg_sharpe_ratio"] for c in scored])
    if sweep.walk_forward:
        summary["walk_forward"] = _walk_forward(work, scored, sweep.walk_forward, swept)
    work_forget(sweep.id)
    return summary


def _basket_returns(curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Bar returns of an equal-weight basket: each time's mean of the coins' bar returns there
    (summed in the order of the coins)."""
    if not curves:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    times = np.concatenate([t[1:] for t, _ in curves])
    returns = np.concatenate([e[1:] / e[:-1] - 1.0 for _, e in curves])
    stamps, slot = np.unique(times, return_inverse=True)
    return stamps, np.bincount(slot, weights=returns) / np.bincount(slot)


def _deflated(work: SweepWork, params: Mapping[str, Any], trial_sharpes: Sequence[float]) -> dict[str, Any] | None:
    curves = []
    for crypto_id in work.coin_ids:
        try:
            result, _, _, _ = window_backtest(work, crypto_id, 0, params)
        except EngineError:
            continue
        curves.append((result.times, result.equity))
    if not curves:
        return None
    _, returns = _basket_returns(curves)
    per_bar = np.sqrt(periods_per_year(work.interval))
    dsr = analysis.deflated_sharpe(returns, trial_sharpes=[s / per_bar for s in trial_sharpes])
    if dsr is None:
        return None
    return {
        "probability": dsr.probability,
        "sharpe_per_bar": dsr.sharpe,
        "sharpe_annualised": dsr.sharpe * per_bar,
        "benchmark_per_bar": dsr.benchmark,
        "trials": dsr.trials,
        "observations": dsr.observations,
        "skewness": dsr.skewness,
        "kurtosis": dsr.kurtosis,
        "trials_variance": dsr.trials_variance,
    }


def _walk_forward(
    work: SweepWork, scored: Sequence[tuple], spec: Mapping[str, Any], swept: Sequence[str]
) -> dict[str, Any]:
    """Each fold: the cell with the best train objective, tested on the next segment; the
    out-of-sample equity of those choices stitched per coin and for the average."""
    names = [w.name for w in work.windows]
    folds = []
    stitched: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {cid: [] for cid in work.coin_ids}
    for j in range(int(spec["folds"])):
        candidates = [c for c in scored if c[6] and c[6]["train"][j] is not None]
        if not candidates:
            folds.append({"fold": j, "parameters": None})
            continue
        chosen = max(candidates, key=lambda c: (c[6]["train"][j], -c[1]))
        train_cagr, test_cagr = chosen[6]["train_cagr"][j], chosen[6]["test_cagr"][j]
        efficiency = test_cagr / train_cagr if train_cagr not in (None, 0) and test_cagr is not None else None
        test_window = names.index(f"wf_test_{j}")
        window = work.windows[test_window]
        folds.append(
            {
                "fold": j,
                "n": chosen[1],
                "parameters": {name: chosen[3][name] for name in swept},
                "train_objective": chosen[6]["train"][j],
                "test_objective": chosen[6]["test"][j],
                "train_cagr": train_cagr,
                "test_cagr": test_cagr,
                "efficiency": efficiency,
                "test_start": _iso(window.start),
                "test_end": _iso(window.end),
            }
        )
        for crypto_id in work.coin_ids:
            try:
                result, _, _, measure = window_backtest(work, crypto_id, test_window, chosen[3])
            except EngineError:
                continue
            stitched[crypto_id].append((result.times[measure:], result.equity[measure:]))
    coins = {}
    for crypto_id, parts in stitched.items():
        if parts:
            coins[crypto_id] = _stitch(parts)
    average = None
    if coins:
        stamps, returns = _basket_returns(list(coins.values()))
        average = _curve(stamps, np.cumprod(1.0 + returns))
    return {
        "folds": folds,
        "mode": spec["mode"],
        "average": average,
        "coins": {str(cid): _curve(*curve) for cid, curve in coins.items()},
    }


def _stitch(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive out-of-sample curves compounded into one, starting at 1.0."""
    times, values, level = [], [], 1.0
    for stamps, equity in parts:
        times.append(stamps)
        values.append(level * equity / equity[0] if equity[0] else equity)
        level = float(values[-1][-1])
    return np.concatenate(times), np.concatenate(values)


def _curve(times: np.ndarray, values: np.ndarray, points: int = 500) -> dict[str, list]:
    idx = minmax_indices(np.asarray(values, dtype=np.float64), points)
    return {
        "times": [_iso(int(t)) for t in np.asarray(times)[idx].tolist()],
        "values": np.asarray(values)[idx].tolist(),
    }


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cell_coins(sweep: Sweep, cell: SweepCell) -> list[dict[str, Any]]:
    """A cell's per-coin metrics: train (the whole window without a test split) and test."""
    count = len(sweep.coins)
    train = metrics_unpack(cell.coin_metrics, count)
    test = metrics_unpack(cell.test_coin_metrics, count) if sweep.test_start else None
    return [
        {
            "crypto_symbol": symbol,
            "crypto_name": name,
            "train": analysis.metrics_dict(train[:, k]),
            "test": None if test is None else analysis.metrics_dict(test[:, k]),
        }
        for k, (_, symbol, name) in enumerate(sweep.coins)
    ]
