"""The rule language of spec/RULES.md: every row of its tables, every refusal, the fuzz tests."""

from __future__ import annotations

import ast
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.engine import indicators as ind
from strategies.engine.registry import STOP_LOSS, ParamSpec
from strategies.engine.rules import (
    FUNCTIONS,
    HELP,
    MAX_DEPTH,
    Evaluator,
    ParamInfo,
    RuleError,
    RulesInvalid,
    compile_rules,
    parse_rule,
)
from strategies.engine.rules.evaluate import bind, expand, warmup
from strategies.engine.rules.language import parse_expression

PARAMS = {
    "n": ParamInfo("integer", 2),
    "fast": ParamInfo("integer", 1),
    "slow": ParamInfo("integer", 2),
    "any_int": ParamInfo("integer", 0),
    "level": ParamInfo("number", 0),
    "flag": ParamInfo("boolean"),
    "smoothing": ParamInfo("select"),
}
VALUES = {"n": 14, "fast": 5, "slow": 20, "any_int": 3, "level": 30.0, "flag": True}


def _bars(size: int = 400, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size)))
    return {
        "open": close * (1 + rng.normal(0, 0.002, size)),
        "high": close * (1 + rng.uniform(0, 0.01, size)),
        "low": close * (1 - rng.uniform(0, 0.01, size)),
        "close": close,
        "volume": rng.uniform(10, 1000, size),
    }


BARS = _bars()


def value(text: str, bars: dict[str, np.ndarray] = BARS, values=VALUES):
    tree, _ = parse_expression(text, PARAMS)
    return Evaluator(bars).value(expand(bind(tree, values)))


def same(a, b, tol: float = 0.0) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    keep = ~np.isnan(a)
    return bool(np.all(np.abs(a[keep] - b[keep]) <= tol * np.maximum(1.0, np.abs(b[keep]))))


CLOSE = pd.Series(BARS["close"])


# --- the forms of the table --------------------------------------------------------------


def test_numbers_and_parameters_are_numbers():
    assert value("12") == 12
    assert value("2.5") == 2.5
    assert value("level") == 30.0
    assert value("n") == 14
    assert value("-level") == -30.0


def test_a_boolean_parameter_is_a_condition():
    assert value("flag") is True
    assert value("not flag") is False
    tree, _, used = parse_rule("flag and close > 1", PARAMS)
    assert used == {"flag"}


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "volume"])
def test_columns_are_the_bars(column):
    assert value(column) is not None and np.array_equal(value(column), BARS[column])


def test_arithmetic_element_by_element_with_numbers():
    c = BARS["close"]
    assert same(value("close + 1"), c + 1)
    assert same(value("close - open"), c - BARS["open"])
    assert same(value("close * 2"), c * 2)
    assert same(value("close / high"), c / BARS["high"])
    assert same(value("-close"), -c)
    assert value("level / 2 + 1") == 16.0


def test_a_result_that_is_not_finite_is_nan():
    assert np.isnan(value("close / (close - close)")).all()
    assert math.isnan(value("level / 0"))
    assert np.isnan(value("(close - close) / (close - close)")).all()


def test_comparisons_are_false_where_either_side_is_nan():
    c = BARS["close"]
    assert np.array_equal(value("close > sma(close, 10)"), c > ind.sma(c, 10))
    assert not value("sma(close, 10) > 0")[:9].any() and value("sma(close, 10) > 0")[9:].all()
    assert not value("sma(close, 10) <= 1e9")[:9].any()
    for op, fn in (("<", np.less), ("<=", np.less_equal), (">", np.greater), (">=", np.greater_equal)):
        assert np.array_equal(value(f"close {op} open"), fn(c, BARS["open"]))


def test_a_comparison_chain_is_pairs_joined_by_and():
    rsi = ind.rsi_sma(BARS["close"], 14)
    assert np.array_equal(value("40 < rsi(close, 14) < 60"), (40 < rsi) & (rsi < 60))
    assert parse_rule("20 < rsi(close, 14) < 40", PARAMS)[0][0] == "and"


