"""A run's account (portfolio) and runs compared side by side."""

from __future__ import annotations

import numpy as np
import pytest
from rest_framework.test import APIClient

from runs.models import BacktestRun, RunPortfolio
from strategies.engine import backtest_portfolio_arrays
from tests.support import post_stream, read_event_stream, wait_run

BODY = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}


@pytest.fixture
def api():
    client = APIClient()
    client.default_format = "json"
    return client


def test_every_run_stores_its_portfolio_equal_to_the_engines(api, coins):
    run_id = api.post("/api/runs/", {**BODY, "portfolio_slots": 2, "fee_pct": 0.1, "fill": "next_open"}).json()["id"]
    run = wait_run(run_id)
    portfolio = RunPortfolio.objects.get(run=run)
    columns = {
        s: {"times": c.times, "open": c.open, "high": c.high, "low": c.low, "close": c.close} for s, c in coins.items()
    }
    direct = backtest_portfolio_arrays("rsi", columns, run.parameters, fee_pct=0.1, fill="next_open", slots=2)
    assert portfolio.slots == 2 and portfolio.coins == 3
    assert portfolio.metrics == {
        k: (None if v is not None and not np.isfinite(v) else v) for k, v in direct.metrics.items()
    }
    assert portfolio.contributions == pytest.approx(direct.contributions())
    assert sum(portfolio.contributions.values()) == pytest.approx(direct.equity[-1] - 1)
    assert [t["symbol"] for t in portfolio.trades] == [t["symbol"] for t in direct.trades]
    detail = api.get(f"/api/runs/{run_id}/").json()
    assert detail["portfolio"]["slots"] == 2 and detail["portfolio"]["metrics"]["total_return"] == round(
        direct.metrics["total_return"], 2
    )
    equity = detail["portfolio"]["equity"]
    assert len(equity["times"]) == len(equity["values"]) == len(equity["buy_hold"]) <= 2000
    assert equity["values"][-1] == pytest.approx(direct.equity[-1])
    full = api.get(f"/api/runs/{run_id}/portfolio/").json()
    assert len(full["trades"]) == len(direct.trades)


