"""What the coin detail draws for one coin of a run, in one answer (GET .../results/<SYMBOL>/chart/).

- the bars the backtest saw (the run's interval and window), column by column;
- the indicators the strategy decides on, from the engine's own code (strategies.engine.
  strategy_indicators): a built-in's lines, or each series function of the rules the run stored
  (its snapshot, not the strategy as edited since), evaluated by the rules engine;
- each trade with its stop level (spec/ENGINE.md: entry fill price * (1 - stop_loss_threshold / 100))
  and the bars it was held;
- the data's gaps inside the window (market_data.quality: consecutive bars further apart than
  one interval), so the page can warn that the result rests on a series with holes;
- the underwater curve (drawdown from the running peak) at the stored equity's points, and the
  return of each calendar month from the stored equity, which keeps every month's last bar.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from market_data.quality import quality_report
from market_data.selectors import prices_get

from .equity import drawdown_pct, equity_unpack, monthly_returns
from .jobs import engine_strategy
from .models import BacktestRun, RunResult


def _floats(values: np.ndarray) -> list[float | None]:
    """A float64 array as JSON numbers, NaN and infinities as null."""
    values = np.asarray(values, dtype=np.float64)
    out = values.tolist()
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = None
    return out


def _seconds(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def trades_marked(trades: list[dict[str, Any]], times_s: np.ndarray, stop_loss_pct: float | None) -> list[dict]:
    """The stored trades with `bars_held` (exit bar - entry bar, as the engine counts it) and `stop`,
    the stop level of the position (null when the stop is off: 100 % or more)."""
    stop_factor = None
    if stop_loss_pct is not None and float(stop_loss_pct) < 100:
        stop_factor = 1.0 - float(stop_loss_pct) / 100.0
    out = []
    for trade in trades:
        entry = int(np.searchsorted(times_s, _seconds(trade["entry_time"]), side="left"))
        exit_ = int(np.searchsorted(times_s, _seconds(trade["exit_time"]), side="left"))
        out.append(
            {
                **trade,
                "bars_held": exit_ - entry,
                "stop": None if stop_factor is None else float(trade["entry_price"]) * stop_factor,
            }
        )
    return out


def result_chart(run: BacktestRun, result: RunResult) -> dict[str, Any]:
    """The coin detail's data (see the module docstring)."""
    from strategies.engine import EngineError, strategy_indicators

    series = prices_get(crypto_id=result.crypto_id, interval=run.interval, start=run.window_start, end=run.window_end)
    times_s = series.times // 1_000_000_000
    indicators: list[dict[str, Any]] = []
    indicators_error = None
    if len(series):
        try:
            lines = strategy_indicators(
                engine_strategy(run.strategy.key, run.rules),
                run.parameters,
                open=series.open,
                high=series.high,
                low=series.low,
                close=series.close,
                volume=series.volume,
            )
        except (
            EngineError,
            ValueError,
        ) as exc:  # parameters or rules the engine no longer takes: the candles still draw
            lines, indicators_error = [], str(exc)
        indicators = [{**line, "values": _floats(line["values"])} for line in lines]
    curve = equity_unpack(result.equity)
    quality = quality_report(series.times, series.close, series.volume, interval=run.interval) if len(series) else None
    return {
        "crypto_symbol": result.crypto_symbol,
        "interval": run.interval,
        "bars": {
            "times": times_s.tolist(),
            "open": series.open.tolist(),
            "high": series.high.tolist(),
            "low": series.low.tolist(),
            "close": series.close.tolist(),
            "volume": _floats(series.volume),
        },
        "indicators": indicators,
        "indicators_error": indicators_error,
        "gaps": quality["gaps"] if quality else [],
        "missing_bars": quality["missing_bars"] if quality else 0,
        "trades": trades_marked(result.trades or [], times_s, run.parameters.get("stop_loss_threshold")),
        "equity": {
            "times": curve.times.tolist(),
            "values": curve.values.tolist(),
            "buy_hold": curve.buy_hold.tolist(),
            "drawdown": _floats(drawdown_pct(curve.values)),
        },
        "monthly_returns": monthly_returns(curve.times, curve.values),
    }