def test_and_or_not():
    a, b = BARS["close"] > BARS["open"], BARS["high"] > BARS["close"] * 1.005
    assert np.array_equal(value("close > open and high > close * 1.005"), a & b)
    assert np.array_equal(value("close > open or high > close * 1.005"), a | b)
    assert np.array_equal(value("not close > open"), ~a)


def test_crosses_above_and_below():
    f, s = ind.sma(BARS["close"], 5), ind.sma(BARS["close"], 20)
    up = np.zeros(len(f), bool)
    down = np.zeros(len(f), bool)
    up[1:] = (f[:-1] <= s[:-1]) & (f[1:] > s[1:])
    down[1:] = (f[:-1] >= s[:-1]) & (f[1:] < s[1:])
    assert up.any() and down.any()
    assert np.array_equal(value("crosses_above(sma(close, fast), sma(close, slow))"), up)
    assert np.array_equal(value("crosses_below(sma(close, fast), sma(close, slow))"), down)
    rsi = ind.rsi_sma(BARS["close"], 14)
    expected = np.zeros(len(rsi), bool)
    expected[1:] = (rsi[:-1] <= 50) & (rsi[1:] > 50)
    assert np.array_equal(value("crosses_above(rsi(close, n), 50)"), expected)


# --- the indicator functions, against independent computations --------------------------


def test_sma_is_the_engines_exactly_rounded_mean():
    assert same(value("sma(close, 20)"), CLOSE.rolling(20).mean(), 1e-14)
    assert np.array_equal(value("sma(close, 20)"), ind.sma(BARS["close"], 20), equal_nan=True)


def test_ema_is_pandas_ewm_adjust_false():
    assert np.array_equal(value("ema(close, 12)"), CLOSE.ewm(span=12, adjust=False).mean(), equal_nan=True)


def test_std_is_sample_deviation():
    assert same(value("std(close, 20)"), CLOSE.rolling(20).std(), 1e-10)


def test_highest_lowest_shift_roc():
    assert same(value("highest(high, 7)"), pd.Series(BARS["high"]).rolling(7).max())
    assert same(value("lowest(low, 7)"), pd.Series(BARS["low"]).rolling(7).min())
    assert same(value("shift(close, 3)"), CLOSE.shift(3))
    assert same(value("roc(close, 3)"), (CLOSE / CLOSE.shift(3) - 1) * 100)


def test_rsi_with_sma_and_wilder_smoothing():
    assert np.array_equal(value("rsi(close, 14)"), ind.rsi_sma(BARS["close"], 14), equal_nan=True)
    d = CLOSE.diff()
    gain, loss = d.clip(lower=0).rolling(14).mean(), (-d).clip(lower=0).rolling(14).mean()
    assert same(value("rsi(close, 14)"), 100 - 100 / (1 + gain / loss), 1e-9)
    assert same(value("rsi_wilder(close, 14)"), talib.RSI(BARS["close"], 14), 1e-6)


def test_macd_and_its_signal_line():
    macd = CLOSE.ewm(span=12, adjust=False).mean() - CLOSE.ewm(span=26, adjust=False).mean()
    assert same(value("macd(close, 12, 26)"), macd)
    assert same(value("macd_signal(close, 12, 26, 9)"), macd.ewm(span=9, adjust=False).mean())


def test_bollinger_bands():
    mid, sd = CLOSE.rolling(20).mean(), CLOSE.rolling(20).std()
    assert same(value("bb_upper(close, 20, 2)"), mid + 2 * sd, 1e-10)
    assert same(value("bb_lower(close, 20, level / 15)"), mid - 2 * sd, 1e-10)


def test_stochastic_k_and_d():
    k, d = ind.stochastic(BARS["high"], BARS["low"], BARS["close"], 14, 3)
    assert np.array_equal(value("stoch_k(14)"), k, equal_nan=True)
    assert np.array_equal(value("stoch_d(14, 3)"), d, equal_nan=True)
    low, high = pd.Series(BARS["low"]).rolling(14).min(), pd.Series(BARS["high"]).rolling(14).max()
    assert same(value("stoch_k(14)"), 100 * (CLOSE - low) / (high - low), 1e-12)


def test_atr_is_talibs():
    for n in (1, 5, 14):
        assert same(value(f"atr({n})"), talib.ATR(BARS["high"], BARS["low"], BARS["close"], n), 1e-9)


