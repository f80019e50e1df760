"""Evaluate checked rule trees (language.py) into boolean arrays, with the engine's own indicators.

Three steps per rule and parameter set:
1. `bind`: each parameter replaced by its value, so a tree is the same key whatever
   named the number (`sma(close, slow)` with slow = 30 is `sma(close, 30)`);
2. `warmup` of the bound tree, by the table of spec/RULES.md;
3. `expand` into the engine's primitives (macd is ema - ema, bb_lower is sma - m * std,
   stoch_d is sma of stoch_k), then `Evaluator.value`, memoised by the expanded tree: each
   distinct sub-expression is computed once per evaluator, and an evaluator kept for one
   coin's arrays serves every parameter set of a sweep.

Series are float64 arrays, NaN where undefined (a non-finite arithmetic result is NaN);
numbers and conditions of numbers stay Python scalars until a rule's value is broadcast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import indicators as ind
from ..kernels import (
    crossings_kernel,
    ema_kernel,
    rolling_moments_kernel,
    rsi_sma_kernel,
    rsi_wilder_kernel,
    stochastic_k_kernel,
)
from .kernels import atr_kernel


def bind(tree: tuple, values: Mapping[str, Any]) -> tuple:
    """The tree with each ("param", name) replaced by ("num", value) or ("bool", value)."""
    tag = tree[0]
    if tag == "param":
        value = values[tree[1]]
        return ("bool", bool(value)) if isinstance(value, bool) else ("num", value)
    if tag in ("num", "col"):
        return tree
    if tag in ("bin", "cmp"):
        return (tag, tree[1], bind(tree[2], values), bind(tree[3], values))
    if tag == "call":
        return (tag, tree[1], *(bind(a, values) for a in tree[2:]))
    return (tag, *(bind(a, values) for a in tree[1:]))  # neg, not, and, or


# wu(x) + the period arguments at these tree indexes (tree[2] is x) (the spec's warm-up column), per function.
_WARMUP_PERIODS: dict[str, tuple[int, ...]] = {
    "sma": (3,),
    "ema": (3,),
    "std": (3,),
    "highest": (3,),
    "lowest": (3,),
    "shift": (3,),
    "roc": (3,),
    "rsi": (3,),
    "rsi_wilder": (3,),
    "macd": (4,),  # slow
    "macd_signal": (4, 5),  # slow + signal
    "bb_upper": (3,),
    "bb_lower": (3,),
}


def warmup(tree: tuple) -> int:
    """wu of a bound tree (spec/RULES.md, the warm-up column and the paragraph below it)."""
    tag = tree[0]
    if tag in ("num", "col", "bool"):
        return 0
    if tag == "call":
        name = tree[1]
        if name == "stoch_k":
            return int(tree[2][1])
        if name == "stoch_d":
            return int(tree[2][1]) + int(tree[3][1])
        if name == "atr":
            return int(tree[2][1])
        if name in ("crosses_above", "crosses_below"):
            return max(warmup(tree[2]), warmup(tree[3]))
        return warmup(tree[2]) + sum(int(tree[i][1]) for i in _WARMUP_PERIODS[name])
    parts = tree[2:] if tag in ("bin", "cmp") else tree[1:]
    return max(warmup(p) for p in parts)


def expand(tree: tuple) -> tuple:
    """The bound tree in the evaluator's primitives; the composite functions are spelled out
    as the engine computes them, so they share their parts with the rest of the rules."""
    tag = tree[0]
    if tag in ("num", "col", "bool"):
        return tree
    if tag in ("bin", "cmp"):
        return (tag, tree[1], expand(tree[2]), expand(tree[3]))
    if tag != "call":
        return (tag, *(expand(a) for a in tree[1:]))
    name, args = tree[1], [expand(a) for a in tree[2:]]
    if name == "macd":
        x, fast, slow = args
        return ("bin", "-", ("call", "ema", x, fast), ("call", "ema", x, slow))
    if name == "macd_signal":
        x, fast, slow, signal = args
        return ("call", "ema", expand(("call", "macd", *tree[2:5])), signal)
    if name in ("bb_upper", "bb_lower"):
        x, n, m = args
        width = ("bin", "*", m, ("call", "std", x, n))  # the engine's mult * std
        return ("bin", "+" if name == "bb_upper" else "-", ("call", "sma", x, n), width)
    if name == "stoch_d":
        k, d = args
        return ("call", "sma", ("call", "stoch_k", k), d)
    return ("call", name, *args)


def _read_only(arr: np.ndarray) -> np.ndarray:
    """As backtest._read_only: the kernels then run the specialisation the prices compiled."""
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr


def _finite_or_nan(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        infinite = np.isinf(value)  # NaN stays NaN; only infinities need replacing
        if infinite.any():
            value = np.where(infinite, np.nan, value)
        return _read_only(value)
    return float(value) if math.isfinite(value) else math.nan


class Evaluator:
    """Values of expanded trees over one coin's columns, each computed once.

    `columns` maps the column names to 1-d float64 arrays of one length (open, high, low,
    close, volume; those the rules read must be present).
    """

    def __init__(self, columns: Mapping[str, np.ndarray | None]) -> None:
        self.columns = {
            k: None if v is None else _read_only(np.ascontiguousarray(v, dtype=np.float64)) for k, v in columns.items()
        }
        self.size = next(v.shape[0] for v in self.columns.values() if v is not None)
        self.memo: dict[tuple, Any] = {}

    def same_columns(self, columns: Mapping[str, np.ndarray | None]) -> bool:
        """Whether `columns` are the arrays this evaluator holds (same memory, same length):
        its memo is then valid for them. The evaluator keeps its arrays alive, so a match of
        the data address cannot be a later array at a reused address."""
        for name, mine in self.columns.items():
            theirs = columns.get(name)
            if (mine is None) != (theirs is None):
                return False
            if mine is not None and not (
                isinstance(theirs, np.ndarray)
                and theirs.dtype == np.float64
                and theirs.shape == mine.shape
                and theirs.strides == mine.strides
                and theirs.__array_interface__["data"][0] == mine.__array_interface__["data"][0]
            ):
                return False
        return set(k for k, v in columns.items() if v is not None) <= set(self.columns)

    def condition(self, tree: tuple) -> np.ndarray:
        """A rule's value as a boolean array of the bars."""
        with np.errstate(all="ignore"):  # x/0 and the like: NaN by _finite_or_nan, no warning
            value = self.value(tree)
        if isinstance(value, np.ndarray):
            return value
        return np.full(self.size, bool(value))

    def value(self, tree: tuple) -> Any:
        try:
            return self.memo[tree]
        except KeyError:
            pass
        result = self._compute(tree)
        self.memo[tree] = result
        return result

    def _compute(self, tree: tuple) -> Any:
        tag = tree[0]
        if tag in ("num", "bool"):
            return tree[1]
        if tag == "col":
            column = self.columns.get(tree[1])
            if column is None:
                raise KeyError(f"the rules read {tree[1]!r}, which was not supplied")
            return _finite_or_nan(column) if tree[1] == "volume" else column
        if tag == "neg":
            return _negate(self.value(tree[1]))
        if tag == "bin":
            # the right side first: in bb_upper's sma(x, n) + m * std(x, n) the deviation's
            # pass then leaves the mean in the memo, and the left side finds it there
            right = self.value(tree[3])
            return _arithmetic(tree[1], self.value(tree[2]), right)
        if tag == "cmp":
            return _compare(tree[1], self.value(tree[2]), self.value(tree[3]))
        if tag == "not":
            value = self.value(tree[1])
            return np.logical_not(value) if isinstance(value, np.ndarray) else not value
        if tag in ("and", "or"):
            return self._junction(tag, tree[1:])
        return self._call(tree[1], tree[2:])

    def _junction(self, word: str, parts: tuple) -> Any:
        result: Any = None
        for part in parts:
            value = self.value(part)
            if result is None:
                result = value
            elif isinstance(result, np.ndarray) or isinstance(value, np.ndarray):
                result = (np.logical_and if word == "and" else np.logical_or)(result, value)
            else:
                result = (result and value) if word == "and" else (result or value)
        return result

    def _series(self, tree: tuple) -> np.ndarray:
        value = self.value(tree)
        if isinstance(value, np.ndarray):
            return value
        return _read_only(np.full(self.size, float(value)))

    def _call(self, name: str, args: tuple) -> Any:
        if name in ("crosses_above", "crosses_below"):
            up, down = self._crossings(args)
            return up if name == "crosses_above" else down
        if name == "stoch_k":
            high, low, close = (self.columns.get(c) for c in ("high", "low", "close"))
            if high is None or low is None:
                raise KeyError("stoch_k reads high and low, which were not supplied")
            return _read_only(stochastic_k_kernel(high, low, close, int(args[0][1])))
        if name == "atr":
            high, low, close = (self.columns.get(c) for c in ("high", "low", "close"))
            if high is None or low is None:
                raise KeyError("atr reads high and low, which were not supplied")
            return _read_only(atr_kernel(high, low, close, int(args[0][1])))
        x = self._series(args[0])
        n = int(args[1][1])
        if name == "sma":
            return _read_only(ind.sma(x, n))
        if name == "std":
            return self._std(args[0], x, n)
        if name == "ema":
            return _skipping_nan(x, lambda v: ema_kernel(v, n))
        if name == "rsi_wilder":
            return _skipping_nan(x, lambda v: rsi_wilder_kernel(v, n))
        if name == "rsi":
            return _by_runs(x, n + 1, lambda v: rsi_sma_kernel(v, n))
        if name == "highest":
            return _read_only(ind.rolling_max(x, n))
        if name == "lowest":
            return _read_only(ind.rolling_min(x, n))
        if name in ("shift", "roc"):
            before = self.value(("call", "shift", args[0], args[1])) if name == "roc" else None
            if name == "shift":
                out = np.full(self.size, np.nan)
                if n < self.size:
                    out[n:] = x[: self.size - n]
                return _read_only(out)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return _finite_or_nan((x / before - 1.0) * 100.0)
        raise KeyError(f"unknown function {name!r}")  # the checker lets none through

    def _crossings(self, args: tuple) -> tuple[np.ndarray, np.ndarray]:
        key = ("crossings", *args)
        found = self.memo.get(key)
        if found is None:
            a, b = self._series(args[0]), self._series(args[1])
            found = crossings_kernel(a, b, math.inf, -math.inf)
            self.memo[key] = found
        return found

    def _std(self, x_tree: tuple, x: np.ndarray, n: int) -> np.ndarray:
        """The deviation, and the mean of the same pass kept for sma(x, n) (the Bollinger
        bands need both; rolling_moments_kernel's mean is rolling_mean_kernel's)."""

        def moments(v: np.ndarray) -> np.ndarray:
            mean, std = rolling_moments_kernel(v, n)
            parts.append((v, mean))
            return std

        parts: list = []
        std = _by_runs(x, n, moments)
        if len(parts) == 1 and parts[0][0].shape[0] == self.size:  # NaN-free x: one pass
            self.memo.setdefault(("call", "sma", x_tree, ("num", n)), _read_only(parts[0][1]))
        return std


