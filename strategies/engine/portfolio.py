"""The portfolio of a run (spec/ENGINE.md, "Portfolio of a run"): the coins traded as one
account with K slots.

    result = backtest_portfolio("rsi", {"BTCUSDT": frame, "ETHUSDT": frame2}, {}, slots=1)
    result = backtest_portfolio_arrays("rsi", {"BTCUSDT": {"times": ns, "close": c, ...}}, {})
    result.metrics, result.trades, result.equity, result.times

Each coin's signals come from the single-coin path (coin_signals: backtest_arrays' own
checks and strategy_signals); the account is the compiled `portfolio_kernel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from .backtest import (
    _frame_times,
    _read_only,
    check_fee_pct,
    check_fill,
    check_interval,
    check_slippage_pct,
    check_stop_mode,
    coin_signals,
)
from .errors import EngineError, InvalidParameters, InvalidPriceData
from .kernels import _equity_stats, merge_timelines_kernel, portfolio_kernel
from .metrics import PORTFOLIO_METRICS, result_metrics
from .registry import ParamSpec, coerce_value, parameters_resolve, warmup_bars
from .simulation import REASONS

if TYPE_CHECKING:
    import pandas as pd

# The run option (spec: "Portfolio of a run"); its default is the number of coins.
PORTFOLIO_SLOTS = ParamSpec("portfolio_slots", "integer", None, "Portfolio slots", 1, 1000)


@dataclass(frozen=True, eq=False)
class PortfolioResult:
    """The account's product: metrics (both tables and skipped_entries, full precision),
    the equity at each time of the union timeline, and the trades in the order they closed."""

    strategy: str
    params: dict[str, Any]
    slots: int
    symbols: tuple[str, ...]  # ascending
    metrics: dict[str, Any]
    equity: np.ndarray  # float64, one value per time
    times: np.ndarray  # int64 ns since the epoch, UTC: the union of the coins' bar times
    trade_log: dict[str, np.ndarray]  # symbol (index into symbols), entry/exit index and time, prices, return, reason

    @cached_property
    def trades(self) -> list[dict[str, Any]]:
        """As BacktestResult.trades, each with its symbol; entry/exit index are the coin's own bars."""
        log = self.trade_log
        return [
            {
                "symbol": self.symbols[c],
                "entry_time": et,
                "entry_price": ep,
                "exit_time": xt,
                "exit_price": xp,
                "return_pct": r,
                "reason": REASONS[code],
                "entry_index": e,
                "exit_index": x,
                "bars_held": x - e,
            }
            for c, e, x, et, xt, ep, xp, r, code in zip(
                *(log[k].tolist() for k in ("coin", "entry_index", "exit_index", "entry_time", "exit_time")),
                *(log[k].tolist() for k in ("entry_price", "exit_price", "return_pct", "reason")),
                strict=True,
            )
        ]

    def contributions(self) -> dict[str, float]:
        """Each coin's part of the account's profit and loss, in units of the starting capital:
        the sum of its trades' stake * r. They add up to the final equity - 1."""
        pnl = self.trade_log["stake"] * self.trade_log["return_pct"] / 100.0
        totals = np.bincount(self.trade_log["coin"], weights=pnl, minlength=len(self.symbols))
        return {symbol: float(total) for symbol, total in zip(self.symbols, totals.tolist(), strict=True)}


def check_slots(slots: Any, coins: int) -> int:
    """K: 1..1000, None for the number of coins; InvalidParameters('portfolio_slots', ...) otherwise."""
    return coins if slots is None else coerce_value(PORTFOLIO_SLOTS, slots)


def frame_columns(prices: pd.DataFrame) -> dict[str, np.ndarray]:
    """times, close and whichever of open, high and low a DataFrame of bars has, as `backtest` reads them."""
    if "close" not in prices.columns:
        raise InvalidPriceData("the prices have no 'close' column")
    names = ("open", "high", "low", "volume")
    columns = {name: prices[name].to_numpy(dtype=np.float64) for name in names if name in prices}
    return {"times": _frame_times(prices), "close": prices["close"].to_numpy(dtype=np.float64), **columns}