def test_rolling_functions_are_nan_for_a_window_holding_a_nan():
    # sma(close, 5) is NaN for bars 0..3: every window of sma(that, 3) touching them is NaN
    for fn in ("sma", "std", "highest", "lowest", "rsi"):
        out = value(f"{fn}(sma(close, 5), 3)")
        inner = ind.sma(BARS["close"], 5)
        reference = {
            "sma": pd.Series(inner).rolling(3).mean(),
            "std": pd.Series(inner).rolling(3).std(),
            "highest": pd.Series(inner).rolling(3).max(),
            "lowest": pd.Series(inner).rolling(3).min(),
            "rsi": pd.Series(ind.rsi_sma(inner[4:], 3)).reindex(range(-4, len(inner) - 4)).to_numpy(),
        }[fn]
        assert same(out, reference, 1e-9), fn
    gap = dict(BARS, volume=BARS["volume"].copy())
    gap["volume"][100] = np.nan
    out = value("sma(volume, 4)", gap)
    assert np.isnan(out[100:104]).all() and not np.isnan(out[99]) and not np.isnan(out[104])


def test_recursive_functions_skip_nan_inputs():
    gap = dict(BARS, volume=BARS["volume"].copy())
    gap["volume"][[50, 51, 200]] = np.nan
    expected = pd.Series(gap["volume"]).ewm(span=10, adjust=False, ignore_na=True).mean().to_numpy().copy()
    expected[np.isnan(gap["volume"])] = np.nan
    assert same(value("ema(volume, 10)", gap), expected, 1e-13)
    # an EMA of a series with a NaN lead starts at its first defined value
    assert same(
        value("ema(sma(close, 10), 5)"),
        pd.Series(ind.sma(BARS["close"], 10))
        .ewm(span=5, adjust=False, ignore_na=True)
        .mean()
        .where(lambda s: s.index >= 9),
        1e-13,
    )
    wilder = value("rsi_wilder(volume, 5)", gap)
    defined = ~np.isnan(gap["volume"])
    assert same(wilder[defined], talib.RSI(gap["volume"][defined], 5), 1e-6)
    assert np.isnan(wilder[~defined]).all()


def test_shift_and_roc_move_nan_along():
    out = value("shift(sma(close, 5), 2)")
    assert np.isnan(out[:6]).all() and not np.isnan(out[6])


# --- warm-up -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("close > 1", 0),
        ("sma(close, 20) > 1", 20),
        ("ema(close, n) > 1", 14),
        ("std(close, 7) > 1", 7),
        ("highest(close, 7) > 1 or lowest(close, 8) > 1", 8),
        ("shift(close, 3) > 1", 3),
        ("roc(close, 4) > 1", 4),
        ("rsi(close, n) < 30", 14),
        ("rsi_wilder(close, 9) < 30", 9),
        ("macd(close, 12, 26) > 0", 26),
        ("macd(close, 26, 12) > 0", 12),  # wu(x) + slow, the third argument, as the table says
        ("macd_signal(close, 12, 26, 9) > 0", 35),
        ("bb_upper(close, 20, 2) > close", 20),
        ("bb_lower(close, 21, 2) > close", 21),
        ("stoch_k(14) > 1", 14),
        ("stoch_d(14, 3) > 1", 17),
        ("atr(14) > 1", 14),
        ("sma(ema(close, 10), 5) > 1", 15),
        ("crosses_above(sma(close, fast), sma(close, slow))", 20),
        ("crosses_above(close, 3)", 0),
        ("sma(close, 5) - ema(close, 30) > 1 and flag", 30),
    ],
)
def test_warm_up_by_the_table(text, expected):
    tree, _, _ = parse_rule(text, PARAMS)
    assert warmup(bind(tree, VALUES)) == expected


def test_strategy_warm_up_is_the_larger_rule():
    rules = compile_rules(entry_rule="sma(close, 10) > 1", exit_rule="ema(close, 40) < 1")
    assert rules.warmup(rules.parameters_resolve({})) == 40


# --- refusals --------------------------------------------------------------------------------


