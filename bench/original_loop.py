"""The original system's backtest loop, reimplemented from its documentation
(shared/seed/000_0eb6859875c64525.txt: run_rsi_strategy, run_ma_crossover_strategy,
run_bollinger_bands_strategy and calculate_performance), for bench/engine.py.

It walks the rows with `DataFrame.iloc`, as the original did; that walk is what the
engine replaces. The original documented three of its six strategies; MACD, Stochastic
and Mean Reversion are written here in the same style (pandas indicators, the same
iloc loop) so every row of the bench has a baseline. The original's max-drawdown helper
was not documented; a plain one over the trade prices stands in for it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def _loop(prices_df: pd.DataFrame, start: int, buy, sell, stop_loss: float) -> list[dict[str, Any]]:
    """The documented loop: one position, stop-loss before the sell signal, iloc per row."""
    position = 0
    entry_price = 0.0
    trades: list[dict[str, Any]] = []
    for i in range(start, len(prices_df)):
        current_price = prices_df.iloc[i]["close_price"]
        if position == 0:
            if buy(i):
                position = 1
                entry_price = current_price
                trades.append({"type": "buy", "price": entry_price, "date": prices_df.iloc[i]["datetime"]})
        else:
            profit_pct = ((current_price - entry_price) / entry_price) * 100
            if profit_pct <= -stop_loss:
                position = 0
                trades.append(
                    {
                        "type": "sell",
                        "price": current_price,
                        "date": prices_df.iloc[i]["datetime"],
                        "reason": "stop_loss",
                    }
                )
            elif sell(i):
                position = 0
                trades.append(
                    {"type": "sell", "price": current_price, "date": prices_df.iloc[i]["datetime"], "reason": "signal"}
                )
    return trades


def run_rsi_strategy(prices_df: pd.DataFrame, parameters: dict[str, Any]) -> dict[str, Any]:
    rsi_period = parameters.get("rsi_period", 14)
    oversold = parameters.get("oversold_threshold", 30)
    overbought = parameters.get("overbought_threshold", 70)
    delta = prices_df["close_price"].diff()
    gain = delta.where(delta > 0, 0).rolling(window=rsi_period).mean()
    loss = (-delta.where(delta < 0, 0)).rolling(window=rsi_period).mean()
    rsi = 100 - (100 / (1 + gain / loss))
    trades = _loop(
        prices_df,
        0,
        lambda i: rsi.iloc[i] < oversold,
        lambda i: rsi.iloc[i] > overbought,
        parameters.get("stop_loss_threshold", 10),
    )
    return calculate_performance(trades, prices_df)


def _crossing(
    fast: pd.Series, slow: pd.Series, start: int, prices_df: pd.DataFrame, stop: float
) -> list[dict[str, Any]]:
    def up(i: int) -> bool:
        return fast.iloc[i - 1] <= slow.iloc[i - 1] and fast.iloc[i] > slow.iloc[i]

    def down(i: int) -> bool:
        return fast.iloc[i - 1] >= slow.iloc[i - 1] and fast.iloc[i] < slow.iloc[i]

    return _loop(prices_df, start, up, down, stop)


def run_ma_crossover_strategy(prices_df: pd.DataFrame, parameters: dict[str, Any]) -> dict[str, Any]:
    fast_period = parameters.get("fast_ma_period", 10)
    slow_period = parameters.get("slow_ma_period", 30)
    fast_ma = prices_df["close_price"].rolling(window=fast_period).mean()
    slow_ma = prices_df["close_price"].rolling(window=slow_period).mean()
    trades = _crossing(fast_ma, slow_ma, slow_period, prices_df, parameters.get("stop_loss_threshold", 10))
    return calculate_performance(trades, prices_df)


def run_macd_strategy(prices_df: pd.DataFrame, parameters: dict[str, Any]) -> dict[str, Any]:
    close = prices_df["close_price"]
    fast, slow, signal = (
        parameters.get(k, d) for k, d in (("macd_fast_period", 12), ("macd_slow_period", 26), ("macd_signal_period", 9))
    )
    macd = close.ewm(span=fast, adjust=False).mean() - close.ewm(span=slow, adjust=False).mean()
    signal_line = macd.ewm(span=signal, adjust=False).mean()
    trades = _crossing(macd, signal_line, slow + signal, prices_df, parameters.get("stop_loss_threshold", 10))
    return calculate_performance(trades, prices_df)


def run_stochastic_strategy(prices_df: pd.DataFrame, parameters: dict[str, Any]) -> dict[str, Any]:
    k, d = parameters.get("stoch_k_period", 14), parameters.get("stoch_d_period", 3)
    oversold, overbought = parameters.get("oversold_threshold", 20), parameters.get("overbought_threshold", 80)
    hh, ll = prices_df["high_price"].rolling(k).max(), prices_df["low_price"].rolling(k).min()
    pct_k = 100 * (prices_df["close_price"] - ll) / (hh - ll)
    pct_d = pct_k.rolling(d).mean()

    def buy(i: int) -> bool:
        return pct_k.iloc[i - 1] <= pct_d.iloc[i - 1] and pct_k.iloc[i] > pct_d.iloc[i] and pct_k.iloc[i] < oversold

    def sell(i: int) -> bool:
        return pct_k.iloc[i - 1] >= pct_d.iloc[i - 1] and pct_k.iloc[i] < pct_d.iloc[i] and pct_k.iloc[i] > overbought

    trades = _loop(prices_df, k + d, buy, sell, parameters.get("stop_loss_threshold", 10))
    return calculate_performance(trades, prices_df)


def run_bollinger_bands_strategy(prices_df: pd.DataFrame, parameters: dict[str, Any]) -> dict[str, Any]:
    period = parameters.get("bb_period", 20)
    std_mult = parameters.get("bb_std_multiplier", 2.0)
    middle_band = prices_df["close_price"].rolling(window=period).mean()
    std = prices_df["close_price"].rolling(window=period).std()
    upper_band = middle_band + (std * std_mult)
    lower_band = middle_band - (std * std_mult)
    close = prices_df["close_price"]
    trades = _loop(
        prices_df,
        period,
        lambda i: close.iloc[i] <= lower_band.iloc[i],
        lambda i: close.iloc[i] >= upper_band.iloc[i],
        parameters.get("stop_loss_threshold", 10),
    )
    return calculate_performance(trades, prices_df)


def run_mean_reversion_strategy(prices_df: pd.DataFrame, parameters: dict[str, Any]) -> dict[str, Any]:
    period, threshold = parameters.get("mr_period", 20), parameters.get("mr_threshold", 5.0)
    close = prices_df["close_price"]
    sma = close.rolling(window=period).mean()
    deviation = (close - sma) / sma * 100
    trades = _loop(
        prices_df,
        period,
        lambda i: deviation.iloc[i] <= -threshold,
        lambda i: close.iloc[i] >= sma.iloc[i],
        parameters.get("stop_loss_threshold", 10),
    )
    return calculate_performance(trades, prices_df)


def calculate_performance(trades: list[dict[str, Any]], prices_df: pd.DataFrame) -> dict[str, Any]:
    """As documented: summed trade returns, unannualised Sharpe of trade returns."""
    buy_trades = [t for t in trades if t["type"] == "buy"]
    sell_trades = [t for t in trades if t["type"] == "sell"]
    total_return = 0.0
    profitable_trades = losing_trades = 0
    for i in range(min(len(buy_trades), len(sell_trades))):
        trade_return = (sell_trades[i]["price"] - buy_trades[i]["price"]) / buy_trades[i]["price"] * 100
        total_return += trade_return
        if trade_return > 0:
            profitable_trades += 1
        else:
            losing_trades += 1
    win_rate = (profitable_trades / len(buy_trades) * 100) if buy_trades else 0
    first, last = prices_df.iloc[0]["close_price"], prices_df.iloc[-1]["close_price"]
    buy_hold_return = (last - first) / first * 100 if len(prices_df) > 0 else 0
    sharpe_ratio = 0.0
    if len(buy_trades) > 1:
        returns = pd.Series(
            [
                (sell_trades[i]["price"] - buy_trades[i]["price"]) / buy_trades[i]["price"]
                for i in range(min(len(buy_trades), len(sell_trades)))
            ]
        )
        sharpe_ratio = returns.mean() / returns.std() if returns.std() > 0 else 0
    return {
        "total_return": round(total_return, 2),
        "win_rate": round(win_rate, 2),
        "total_trades": len(buy_trades),
        "profitable_trades": profitable_trades,
        "losing_trades": losing_trades,
        "buy_hold_return": round(buy_hold_return, 2),
        "sharpe_ratio": round(sharpe_ratio, 2),
        "max_drawdown": round(calculate_max_drawdown(trades), 2),
    }


def calculate_max_drawdown(trades: list[dict[str, Any]]) -> float:
    """Stand-in (undocumented in the original): deepest fall of the trade prices, in %."""
    peak, worst = 0.0, 0.0
    for t in trades:
        peak = max(peak, t["price"])
        worst = min(worst, (t["price"] - peak) / peak * 100)
    return worst


ORIGINAL = {
    "rsi": run_rsi_strategy,
    "ma_crossover": run_ma_crossover_strategy,
    "macd": run_macd_strategy,
    "stochastic": run_stochastic_strategy,
    "bollinger_bands": run_bollinger_bands_strategy,
    "mean_reversion": run_mean_reversion_strategy,
}
