"""strategy_indicators: the series each strategy decides on, as the charts draw them."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.engine import STRATEGIES, InvalidParameters, InvalidPriceData, parameters_resolve, strategy_indicators
from strategies.engine import indicators as ind
from strategies.engine.signals import Prices, strategy_signals

BARS = 600


def prices(seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, BARS)))
    return {"open": c * 1.001, "high": c * 1.01, "low": c * 0.99, "close": c}


def crosses(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    up = np.zeros(len(a), bool)
    down = np.zeros(len(a), bool)
    up[1:] = (a[:-1] <= b[:-1]) & (a[1:] > b[1:])
    down[1:] = (a[:-1] >= b[:-1]) & (a[1:] < b[1:])
    return up, down


def series_of(key: str, params: dict | None = None) -> dict[str, dict]:
    return {line["name"]: line for line in strategy_indicators(key, params, **prices())}


def signals_of(key: str, params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    p = prices()
    return strategy_signals(key, Prices(p["close"], p["high"], p["low"]), parameters_resolve(key, params))


def test_every_strategy_has_its_lines() -> None:
    expected = {
        "rsi": [("rsi", "lower", [30.0, 70.0])],
        "ma_crossover": [("sma_fast", "price", []), ("sma_slow", "price", [])],
        "macd": [("macd", "lower", [0.0]), ("macd_signal", "lower", [])],
        "stochastic": [("stoch_k", "lower", [20.0, 80.0]), ("stoch_d", "lower", [])],
        "bollinger_bands": [("bb_upper", "price", []), ("bb_middle", "price", []), ("bb_lower", "price", [])],
        "mean_reversion": [("sma", "price", []), ("mr_entry", "price", [])],
    }
    assert set(expected) == set(STRATEGIES)
    for key, lines in expected.items():
        got = strategy_indicators(key, {}, **prices())
        assert [(g["name"], g["pane"], g["levels"]) for g in got] == lines, key
        for g in got:
            assert g["label"] and g["values"].dtype == np.float64 and g["values"].shape == (BARS,)


def test_rsi_values_and_thresholds_are_the_ones_the_signals_used() -> None:
    for smoothing in ("sma", "wilder"):
        params = {"rsi_period": 9, "oversold_threshold": 35, "overbought_threshold": 60, "rsi_smoothing": smoothing}
        line = series_of("rsi", params)["rsi"]
        close = prices()["close"]
        expected = ind.rsi_sma(close, 9) if smoothing == "sma" else ind.rsi_wilder(close, 9)
        np.testing.assert_array_equal(line["values"], expected)
        assert line["levels"] == [35.0, 60.0]
        entry, exit_ = signals_of("rsi", params)
        assert (entry == (line["values"] < 35)).all() and (exit_ == (line["values"] > 60)).all()
        assert entry.any() and exit_.any()


def test_moving_average_lines_cross_where_the_strategy_trades() -> None:
    lines = series_of("ma_crossover", {"fast_ma_period": 5, "slow_ma_period": 21})
    close = prices()["close"]
    np.testing.assert_array_equal(lines["sma_fast"]["values"], ind.sma(close, 5))
    np.testing.assert_array_equal(lines["sma_slow"]["values"], ind.sma(close, 21))
    up, down = crosses(lines["sma_fast"]["values"], lines["sma_slow"]["values"])
    entry, exit_ = signals_of("ma_crossover", {"fast_ma_period": 5, "slow_ma_period": 21})
    assert (up == entry).all() and (down == exit_).all() and entry.sum() > 5


def test_macd_and_its_signal_line_cross_where_the_strategy_trades() -> None:
    lines = series_of("macd")
    up, down = crosses(lines["macd"]["values"], lines["macd_signal"]["values"])
    entry, exit_ = signals_of("macd")
    assert (up == entry).all() and (down == exit_).all() and entry.sum() > 5
    macd = ind.ema_difference(prices()["close"], 12, 26)
    np.testing.assert_array_equal(lines["macd_signal"]["values"], ind.ema(macd, 9))


def test_stochastic_lines_and_zones_give_the_strategy_signals() -> None:
    params = {"stoch_k_period": 10, "stoch_d_period": 3, "oversold_threshold": 30, "overbought_threshold": 70}
    lines = series_of("stochastic", params)
    k, d = lines["stoch_k"]["values"], lines["stoch_d"]["values"]
    up, down = crosses(k, d)
    entry, exit_ = signals_of("stochastic", params)
    assert (entry == (up & (k < 30))).all() and (exit_ == (down & (k > 70))).all() and entry.any()
    assert lines["stoch_k"]["levels"] == [30.0, 70.0]


def test_bollinger_bands_are_where_the_close_triggers() -> None:
    lines = series_of("bollinger_bands", {"bb_period": 15, "bb_std_multiplier": 1.5})
    close = prices()["close"]
    entry, exit_ = signals_of("bollinger_bands", {"bb_period": 15, "bb_std_multiplier": 1.5})
    assert (entry == (close <= lines["bb_lower"]["values"])).all()
    assert (exit_ == (close >= lines["bb_upper"]["values"])).all() and entry.any() and exit_.any()
    mid, std = ind.sma_and_std(close, 15)
    np.testing.assert_array_equal(lines["bb_middle"]["values"], mid)
    np.testing.assert_allclose(lines["bb_upper"]["values"] - mid, 1.5 * std)


def test_mean_reversion_sma_and_entry_line() -> None:
    lines = series_of("mean_reversion", {"mr_period": 10, "mr_threshold": 3.0})
    close = prices()["close"]
    mid = lines["sma"]["values"]
    np.testing.assert_array_equal(mid, ind.sma(close, 10))
    np.testing.assert_allclose(lines["mr_entry"]["values"], mid * 0.97)
    entry, exit_ = signals_of("mean_reversion", {"mr_period": 10, "mr_threshold": 3.0})
    with np.errstate(invalid="ignore"):
        assert (entry == ((close - mid) / mid * 100 <= -3.0)).all() and (exit_ == (close >= mid)).all()
    # the entry line is where the rule's threshold lies: closes clearly below it entered
    clearly = close < lines["mr_entry"]["values"] * (1 - 1e-9)
    assert clearly.any() and entry[clearly].all()


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidParameters) as caught:
        strategy_indicators("rsi", {"rsi_period": 1}, **prices())
    assert caught.value.parameter == "rsi_period"
    with pytest.raises(InvalidParameters):
        strategy_indicators("nope", {}, **prices())
    with pytest.raises(InvalidPriceData, match="needs high and low"):
        strategy_indicators("stochastic", {}, close=prices()["close"])


def test_oscillators_of_0_to_100_say_so_and_the_others_have_no_bounds() -> None:
    bounded = {(key, g["name"]): g["bounds"] for key in STRATEGIES for g in strategy_indicators(key, {}, **prices())}
    assert {k for k, b in bounded.items() if b} == {
        ("rsi", "rsi"),
        ("stochastic", "stoch_k"),
        ("stochastic", "stoch_d"),
    }
    assert all(b in (None, [0.0, 100.0]) for b in bounded.values())


def test_a_rule_strategys_lines_are_its_series_functions_as_the_rules_engine_evaluates_them() -> None:
    from strategies.engine.registry import ParamSpec
    from strategies.engine.rules import compile_rules

    rules = compile_rules(
        entry_rule="crosses_above(ema(close, fast), bb_lower(close, 20, 0.5)) or stoch_k(k) < 25",
        exit_rule="close >= bb_upper(close, 20, 2) or atr(14) > 0.05 * close",
        params=[ParamSpec("fast", "integer", 9, "Fast", 2, 100), ParamSpec("k", "integer", 14, "K", 2, 100)],
    )
    p = prices()
    lines = {line["name"]: line for line in strategy_indicators(rules, {"fast": 12}, **p)}
    assert {name: (line["pane"], line["group"], line["levels"]) for name, line in lines.items()} == {
        "ema(close, 12)": ("price", "", []),
        "bb_lower(close, 20, 0.5)": ("price", "", []),
        "bb_upper(close, 20, 2)": ("price", "", []),
        "stoch_k(14)": ("lower", "0-100", [25.0]),
        "atr(14)": ("lower", "atr", []),
    }
    np.testing.assert_array_equal(lines["ema(close, 12)"]["values"], ind.ema(p["close"], 12))
    mid, std = ind.sma_and_std(p["close"], 20)
    np.testing.assert_allclose(lines["bb_lower(close, 20, 0.5)"]["values"], mid - 0.5 * std, rtol=1e-12)
    # The entry rule holds where these lines say it does: the values the trades were decided on.
    entry, _ = rules.signals(p, rules.parameters_resolve({"fast": 12}))
    up, _ = crosses(lines["ema(close, 12)"]["values"], lines["bb_lower(close, 20, 0.5)"]["values"])
    with np.errstate(invalid="ignore"):
        low_k = lines["stoch_k(14)"]["values"] < 25
    assert (entry == (up | low_k)).all()
    assert up.any() and entry.any()
    with pytest.raises(InvalidParameters):
        strategy_indicators(rules, {"fast": 1}, **p)