def refusal(text: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse_rule(text, PARAMS, rule="entry_rule")
    return caught.value


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("close > ", 8, "something is missing"),
        ("close >> 1 > 0", 7, "'>>' is not allowed"),
        ("close.real > 1", 1, "attribute access"),
        ("close[1] > 1", 1, "subscripts"),
        ("close > 1 and print(1)", 15, "unknown function 'print'"),
        ("close > 1 and __import__('os')", 15, "unknown function '__import__'"),
        ("close > 1 and 'a' < 'b'", 15, "strings"),
        ("sma(x=close, n=3) > 1", 1, "keyword arguments"),
        ("(lambda: 1)() > 0", 1, "only the rule language's functions"),
        ("close > 1 and (lambda: 1)", 16, "lambdas"),
        ("[c for c in close] > 1", 1, "comprehensions"),
        ("close ** 2 > 1", 7, "'**' is not allowed"),
        ("close % 2 > 1", 7, "'%' is not allowed"),
        ("close == 1", 7, "'==' is not allowed"),
        ("close != 1", 7, "'!=' is not allowed"),
        ("close is 1", 7, "'is' is not allowed"),
        ("close in 1", 7, "'in' is not allowed"),
        ("close > nope", 9, "unknown name 'nope'"),
        ("close > smoothing", 9, "select parameter"),
        ("close > sma", 9, "is a function"),
        ("sma(close) > 1", 1, "takes 2 argument"),
        ("sma(close, 1, 2) > 1", 1, "takes 2 argument"),
        ("sma(close, 0) > 1", 12, "is a period"),
        ("sma(close, 2.0) > 1", 12, "is a period"),
        ("sma(close, level) > 1", 12, "is a period"),
        ("sma(close, any_int) > 1", 12, "is a period"),
        ("sma(close, n + 1) > 1", 12, "is a period"),
        ("sma(close, -3) > 1", 12, "is a period"),
        ("close + 1", 1, "must be a condition"),
        ("level", 1, "must be a condition"),
        ("(close > 1) < (close > 2)", 2, "comparison of conditions"),
        ("flag > 1", 1, "comparison of conditions"),
        ("close and close > 1", 1, "'and' joins conditions"),
        ("close > 1 or 2", 14, "'or' joins conditions"),
        ("not close", 1, "'not' applies to a condition"),
        ("(close > 1) + 1 > 0", 13, "arithmetic on a condition"),
        ("-flag", 1, "arithmetic on a condition"),
        ("sma(close > 1, 3) > 0", 5, "must be a series"),
        ("sma(3, 3) > 0", 5, "must be a series"),
        ("bb_upper(close, 20, close) > 0", 21, "must be a number"),
        ("crosses_above(close > 1, close)", 15, "not conditions"),
        ("True", 1, "not part of the rule language"),
        ("close > 1j", 9, "complex numbers"),
        ("close > 1e999", 9, "number too large"),
    ],
)
def test_refusals_name_the_position_and_the_reason(text, column, words):
    error = refusal(text)
    assert words in error.message, error.message
    assert (error.rule, error.line, error.column) == ("entry_rule", 1, column), error


def test_refusal_position_on_a_later_line_and_after_wide_characters():
    error = refusal("close > 1\n  and  nope < 2")
    assert (error.line, error.column) == (2, 8)
    assert error.caret("close > 1\n  and  nope < 2") == "  and  nope < 2\n       ^"
    error = refusal("close > 1 and 'é' < 'ü'")
    assert error.column == 15


def test_the_length_and_depth_caps():
    assert "at most 1000 characters" in refusal("close > 1 " + " " * 991).message
    parse_rule("close > 1" + " " * 991, PARAMS)  # 1,000 exactly
    deep = "sma(" * 31 + "close" + ", 2)" * 31 + " > 1"  # 31 calls + column + comparison = 33 levels
    assert "nesting deeper than 32" in refusal(deep).message
    parse_rule("sma(" * 30 + "close" + ", 2)" * 30 + " > 1", PARAMS)
    assert "nesting deeper than 32" in refusal("(" * 33 + "close > 1" + ")" * 33).message
    assert "nesting deeper than 32" in refusal("-" * 40 + "close > 1").message
    assert MAX_DEPTH == 32


