"""How fast is the backtest engine? 48 coins x 8,760 hourly bars (a year of 2024), per strategy.

    .venv/bin/python bench/engine.py [--repeats 15] [--original-coins 2] [--no-vectorbt]

Prints, for each of the six strategies with its default parameters (stop-loss 10%):
- engine ms: median wall time to backtest all 48 coins one after the other with
  `backtest_arrays` (warm process; metrics, equity curve and trade arrays for each);
  +trades: the same, also building every result's list of trade dicts (which
  `BacktestResult.trades` does on first access);
- original ms: the original system's iloc loop (bench/original_loop.py), timed on a few
  coins and scaled to 48 (it takes seconds per strategy);
- vbt ms: vectorbt's `Portfolio.from_signals` on the same entry and exit signals, all
  48 coins as columns of one call (its fastest use), with sl_stop=10% and the same fee.
  engine/vbt compares the whole engine (indicators, signals, simulation, metrics) with
  that call alone, the strictest reading of the target;
- sim ms: the engine's own share of that work, simulation and metrics on the same
  precomputed signals (like for like with from_signals), and sim/vbt;
- vbt+metrics: from_signals plus the metrics the engine reports (total return, max
  drawdown, trade count, Sharpe);
- options ms: the engine ms with fill="next_open", stop_mode="intrabar",
  slippage_pct=0.05, and opt/def its ratio to the default options (target: at most 1.5);
- portfolio ms: the 48 coins as one account (backtest_portfolio_arrays, one slot per
  coin, default options), and pf/engine its ratio to the 48 single backtests (target: at most 3).
Engine and vectorbt are timed in turns, so load from elsewhere falls on both alike.
Then the peak memory of a fresh process running all six 48-coin batches, and the cost of
the first backtest after a fresh process start beside a warm one (numba's on-disk cache
loaded, and, for information, compiled from nothing).

The data is a seeded random walk, so every run sees the same series.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from strategies.engine import (  # noqa: E402
    STRATEGIES,
    backtest_arrays,
    backtest_portfolio_arrays,
    parameters_resolve,
    warmup_bars,
)
from strategies.engine.metrics import compute_metrics  # noqa: E402
from strategies.engine.signals import Prices, strategy_signals  # noqa: E402
from strategies.engine.simulation import simulate  # noqa: E402

COINS = 48
BARS = 8760
SEED = 2024
HOUR_NS = 3_600_000_000_000
START_2024_NS = 1_704_067_200_000_000_000


Market = list[dict[str, np.ndarray]]


def make_market(coins: int = COINS, bars: int = BARS, seed: int = SEED) -> tuple[np.ndarray, Market]:
    """Hourly OHLC of `coins` coins over 2024: log-normal walks with per-coin volatility."""
    rng = np.random.default_rng(seed)
    times = START_2024_NS + HOUR_NS * np.arange(bars, dtype=np.int64)
    market = []
    for _ in range(coins):
        vol = rng.uniform(0.004, 0.02)
        close = rng.uniform(0.05, 60_000) * np.exp(np.cumsum(rng.normal(0, vol, bars)))
        open_ = np.concatenate([[close[0]], close[:-1]])
        wick = np.abs(rng.normal(0, vol / 2, (2, bars)))
        high = np.maximum(open_, close) * (1 + wick[0])
        low = np.minimum(open_, close) * (1 - wick[1])
        market.append({"open": open_, "high": high, "low": low, "close": close})
    return times, market


# The execution options a trader closest to a real market picks (spec: "Execution options").
MARKET_OPTIONS = {"fill": "next_open", "stop_mode": "intrabar", "slippage_pct": 0.05}


def run_engine(
    key: str, times: np.ndarray, market: Market, with_trades: bool = False, options: dict | None = None
) -> list:
    """Backtest every coin; with_trades also builds each result's list of trade dicts."""
    results = [backtest_arrays(key, times=times, params={}, **coin, **(options or {})) for coin in market]
    if with_trades:
        for result in results:
            result.trades  # noqa: B018 - built on first access
    return results


def run_portfolio(key: str, times: np.ndarray, market: Market) -> object:
    """The 48 coins as one account (one slot per coin), default options."""
    return backtest_portfolio_arrays(key, {f"C{i:02d}": {"times": times, **c} for i, c in enumerate(market)}, {})


