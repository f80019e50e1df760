"""GET /api/runs/<id>/results/<SYMBOL>/chart/: what the coin detail draws, from the engine's code."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from rest_framework.test import APIClient

from runs.equity import drawdown_pct, equity_curve, month_ends, monthly_returns
from strategies.engine import backtest_arrays, strategy_indicators
from strategies.engine import indicators as ind
from strategies.services import rules_from_snapshot, strategy_import
from tests.support import wait_run

RULES = {
    "name": "RSI with a trend filter",
    "entry_rule": "rsi(close, n) < low_level and close > sma(close, trend)",
    "exit_rule": (
        "crosses_above(rsi(close, n), 65) or crosses_below(macd(close, 12, 26), macd_signal(close, 12, 26, 9))"
    ),
    "parameters": [
        {"name": "n", "display_name": "RSI period", "type": "integer", "default": 14, "min": 2, "max": 100},
        {"name": "low_level", "display_name": "Oversold", "type": "number", "default": 35, "min": 0, "max": 100},
        {"name": "trend", "display_name": "Trend", "type": "integer", "default": 50, "min": 2, "max": 500},
    ],
}


@pytest.fixture
def api():
    client = APIClient()
    client.default_format = "json"
    return client


def _run(api, **body) -> str:
    response = api.post("/api/runs/", body)
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    assert wait_run(run_id).status == "completed"
    return run_id


def _chart(api, run_id, symbol="AAA") -> dict:
    response = api.get(f"/api/runs/{run_id}/results/{symbol}/chart/")
    assert response.status_code == 200
    return response.json()


def test_a_builtins_chart_has_its_bars_indicators_stops_drawdown_and_months(api, coins):
    run_id = _run(api, strategy_id=1, parameters={"rsi_period": 10, "stop_loss_threshold": 4}, fee_pct=0.1)
    chart = _chart(api, run_id)
    bars = coins["AAA"]
    assert chart["bars"]["times"] == (bars.times // 1_000_000_000).tolist()
    assert chart["bars"]["close"] == bars.close.tolist() and chart["bars"]["low"] == bars.low.tolist()
    # The RSI the strategy decided on, from the engine's own code, with its thresholds.
    (rsi,) = chart["indicators"]
    assert (rsi["name"], rsi["pane"], rsi["group"], rsi["levels"]) == ("rsi", "lower", "lower", [30.0, 70.0])
    expected = ind.rsi_sma(bars.close, 10)
    assert rsi["values"][:10] == [None] * 10
    np.testing.assert_array_equal(np.array(rsi["values"][10:], dtype=float), expected[10:])
    # Each trade with its stop level and the bars it was held, as the engine counts them.
    direct = backtest_arrays(
        "rsi", times=bars.times, high=bars.high, low=bars.low, close=bars.close,
        params={"rsi_period": 10, "stop_loss_threshold": 4}, fee_pct=0.1,
    )  # fmt: skip
    assert len(chart["trades"]) == len(direct.trades) > 0
    for got, want in zip(chart["trades"], direct.trades, strict=True):
        assert got["bars_held"] == want["bars_held"]
        assert got["stop"] == pytest.approx(want["entry_price"] * 0.96)
        if got["reason"] == "stop_loss":  # stop_mode close: the close at or under the stop
            assert got["exit_price"] <= got["stop"] * (1 + 1e-12)
    # Drawdown at the stored equity's points; monthly returns from it.
    equity = chart["equity"]
    assert len(equity["drawdown"]) == len(equity["values"])
    assert min(equity["drawdown"]) == pytest.approx(direct.metrics["max_drawdown"], abs=1e-9)  # negative, in %
    assert max(equity["drawdown"]) == 0
    (year,) = chart["monthly_returns"]  # 500 hourly bars from 2024-01-01: January only
    assert year["year"] == 2024 and year["months"][1:] == [None] * 11
    assert year["months"][0] == pytest.approx((direct.equity[-1] - 1) * 100)
    assert year["total"] == pytest.approx(year["months"][0])


def test_a_rule_strategys_chart_draws_each_series_function_of_the_rules_it_ran_with(api, coins):
    strategy = strategy_import(data=RULES)
    run_id = _run(api, strategy_id=strategy.id, parameters={"n": 9})
    strategy.entry_rule = "close > ema(close, trend)"  # edited after the run: the chart keeps the old rules
    strategy.save()
    chart = _chart(api, run_id, "bbb")
    lines = {line["name"]: line for line in chart["indicators"]}
    assert set(lines) == {"rsi(close, 9)", "sma(close, 50)", "macd(close, 12, 26)", "macd_signal(close, 12, 26, 9)"}
    assert (lines["sma(close, 50)"]["pane"], lines["sma(close, 50)"]["group"]) == ("price", "")
    assert lines["rsi(close, 9)"]["pane"] == "lower" and lines["rsi(close, 9)"]["levels"] == [35.0, 65.0]
    assert lines["macd(close, 12, 26)"]["group"] == lines["macd_signal(close, 12, 26, 9)"]["group"]
    assert lines["macd(close, 12, 26)"]["group"] != lines["rsi(close, 9)"]["group"]
    bars = coins["BBB"]
    np.testing.assert_array_equal(
        np.array(lines["sma(close, 50)"]["values"][49:], dtype=float), ind.sma(bars.close, 50)[49:]
    )
    np.testing.assert_array_equal(
        np.array(lines["rsi(close, 9)"]["values"][9:], dtype=float), ind.rsi_sma(bars.close, 9)[9:]
    )
    # The same numbers as the rules engine's evaluation of the stored snapshot.
    from runs.models import BacktestRun

    stored = rules_from_snapshot(BacktestRun.objects.get(id=run_id).rules)
    values = stored.indicators(
        {
            "open": bars.open,
            "high": bars.high,
            "low": bars.low,
            "close": bars.close,
            "volume": np.full(len(bars.close), 1000.0),
        },
        stored.parameters_resolve({"n": 9}),
    )
    for name, line in lines.items():
        np.testing.assert_array_equal(np.array(line["values"], dtype=float), values[name])


def test_the_chart_is_gzipped_for_a_client_that_takes_it_and_404_for_an_unknown_coin(api, coins):
    run_id = _run(api, strategy_id=2)
    plain = api.get(f"/api/runs/{run_id}/results/AAA/chart/")
    packed = api.get(f"/api/runs/{run_id}/results/AAA/chart/", HTTP_ACCEPT_ENCODING="gzip")
    assert packed["Content-Encoding"] == "gzip" and len(packed.content) < len(plain.content) / 2
    assert json.loads(gzip.decompress(packed.content)) == plain.json()
    assert [line["name"] for line in plain.json()["indicators"]] == ["sma_fast", "sma_slow"]
    assert api.get(f"/api/runs/{run_id}/results/NOPE/chart/").status_code == 404
    assert api.get(f"/api/runs/{run_id}/results/A%00/chart/").status_code == 404


def test_a_coin_with_too_few_bars_still_has_its_candles_and_empty_lines(api, short_coin):
    run_id = _run(api, strategy_id=3)  # MACD: 35 bars of warm-up; the coin has 10
    chart = _chart(api, run_id, "DDD")
    assert len(chart["bars"]["times"]) == 10 and chart["trades"] == [] and chart["indicators_error"] is None
    assert [line["name"] for line in chart["indicators"]] == ["macd", "macd_signal"]
    assert all(len(line["values"]) == 10 for line in chart["indicators"])
    assert chart["equity"] == {"times": [], "values": [], "buy_hold": [], "drawdown": []}
    assert chart["monthly_returns"] == []


def test_monthly_returns_compound_month_ends_and_the_stored_curve_keeps_every_month_end():
    # Hourly bars over 450 days (to February 2025): more bars than the stored curve's 2,000 points.
    t0 = np.datetime64("2023-11-15T00:00", "ns").astype(np.int64)
    times = t0 + np.arange(24 * 450, dtype=np.int64) * 3_600_000_000_000
    rng = np.random.default_rng(4)
    equity = np.exp(np.cumsum(rng.normal(0, 0.003, times.shape[0])))
    curve = equity_curve(times, equity, equity)
    assert curve.times.shape[0] <= 2000
    ends = month_ends(times)
    assert set((times[ends] // 1_000_000_000).tolist()) <= set(curve.times.tolist())
    rows = monthly_returns(curve.times, curve.values)
    assert [r["year"] for r in rows] == [2023, 2024, 2025]
    assert rows[0]["months"][:10] == [None] * 10
    # November 2023 against the start (1.0), each month against the previous month's last bar.
    month_end_equity = equity[ends]
    expected = (month_end_equity / np.concatenate([[1.0], month_end_equity[:-1]]) - 1) * 100
    got = [m for r in rows for m in r["months"] if m is not None]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    dec_2023 = month_end_equity[1]
    dec_2024 = month_end_equity[13]
    assert rows[1]["total"] == pytest.approx((dec_2024 / dec_2023 - 1) * 100)
    assert rows[0]["total"] == pytest.approx((dec_2023 - 1) * 100)


def test_drawdown_is_the_distance_below_the_running_peak():
    got = drawdown_pct(np.array([1.0, 1.2, 0.9, 1.5, 1.2]))
    np.testing.assert_allclose(got, [0.0, 0.0, -25.0, 0.0, -20.0])
    assert drawdown_pct(np.empty(0)).shape == (0,)


def test_indicators_of_rules_over_volume_and_nested_series_go_to_their_own_panes():
    rules = rules_from_snapshot(
        {
            "key": "rules:x",
            "entry_rule": "sma(rsi(close, 14), 5) < 30 and volume > sma(volume, 20)",
            "exit_rule": "stoch_k(14) > 80 or roc(close, 10) > 5",
            "parameters": [],
        }
    )
    rng = np.random.default_rng(2)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    lines = strategy_indicators(
        rules, {}, open=close, high=close * 1.01, low=close * 0.99, close=close, volume=rng.uniform(1, 2, 300)
    )
    by_name = {line["name"]: (line["pane"], line["group"], line["levels"]) for line in lines}
    assert by_name == {
        "rsi(close, 14)": ("lower", "0-100", []),
        "sma(rsi(close, 14), 5)": ("lower", "0-100", [30.0]),
        "stoch_k(14)": ("lower", "0-100", [80.0]),
        "sma(volume, 20)": ("lower", "volume", []),
        "roc(close, 10)": ("lower", "roc", [5.0]),
    }


def test_the_chart_names_the_gaps_of_the_window_it_ran_on(api, coins):
    import datetime as dt

    from market_data.models import Price
    from market_data.selectors import prices_version_bump

    coin = coins["AAA"].coin
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    cut = [t0 + dt.timedelta(hours=h) for h in (100, 101, 102, 300)]  # a gap of 3 bars and one of 1
    assert Price.objects.filter(crypto=coin, datetime__in=cut).delete()[0] == 4
    prices_version_bump(crypto_id=coin.id, interval="1h")
    chart = _chart(api, _run(api, strategy_id=1, parameters={"rsi_period": 10}))
    assert chart["missing_bars"] == 4
    assert [(g["after"], g["before"], g["missing"]) for g in chart["gaps"]] == [
        ("2024-01-05T03:00:00Z", "2024-01-05T07:00:00Z", 3),
        ("2024-01-13T11:00:00Z", "2024-01-13T13:00:00Z", 1),
    ]
    # A window after the gaps has none.
    later = _chart(api, _run(api, strategy_id=1, parameters={"rsi_period": 10}, start_date="2024-01-14T00:00:00Z"))
    assert later["gaps"] == [] and later["missing_bars"] == 0
    # A coin without holes says so.
    assert _chart(api, _run(api, strategy_id=1, parameters={"rsi_period": 10}), "BBB")["gaps"] == []