def test_a_rule_may_span_lines_and_start_with_spaces():
    tree, _, _ = parse_rule("  close > 1\n  and open < 2", PARAMS)
    assert tree[0] == "and"
    assert "unmatched ')'" in refusal("  close > 1) or (close < 2").message


def test_compile_reports_both_rules_and_unusable_parameter_names():
    with pytest.raises(RulesInvalid) as caught:
        compile_rules(entry_rule="close +", exit_rule="nope > 1")
    assert set(caught.value.errors) == {"entry_rule", "exit_rule"}
    for bad in ("close", "sma", "1x", "and"):
        with pytest.raises(RulesInvalid) as caught:
            compile_rules(entry_rule="close > 1", exit_rule="close < 1", params=[ParamSpec(bad, "number", 1, bad)])
        assert "parameters" in caught.value.errors


def test_stop_loss_is_added_and_unused_parameters_are_reported():
    rules = compile_rules(
        entry_rule="rsi(close, n) < lower",
        exit_rule="rsi(close, n) > 70",
        params=[
            ParamSpec("n", "integer", 14, "n", 2, 100),
            ParamSpec("lower", "number", 30, "lower", 0, 100),
            ParamSpec("spare", "number", 1, "spare", 0, 2),
        ],
    )
    assert rules.param("stop_loss_threshold") == STOP_LOSS
    summary = rules.summary()
    assert summary["warmup"] == 14
    assert summary["indicators"] == ["rsi"]
    assert summary["parameters_used"] == ["lower", "n"]
    assert summary["parameters_unused"] == ["spare"]


def test_every_function_has_help_with_an_example_that_parses():
    documented = {form.split("(")[0] for form, _, _ in HELP if "(" in form}
    assert documented == set(FUNCTIONS)
    for _, _, example in HELP:
        parse_rule(example, PARAMS)


def test_each_distinct_sub_expression_is_computed_once():
    rules = compile_rules(
        entry_rule="close > sma(close, 20) and sma(close, 20) > ema(close, 5)",
        exit_rule="crosses_below(close, sma(close, 20))",
    )
    cache: dict = {}
    shared = rules.sharing(cache)
    shared.signals(BARS, shared.parameters_resolve({}))
    evaluator = cache["evaluator"]
    sma = ("call", "sma", ("col", "close"), ("num", 20))
    first = evaluator.memo[sma]
    shared.signals(dict(BARS), shared.parameters_resolve({}))
    assert cache["evaluator"] is evaluator and evaluator.memo[sma] is first  # not computed again
    assert sum(1 for key in evaluator.memo if key == sma) == 1
    other = {k: v.copy() for k, v in BARS.items()}  # other arrays: a new evaluator
    shared.signals(other, shared.parameters_resolve({}))
    assert cache["evaluator"] is not evaluator


# --- safety ----------------------------------------------------------------------------------


ALPHABET = "closehigvumnatr_sdxkbpwf0123456789.+-*/<>=!()[]{},:'\"% \n\tabcé#@~^&|"
TOKENS = [
    "close",
    "open",
    "high",
    "low",
    "volume",
    "n",
    "level",
    "flag",
    "smoothing",
    "sma",
    "ema",
    "rsi",
    "macd",
    "crosses_above",
    "stoch_k",
    "atr",
    "bb_upper",
    "(",
    ")",
    ",",
    " ",
    "+",
    "-",
    "*",
    "/",
    "<",
    "<=",
    ">",
    ">=",
    "and",
    "or",
    "not",
    "14",
    "2.5",
    "0",
    "==",
    "**",
    ".",
    "[",
    "]",
    "lambda",
    ":",
    "__import__",
    "'x'",
    "\n",
]


def _parse_safely(text: str) -> None:
    """A parse that returns at all (a tree or a located refusal), never another exception; a hang would
    never let the suite finish, so CI fails (the guard against one: tests never time things)."""
    try:
        tree, _, _ = parse_rule(text, PARAMS)
    except RuleError as error:
        assert error.line >= 1 and error.column >= 1
        assert isinstance(error.caret(text), str)
    else:
        assert isinstance(tree, tuple)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # Python's own, for "1and" and the like
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, max_size=1100))
def test_fuzzed_strings_only_ever_give_refusals(text):
    _parse_safely(text)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # Python's own, for "1and" and the like
