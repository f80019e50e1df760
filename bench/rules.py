"""How fast are rule strategies? 48 coins x 8,760 hourly bars, the MA crossover as rules and a
rule with five indicators, beside the built-in MA crossover and vectorbt.

    .venv/bin/python bench/rules.py [--repeats 9]

Prints the median and the best wall time to backtest all 48 coins one after the other with
`backtest_arrays` (warm process; parse once, then signals, simulation and metrics per coin):
- builtin ma_crossover: the built-in key (its fused signal kernel);
- rules ma_crossover: the spec's rules for it (targets: within 2 x the built-in);
- rules five indicators: sma, rsi, Bollinger band, ema, atr (target within 4 x), and a lighter
  five (sma, rsi, highest, lowest, ema);
- sweep: ten parameter sets of the MA crossover as rules, one cache per coin shared by the
  ten cells (so sma(close, 30) of several cells is computed once), beside ten built-in runs;
- vbt ms: vectorbt's `Portfolio.from_signals` on the same signals, all 48 coins as columns
  of one call, sl_stop 10 %: the position model alone, for scale.
The market is bench/engine.py's seeded random walk, so every run sees the same series.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import make_market  # noqa: E402
from strategies.engine import STRATEGIES, backtest_arrays  # noqa: E402
from strategies.engine.rules import BUILTIN_RULES, compile_rules  # noqa: E402

# Five indicator functions each: sma, rsi, bb_upper (sma and std), ema, atr ...
FIVE_ENTRY = "close > sma(close, 50) and rsi(close, 14) < 40 and close < bb_upper(close, 20, 2)"
FIVE_EXIT = "rsi(close, 14) > 70 or close < ema(close, 20) - 2 * atr(14)"
# ... and sma, rsi, highest, lowest, ema (rolling extremes instead of the band and the ATR)
LIGHT_ENTRY = "close > sma(close, 50) and rsi(close, 14) < 40 and close >= highest(close, 20)"
LIGHT_EXIT = "rsi(close, 14) > 70 or close < lowest(close, 10) or close < ema(close, 100)"
SWEEP = [{"fast_ma_period": f, "slow_ma_period": s} for f in (5, 10) for s in (20, 30, 50, 80, 120)]


def ma_rules():
    entry, exit_ = BUILTIN_RULES["ma_crossover"]
    return compile_rules(entry_rule=entry, exit_rule=exit_, params=STRATEGIES["ma_crossover"].params, key="rules-ma")


def run_all(strategy, times, market, params=None) -> list:
    return [backtest_arrays(strategy, times=times, params=params or {}, **coin) for coin in market]


def run_sweep_rules(rules, times, market) -> list:
    out = []
    for coin in market:
        shared = rules.sharing({})  # one cache per coin, shared by its cells
        out.extend(backtest_arrays(shared, times=times, params=p, **coin) for p in SWEEP)
    return out


def run_sweep_builtin(times, market) -> list:
    return [backtest_arrays("ma_crossover", times=times, params=p, **coin) for coin in market for p in SWEEP]


def vectorbt_run(rules, market):
    import vectorbt as vbt

    closes, entries, exits = [], [], []
    for coin in market:
        resolved = rules.parameters_resolve({})
        entry, exit_ = rules.signals(coin, resolved)
        w = rules.warmup(resolved)
        entry, exit_ = entry.copy(), exit_.copy()
        entry[:w] = exit_[:w] = False
        closes.append(coin["close"])
        entries.append(entry)
        exits.append(exit_)
    close, entries, exits = np.column_stack(closes), np.column_stack(entries), np.column_stack(exits)

    def run():
        return vbt.Portfolio.from_signals(
            close, entries, exits, sl_stop=0.1, fees=0.0, init_cash=1.0, upon_long_conflict="opposite", freq="1h"
        )

    return run


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """(median ms, best ms) of each run, timed in turns so load from elsewhere falls on all alike."""
    for run in runs.values():
        run()  # warm: compiled code loaded
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            samples[name].append((time.perf_counter() - t0) * 1000)
    return {name: (statistics.median(v), min(v)) for name, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    times, market = make_market()
    ma = ma_rules()
    five = compile_rules(entry_rule=FIVE_ENTRY, exit_rule=FIVE_EXIT)
    light = compile_rules(entry_rule=LIGHT_ENTRY, exit_rule=LIGHT_EXIT)
    # same trades, or the timing compares different work
    for a, b in zip(run_all("ma_crossover", times, market), run_all(ma, times, market), strict=True):
        assert a.metrics == b.metrics and a.trades == b.trades
    cases = {
        "builtin ma_crossover": (lambda: run_all("ma_crossover", times, market), ma),
        "rules ma_crossover (target 2x)": (lambda: run_all(ma, times, market), ma),
        "rules five indicators (target 4x)": (lambda: run_all(five, times, market), five),
        "rules five lighter indicators": (lambda: run_all(light, times, market), light),
    }
    timed = interleaved(
        {
            **{k: run for k, (run, _) in cases.items()},
            **{f"vbt {k}": vectorbt_run(r, market) for k, (_, r) in cases.items()},
        },
        args.repeats,
    )
    sweeps = interleaved(
        {"builtin": lambda: run_sweep_builtin(times, market), "rules": lambda: run_sweep_rules(ma, times, market)},
        max(3, args.repeats // 3),
    )
    base_median, base_best = timed["builtin ma_crossover"]
    print(f"48 coins x {len(times)} bars, {args.repeats} runs each in turns (ms; x = / the built-in)")
    print(f"{'case':36} {'median':>8} {'x':>6} {'best':>8} {'x':>6} {'vbt median':>11}")
    for name in cases:
        median, best = timed[name]
        print(
            f"{name:36} {median:8.1f} {median / base_median:6.2f} {best:8.1f} {best / base_best:6.2f} "
            f"{timed['vbt ' + name][0]:11.1f}"
        )
    print(
        f"sweep of {len(SWEEP)} cells x 48 coins: built-in {sweeps['builtin'][0]:.1f}, "
        f"rules with a cache per coin {sweeps['rules'][0]:.1f} (x {sweeps['rules'][0] / sweeps['builtin'][0]:.2f})"
    )


if __name__ == "__main__":
    main()
