"""How fast are rule strategies? 48 coins x 8,760 hourly bars, the MA crossover as rules and a
rule with five indicators, beside the built-in MA crossover and vectorbt.

    .venv/bin/python bench/rules.py [--repeats 9]

Prints the median wall time to backtest all 48 coins one after the other with
`backtest_arrays` (warm process; parse once, then signals, simulation and metrics per coin):
- builtin ma_crossover: the built-in key (its fused signal kernel);
- rules ma_crossover: the spec's rules for it (targets: within 2 x the built-in);
- rules five indicators: ema, rsi, macd + its signal line, Bollinger band, atr (within 4 x);
- sweep: ten parameter sets of the MA crossover as rules, one cache per coin shared by the
  ten cells (so sma(close, 30) of several cells is computed once), beside ten built-in runs;
- vbt ms: vectorbt's `Portfolio.from_signals` on the same signals, all 48 coins as columns
  of one call, sl_stop 10 %: the position model alone, for scale.
The market is bench/engine.py's seeded random walk, so every run sees the same series.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import interleaved_medians, make_market  # noqa: E402
from strategies.engine import STRATEGIES, backtest_arrays  # noqa: E402
from strategies.engine.rules import BUILTIN_RULES, compile_rules  # noqa: E402

FIVE_ENTRY = (
    "close > ema(close, 50) and rsi(close, 14) < 45 "
    "and macd(close, 12, 26) > macd_signal(close, 12, 26, 9) and close < bb_upper(close, 20, 2)"
)
FIVE_EXIT = "rsi(close, 14) > 70 or close < ema(close, 50) - 2 * atr(14)"
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
        resolved = rules.resolve_parameters({})
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    times, market = make_market()
    for coin in market:
        coin["volume"] = np.ones_like(coin["close"])
    ma = ma_rules()
    five = compile_rules(entry_rule=FIVE_ENTRY, exit_rule=FIVE_EXIT)
    # same trades, or the timing compares different work
    for a, b in zip(run_all("ma_crossover", times, market), run_all(ma, times, market), strict=True):
        assert a.metrics == b.metrics and a.trades == b.trades
    trades_five = sum(r.metrics["total_trades"] for r in run_all(five, times, market))
    medians = interleaved_medians(
        {
            "builtin": lambda: run_all("ma_crossover", times, market),
            "rules_ma": lambda: run_all(ma, times, market),
            "rules_five": lambda: run_all(five, times, market),
            "vbt_ma": vectorbt_run(ma, market),
            "vbt_five": vectorbt_run(five, market),
        },
        args.repeats,
    )
    sweeps = interleaved_medians(
        {"builtin": lambda: run_sweep_builtin(times, market), "rules": lambda: run_sweep_rules(ma, times, market)},
        max(3, args.repeats // 3),
    )
    b = medians["builtin"]
    print(f"48 coins x {len(times)} bars, median of {args.repeats} (ms)")
    print(f"{'case':34} {'engine ms':>10} {'x builtin':>10} {'vbt ms':>8}")
    print(f"{'builtin ma_crossover':34} {b:10.1f} {1.0:10.2f} {medians['vbt_ma']:8.1f}")
    print(
        f"{'rules ma_crossover (target 2x)':34} {medians['rules_ma']:10.1f} {medians['rules_ma'] / b:10.2f} "
        f"{medians['vbt_ma']:8.1f}"
    )
    print(
        f"{'rules five indicators (target 4x)':34} {medians['rules_five']:10.1f} {medians['rules_five'] / b:10.2f} "
        f"{medians['vbt_five']:8.1f}   ({trades_five} trades)"
    )
    print(f"{'sweep 10 cells builtin':34} {sweeps['builtin']:10.1f}")
    print(
        f"{'sweep 10 cells rules, shared cache':34} {sweeps['rules']:10.1f} {sweeps['rules'] / sweeps['builtin']:10.2f}"
    )


if __name__ == "__main__":
    main()