def interleaved_medians(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each run, timed in turns (engine, vectorbt, ...) so that a burst of
    load from elsewhere on the machine falls on all of them alike."""
    for run in runs.values():
        run()  # warm: compiled code loaded, caches filled
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def time_original(key: str, times: np.ndarray, market: Market, coins: int) -> float:
    """ms for 48 coins, scaled from `coins` coins (median of 3 runs of each)."""
    import pandas as pd

    from bench.original_loop import ORIGINAL

    frames = [
        pd.DataFrame(
            {
                "datetime": pd.to_datetime(times, utc=True),
                "close_price": c["close"],
                "high_price": c["high"],
                "low_price": c["low"],
            }
        )
        for c in market[:coins]
    ]
    run = ORIGINAL[key]
    samples = []
    for _ in range(3):
        t0 = time.perf_counter()
        for frame in frames:
            run(frame, {})
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1000 * COINS / coins


def vectorbt_inputs(key: str, market: Market) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(close, entries, exits) as bars x coins arrays: the engine's own signals, with the
    bars inside the warm-up switched off as the engine never evaluates them."""
    params = parameters_resolve(key, {})
    warmup = warmup_bars(key, params)
    closes, entries, exits = [], [], []
    for coin in market:
        entry, exit_ = strategy_signals(key, Prices(coin["close"], coin["high"], coin["low"]), params)
        entry[:warmup] = exit_[:warmup] = False
        closes.append(coin["close"])
        entries.append(entry)
        exits.append(exit_)
    return np.column_stack(closes), np.column_stack(entries), np.column_stack(exits)


def from_signals_run(key: str, market: Market) -> Callable[[], object]:
    """The engine's part that vectorbt's from_signals does: the position model and the
    metrics, on precomputed signals (the like-for-like column)."""
    params = parameters_resolve(key, {})
    warmup = warmup_bars(key, params)
    signals = [strategy_signals(key, Prices(c["close"], c["high"], c["low"]), params) for c in market]

    def run() -> list:
        out = []
        for coin, (entry, exit_) in zip(market, signals, strict=True):
            sim = simulate(
                coin["close"], entry, exit_, warmup=warmup, stop_loss_pct=params["stop_loss_threshold"], fee_pct=0.0
            )
            out.append(compute_metrics(coin["close"], sim, "1h"))
        return out

    return run


def vectorbt_runs(key: str, market: Market) -> tuple[Callable[[], object], Callable[[], object]]:
    """(from_signals alone, from_signals plus the metrics the engine reports), ready to time."""
    import vectorbt as vbt

    close, entries, exits = vectorbt_inputs(key, market)
    stop = parameters_resolve(key, {})["stop_loss_threshold"] / 100

    def simulate():
        return vbt.Portfolio.from_signals(
            close, entries, exits, sl_stop=stop, fees=0.0, init_cash=1.0, upon_long_conflict="opposite", freq="1h"
        )

    def with_metrics():
        pf = simulate()
        return pf.total_return(), pf.max_drawdown(), pf.trades.count(), pf.sharpe_ratio()

    return simulate, with_metrics


# --- measurements in fresh processes -------------------------------------------------------

MEMORY_CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from bench.engine import make_market, run_engine

def high_water_mb():
    # VmHWM starts afresh at exec; getrusage's ru_maxrss would carry the parent's over.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

times, market = make_market()
before = high_water_mb()
results = run_engine({key!r}, times, market, with_trades=True)
print(json.dumps({{"peak_mb": high_water_mb(), "before_mb": before}}))
"""

COLD_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
times = np.arange(8760, dtype=np.int64) * 3_600_000_000_000
close = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 8760)))
t0 = time.perf_counter()
from strategies.engine import STRATEGIES, backtest_arrays
t1 = time.perf_counter()
def all_six():
    for key in STRATEGIES:
        backtest_arrays(key, times=times, open=close, high=close * 1.01, low=close * 0.99, close=close)
all_six()
t2 = time.perf_counter()
warm = []
for _ in range(20):
    s = time.perf_counter(); all_six(); warm.append(time.perf_counter() - s)
warm.sort()
print(json.dumps({{"import_s": t1 - t0, "first_s": t2 - t1, "warm_s": warm[10]}}))
"""


def in_fresh_process(code: str, env: dict[str, str] | None = None, **fields: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code.format(root=str(ROOT), **fields)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_start() -> tuple[dict[str, float], dict[str, float]]:
    """(with numba's cache as it is after one run, compiling from an empty cache)."""
    in_fresh_process(COLD_CHILD)  # make sure the cache is written
    cached = in_fresh_process(COLD_CHILD)
    with tempfile.TemporaryDirectory() as empty:
        compiled = in_fresh_process(COLD_CHILD, {"NUMBA_CACHE_DIR": empty})
    return cached, compiled


# --- report -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--original-coins", type=int, default=2, help="coins to time the original loop on (scaled to 48)"
    )
    parser.add_argument("--no-vectorbt", action="store_true")
    args = parser.parse_args()

    times, market = make_market()
    print(
        f"{COINS} coins x {BARS:,} hourly bars, default parameters (stop-loss 10%), fee 0, median of {args.repeats}; "
        f"original loop timed on {args.original_coins} coins and scaled to {COINS}\n"
    )
    header = (
        f"{'strategy':<16} {'engine ms':>9} {'+trades':>8} {'original ms':>12} {'speed-up':>9} {'vbt ms':>7} "
        f"{'engine/vbt':>10} {'sim ms':>7} {'sim/vbt':>8} {'vbt+metrics':>11} {'options ms':>10} {'opt/def':>7} "
        f"{'portfolio ms':>12} {'pf/engine':>9}"
    )
    print(header)
    print("-" * len(header))
    for key in STRATEGIES:
        runs: dict[str, Callable[[], object]] = {
            "engine": lambda key=key: run_engine(key, times, market),
            "trades": lambda key=key: run_engine(key, times, market, with_trades=True),
            "sim": from_signals_run(key, market),
            "options": lambda key=key: run_engine(key, times, market, options=MARKET_OPTIONS),
            "portfolio": lambda key=key: run_portfolio(key, times, market),
        }
        if not args.no_vectorbt:
            runs["vbt"], runs["vbt_metrics"] = vectorbt_runs(key, market)
        ms = interleaved_medians(runs, args.repeats)
        original = time_original(key, times, market, args.original_coins)
        vbt = ms.get("vbt", math.nan)
        print(
            f"{key:<16} {ms['engine']:9.2f} {ms['trades']:8.2f} {original:12.0f} {original / ms['engine']:8.0f}x "
            f"{vbt:7.1f} {ms['engine'] / vbt:10.3f} {ms['sim']:7.2f} {ms['sim'] / vbt:8.3f} "
            f"{ms.get('vbt_metrics', math.nan):11.1f} {ms['options']:10.2f} {ms['options'] / ms['engine']:7.2f} "
            f"{ms['portfolio']:12.2f} {ms['portfolio'] / ms['engine']:9.2f}"
        )

    memory = {key: in_fresh_process(MEMORY_CHILD, key=key) for key in STRATEGIES}
    worst = max(memory, key=lambda key: memory[key]["peak_mb"])
    print(
        f"\npeak memory of a fresh process running one 48-coin batch (trade dicts built), worst of the six: "
        f"{memory[worst]['peak_mb']:.0f} MB peak RSS ({worst}; {memory[worst]['before_mb']:.0f} MB of it before the "
        f"first backtest: Python, numpy, numba and the 48 coins' arrays)"
    )
    cached, compiled = cold_start()
    first_extra = (cached["first_s"] - cached["warm_s"]) * 1000
    print(
        "fresh process, one coin, all six strategies (numba cache loaded): "
        f"first run {cached['first_s'] * 1000:.0f} ms vs warm "
        f"{cached['warm_s'] * 1000:.1f} ms -> first backtest costs {first_extra:.0f} ms more; with the engine's import "
        f"({cached['import_s'] * 1000:.0f} ms, numba's included) {first_extra + cached['import_s'] * 1000:.0f} ms more"
    )
    print(
        f"  same with an empty numba cache (compiling): import {compiled['import_s'] * 1000:.0f} ms, "
        f"first run {compiled['first_s'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
