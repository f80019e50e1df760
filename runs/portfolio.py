"""A run's coins traded as one account (spec: "Portfolio of a run"), when its coins are done.

`run_portfolio_store(run_id)`:
1. the run's successful coins, their prices (one cache round trip) and the run's options;
2. the engine's `backtest_portfolio_arrays` with the run's slots (default: one per coin);
3. stored: metrics, trades, each coin's contribution, the equity (at most 2,000 points) beside
   the equal-weight buy-and-hold of the same coins.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from market_data.selectors import prices_get_many

from .downsample import MAX_POINTS, minmax_indices
from .equity import EquityCurve, equity_pack
from .jobs import engine_strategy
from .models import BacktestRun, RunPortfolio, RunResult
from .tradelog import trades_pack

logger = logging.getLogger(__name__)


def buy_and_hold(times: np.ndarray, coins: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Equal-weight buy-and-hold on a timeline: at each time the mean over the coins of their latest
    close at or before it over their first close (1.0 before a coin's first bar)."""
    total = np.zeros(times.shape[0])
    seen: tuple[np.ndarray, np.ndarray] | None = None  # (a coin's times, their positions): most coins share them
    for stamps, close in coins:
        if seen is None or not (stamps is seen[0] or np.array_equal(stamps, seen[0])):
            seen = (stamps, np.searchsorted(stamps, times, side="right") - 1)
        at = seen[1]
        total += np.where(at >= 0, close[np.maximum(at, 0)] / close[0], 1.0)
    return total / len(coins)


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


def _portfolio_save(run: BacktestRun, fields: dict[str, Any]) -> RunPortfolio:
    """Store the run's account in one statement (INSERT ... ON CONFLICT (run) DO UPDATE of `fields`):
    a finish tried again replaces it, as update_or_create would, without its locking read."""
    portfolio = RunPortfolio(run=run, **fields)
    RunPortfolio.objects.bulk_create(
        [portfolio], update_conflicts=True, unique_fields=["run"], update_fields=list(fields)
    )
    return portfolio


def run_portfolio_store(*, run_id: Any) -> RunPortfolio | None:
    """Compute and store the run's portfolio (see the module docstring); None without a coin that ran.
    An engine error is stored as the portfolio's error: the run itself is complete all the same."""
    from strategies.engine import REASONS, EngineError, backtest_portfolio_arrays

    run = BacktestRun.objects.select_related("strategy").get(id=run_id)
    coins = dict(
        RunResult.objects.filter(run=run, state=RunResult.State.DONE).values_list("crypto_id", "crypto_symbol")
    )
    if not coins:
        return None
    series = prices_get_many(crypto_ids=list(coins), interval=run.interval, start=run.window_start, end=run.window_end)
    columns = {coins[cid]: s.columns() for cid, s in series.items()}
    slots = run.portfolio_slots or len(columns)
    try:
        result = backtest_portfolio_arrays(
            engine_strategy(run.strategy.key, run.rules),
            columns,
            run.parameters,
            fee_pct=run.fee_pct,
            interval=run.interval,
            fill=run.fill,
            stop_mode=run.stop_mode,
            slippage_pct=run.slippage_pct,
            slots=slots,
        )
    except EngineError as exc:
        logger.warning("Portfolio of run %s failed: %s", run_id, exc)
        empty = {"metrics": {}, "contributions": {}, "trade_log": b"", "equity": b""}
        return _portfolio_save(run, {"slots": slots, "coins": len(columns), **empty, "error": str(exc)})
    idx = minmax_indices(np.asarray(result.equity, dtype=np.float64), MAX_POINTS)
    kept = result.times[idx]  # buy-and-hold only at the stored points (each value depends on its time only)
    bh = buy_and_hold(kept, [(columns[s]["times"], columns[s]["close"]) for s in result.symbols])
    curve = EquityCurve(kept // 1_000_000_000, result.equity[idx], bh)
    log = result.trade_log
    return _portfolio_save(
        run,
        {
            "slots": result.slots,
            "coins": len(columns),
            "metrics": _finite(result.metrics),
            "contributions": result.contributions(),
            "trade_log": trades_pack(
                **{name: log[name] for name in ("entry_time", "exit_time", "entry_price", "exit_price", "return_pct")},
                reason=log["reason"],
                reasons=REASONS,
                symbol=log["coin"],
                symbols=result.symbols,
            ),
            "equity": equity_pack(curve),
            "error": "",
        },
    )