def backtest_portfolio_arrays(
    strategy: str,
    coins: Mapping[str, Mapping[str, np.ndarray]],
    params: Mapping[str, Any] | None = None,
    *,
    fee_pct: float = 0.0,
    interval: str = "1h",
    fill: str = "close",
    stop_mode: str = "close",
    slippage_pct: float = 0.0,
    slots: int | None = None,
) -> PortfolioResult:
    """The portfolio of `coins`: symbol -> {"times", "close"[, "open", "high", "low"]} as
    backtest_arrays takes them. Every option is checked first, then each coin as a single
    backtest checks it (an EngineError of a coin carries `.symbol`)."""
    resolved = parameters_resolve(strategy, params)
    fee = check_fee_pct(fee_pct)
    interval = check_interval(interval)
    fill = check_fill(fill)
    stop_mode = check_stop_mode(stop_mode)
    slippage = check_slippage_pct(slippage_pct)
    if not coins:
        raise InvalidParameters("coins", "a portfolio needs at least one coin")
    k = check_slots(slots, len(coins))
    symbols = tuple(sorted(coins))
    warmup = warmup_bars(strategy, resolved)
    prepared = []
    for symbol in symbols:
        columns = coins[symbol]
        try:
            prepared.append(
                coin_signals(
                    strategy,
                    resolved,
                    times=columns["times"],
                    close=columns["close"],
                    open=columns.get("open"),
                    high=columns.get("high"),
                    low=columns.get("low"),
                    volume=columns.get("volume"),
                    fill=fill,
                    stop_mode=stop_mode,
                )
            )
        except EngineError as exc:
            exc.symbol = symbol  # type: ignore[attr-defined]
            raise
    stamps = [p[0] for p in prepared]
    offsets = np.zeros(len(symbols) + 1, dtype=np.int64)
    np.cumsum([s.shape[0] for s in stamps], out=offsets[1:])
    same_times = all(s.shape == stamps[0].shape and np.array_equal(s, stamps[0]) for s in stamps[1:])
    # the coins' times, concatenated (only needed to merge and step through differing ones)
    all_times = _read_only(np.concatenate(stamps)) if not same_times else stamps[0]
    # read-only, as the coins' own times are: one compiled specialisation of the kernels
    timeline = stamps[0] if same_times else _read_only(merge_timelines_kernel(all_times, offsets))
    close = np.concatenate([p[1].close for p in prepared])
    needs_open = fill == "next_open" or stop_mode == "intrabar"
    open_ = np.concatenate([p[1].open for p in prepared]) if needs_open else close
    low = np.concatenate([p[1].low for p in prepared]) if stop_mode == "intrabar" else close
    equity, coin, entry_index, exit_index, entry_price, exit_price, reason, returns, stake, exposed, skipped = (
        portfolio_kernel(
            open_,
            low,
            close,
            np.concatenate([p[2] for p in prepared]),
            np.concatenate([p[3] for p in prepared]),
            offsets,
            np.full(len(symbols), warmup, dtype=np.int64),
            all_times,
            timeline,
            same_times,
            k,
            float(resolved["stop_loss_threshold"]),
            fee / 100.0,
            slippage / 100.0,
            fill == "next_open",
            stop_mode == "intrabar",
        )
    )
    trade_log = {
        "coin": coin,
        "entry_index": entry_index,
        "exit_index": exit_index,
        "entry_time": timeline[entry_index] if same_times else all_times[offsets[coin] + entry_index],
        "exit_time": timeline[exit_index] if same_times else all_times[offsets[coin] + exit_index],
        "entry_price": entry_price,
        "exit_price": exit_price,
        "return_pct": returns * 100.0,
        "reason": reason,
        "stake": stake,  # the cash the entry spent (fee included): the trade's P&L is stake * r
    }
    buy_hold = [(float(p[1].close[-1]) / float(p[1].close[0]) - 1.0) * 100.0 for p in prepared]
    metrics = result_metrics(
        final=float(equity[-1]),
        bars=timeline.shape[0],
        stats=_equity_stats(equity),
        trades=(returns, reason, entry_index, exit_index),
        exposed=exposed,
        buy_hold_return=sum(buy_hold) / len(buy_hold),
        interval=interval,
    )
    metrics["skipped_entries"] = int(skipped)
    assert tuple(metrics) == tuple(m.name for m in PORTFOLIO_METRICS)
    return PortfolioResult(
        strategy=strategy,
        params=resolved,
        slots=k,
        symbols=symbols,
        metrics=metrics,
        equity=equity,
        times=timeline,
        trade_log=trade_log,
    )


def backtest_portfolio(
    strategy: str,
    frames: Mapping[str, pd.DataFrame],
    params: Mapping[str, Any] | None = None,
    *,
    fee_pct: float = 0.0,
    interval: str = "1h",
    fill: str = "close",
    stop_mode: str = "close",
    slippage_pct: float = 0.0,
    slots: int | None = None,
) -> PortfolioResult:
    """backtest_portfolio_arrays on symbol -> DataFrame of bars, as `backtest` takes them."""
    return backtest_portfolio_arrays(
        strategy,
        {symbol: frame_columns(frame) for symbol, frame in frames.items()},
        params,
        fee_pct=fee_pct,
        interval=interval,
        fill=fill,
        stop_mode=stop_mode,
        slippage_pct=slippage_pct,
        slots=slots,
    )