@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=120).map("".join))
def test_fuzzed_token_soup_only_ever_gives_refusals(text):
    _parse_safely(text)


def _trees():
    leaf = st.sampled_from(["close", "open", "volume", "n", "level", "flag", "3", "2.5"])

    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "<", ">=", "and", "or"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            inner.map(lambda x: f"(not {x})"),
            inner.map(lambda x: f"(-{x})"),
            st.tuples(
                st.sampled_from(["sma", "ema", "std", "rsi", "shift", "highest"]),
                inner,
                st.sampled_from(["n", "3", "0", "level"]),
            ).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(st.sampled_from(["crosses_above", "crosses_below"]), inner, inner).map(
                lambda t: f"{t[0]}({t[1]}, {t[2]})"
            ),
        )

    return st.recursive(leaf, extend, max_leaves=40)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # Python's own, for "1and" and the like
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees())
def test_fuzzed_trees_parse_or_refuse_and_evaluate_when_accepted(text):
    try:
        tree, _, _ = parse_rule(text, PARAMS)
    except RuleError:
        return
    bars = _bars(60)
    result = Evaluator(bars).condition(expand(bind(tree, VALUES)))
    assert result.dtype == np.bool_ and result.shape == (60,)


_WATCHING: list[str] | None = None


def _audit(event: str, args) -> None:
    if _WATCHING is not None and event in ("exec", "import", "os.system", "subprocess.Popen", "open"):
        _WATCHING.append(event)


sys.addaudithook(_audit)  # inert unless a test sets _WATCHING


def test_the_rules_never_reach_eval_exec_or_imports():
    """Python's audit events: no code object is executed ('exec' is raised by eval and exec),
    nothing imported and nothing opened while texts that try are parsed and evaluated."""
    global _WATCHING
    texts = (
        "__import__('os').system('x') > 1",
        "close > 1 and eval('1')",
        "exec('x')",
        "close.__class__ > 1",
        "open('/etc/passwd') > 1",
        "rsi(close, n) < level and not flag",
    )
    bars = _bars(50)
    Evaluator(bars).condition(expand(bind(parse_rule("rsi(close, n) < level", PARAMS)[0], VALUES)))  # warm
    _WATCHING = []
    try:
        for text in texts:
            try:
                tree, _, _ = parse_rule(text, PARAMS)
                Evaluator(bars).condition(expand(bind(tree, VALUES)))
            except RuleError:
                pass
        seen = list(_WATCHING)
    finally:
        _WATCHING = None
    assert seen == []


def test_the_package_source_calls_no_eval_exec_compile_or_dynamic_getattr():
    import strategies.engine.rules as package

    root = Path(package.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("eval", "exec", "compile", "__import__", "setattr"), path
                if node.func.id == "getattr":  # only fixed attribute names (of ast nodes)
                    assert isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str), path


def test_the_indicators_a_chart_draws_are_the_rules_series_calls_by_text():
    rules = compile_rules(
        entry_rule="rsi(close, n) < 30 and close > sma(close, trend)",
        exit_rule="crosses_below(macd(close, 12, 26), macd_signal(close, 12, 26, 9))"
        " or -close < -bb_upper(close, 20, 1.5)",
        params=[ParamSpec("n", "integer", 14, "n", 2, 100), ParamSpec("trend", "integer", 50, "t", 1, 500)],
    )
    series = rules.indicators(BARS, rules.parameters_resolve({"n": 21}))
    assert list(series) == [
        "rsi(close, 21)",
        "sma(close, 50)",
        "macd(close, 12, 26)",
        "macd_signal(close, 12, 26, 9)",
        "bb_upper(close, 20, 1.5)",
    ]
    assert np.array_equal(series["rsi(close, 21)"], ind.rsi_sma(BARS["close"], 21), equal_nan=True)
    assert same(series["bb_upper(close, 20, 1.5)"], CLOSE.rolling(20).mean() + 1.5 * CLOSE.rolling(20).std(), 1e-10)
    for text in series:  # each label is itself a series expression of the language
        assert parse_expression(text, PARAMS)[1] == "series"
