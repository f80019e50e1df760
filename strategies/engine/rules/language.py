"""The rule language of spec/RULES.md: text -> a checked tree, or a refusal with its position.

Python's own parser (`ast.parse`, mode "eval") reads the text; only the node types of the
spec's table are turned into our tree, everything else is refused where it stands. Nothing
of the text is ever compiled or run: the tree is plain tuples, evaluated by evaluate.py.

Tree nodes (tuples, hashable, so equal sub-expressions are equal keys):

    ("num", value)                   a number (float; int for a period literal)
    ("param", name)                  a parameter of the strategy
    ("col", name)                    open | high | low | close | volume
    ("neg", a)                       -a
    ("bin", op, a, b)                op in + - * /
    ("cmp", op, a, b)                op in < <= > >=
    ("and", a, b, ...) ("or", a, b, ...) ("not", a)
    ("call", name, arg, ...)         a function of FUNCTIONS
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_LENGTH = 1000
MAX_DEPTH = 32

COLUMNS = ("open", "high", "low", "close", "volume")

# Argument kinds: "x" a series, "n" a period, "m" a number, "v" a series or a number.
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "sma": ("x", "n"),
    "ema": ("x", "n"),
    "std": ("x", "n"),
    "highest": ("x", "n"),
    "lowest": ("x", "n"),
    "shift": ("x", "n"),
    "roc": ("x", "n"),
    "rsi": ("x", "n"),
    "rsi_wilder": ("x", "n"),
    "macd": ("x", "n", "n"),
    "macd_signal": ("x", "n", "n", "n"),
    "bb_upper": ("x", "n", "m"),
    "bb_lower": ("x", "n", "m"),
    "stoch_k": ("n",),
    "stoch_d": ("n", "n"),
    "atr": ("n",),
    "crosses_above": ("v", "v"),
    "crosses_below": ("v", "v"),
}
SERIES_FUNCTIONS = frozenset(FUNCTIONS) - {"crosses_above", "crosses_below"}

# One line of help per function and operator: (form, meaning, example).
HELP: tuple[tuple[str, str, str], ...] = (
    ("sma(x, n)", "simple moving average of the last n values", "close > sma(close, 50)"),
    ("ema(x, n)", "exponential moving average, span n", "ema(close, 12) > ema(close, 26)"),
    ("std(x, n)", "sample standard deviation of the last n values", "std(close, 20) > 0.02 * close"),
    ("highest(x, n)", "largest of the last n values", "close >= highest(high, 20)"),
    ("lowest(x, n)", "smallest of the last n values", "close <= lowest(low, 20)"),
    ("shift(x, n)", "the value n bars ago", "close > shift(close, 24)"),
    ("roc(x, n)", "rate of change over n bars, in %", "roc(close, 10) > 5"),
    ("rsi(x, n)", "RSI with SMA smoothing", "rsi(close, 14) < 30"),
    ("rsi_wilder(x, n)", "RSI with Wilder's smoothing (TA-Lib's)", "rsi_wilder(close, 14) > 70"),
    ("macd(x, fast, slow)", "EMA(x, fast) - EMA(x, slow)", "macd(close, 12, 26) > 0"),
    (
        "macd_signal(x, fast, slow, signal)",
        "EMA of the MACD line",
        "crosses_above(macd(close, 12, 26), macd_signal(close, 12, 26, 9))",
    ),
    ("bb_upper(x, n, m)", "SMA + m standard deviations", "close >= bb_upper(close, 20, 2)"),
    ("bb_lower(x, n, m)", "SMA - m standard deviations", "close <= bb_lower(close, 20, 2)"),
    ("stoch_k(k)", "stochastic %K over k bars (high, low, close)", "stoch_k(14) < 20"),
    ("stoch_d(k, d)", "%D: SMA of %K over d bars", "crosses_above(stoch_k(14), stoch_d(14, 3))"),
    ("atr(n)", "Wilder's average true range (TA-Lib's)", "close - shift(close, 1) > 2 * atr(14)"),
    ("crosses_above(a, b)", "a[i-1] <= b[i-1] and a[i] > b[i]", "crosses_above(sma(close, 10), sma(close, 30))"),
    ("crosses_below(a, b)", "a[i-1] >= b[i-1] and a[i] < b[i]", "crosses_below(close, sma(close, 20))"),
    ("+ - * /", "arithmetic on series and numbers (x/0 is NaN)", "(close - sma(close, 20)) / close * 100 < -5"),
    ("< <= > >=", "comparison, false where a side is NaN; chains allowed", "20 < rsi(close, 14) < 40"),
    ("and or not", "on conditions", "close > sma(close, 200) and not rsi(close, 14) > 70"),
    ("open high low close volume", "the bars' columns", "volume > 2 * sma(volume, 20)"),
)


@dataclass(frozen=True)
class RuleError(Exception):
    """A refusal: which rule, where (1-based line and column, in characters) and why."""

    rule: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.rule}, line {self.line}, column {self.column}: {self.message}"

    def caret(self, text: str) -> str:
        """The offending line of `text` with a caret under the column."""
        lines = text.splitlines() or [""]
        line = lines[min(self.line, len(lines)) - 1]
        return f"{line}\n{' ' * (max(self.column, 1) - 1)}^"


@dataclass(frozen=True)
class ParamInfo:
    """What the checker needs of a parameter definition."""

    type: str  # "number" | "integer" | "boolean" | "select"
    min: float | None = None


_BIN = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_REFUSED_OPERATORS = {
    ast.Pow: "'**' is not allowed",
    ast.Mod: "'%' is not allowed",
    ast.FloorDiv: "'//' is not allowed",
    ast.MatMult: "'@' is not allowed",
    ast.BitAnd: "'&' is not allowed; use 'and'",
    ast.BitOr: "'|' is not allowed; use 'or'",
    ast.BitXor: "'^' is not allowed",
    ast.LShift: "'<<' is not allowed",
    ast.RShift: "'>>' is not allowed",
    ast.Eq: "'==' is not allowed",
    ast.NotEq: "'!=' is not allowed",
    ast.Is: "'is' is not allowed",
    ast.IsNot: "'is not' is not allowed",
    ast.In: "'in' is not allowed",
    ast.NotIn: "'not in' is not allowed",
    ast.Invert: "'~' is not allowed; use 'not'",
    ast.UAdd: "unary '+' is not allowed",
}
_REFUSED_NODES = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Lambda: "lambdas are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.NamedExpr: "':=' is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.List: "lists are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Slice: "slices are not allowed",
}


def parse_rule(
    text: str, params: Mapping[str, ParamInfo], *, rule: str = "rule", any_kind: bool = False
) -> tuple[tuple, frozenset[str], frozenset[str]]:
    """Parse and check one rule. Returns (tree, functions used, parameters used).

    Steps:
    1. the length cap; 2. Python's parser (a syntax error keeps its position);
    3. the whitelist, node by node, with the depth cap and the names;
    4. the kinds: the rule's value must be boolean, operands of the right kinds, periods
       integer literals >= 1 or integer parameters whose min is >= 1.
    Raises RuleError (the first problem) and nothing else for any string.
    """
    if not isinstance(text, str):
        raise RuleError(rule, 1, 1, "a rule must be text")
    if len(text) > MAX_LENGTH:
        raise RuleError(rule, 1, 1, f"a rule has at most {MAX_LENGTH} characters; this one has {len(text)}")
    if not text.strip():
        raise RuleError(rule, 1, 1, "the rule is empty")
    lines = text.splitlines() or [""]
    _check_parentheses(text, rule)
    try:
        # Inside parentheses a rule may span lines and start with spaces, as a Python
        # expression in parentheses may (_check_parentheses keeps them from pairing with
        # the rule's own); line 1 is then one column to the right.
        body = ast.parse("(" + text + "\n)", mode="eval").body
    except SyntaxError as exc:
        raise _syntax_error(text, lines, rule, exc) from None
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        raise RuleError(rule, 1, 1, f"cannot be read: {exc.__class__.__name__}") from None
    checker = _Checker(rule, lines, params)
    tree, kind = checker.node(body, 1)
    if kind != "boolean" and not any_kind:
        raise checker.error(body, f"a rule must be a condition (true or false), not a {kind}")
    return tree, frozenset(checker.functions), frozenset(checker.used)


def parse_expression(text: str, params: Mapping[str, ParamInfo]) -> tuple[tuple, str]:
    """(tree, kind) of any expression of the language (a series, a number or a condition):
    parse_rule without its last check. For tests and tools that show an indicator."""
    tree, _, _ = parse_rule(text, params, rule="expression", any_kind=True)
    return tree, _kind(tree, params)


def _kind(tree: tuple, params: Mapping[str, ParamInfo]) -> str:
    tag = tree[0]
    if tag in ("cmp", "and", "or", "not") or (tag == "call" and tree[1] not in SERIES_FUNCTIONS):
        return "boolean"
    if tag == "param":
        return "boolean" if params[tree[1]].type == "boolean" else "number"
    if tag == "num":
        return "number"
    if tag in ("col", "call"):
        return "series"
    parts = tree[2:] if tag == "bin" else tree[1:]
    return "series" if "series" in (_kind(p, params) for p in parts) else "number"


def _syntax_error(text: str, lines: list[str], rule: str, exc: SyntaxError) -> RuleError:
    """The refusal of a syntax error, at Python's position. A one-line rule is read again
    without the added parentheses: Python then points at the token itself, not at them."""
    line = min(exc.lineno or 1, len(lines))
    column = (exc.offset or 1) - (1 if line == 1 else 0)
    message = exc.msg
    if len(lines) == 1:
        stripped = text.lstrip()
        try:
            ast.parse(stripped, mode="eval")
        except SyntaxError as bare:
            line, column, message = 1, (bare.offset or 1) + len(text) - len(stripped), bare.msg
        except (ValueError, RecursionError, MemoryError, OverflowError):
            pass
    ending = _DANGLING.search(text.rstrip())
    if ending and column <= 1:  # Python points at the start when the text stops mid-expression
        line = len(text.rstrip().splitlines())
        column = len(text.rstrip().splitlines()[-1]) + 1
        message = f"the rule ends after {ending.group(1).strip()!r}: something is missing"
    return RuleError(rule, line, max(1, min(column, len(lines[line - 1]) + 1)), f"syntax error: {message}")


_DANGLING = re.compile(r"(<=|>=|[-+*/<>,(]|\band|\bor|\bnot)\s*$")


def _check_parentheses(text: str, rule: str) -> None:
    """A ')' without its '(' is a syntax error (the parentheses parse_rule adds must not pair
    with it), and parentheses nested deeper than MAX_DEPTH are refused as nesting."""
    depth = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        for col, char in enumerate(line, start=1):
            depth += (char == "(") - (char == ")")
            if depth < 0:
                raise RuleError(rule, line_no, col, "syntax error: unmatched ')'")
            if depth > MAX_DEPTH:
                raise RuleError(rule, line_no, col, f"nesting deeper than {MAX_DEPTH}")


class _Checker:
    def __init__(self, rule: str, lines: list[str], params: Mapping[str, ParamInfo]) -> None:
        self.rule = rule
        self.lines = lines
        self.params = params
        self.functions: set[str] = set()
        self.used: set[str] = set()

    def error(self, node: ast.AST, message: str) -> RuleError:
        line = getattr(node, "lineno", 1) or 1
        col_bytes = getattr(node, "col_offset", 0) or 0
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        shift = 1 if line == 1 else 0  # the '(' parse_rule added
        # col_offset counts UTF-8 bytes of the parsed line; the caret wants characters
        raw = ("(" * shift + text).encode()[:col_bytes]
        column = len(raw.decode(errors="ignore")) - shift + 1
        return RuleError(self.rule, line, max(column, 1), message)

    def after(self, node: ast.AST) -> ast.AST:
        """The position of the operator after `node`: its end, past spaces and ')'."""
        line = getattr(node, "end_lineno", None) or 1
        col = getattr(node, "end_col_offset", None) or 0
        raw = (("(" if line == 1 else "") + (self.lines[line - 1] if line <= len(self.lines) else "")).encode()
        while col < len(raw) and raw[col : col + 1] in b" \t)":
            col += 1
        return ast.Constant(value=None, lineno=line, col_offset=col)

    def node(self, node: ast.AST, depth: int) -> tuple[tuple, str]:
        """(tree, kind) of one node; kind is "number", "series" or "boolean"."""
        if depth > MAX_DEPTH:
            raise self.error(node, f"nesting deeper than {MAX_DEPTH}")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node, depth)
        if isinstance(node, ast.BinOp):
            return self.binary(node, depth)
        if isinstance(node, ast.Compare):
            return self.compare(node, depth)
        if isinstance(node, ast.BoolOp):
            word = "and" if isinstance(node.op, ast.And) else "or"
            parts = [self.node(v, depth + 1) for v in node.values]
            for value, (_, kind) in zip(node.values, parts, strict=True):
                if kind != "boolean":
                    raise self.error(value, f"'{word}' joins conditions, not a {kind}")
            return (word, *(t for t, _ in parts)), "boolean"
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        for cls, message in _REFUSED_NODES.items():
            if isinstance(node, cls):
                raise self.error(node, message)
        raise self.error(node, f"{node.__class__.__name__} is not part of the rule language")

    def constant(self, node: ast.Constant) -> tuple[tuple, str]:
        value = node.value
        if isinstance(value, bool) or value is None:
            raise self.error(node, f"{value!r} is not part of the rule language; use a boolean parameter")
        if isinstance(value, str | bytes):
            raise self.error(node, "strings are not allowed")
        if isinstance(value, int):
            if value > 10**15:
                raise self.error(node, "number too large")
            return ("num", value), "number"
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.error(node, "number too large")
            return ("num", value), "number"
        raise self.error(node, f"{type(value).__name__} numbers are not allowed")

    def name(self, node: ast.Name) -> tuple[tuple, str]:
        name = node.id
        if name in COLUMNS:
            return ("col", name), "series"
        info = self.params.get(name)
        if info is not None:
            if info.type == "select":
                raise self.error(node, f"{name} is a select parameter: a rule cannot use it")
            self.used.add(name)
            return ("param", name), "boolean" if info.type == "boolean" else "number"
        if name in FUNCTIONS:
            raise self.error(node, f"{name} is a function: call it, e.g. {_signature(name)}")
        raise self.error(
            node, f"unknown name {name!r}: neither a column ({', '.join(COLUMNS)}), a parameter nor a function"
        )

    def unary(self, node: ast.UnaryOp, depth: int) -> tuple[tuple, str]:
        if isinstance(node.op, ast.Not):
            tree, kind = self.node(node.operand, depth + 1)
            if kind != "boolean":
                raise self.error(node, f"'not' applies to a condition, not a {kind}")
            return ("not", tree), "boolean"
        if isinstance(node.op, ast.USub):
            tree, kind = self.node(node.operand, depth + 1)
            if kind == "boolean":
                raise self.error(node, "arithmetic on a condition ('-' of true/false)")
            if tree[0] == "num":
                return ("num", -tree[1]), "number"
            return ("neg", tree), kind
        raise self.error(node, _REFUSED_OPERATORS.get(type(node.op), "operator not allowed"))

    def binary(self, node: ast.BinOp, depth: int) -> tuple[tuple, str]:
        op = _BIN.get(type(node.op))
        if op is None:
            raise self.error(self.after(node.left), _REFUSED_OPERATORS.get(type(node.op), "operator not allowed"))
        left, lk = self.node(node.left, depth + 1)
        right, rk = self.node(node.right, depth + 1)
        if "boolean" in (lk, rk):
            raise self.error(self.after(node.left), f"arithmetic on a condition ('{op}' of true/false)")
        return ("bin", op, left, right), "series" if "series" in (lk, rk) else "number"

    def compare(self, node: ast.Compare, depth: int) -> tuple[tuple, str]:
        operands = [node.left, *node.comparators]
        for before, op in zip(operands, node.ops, strict=False):
            if type(op) not in _CMP:
                raise self.error(self.after(before), _REFUSED_OPERATORS.get(type(op), "comparison not allowed"))
        parts = [self.node(v, depth + 1) for v in operands]
        for value, (_, kind) in zip(operands, parts, strict=True):
            if kind == "boolean":
                raise self.error(value, "a comparison of conditions (true/false) is not allowed")
        pairs = tuple(("cmp", _CMP[type(op)], parts[i][0], parts[i + 1][0]) for i, op in enumerate(node.ops))
        return (pairs[0] if len(pairs) == 1 else ("and", *pairs)), "boolean"

    def call(self, node: ast.Call, depth: int) -> tuple[tuple, str]:
        if not isinstance(node.func, ast.Name):
            raise self.error(node, "only the rule language's functions can be called")
        name = node.func.id
        kinds = FUNCTIONS.get(name)
        if kinds is None:
            raise self.error(node.func, f"unknown function {name!r}")
        if node.keywords:
            raise self.error(node, f"keyword arguments are not allowed: {_signature(name)}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.error(node, "'*' unpacking is not allowed")
        if len(node.args) != len(kinds):
            raise self.error(node, f"{name} takes {len(kinds)} argument(s): {_signature(name)}, got {len(node.args)}")
        self.functions.add(name)
        args = []
        for position, (arg, want) in enumerate(zip(node.args, kinds, strict=True), start=1):
            if want == "n":
                args.append(self.period(arg, name, position))
                continue
            tree, kind = self.node(arg, depth + 1)
            if want == "x" and kind != "series":
                raise self.error(arg, f"argument {position} of {name} must be a series (e.g. close), not a {kind}")
            if want == "m" and kind != "number":
                raise self.error(arg, f"argument {position} of {name} must be a number, not a {kind}")
            if want == "v" and kind == "boolean":
                raise self.error(arg, f"{name} compares series or numbers, not conditions")
            args.append(tree)
        return ("call", name, *args), "boolean" if name not in SERIES_FUNCTIONS else "series"

    def period(self, arg: ast.AST, name: str, position: int) -> tuple:
        what = (
            f"argument {position} of {name} is a period: "
            "an integer literal >= 1 or an integer parameter whose min is >= 1"
        )
        if isinstance(arg, ast.Constant) and type(arg.value) is int:
            if arg.value < 1:
                raise self.error(arg, what)
            if arg.value > 10**7:
                raise self.error(arg, "period too large")
            return ("num", arg.value)
        if isinstance(arg, ast.Name):
            info = self.params.get(arg.id)
            if info is not None and info.type == "integer" and info.min is not None and info.min >= 1:
                self.used.add(arg.id)
                return ("param", arg.id)
            if info is None and arg.id not in COLUMNS and arg.id not in FUNCTIONS:
                raise self.error(arg, f"unknown name {arg.id!r}; {what}")
        raise self.error(arg, what)


def _signature(name: str) -> str:
    return next(form for form, _, _ in HELP if form.startswith(name + "("))
