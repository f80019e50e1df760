"""Rule strategies (spec/RULES.md): entry and exit written as expressions, run by the engine.

    from strategies.engine.rules import compile_rules, RulesInvalid, RuleError
    rules = compile_rules(entry_rule=..., exit_rule=..., params=[ParamSpec(...)], key="rules:7")
    backtest_arrays(rules, times=..., close=..., high=..., low=..., params={...})

Pure: numpy and the engine's own kernels; the text is parsed into a tree of tuples and
never compiled or run as Python.
"""

from .evaluate import Evaluator
from .language import COLUMNS, FUNCTIONS, HELP, MAX_DEPTH, MAX_LENGTH, ParamInfo, RuleError, parse_rule
from .strategy import RulesInvalid, RuleStrategy, check_parameter_names, compile_rules

# The six built-ins as rules (spec/RULES.md, "The six built-ins, written as rules").
BUILTIN_RULES: dict[str, tuple[str, str]] = {
    "rsi": (
        "rsi(close, rsi_period) < oversold_threshold",
        "rsi(close, rsi_period) > overbought_threshold",
    ),
    "ma_crossover": (
        "crosses_above(sma(close, fast_ma_period), sma(close, slow_ma_period))",
        "crosses_below(sma(close, fast_ma_period), sma(close, slow_ma_period))",
    ),
    "macd": (
        "crosses_above(macd(close, macd_fast_period, macd_slow_period), "
        "macd_signal(close, macd_fast_period, macd_slow_period, macd_signal_period))",
        "crosses_below(macd(close, macd_fast_period, macd_slow_period), "
        "macd_signal(close, macd_fast_period, macd_slow_period, macd_signal_period))",
    ),
    "stochastic": (
        "crosses_above(stoch_k(stoch_k_period), stoch_d(stoch_k_period, stoch_d_period)) "
        "and stoch_k(stoch_k_period) < oversold_threshold",
        "crosses_below(stoch_k(stoch_k_period), stoch_d(stoch_k_period, stoch_d_period)) "
        "and stoch_k(stoch_k_period) > overbought_threshold",
    ),
    "bollinger_bands": (
        "close <= bb_lower(close, bb_period, bb_std_multiplier)",
        "close >= bb_upper(close, bb_period, bb_std_multiplier)",
    ),
    "mean_reversion": (
        "(close - sma(close, mr_period)) / sma(close, mr_period) * 100 <= -mr_threshold",
        "close >= sma(close, mr_period)",
    ),
}

__all__ = [
    "BUILTIN_RULES",
    "COLUMNS",
    "Evaluator",
    "FUNCTIONS",
    "HELP",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "ParamInfo",
    "RuleError",
    "RuleStrategy",
    "RulesInvalid",
    "check_parameter_names",
    "compile_rules",
    "parse_rule",
]