def test_the_stored_account_curve_has_buy_and_hold_of_its_coins_at_each_stored_time(api, coins):
    """A coin starting later with more bars: the account's timeline (the union of the coins' times) is
    longer than the 2,000 stored points, and the coins' times differ. At each stored time, buy-and-hold is
    the mean over the coins of their latest close at or before it over their first close (1.0 before a
    coin's first bar), here computed in plain Python."""
    import bisect
    import datetime as dt

    from runs.equity import equity_unpack
    from tests.support import T0, add_coin

    late = add_coin("DDD", "Delta", bars=2600, seed=4, start=T0 + dt.timedelta(hours=300))
    run = wait_run(api.post("/api/runs/", BODY).json()["id"])
    curve = equity_unpack(RunPortfolio.objects.get(run=run).equity)
    assert 1000 < len(curve.times) <= 2000  # a choice among the 2,900 times of the union
    bars = [(c.times // 10**9).tolist() for c in (*coins.values(), late)]
    closes = [c.close.tolist() for c in (*coins.values(), late)]
    for t, got in zip(curve.times.tolist(), curve.buy_hold.tolist(), strict=True):
        ratios = []
        for stamps, close in zip(bars, closes, strict=True):
            at = bisect.bisect_right(stamps, t) - 1  # the latest bar at or before t
            ratios.append(1.0 if at < 0 else close[at] / close[0])
        assert got == pytest.approx(sum(ratios) / len(ratios), rel=1e-12)


def test_the_portfolio_event_comes_before_complete_on_the_run_stream_only(coins, asgi_server):
    read = post_stream(asgi_server, BODY)
    run_id = read.reader.events[0]["run_id"]
    wait_run(run_id)
    assert "portfolio" not in read.reader.types  # the original endpoint's events stay as they are
    stored = read_event_stream(asgi_server, f"/api/runs/{run_id}/events/?lastEventId=run-{run_id}:0")
    kinds = [e["event"] for e in stored]
    assert kinds[-2:] == ["portfolio", "complete"]
    assert stored[-2]["data"]["slots"] == 3 and "skipped_entries" in stored[-2]["data"]["metrics"]


@pytest.mark.parametrize(("slots", "message"), [(0, "from 1 to 1000"), (1001, "from 1 to 1000"), (2.5, "integer")])
def test_bad_slots_are_400(api, seeded, slots, message):
    response = api.post("/api/runs/", {**BODY, "portfolio_slots": slots})
    assert response.status_code == 400
    assert any(message in m for m in response.json()["errors"]["portfolio_slots"])


def test_compare_lists_metrics_what_changed_and_per_coin_deltas(api, coins):
    a = wait_run(api.post("/api/runs/", BODY).json()["id"])
    b = wait_run(api.post("/api/runs/", {**BODY, "parameters": {"rsi_period": 21}, "fee_pct": 0.2}).json()["id"])
    c = wait_run(api.post("/api/runs/", {**BODY, "parameters": {"rsi_period": 21}}).json()["id"])
    body = api.get(f"/api/runs/compare/?ids={a.id},{b.id}").json()
    assert [r["id"] for r in body["runs"]] == [str(a.id), str(b.id)]
    assert {ch["input"] for ch in body["changes"]} == {"parameters.rsi_period", "fee_pct"}
    assert body["several_changed"] is True
    one = api.get(f"/api/runs/compare/?ids={b.id},{c.id}").json()
    assert [ch["input"] for ch in one["changes"]] == ["fee_pct"] and one["several_changed"] is False
    rows = {r["metric"]: r for r in body["metrics"]}
    values = rows["total_return"]["values"]
    assert values == [round(BacktestRun.objects.get(id=x.id).portfolio.metrics["total_return"], 2) for x in (a, b)]
    if values[0] != values[1]:
        assert rows["total_return"]["best"] == int(np.argmax(values))
    assert [d["crypto_symbol"] for d in body["coins"]] == ["AAA", "BBB", "CCC"]
    aaa_a = a.results.get(crypto_symbol="AAA").total_return
    aaa_b = b.results.get(crypto_symbol="AAA").total_return
    assert body["coins"][0]["runs"][0]["total_return"] == round(aaa_b - aaa_a, 2)


@pytest.mark.parametrize(
    ("ids", "message"),
    [("", "2 to 6"), ("nope,also-not", "not a run id"), ("00000000-0000-0000-0000-000000000001," * 1, "2 to 6")],
)
def test_compare_refuses_bad_ids(api, seeded, ids, message):
    response = api.get(f"/api/runs/compare/?ids={ids}")
    assert response.status_code == 400 and any(message in m for m in response.json()["errors"]["ids"])


def test_compare_refuses_unknown_and_too_many_runs(api, coins):
    a = wait_run(api.post("/api/runs/", BODY).json()["id"])
    unknown = "00000000-0000-0000-0000-000000000001"
    response = api.get(f"/api/runs/compare/?ids={a.id},{unknown}")
    assert response.status_code == 400 and unknown in response.json()["errors"]["ids"][0]
    seven = ",".join(str(x) for x in [a.id, *[f"00000000-0000-0000-0000-00000000000{k}" for k in range(6)]])
    assert api.get(f"/api/runs/compare/?ids={seven}").status_code == 400


def test_the_portfolio_shows_the_same_coins_traded_in_isolation(api, coins):
    run = wait_run(api.post("/api/runs/", {**BODY, "portfolio_slots": 1}).json()["id"])
    rows = list(run.results.filter(state="done"))
    isolated = api.get(f"/api/runs/{run.id}/").json()["portfolio"]["isolated"]
    assert isolated == api.get(f"/api/runs/{run.id}/portfolio/").json()["isolated"]
    assert isolated["coins"] == 3
    mean_return = sum(r.total_return for r in rows) / 3
    assert isolated["metrics"]["total_return"] == pytest.approx(mean_return, abs=0.005)
    assert isolated["metrics"]["total_trades"] == sum(r.total_trades for r in rows)  # counts add up
    assert isolated["metrics"]["max_drawdown"] == pytest.approx(sum(r.max_drawdown for r in rows) / 3, abs=0.005)
    # each coin on a third of the capital: its return over 3, in % of the capital as the account's contributions
    assert isolated["contributions"] == {r.crypto_symbol: round(r.total_return / 3, 2) for r in rows}
    assert sum(isolated["contributions"].values()) == pytest.approx(mean_return, abs=0.02)


def test_compare_rows_carry_labels_and_direction_and_the_deltas_their_reference(api, coins):
    from strategies.models import StrategyParameter

    StrategyParameter.objects.filter(strategy_id=1, parameter_name="rsi_period").update(display_name="RSI length")
    a = wait_run(api.post("/api/runs/", BODY).json()["id"])
    b = wait_run(api.post("/api/runs/", {**BODY, "parameters": {"rsi_period": 21}}).json()["id"])
    body = api.get(f"/api/runs/compare/?ids={a.id},{b.id}").json()
    rows = {r["metric"]: r for r in body["metrics"]}
    assert rows["total_return"]["label"] == "Total return" and rows["total_return"]["unit"] == "%"
    assert rows["total_return"]["better"] == "higher" and rows["max_consecutive_losses"]["better"] == "lower"
    assert rows["total_trades"]["better"] is None and rows["total_trades"]["best"] is None
    assert rows["skipped_entries"]["label"] == "Skipped entries"
    assert rows["coins.avg_return"]["label"].startswith("Average coin") and rows["coins.beat_buy_hold"]["unit"] == "int"
    assert [ch["label"] for ch in body["changes"]] == ["Parameter: RSI length"]
    aaa = body["coins"][0]
    base = a.results.get(crypto_symbol="AAA")
    assert aaa["base"] == {
        "total_return": round(base.total_return, 2),
        "max_drawdown": round(base.max_drawdown, 2),
        "total_trades": base.total_trades,
    }
    assert body["runs"][1]["portfolio"]["equity"]["values"][0] == pytest.approx(1.0)


def test_a_failed_account_inside_a_workers_transaction_still_lets_the_run_complete(coins, manual_backend, monkeypatch):
    """In a Celery worker the finish runs inside the last chunk's transaction (events stored with the
    results). A database error while the account is computed is logged and the run completes without
    one; on PostgreSQL it must not leave that transaction aborted (which refused the rest of the finish)."""
    from django.db import connection

    from runs import events, portfolio

    def failing_store(*, run_id):
        with connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM runs_backtestrun")

    monkeypatch.setattr(portfolio, "run_portfolio_store", failing_store)
    monkeypatch.setattr(events.channel_writer, "synchronous", True)
    run_id = APIClient().post("/api/runs/", {"strategy_id": 1}, format="json").json()["id"]
    manual_backend.run_all()
    run = BacktestRun.objects.get(id=run_id)
    assert (run.status, run.completed) == ("completed", run.total) and run.total > 0
    assert not RunPortfolio.objects.filter(run_id=run_id).exists()
    from django_eventstream.models import Event

    kinds = list(
        Event.objects.filter(channel=events.channel_name(run_id), eid__gt=0)
        .order_by("eid")
        .values_list("type", flat=True)
    )
    assert kinds[0] == "start" and kinds[-1] == "complete" and "portfolio" not in kinds


def test_storing_a_runs_account_again_replaces_it_whole(api, coins, monkeypatch):
    """The account is stored in one statement (INSERT ... ON CONFLICT): a second store of the same run
    leaves one row with the same numbers, and an engine error stored over it clears what it replaced."""
    from runs import portfolio as module
    from strategies.engine import EngineError

    run_id = api.post("/api/runs/", {**BODY, "portfolio_slots": 2}).json()["id"]
    wait_run(run_id)
    first = RunPortfolio.objects.get(run_id=run_id)
    assert first.metrics and first.trade_log and first.equity
    module.run_portfolio_store(run_id=run_id)
    again = RunPortfolio.objects.filter(run_id=run_id)
    assert again.count() == 1
    assert (again[0].metrics, bytes(again[0].trade_log), bytes(again[0].equity)) == (
        first.metrics,
        bytes(first.trade_log),
        bytes(first.equity),
    )

    def failing(*args, **kwargs):
        raise EngineError("the account could not be computed")

    monkeypatch.setattr("strategies.engine.backtest_portfolio_arrays", failing)
    stored = module.run_portfolio_store(run_id=run_id)
    assert stored.error == "the account could not be computed"
    row = RunPortfolio.objects.get(run_id=run_id)
    assert (row.error, row.slots, row.coins) == ("the account could not be computed", 2, 3)
    assert (row.metrics, row.contributions, bytes(row.trade_log), bytes(row.equity)) == ({}, {}, b"", b"")
