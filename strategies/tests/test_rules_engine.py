"""Rule strategies through the engine: the six built-ins written as rules give the built-ins' results."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.engine import (
    STRATEGIES,
    InsufficientData,
    InvalidParameters,
    InvalidPriceData,
    ParamSpec,
    backtest,
    backtest_arrays,
)
from strategies.engine.rules import BUILTIN_RULES, compile_rules

# Run options beside the parameters; each new execution option is one more entry here
# (e.g. {"fill": "next_open"}), and every equality below runs with it too.
OPTIONS: list[dict] = [{"fee_pct": 0.0}, {"fee_pct": 0.1}, {"fee_pct": 1.5}]


def _bars(seed: int, size: int = 2500) -> dict[str, np.ndarray]:
    """A random walk rounded to cents (exact ties between means happen), with flat stretches."""
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.012, size)))
    if size > 80:
        flat = rng.integers(0, size - 40)
        close[flat : flat + 30] = close[flat]
    close = np.round(close, 2)
    spread = rng.uniform(0, 0.01, size)
    return {
        "times": (np.arange(size, dtype=np.int64) + 1_700_000_000) * 3_600_000_000_000,
        "open": np.round(close * (1 + rng.normal(0, 0.003, size)), 2),
        "high": np.round(close * (1 + spread), 2),
        "low": np.round(close * (1 - spread), 2),
        "close": close,
        "volume": rng.uniform(1, 100, size),
    }


def _as_rules(key: str):
    entry, exit_ = BUILTIN_RULES[key]
    params = [p for p in STRATEGIES[key].params if p.type != "select"]
    return compile_rules(entry_rule=entry, exit_rule=exit_, params=params, key=f"rules-{key}")


PARAMETER_SETS = {
    "rsi": [{}, {"rsi_period": 5, "oversold_threshold": 40, "overbought_threshold": 55, "stop_loss_threshold": 3}],
    "ma_crossover": [{}, {"fast_ma_period": 3, "slow_ma_period": 7}, {"fast_ma_period": 1, "slow_ma_period": 2}],
    "macd": [{}, {"macd_fast_period": 3, "macd_slow_period": 8, "macd_signal_period": 2}],
    "stochastic": [
        {},
        {"stoch_k_period": 5, "stoch_d_period": 2, "oversold_threshold": 40, "overbought_threshold": 60},
    ],
    "bollinger_bands": [{}, {"bb_period": 5, "bb_std_multiplier": 0.5}, {"bb_period": 2, "bb_std_multiplier": 1}],
    "mean_reversion": [{}, {"mr_period": 4, "mr_threshold": 0.5, "stop_loss_threshold": 2}],
}
CASES = [
    (key, seed, params, options)
    for key, sets in PARAMETER_SETS.items()
    for seed in (1, 2, 3)
    for params in sets
    for options in OPTIONS
]


def _same_result(a, b) -> None:
    assert a.metrics == b.metrics
    assert a.trades == b.trades
    assert np.array_equal(a.equity, b.equity)
    assert a.warmup == b.warmup
    assert a.params == {**b.params, **{k: v for k, v in a.params.items() if k == "rsi_smoothing"}}


@pytest.mark.parametrize(("key", "seed", "params", "options"), CASES)
def test_a_builtin_written_as_rules_gives_the_builtins_results(key, seed, params, options):
    bars = _bars(seed)
    builtin = backtest_arrays(key, params=params, **bars, **options)
    rules = backtest_arrays(_as_rules(key), params=params, **bars, **options)
    _same_result(builtin, rules)
    assert rules.strategy == f"rules-{key}"


@pytest.mark.parametrize("key", list(BUILTIN_RULES))
def test_the_comparisons_above_compare_trades(key):
    for params in PARAMETER_SETS[key]:
        assert sum(backtest_arrays(key, params=params, **_bars(seed)).metrics["total_trades"] for seed in (1, 2, 3))


@pytest.mark.parametrize("key", list(BUILTIN_RULES))
def test_a_sweep_sharing_one_cache_per_coin_gives_the_same_results(key):
    rules = _as_rules(key)
    cache: dict = {}
    shared = rules.sharing(cache)
    for seed in (4, 5):
        bars = _bars(seed, 1200)
        for params in PARAMETER_SETS[key] * 2:
            _same_result(backtest_arrays(key, params=params, **bars), backtest_arrays(shared, params=params, **bars))
    assert cache["evaluator"].memo  # the cache was used


def test_the_warm_up_decides_insufficient_data():
    rules = compile_rules(
        entry_rule="close > sma(close, n)",
        exit_rule="close < ema(close, 3)",
        params=[ParamSpec("n", "integer", 20, "n", 1, 100)],
    )
    bars = _bars(1, 21)
    with pytest.raises(InsufficientData, match="21 bars, need at least 22"):
        backtest_arrays(rules, **bars)
    assert backtest_arrays(rules, params={"n": 19}, **bars).warmup == 19


def test_parameters_are_checked_like_the_builtins():
    rules = compile_rules(
        entry_rule="close > sma(close, n)",
        exit_rule="close < level",
        params=[ParamSpec("n", "integer", 20, "n", 2, 100), ParamSpec("level", "number", 1, "l", 0, 9)],
    )
    bars = _bars(1, 300)
    for bad, name in (
        ({"n": 1}, "n"),
        ({"n": 2.5}, "n"),
        ({"level": "x"}, "level"),
        ({"other": 1}, "other"),
        ({"stop_loss_threshold": 0}, "stop_loss_threshold"),
    ):
        with pytest.raises(InvalidParameters) as caught:
            backtest_arrays(rules, params=bad, **bars)
        assert caught.value.parameter == name


def test_rules_reading_high_low_open_or_volume_need_those_columns():
    rules = compile_rules(entry_rule="open > shift(close, 1) and volume > sma(volume, 5)", exit_rule="atr(5) > 1")
    bars = _bars(2, 300)
    result = backtest_arrays(rules, **bars)
    assert result.metrics["total_trades"] > 0
    for missing in ("open", "volume", "high"):
        with pytest.raises(InvalidPriceData, match=f"needs .*{missing}"):
            backtest_arrays(rules, **{k: v for k, v in bars.items() if k != missing})


def test_rules_signals_are_the_expected_trades():
    """Independently of the built-ins: entry above the 3-bar high of the previous bars, exit below the
    previous low; the trades' entry and exit bars are the first signal bars from flat / long."""
    bars = _bars(7, 400)
    rules = compile_rules(entry_rule="close > shift(highest(close, 3), 1)", exit_rule="close < shift(close, 1)")
    result = backtest_arrays(rules, params={"stop_loss_threshold": 100}, **bars)
    c = bars["close"]
    entry = [i >= 3 and c[i] > max(c[i - 3 : i]) for i in range(len(c))]
    exit_ = [i >= 1 and c[i] < c[i - 1] for i in range(len(c))]
    trades, i, held = [], 3, None
    while i < len(c):
        if held is None and entry[i]:
            held = i
        elif held is not None and exit_[i]:
            trades.append((held, i))
            held = None
        i += 1
    if held is not None:
        trades.append((held, len(c) - 1))
    assert [(t["entry_index"], t["exit_index"]) for t in result.trades] == trades


def test_backtest_with_a_dataframe_runs_rules_on_volume():
    pd = pytest.importorskip("pandas")
    bars = _bars(3, 200)
    frame = pd.DataFrame({k: v for k, v in bars.items() if k != "times"})
    frame["datetime"] = pd.to_datetime(bars["times"], utc=True)
    rules = compile_rules(entry_rule="volume > 1.5 * sma(volume, 10)", exit_rule="volume < sma(volume, 10)")
    assert backtest(rules, frame).trades == backtest_arrays(rules, **bars).trades
