"""The run API: create, list, detail, one coin's result, cancel."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from runs import jobs, services
from runs.models import METRIC_FIELDS, BacktestRun, RunResult
from strategies.engine import backtest_arrays
from tests.support import BARS, PageLikeClient, add_coin, wait_run


@pytest.fixture
def api():
    return PageLikeClient()  # the page's client: it keeps the cancel tokens of its runs


def _create(api, **body):
    body.setdefault("strategy_id", 1)
    return api.post("/api/runs/", body, format="json")


def test_create_answers_201_with_links(api, coins):
    response = _create(api, strategy_id=2, parameters={"fast_ma_period": 5})
    assert response.status_code == 201
    data = response.json()
    run_id = data["id"]
    assert data["status"] in ("pending", "running")
    assert data["url"] == f"/api/runs/{run_id}/"
    assert data["events_url"] == f"/api/runs/{run_id}/events/"
    assert data["page_url"] == f"/runs/{run_id}/"
    assert data["total"] == 3
    assert response["Location"] == data["url"]
    run = wait_run(run_id)
    assert run.status == "completed"
    assert run.parameters == {"fast_ma_period": 5, "slow_ma_period": 30, "stop_loss_threshold": 10.0}


def test_detail_lists_one_row_per_coin_with_rounded_metrics(api, short_coin):
    run_id = _create(api, start_date="2024-01-01").json()["id"]
    wait_run(run_id)
    data = api.get(f"/api/runs/{run_id}/").json()
    assert data["status"] == "completed"
    assert data["strategy"] == {"id": 1, "key": "rsi", "name": "RSI Mean Reversion"}
    assert (data["total"], data["completed"], data["successful"], data["failed"]) == (4, 4, 3, 1)
    assert data["start_date"] == "2024-01-01" and data["end_date"] is None
    assert data["interval"] == "1h" and data["fee_pct"] == 0.0 and data["symbols"] == []
    assert data["summary"]["total_cryptos"] == 4 and data["summary"]["status"] == "completed"
    assert isinstance(data["elapsed_time"], float)
    rows = {r["crypto_symbol"]: r for r in data["results"]}
    assert list(rows) == ["AAA", "BBB", "CCC", "DDD"]
    assert rows["BBB"]["is_demo"] is True and rows["AAA"]["is_demo"] is False
    assert rows["DDD"]["success"] is False and "Insufficient data" in rows["DDD"]["error"]
    assert rows["DDD"]["total_return"] is None
    stored = RunResult.objects.get(run_id=run_id, crypto_symbol="AAA")
    for name in METRIC_FIELDS:
        assert rows["AAA"][name] == round(getattr(stored, name), 2)


@pytest.mark.parametrize(
    "options",
    [{}, {"fill": "next_open", "stop_mode": "intrabar", "slippage_pct": 0.05}, {"fill": "next_open"}],
    ids=["at the close", "next open, intrabar stop, slippage", "next open"],
)
def test_stored_numbers_equal_the_engine_called_directly(api, coins, options):
    params = {"bb_period": 25, "bb_std_multiplier": 1.8, "stop_loss_threshold": 7.5}
    start, end = "2024-01-03", "2024-01-19"  # a window inside the bars: bars of both days included
    body = {"parameters": params, "start_date": start, "end_date": end, "fee_pct": 0.1, **options}
    run_id = _create(api, strategy_id=5, **body).json()["id"]
    run = wait_run(run_id)
    assert (run.fill, run.stop_mode, run.slippage_pct) == (
        options.get("fill", "close"),
        options.get("stop_mode", "close"),
        options.get("slippage_pct", 0.0),
    )
    lo = dt.datetime(2024, 1, 3, tzinfo=dt.UTC).timestamp() * 1e9
    hi = dt.datetime(2024, 1, 20, tzinfo=dt.UTC).timestamp() * 1e9
    for symbol, bars in coins.items():
        keep = (bars.times >= lo) & (bars.times < hi)
        direct = backtest_arrays(
            "bollinger_bands",
            times=bars.times[keep],
            open=bars.open[keep],
            high=bars.high[keep],
            low=bars.low[keep],
            close=bars.close[keep],
            params=params,
            fee_pct=0.1,
            interval="1h",
            **options,
        )
        row = RunResult.objects.get(run_id=run_id, crypto_symbol=symbol)
        assert row.bars == int(keep.sum()) == 17 * 24
        for name in METRIC_FIELDS:
            expected = direct.metrics[name]
            if expected is None:  # a profit factor with no losing trade
                assert getattr(row, name) is None, (symbol, name)
                continue
            assert math.isclose(getattr(row, name), expected, rel_tol=1e-12, abs_tol=1e-12), (symbol, name)
        assert len(row.trades) == len(direct.trades)
        for stored, trade in zip(row.trades, direct.trades, strict=True):
            assert stored["entry_price"] == trade["entry_price"] and stored["exit_price"] == trade["exit_price"]
            assert math.isclose(stored["return_pct"], trade["return_pct"], rel_tol=1e-12)
            assert stored["reason"] == trade["reason"]
            assert stored["entry_time"] == np.datetime_as_string(np.datetime64(trade["entry_time"], "ns"), "s") + "Z"
        detail = api.get(f"/api/runs/{run_id}/results/{symbol}/").json()
        assert detail["metrics"] == {
            n: None if direct.metrics[n] is None else round(direct.metrics[n], 2) for n in METRIC_FIELDS
        }
    detail = api.get(f"/api/runs/{run_id}/").json()
    assert {k: detail[k] for k in ("fill", "stop_mode", "slippage_pct")} == {
        "fill": run.fill,
        "stop_mode": run.stop_mode,
        "slippage_pct": run.slippage_pct,
    }


def test_result_detail_has_trades_and_an_equity_curve_of_at_most_2000_points(api, tdb, seeded):
    bars = add_coin("LONG", "Long history", bars=5000, seed=9)
    run_id = _create(api).json()["id"]
    wait_run(run_id)
    data = api.get(f"/api/runs/{run_id}/results/long/").json()  # symbol lookup ignores case
    assert data["crypto_symbol"] == "LONG" and data["success"] is True and data["bars"] == 5000
    assert data["trades"] and set(data["trades"][0]) == {
        "entry_time",
        "entry_price",
        "exit_time",
        "exit_price",
        "return_pct",
        "reason",
    }
    assert data["trades"][0]["entry_time"].endswith("Z")
    equity = data["equity"]
    assert 1000 < len(equity["times"]) <= 2000
    assert len(equity["values"]) == len(equity["buy_hold"]) == len(equity["times"])
    assert equity["times"][0] == "2024-01-01T00:00:00Z" and equity["buy_hold"][0] == 1.0
    assert equity["times"] == sorted(equity["times"])
    # Min/max per bucket: the curve's lowest and highest points survive, so the drawdown is visible.
    direct = backtest_arrays("rsi", times=bars.times, high=bars.high, low=bars.low, close=bars.close)
    assert min(equity["values"]) == pytest.approx(direct.equity.min(), abs=1e-9)
    assert max(equity["values"]) == pytest.approx(direct.equity.max(), abs=1e-9)
    assert equity["values"][-1] == pytest.approx(direct.equity[-1], abs=1e-9)
    assert equity["buy_hold"][-1] == pytest.approx(bars.close[-1] / bars.close[0], abs=1e-9)


def test_unknown_run_and_unknown_symbol_are_404(api, coins):
    assert api.get("/api/runs/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert api.post("/api/runs/00000000-0000-0000-0000-000000000000/cancel/").status_code == 404
    assert api.get("/api/runs/00000000-0000-0000-0000-000000000000/events/").status_code == 404
    run_id = _create(api).json()["id"]
    wait_run(run_id)
    assert api.get(f"/api/runs/{run_id}/results/NOPE/").status_code == 404


def test_list_is_paginated_and_filters_by_strategy_and_status(api, coins):
    ids = [_create(api, strategy_id=s, symbols=["AAA"]).json()["id"] for s in (1, 2, 2)]
    for run_id in ids:
        wait_run(run_id)
    BacktestRun.objects.filter(id=ids[0]).update(status="failed")
    data = api.get("/api/runs/").json()
    assert data["count"] == 3 and {"next", "previous", "results"} <= set(data)
    assert [r["id"] for r in data["results"]] == ids[::-1]  # newest first
    assert {r["id"] for r in api.get("/api/runs/?strategy=2").json()["results"]} == set(ids[1:])
    assert [r["id"] for r in api.get("/api/runs/?status=failed").json()["results"]] == [ids[0]]
    assert api.get("/api/runs/?strategy=2&status=failed").json()["count"] == 0
    assert api.get("/api/runs/?status=nonsense").status_code == 400
    row = data["results"][0]
    assert "results" not in row and row["url"] == f"/api/runs/{row['id']}/"


def test_cancel_skips_pending_coins_and_ends_cancelled(api, coins, manual_backend):
    """One coin's job has read its chunk (it is running); cancel; the held coin finishes and is
    kept, the others are skipped, and the run ends `cancelled` with a `complete` event saying so."""
    run_id = _create(api).json()["id"]
    job, (job_run_id, crypto_ids) = manual_backend.take()
    chunk = jobs.run_chunk_load(job_run_id, crypto_ids)  # the first coin is inside its job
    assert job == "run_chunk" and list(chunk.coins) == crypto_ids
    response = api.post(f"/api/runs/{run_id}/cancel/")
    assert response.status_code == 200 and response.json() == {"id": run_id, "status": "cancelled"}
    services.run_results_store(run_id=chunk.run_id, coins=chunk.coins, results=jobs.run_chunk_compute(chunk))
    manual_backend.run_all()  # the queued jobs find the run cancelled
    run = wait_run(run_id)
    assert run.status == "cancelled" and run.finished_at is not None
    states = sorted(RunResult.objects.filter(run=run).values_list("state", flat=True))
    assert states == ["done", "skipped", "skipped"]
    assert (run.completed, run.skipped) == (1, 2)
    assert run.summary["status"] == "cancelled" and run.summary["successful"] == 1
    assert api.post(f"/api/runs/{run_id}/cancel/").status_code == 409


def test_cancel_of_a_finished_run_is_409(api, coins):
    run_id = _create(api).json()["id"]
    wait_run(run_id)
    response = api.post(f"/api/runs/{run_id}/cancel/")
    assert response.status_code == 409 and "already completed" in response.json()["detail"]


def test_symbols_limit_the_coins(api, coins):
    run_id = _create(api, symbols=["ccc", "AAA"]).json()["id"]
    run = wait_run(run_id)
    assert run.symbols == ["CCC", "AAA"] and run.total == 2
    assert sorted(RunResult.objects.filter(run=run).values_list("crypto_symbol", flat=True)) == ["AAA", "CCC"]


def test_inactive_coins_are_left_out_of_a_run_of_all_coins(api, coins):
    add_coin("OFF", "Switched off", bars=BARS, seed=7, is_active=False)
    run_id = _create(api).json()["id"]
    assert wait_run(run_id).total == 3