def _negate(value: Any) -> Any:
    return _read_only(-value) if isinstance(value, np.ndarray) else -value


_OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def _arithmetic(op: str, a: Any, b: Any) -> Any:
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        try:
            value = {"+": a + b, "-": a - b, "*": a * b}[op] if op != "/" else a / b
        except (ZeroDivisionError, OverflowError):
            return math.nan
        return _finite_or_nan(float(value))
    if op == "/":
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return _finite_or_nan(np.divide(a, b))
    return _finite_or_nan(_OPS[op](a, b))


_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def _compare(op: str, a: Any, b: Any) -> Any:
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        return bool(_COMPARE[op](a, b))
    return _COMPARE[op](a, b)


def _skipping_nan(x: np.ndarray, kernel) -> np.ndarray:
    """A recursion over x's defined values only, as if the NaN bars were absent; NaN at them."""
    nan = np.isnan(x)
    if not nan.any():
        return _read_only(kernel(x))
    out = np.full(x.shape[0], np.nan)
    keep = ~nan
    if keep.any():
        out[keep] = kernel(_read_only(np.ascontiguousarray(x[keep])))
    return _read_only(out)


def _by_runs(x: np.ndarray, span: int, kernel) -> np.ndarray:
    """A rolling function whose window (span values) must hold no NaN: the kernel on each
    NaN-free run of x long enough for one window, NaN elsewhere."""
    nan = np.isnan(x)
    if not nan.any():
        return _read_only(kernel(x))
    out = np.full(x.shape[0], np.nan)
    edges = np.flatnonzero(np.diff(np.concatenate(([True], nan, [True])).astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= span:
            out[start:stop] = kernel(x[start:stop])
    return _read_only(out)


def render(tree: tuple) -> str:
    """A bound (or checked) tree as rule text, fully parenthesised where it nests: the label of
    an indicator series (`sma(close, 30)`)."""
    tag = tree[0]
    if tag == "num":
        value = tree[1]
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
    if tag == "bool":
        return "true" if tree[1] else "false"
    if tag in ("col", "param"):
        return tree[1]
    if tag == "neg":
        return f"-{_wrapped(tree[1])}"
    if tag == "not":
        return f"not {_wrapped(tree[1])}"
    if tag in ("bin", "cmp"):
        return f"{_wrapped(tree[2])} {tree[1]} {_wrapped(tree[3])}"
    if tag in ("and", "or"):
        return f" {tag} ".join(_wrapped(p) for p in tree[1:])
    return f"{tree[1]}({', '.join(render(a) for a in tree[2:])})"


def _wrapped(tree: tuple) -> str:
    text = render(tree)
    return f"({text})" if tree[0] in ("bin", "cmp", "and", "or", "not", "neg") else text


def series_calls(tree: tuple, found: dict[str, tuple]) -> None:
    """Every call of a series function in a bound tree, by its text (outermost first)."""
    from .language import SERIES_FUNCTIONS

    if tree[0] == "call" and tree[1] in SERIES_FUNCTIONS:
        found.setdefault(render(tree), tree)
    for part in tree[1:]:
        if isinstance(part, tuple):
            series_calls(part, found)
