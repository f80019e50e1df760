"""The backtest engine: pure numpy (and numba for the recursions), no Django.

The exact semantics are those of the shared spec/ENGINE.md.

    from strategies.engine import backtest, backtest_arrays, InsufficientData, InvalidParameters
    result = backtest("rsi", prices, {"rsi_period": 14}, fee_pct=0.1, interval="1h")
    result = backtest_arrays("rsi", times=ns, open=o, high=h, low=l, close=c, params={}, interval="1h",
                             fill="next_open", stop_mode="intrabar", slippage_pct=0.05)
    result.metrics, result.trades, result.equity, result.params
"""

from .backtest import (
    BacktestResult,
    TradeLog,
    backtest,
    backtest_arrays,
    check_fee_pct,
    check_fill,
    check_interval,
    check_slippage_pct,
    check_stop_mode,
)
from .charts import strategy_indicators
from .errors import EngineError, InsufficientData, InvalidParameters, InvalidPriceData
from .metrics import INTERVAL_MINUTES, METRIC_NAMES, METRICS, PORTFOLIO_METRICS, Metric, periods_per_year
from .portfolio import PORTFOLIO_SLOTS, PortfolioResult, backtest_portfolio, backtest_portfolio_arrays, check_slots
from .registry import (
    FEE_PCT,
    FILL,
    SLIPPAGE_PCT,
    STOP_MODE,
    STRATEGIES,
    ParamSpec,
    StrategySpec,
    min_bars,
    parameters_resolve,
    strategy_spec,
    warmup_bars,
)
from .simulation import FILL_OPTIONS, REASONS, STOP_MODES
from .warmup import warm_up

__all__ = [
    "BacktestResult",
    "EngineError",
    "FEE_PCT",
    "FILL",
    "FILL_OPTIONS",
    "METRICS",
    "METRIC_NAMES",
    "Metric",
    "SLIPPAGE_PCT",
    "STOP_MODE",
    "STOP_MODES",
    "INTERVAL_MINUTES",
    "InsufficientData",
    "InvalidParameters",
    "InvalidPriceData",
    "PORTFOLIO_METRICS",
    "PORTFOLIO_SLOTS",
    "ParamSpec",
    "PortfolioResult",
    "REASONS",
    "STRATEGIES",
    "StrategySpec",
    "TradeLog",
    "backtest",
    "backtest_arrays",
    "backtest_portfolio",
    "backtest_portfolio_arrays",
    "check_fee_pct",
    "check_fill",
    "check_interval",
    "check_slots",
    "check_slippage_pct",
    "check_stop_mode",
    "min_bars",
    "periods_per_year",
    "parameters_resolve",
    "strategy_indicators",
    "strategy_spec",
    "warm_up",
    "warmup_bars",
]
