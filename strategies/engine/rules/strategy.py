"""A rule strategy: two checked rules and their parameter definitions, ready for the engine.

rules = compile_rules(entry_rule="rsi(close, n) < 30", exit_rule="rsi(close, n) > 70",
                      params=[ParamSpec("n", "integer", 14, "RSI period", 2, 500)], key="rules:7")
backtest_arrays(rules, times=..., close=..., params={"n": 21})
# a sweep over one coin: one cache per coin, shared by the cells
shared = rules.sharing({})
for p in cells: backtest_arrays(shared, ..., params=p)
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InvalidParameters
from ..registry import STOP_LOSS, ParamSpec, coerce_value
from .evaluate import Evaluator, bind, expand, series_calls, warmup
from .language import COLUMNS, FUNCTIONS, SERIES_FUNCTIONS, ParamInfo, RuleError, parse_rule

# An evaluator's memo is cleared past this many entries: a sweep of thousands of cells
# would otherwise keep an array per cell and sub-expression.
MEMO_LIMIT = 512


class RulesInvalid(ValueError):
    """One or more refusals: `errors` maps a field (entry_rule, exit_rule, parameters) to its RuleError."""

    def __init__(self, errors: Mapping[str, RuleError]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(str(e) for e in self.errors.values()))


@dataclass(frozen=True, eq=False)
class RuleStrategy:
    """What backtest_arrays needs of a strategy, from rules: parameters, warm-up, signals."""

    key: str
    entry_rule: str
    exit_rule: str
    params: tuple[ParamSpec, ...]
    entry_tree: tuple
    exit_tree: tuple
    functions: frozenset[str]  # the functions the rules call
    used: frozenset[str]  # the parameters the rules read
    columns: frozenset[str]  # the price columns read (stoch_k, stoch_d and atr read high, low, close)
    cache: dict | None = field(default=None, repr=False)
    # (bound entry, bound exit, expanded entry, expanded exit, W) per parameter set: a
    # backtest asks for the warm-up and the signals of the same values more than once
    _plans: dict = field(default_factory=dict, repr=False)

    @property
    def needs_high_low(self) -> bool:
        return bool({"high", "low"} & self.columns)

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def unused(self) -> tuple[str, ...]:
        """Parameters defined but read by neither rule (stop_loss_threshold is the engine's)."""
        return tuple(p.name for p in self.params if p.name not in self.used and p.name != STOP_LOSS.name)

    def sharing(self, cache: dict) -> RuleStrategy:
        """This strategy with a cache of sub-expressions that outlives one backtest: pass the
        same dict for every parameter set of one coin (a sweep), a new one per coin."""
        return replace(self, cache=cache)

    def parameters_resolve(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults filled in, types and ranges checked (InvalidParameters), as registry.parameters_resolve."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            raise InvalidParameters(
                unknown[0], f"unknown parameter for strategy {self.key!r}; known: {', '.join(self.param_names)}"
            )
        return {p.name: coerce_value(p, params[p.name]) if p.name in params else p.default for p in self.params}

    def _plan(self, resolved: Mapping[str, Any]) -> tuple:
        key = tuple((name, type(resolved[name]), resolved[name]) for name in sorted(self.used))
        plan = self._plans.get(key)
        if plan is None:
            entry, exit_ = bind(self.entry_tree, resolved), bind(self.exit_tree, resolved)
            plan = (expand(entry), expand(exit_), max(warmup(entry), warmup(exit_)))
            if len(self._plans) > MEMO_LIMIT:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def warmup(self, resolved: Mapping[str, Any]) -> int:
        """W: the larger of wu(entry_rule) and wu(exit_rule)."""
        return self._plan(resolved)[2]

    def min_bars(self, resolved: Mapping[str, Any]) -> int:
        return self.warmup(resolved) + 2

    def signals(
        self, columns: Mapping[str, np.ndarray | None], resolved: Mapping[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(entry, exit) boolean arrays of the bars, for resolved parameters."""
        entry, exit_, _ = self._plan(resolved)
        evaluator = self._evaluator(columns)
        return evaluator.condition(entry), evaluator.condition(exit_)

    def indicators(
        self, columns: Mapping[str, np.ndarray | None], resolved: Mapping[str, Any]
    ) -> dict[str, np.ndarray]:
        """Each series function the rules call, by its text with the parameters' values
        (`{"rsi(close, 14)": array, "sma(close, 200)": array}`): what a chart of the coin draws
        beside the trades. Computed as the signals are (and from the same cache)."""
        found: dict[str, tuple] = {}
        for tree in (bind(self.entry_tree, resolved), bind(self.exit_tree, resolved)):
            series_calls(tree, found)
        evaluator = self._evaluator(columns)
        with np.errstate(all="ignore"):
            return {text: evaluator.value(expand(tree)) for text, tree in found.items()}

    def _evaluator(self, columns: Mapping[str, np.ndarray | None]) -> Evaluator:
        if self.cache is None:
            return Evaluator(columns)
        found = self.cache.get("evaluator")
        if found is None or not found.same_columns(columns):
            found = Evaluator(columns)
            self.cache["evaluator"] = found
        elif len(found.memo) > MEMO_LIMIT:
            found.memo.clear()
        return found

    def summary(self, resolved: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What the rules were understood to be: warm-up at the given (or default) parameters,
        the indicators, the parameters used and those defined but unused."""
        resolved = self.parameters_resolve(resolved)
        return {
            "warmup": self.warmup(resolved),
            "indicators": sorted(self.functions & SERIES_FUNCTIONS),
            "functions": sorted(self.functions),
            "columns": sorted(self.columns),
            "parameters_used": sorted(self.used),
            "parameters_unused": list(self.unused),
        }


def _columns_of(tree: tuple, found: set[str]) -> None:
    tag = tree[0]
    if tag == "col":
        found.add(tree[1])
    elif tag == "call" and tree[1] in ("stoch_k", "stoch_d", "atr"):
        found.update(("high", "low", "close"))
    for part in tree[1:]:
        if isinstance(part, tuple):
            _columns_of(part, found)


def check_parameter_names(params: Sequence[ParamSpec]) -> None:
    """A parameter's name must be an identifier that is not a column, a function or a keyword,
    and unique. Raises RulesInvalid on the "parameters" field."""
    seen: set[str] = set()
    for spec in params:
        name = spec.name
        problem = None
        if not name.isidentifier() or keyword.iskeyword(name):
            problem = f"parameter name {name!r} must be a name such as rsi_period (letters, digits, _)"
        elif name in COLUMNS or name in FUNCTIONS:
            problem = f"parameter name {name!r} is taken by a column or a function"
        elif name in seen:
            problem = f"parameter {name!r} is defined twice"
        if problem:
            raise RulesInvalid({"parameters": RuleError("parameters", 1, 1, problem)})
        seen.add(name)


def compile_rules(
    *, entry_rule: str, exit_rule: str, params: Sequence[ParamSpec] = (), key: str = "rules"
) -> RuleStrategy:
    """Check both rules against the parameter definitions and build the strategy.

    stop_loss_threshold is added with the usual definition when `params` lacks it.
    Raises RulesInvalid with every rule's first refusal (both rules are checked).
    """
    params = tuple(params)
    if not any(p.name == STOP_LOSS.name for p in params):
        params = (*params, STOP_LOSS)
    check_parameter_names(params)
    infos = {p.name: ParamInfo(p.type, p.min) for p in params}
    errors: dict[str, RuleError] = {}
    parsed = {}
    for name, text in (("entry_rule", entry_rule), ("exit_rule", exit_rule)):
        try:
            parsed[name] = parse_rule(text, infos, rule=name)
        except RuleError as exc:
            errors[name] = exc
    if errors:
        raise RulesInvalid(errors)
    (entry, entry_fns, entry_used), (exit_, exit_fns, exit_used) = parsed["entry_rule"], parsed["exit_rule"]
    columns: set[str] = set()
    _columns_of(entry, columns)
    _columns_of(exit_, columns)
    return RuleStrategy(
        key=key,
        entry_rule=entry_rule,
        exit_rule=exit_rule,
        params=params,
        entry_tree=entry,
        exit_tree=exit_,
        functions=entry_fns | exit_fns,
        used=entry_used | exit_used,
        columns=frozenset(columns),
    )
