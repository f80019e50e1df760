"""Rule strategies through runs and sweeps: the MA crossover written as rules gives the built-in's
numbers, and a run keeps the rules it ran with after the strategy is edited."""

from __future__ import annotations

from rest_framework.test import APIClient

from runs.models import RunResult
from strategies.services import strategy_import
from tests.support import wait_run

MA_RULES = {
    "name": "MA crossover as rules",
    "entry_rule": "crosses_above(sma(close, fast), sma(close, slow))",
    "exit_rule": "crosses_below(sma(close, fast), sma(close, slow))",
    "parameters": [
        {"name": "fast", "display_name": "Fast", "type": "integer", "default": 10, "min": 1, "max": 1000},
        {"name": "slow", "display_name": "Slow", "type": "integer", "default": 30, "min": 2, "max": 2000},
    ],
}
OPTIONS = {"fee_pct": 0.1, "fill": "next_open", "stop_mode": "intrabar", "slippage_pct": 0.05}


def _returns(run_id) -> dict[str, tuple]:
    rows = RunResult.objects.filter(run_id=run_id).order_by("crypto_symbol")
    return {r.crypto_symbol: (r.state, r.total_return, r.total_trades, r.sharpe_ratio, r.trades) for r in rows}


def test_a_rule_strategy_runs_like_the_builtin_and_keeps_its_rules_after_an_edit(coins):
    rules = strategy_import(data=MA_RULES)
    api = APIClient()
    api.default_format = "json"
    builtin = api.post(
        "/api/runs/", {"strategy_id": 2, "parameters": {"fast_ma_period": 5, "slow_ma_period": 20}, **OPTIONS}
    ).json()
    written = api.post("/api/runs/", {"strategy_id": rules.id, "parameters": {"fast": 5, "slow": 20}, **OPTIONS})
    assert written.status_code == 201, written.json()
    first = wait_run(written.json()["id"])
    wait_run(builtin["id"])
    assert first.status == "completed" and first.rules["entry_rule"] == MA_RULES["entry_rule"]
    assert _returns(first.id) == _returns(builtin["id"])
    assert all(state == "done" for state, *_ in _returns(first.id).values())

    # The strategy is edited: the old run's page shows (and reruns) what it ran with.
    rules.entry_rule = "close > sma(close, slow)"
    rules.save()
    detail = api.get(f"/api/runs/{first.id}/").json()
    assert detail["rules"]["entry_rule"] == MA_RULES["entry_rule"]
    again = wait_run(
        api.post("/api/runs/", {"strategy_id": rules.id, "parameters": {"fast": 5, "slow": 20}}).json()["id"]
    )
    assert again.rules["entry_rule"] == "close > sma(close, slow)" and _returns(again.id) != _returns(first.id)


def test_a_sweep_of_a_rule_strategy_equals_the_builtins_sweep(coins):
    from sweeps.models import SweepCell
    from sweeps.tests.test_sweeps_api import wait_sweep

    rules = strategy_import(data=MA_RULES)
    api = APIClient()
    api.default_format = "json"
    grid = {"fast": [3, 5, 8]}
    ours = api.post("/api/sweeps/", {"strategy_id": rules.id, "grid": grid, "parameters": {"slow": 20}}).json()
    theirs = api.post(
        "/api/sweeps/", {"strategy_id": 2, "grid": {"fast_ma_period": [3, 5, 8]}, "parameters": {"slow_ma_period": 20}}
    ).json()
    wait_sweep(ours["id"])
    wait_sweep(theirs["id"])

    def cells(sweep_id):
        return [(c.aggregates, bytes(c.coin_metrics)) for c in SweepCell.objects.filter(sweep_id=sweep_id)]

    assert cells(ours["id"]) == cells(theirs["id"])
