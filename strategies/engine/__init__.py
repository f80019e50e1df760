"""The backtest engine: pure numpy, no Django. See shared spec/ENGINE.md.

    from strategies.engine import backtest, InsufficientData, InvalidParameters
    result = backtest("rsi", prices, {"rsi_period": 14}, fee_pct=0.1, interval="1h")
"""

from .errors import EngineError, InsufficientData, InvalidParameters
from .registry import STRATEGIES, ParamSpec, StrategySpec, resolve_parameters, strategy_spec

__all__ = [
    "EngineError",
    "InsufficientData",
    "InvalidParameters",
    "STRATEGIES",
    "ParamSpec",
    "StrategySpec",
    "resolve_parameters",
    "strategy_spec",
]
