"""The strategies the engine knows: their keys, parameters, rules and warm-up.

This is the single source of the parameter definitions of spec/ENGINE.md, keyed by
strategy key (the engine knows no database ids). The site's seed migration froze a
copy of them; the site checks edited definitions against these.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .errors import InvalidParameters
from .simulation import FILL_OPTIONS, STOP_MODES


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str  # "number" | "integer" | "boolean" | "select"
    default: Any
    display_name: str
    min: float | None = None
    max: float | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class StrategySpec:
    key: str
    name: str
    description: str
    params: tuple[ParamSpec, ...]
    warmup: Callable[[Mapping[str, Any]], int]
    # (smaller, larger, rule text): params[smaller] < params[larger]
    less_than: tuple[tuple[str, str], ...] = field(default=())

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


STOP_LOSS = ParamSpec("stop_loss_threshold", "number", 10.0, "Stop-loss (%)", 0.1, 100)

# A run option beside the strategy's own parameters (spec: "Input"), checked the same way.
FEE_PCT = ParamSpec("fee_pct", "number", 0.0, "Fee per fill (%)", 0, 5)
# The execution options (spec: "Execution options"), checked the same way; defaults are the original's fills.
FILL = ParamSpec("fill", "select", "close", "Fills", options=FILL_OPTIONS)
STOP_MODE = ParamSpec("stop_mode", "select", "close", "Stop-loss", options=STOP_MODES)
SLIPPAGE_PCT = ParamSpec("slippage_pct", "number", 0.0, "Slippage per fill (%)", 0, 5)

STRATEGIES: dict[str, StrategySpec] = {
    s.key: s
    for s in (
        StrategySpec(
            "rsi",
            "RSI Mean Reversion",
            "Buy when RSI falls below the oversold threshold, sell when it rises above the overbought one.",
            (
                ParamSpec("rsi_period", "integer", 14, "RSI period", 2, 500),
                ParamSpec("oversold_threshold", "number", 30.0, "Oversold threshold", 0, 100),
                ParamSpec("overbought_threshold", "number", 70.0, "Overbought threshold", 0, 100),
                ParamSpec("rsi_smoothing", "select", "sma", "RSI smoothing", options=("sma", "wilder")),
                STOP_LOSS,
            ),
            warmup=lambda p: int(p["rsi_period"]),
            less_than=(("oversold_threshold", "overbought_threshold"),),
        ),
        StrategySpec(
            "ma_crossover",
            "Moving Average Crossover",
            "Buy when the fast SMA crosses above the slow SMA, sell when it crosses below.",
            (
                ParamSpec("fast_ma_period", "integer", 10, "Fast MA period", 1, 1000),
                ParamSpec("slow_ma_period", "integer", 30, "Slow MA period", 2, 2000),
                STOP_LOSS,
            ),
            warmup=lambda p: int(p["slow_ma_period"]),
            less_than=(("fast_ma_period", "slow_ma_period"),),
        ),
        StrategySpec(
            "macd",
            "MACD",
            "Buy when the MACD line crosses above its signal line, sell when it crosses below.",
            (
                ParamSpec("macd_fast_period", "integer", 12, "MACD fast period", 1, 500),
                ParamSpec("macd_slow_period", "integer", 26, "MACD slow period", 2, 1000),
                ParamSpec("macd_signal_period", "integer", 9, "Signal period", 1, 500),
                STOP_LOSS,
            ),
            warmup=lambda p: int(p["macd_slow_period"]) + int(p["macd_signal_period"]),
            less_than=(("macd_fast_period", "macd_slow_period"),),
        ),
        StrategySpec(
            "stochastic",
            "Stochastic Oscillator",
            "Buy when %K crosses above %D in the oversold zone, sell when it crosses below in the overbought zone.",
            (
                ParamSpec("stoch_k_period", "integer", 14, "%K period", 1, 500),
                ParamSpec("stoch_d_period", "integer", 3, "%D period", 1, 100),
                ParamSpec("oversold_threshold", "number", 20.0, "Oversold threshold", 0, 100),
                ParamSpec("overbought_threshold", "number", 80.0, "Overbought threshold", 0, 100),
                STOP_LOSS,
            ),
            warmup=lambda p: int(p["stoch_k_period"]) + int(p["stoch_d_period"]),
            less_than=(("oversold_threshold", "overbought_threshold"),),
        ),
        StrategySpec(
            "bollinger_bands",
            "Bollinger Bands",
            "Buy at or below the lower band, sell at or above the upper band.",
            (
                ParamSpec("bb_period", "integer", 20, "Period", 2, 1000),
                ParamSpec("bb_std_multiplier", "number", 2.0, "Std-dev multiplier", 0.1, 10),
                STOP_LOSS,
            ),
            warmup=lambda p: int(p["bb_period"]),
        ),
        StrategySpec(
            "mean_reversion",
            "Mean Reversion",
            "Buy when the close is the threshold percentage below its SMA, sell when it is back at the SMA.",
            (
                ParamSpec("mr_period", "integer", 20, "SMA period", 2, 1000),
                ParamSpec("mr_threshold", "number", 5.0, "Deviation threshold (%)", 0.01, 100),
                STOP_LOSS,
            ),
            warmup=lambda p: int(p["mr_period"]),
        ),
    )
}


def strategy_spec(key: str) -> StrategySpec:
    try:
        return STRATEGIES[key]
    except KeyError:
        raise InvalidParameters("strategy", f"unknown strategy key {key!r}; known: {', '.join(STRATEGIES)}") from None


def coerce_value(spec: ParamSpec, value: Any) -> Any:
    """Check one value's type and range; return it in its canonical Python type.

    Raises InvalidParameters naming the parameter and the rule.
    """
    name = spec.name
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        raise InvalidParameters(name, "must be a boolean (true or false)")
    if spec.type == "select":
        if not isinstance(value, str) or value not in spec.options:
            raise InvalidParameters(name, f"must be one of {list(spec.options)}")
        return value
    # number / integer: bool is an int in Python but never a valid number here. numpy
    # scalars and Decimal (a DecimalField's value) are numbers too.
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
        kind = "an integer" if spec.type == "integer" else "a number"
        raise InvalidParameters(name, f"must be {kind}")
    value = int(value) if isinstance(value, numbers.Integral) else float(value)
    if not math.isfinite(value):
        raise InvalidParameters(name, "must be a finite number")
    if spec.type == "integer":
        if isinstance(value, float):
            if not value.is_integer():
                raise InvalidParameters(name, "must be an integer")
        value = int(value)
    else:
        value = float(value)
    if spec.min is not None and value < spec.min:
        raise InvalidParameters(name, f"must be >= {spec.min:g}")
    if spec.max is not None and value > spec.max:
        raise InvalidParameters(name, f"must be <= {spec.max:g}")
    return value


def parameters_resolve(
    key: str, params: Mapping[str, Any] | None, *, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Fill in defaults, check types, ranges and cross-field rules.

    Returns a new dict with every parameter of the strategy, in canonical types. `key` may
    be a rule strategy (strategies.engine.rules), which resolves its own. A broken cross-field
    rule names the other parameter by its display name: `labels` (name -> display name, e.g.
    the admin's) or the engine's own ("must be less than Slow MA period (50 ≥ 20)").
    """
    if not isinstance(key, str):
        return key.parameters_resolve(params)
    spec = strategy_spec(key)
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.param_names))
    if unknown:
        raise InvalidParameters(
            unknown[0], f"unknown parameter for strategy {key!r}; known: {', '.join(spec.param_names)}"
        )
    resolved = {p.name: coerce_value(p, params[p.name]) if p.name in params else p.default for p in spec.params}
    for smaller, larger in spec.less_than:
        if not resolved[smaller] < resolved[larger]:
            other = (labels or {}).get(larger) or spec.param(larger).display_name
            raise InvalidParameters(
                smaller, f"must be less than {other} ({resolved[smaller]:g} \u2265 {resolved[larger]:g})"
            )
    return resolved


def warmup_bars(key: str, resolved: Mapping[str, Any]) -> int:
    """W of the spec: the index of the first bar that may trade (of a built-in or a rule strategy)."""
    if not isinstance(key, str):
        return key.warmup(resolved)
    return strategy_spec(key).warmup(resolved)


def min_bars(key: str, resolved: Mapping[str, Any]) -> int:
    """Fewest bars a backtest accepts: W + 2."""
    return warmup_bars(key, resolved) + 2
