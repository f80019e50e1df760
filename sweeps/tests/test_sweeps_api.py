"""Sweeps: cells equal single backtests, grid and random search, skipped combinations, the
out-of-sample window, walk-forward folds, cancel, resume, every 400."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runs import backends
from runs import services as run_services
from strategies.engine import EngineError, backtest_arrays
from sweeps import analysis, jobs, services
from sweeps.models import COIN_METRICS, Sweep, SweepCell, metrics_unpack
from tests.support import PageLikeClient, wait_run

MA = {"strategy_id": 2, "start_date": "2024-01-01", "end_date": "2024-12-31"}


@pytest.fixture
def api():
    return PageLikeClient()  # the page's client: it keeps the cancel tokens of its runs


def _create(api, **body):
    return api.post("/api/sweeps/", {**MA, **body}, format="json")


def wait_sweep(sweep_id, timeout: float = 60.0) -> Sweep:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweep = Sweep.objects.get(id=sweep_id)
        if sweep.finished_at is not None and backends.wait_idle(str(sweep_id), timeout=deadline - time.monotonic()):
            from runs import events

            events.channel_writer.wait_idle()
            return Sweep.objects.get(id=sweep_id)
        time.sleep(0.02)
    raise AssertionError(f"sweep {sweep_id} did not finish")


def test_a_grid_sweep_answers_201_and_every_cell_equals_a_single_backtest(api, coins):
    grid = {"fast_ma_period": {"from": 5, "to": 25, "step": 10}, "slow_ma_period": [20, 40]}
    response = _create(api, grid=grid, parameters={"stop_loss_threshold": 8}, fee_pct=0.1)
    assert response.status_code == 201, response.json()
    body = response.json()
    # 3 x 2 combinations; fast 25 >= slow 20 breaks fast < slow: skipped, not an error
    assert (body["cells"], body["skipped"]) == (5, 1)
    assert body["url"] == f"/api/sweeps/{body['id']}/" and body["page_url"] == f"/sweeps/{body['id']}/"
    sweep = wait_sweep(body["id"])
    assert sweep.status == "completed" and sweep.completed == 5
    assert [tuple(sorted(c.parameters.items())) for c in SweepCell.objects.filter(sweep=sweep)] == [
        tuple(sorted({"fast_ma_period": f, "slow_ma_period": s, "stop_loss_threshold": 8.0}.items()))
        for f, s in [(5, 20), (5, 40), (15, 20), (15, 40), (25, 40)]
    ]
    symbols = [c[1] for c in sweep.coins]
    for cell in SweepCell.objects.filter(sweep=sweep):
        matrix = metrics_unpack(cell.coin_metrics, len(symbols))
        for k, symbol in enumerate(symbols):
            bars = coins[symbol]
            direct = backtest_arrays(
                "ma_crossover",
                times=bars.times,
                open=bars.open,
                high=bars.high,
                low=bars.low,
                close=bars.close,
                params=cell.parameters,
                fee_pct=0.1,
            )
            for row, name in enumerate(COIN_METRICS):
                expected = direct.metrics[name]
                stored = float(matrix[row, k])
                if expected is None:
                    assert math.isinf(stored)
                else:
                    assert stored == np.float32(expected), (cell.n, symbol, name)
        returns = [run_metric for run_metric in matrix[COIN_METRICS.index("total_return")].tolist()]
        assert cell.aggregates["avg_total_return"] == pytest.approx(float(np.mean(np.float32(returns))), rel=1e-6)
        assert cell.aggregates["positive_pct"] == sum(r > 0 for r in returns) / len(returns) * 100


def test_cells_per_coin_come_from_the_api_and_open_as_a_run(api, coins):
    body = _create(api, grid={"fast_ma_period": [5, 10]}).json()
    wait_sweep(body["id"])
    detail = api.get(body["url"]).json()
    assert detail["status"] == "completed" and len(detail["cells"]) == 2 and detail["next"] is None
    best = detail["summary"]["best"]
    assert best["n"] == detail["cells"][0]["n"]  # sorted by the objective, best first
    cell = api.get(f"{body['url']}cells/{best['n']}/").json()
    assert [c["crypto_symbol"] for c in cell["coins"]] == ["AAA", "BBB", "CCC"]
    assert all(c["test"] is None and c["train"]["total_trades"] >= 0 for c in cell["coins"])
    run = api.post("/api/runs/", {**MA, "parameters": cell["all_parameters"]}, format="json").json()
    finished = wait_run(run["id"])
    returns = dict(finished.results.values_list("crypto_symbol", "total_return"))
    for coin in cell["coins"]:
        assert np.float32(returns[coin["crypto_symbol"]]) == np.float32(coin["train"]["total_return"])


def test_a_preview_counts_cells_and_skipped_without_storing_anything(api, coins):
    grid = {"fast_ma_period": {"from": 5, "to": 25, "step": 10}, "slow_ma_period": [20, 40]}
    response = api.post("/api/sweeps/preview/", {**MA, "grid": grid}, format="json")
    assert response.status_code == 200 and response.json() == {"cells": 5, "skipped": 1, "coins": 3}
    bad = api.post("/api/sweeps/preview/", {**MA, "grid": {"fast_ma_period": [0]}}, format="json")
    assert bad.status_code == 400 and "grid.fast_ma_period" in bad.json()["errors"]
    assert Sweep.objects.count() == 0


def test_random_search_draws_distinct_cells_reproducibly(api, coins):
    grid = {"fast_ma_period": {"from": 2, "to": 11, "step": 1}, "slow_ma_period": {"from": 30, "to": 39, "step": 1}}
    first = _create(api, grid=grid, search={"random": 7, "seed": 3}).json()
    again = _create(api, grid=grid, search={"random": 7, "seed": 3}).json()
    other = _create(api, grid=grid, search={"random": 7, "seed": 4}).json()
    for body in (first, again, other):
        wait_sweep(body["id"])

    def combos(body):
        return [
            (c.parameters["fast_ma_period"], c.parameters["slow_ma_period"])
            for c in SweepCell.objects.filter(sweep_id=body["id"])
        ]

    assert first["cells"] == 7 and len(set(combos(first))) == 7
    assert combos(first) == combos(again) != combos(other)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"grid": {"fast_ma_period": {"from": 0, "to": 5, "step": 1}}}, "grid.fast_ma_period", ">= 1"),
        ({"grid": {"fast_ma_period": [5, 2000]}}, "grid.fast_ma_period", "<= 1000"),
        ({"grid": {"fast_ma_period": {"from": 5, "to": 9, "step": 0.5}}}, "grid.fast_ma_period", "integer"),
        ({"grid": {"nonsense": [1]}}, "grid.nonsense", "unknown parameter"),
        ({"grid": {}}, "grid", "is required"),
        ({"grid": {"fast_ma_period": [5]}, "parameters": {"fast_ma_period": 5}}, "grid.fast_ma_period", "both"),
        ({"grid": {"fast_ma_period": [5]}, "search": {"random": 0}}, "search", "positive"),
        ({"grid": {"fast_ma_period": [5]}, "objective": "luck"}, "objective", "must be one of"),
        ({"grid": {"fast_ma_period": [5]}, "test_start": "2023-01-01"}, "test_start", "after start_date"),
        ({"grid": {"fast_ma_period": [5]}, "walk_forward": {"folds": 0}}, "walk_forward", "folds"),
        ({"grid": {"fast_ma_period": [40]}, "parameters": {"slow_ma_period": 30}}, "grid", "breaks a cross-field"),
        (
            {
                "grid": {
                    "fast_ma_period": {"from": 1, "to": 1000, "step": 1},
                    "slow_ma_period": {"from": 2, "to": 2000, "step": 1},
                }
            },
            "grid",
            "at most 100,000",
        ),  # noqa: E501
        ({"grid": {"fast_ma_period": [5]}, "fee_pct": 9}, "fee_pct", "between 0 and 5"),
        ({"grid": {"fast_ma_period": [5]}, "objectve": "median_sharpe"}, "objectve", "unknown field"),
    ],
)
def test_bad_sweeps_are_400_naming_the_field(api, seeded, change, field, message):
    response = _create(api, **change)
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert field in errors and any(message in m for m in errors[field]), errors
    assert Sweep.objects.count() == 0


def test_the_out_of_sample_window_starts_its_decisions_at_the_split(api, coins):
    """With test_start, each cell is measured on the bars before it (train) and from it on (test);
    the test backtest starts W bars earlier so that its first decision falls on test_start."""
    split = "2024-01-12"
    body = _create(api, grid={"fast_ma_period": [5]}, parameters={"slow_ma_period": 30}, test_start=split).json()
    sweep = wait_sweep(body["id"])
    cell = SweepCell.objects.get(sweep=sweep)
    cut = np.datetime64("2024-01-12T00:00", "ns").astype(np.int64)
    for k, (_, symbol, _) in enumerate(sweep.coins):
        bars = coins[symbol]
        before = bars.times < cut
        train = backtest_arrays(
            "ma_crossover",
            times=bars.times[before],
            close=bars.close[before],
            open=bars.open[before],
            high=bars.high[before],
            low=bars.low[before],
            params=cell.parameters,
        )
        first = int(np.searchsorted(bars.times, cut))
        warm = slice(first - 30, None)  # W = slow_ma_period
        test = backtest_arrays("ma_crossover", times=bars.times[warm], close=bars.close[warm], params=cell.parameters)
        assert not [t for t in test.trades if t["entry_index"] < 30]  # no decision before the split
        test_rows = metrics_unpack(cell.test_coin_metrics, len(sweep.coins))
        train_rows = metrics_unpack(cell.coin_metrics, len(sweep.coins))
        row = COIN_METRICS.index("total_return")
        assert train_rows[row, k] == np.float32(train.metrics["total_return"])
        assert test_rows[row, k] == np.float32(test.metrics["total_return"])
        # measured on its own bars: buy and hold from the split's close, not from the warm-up's
        bh = COIN_METRICS.index("buy_hold_return")
        assert test_rows[bh, k] == np.float32((bars.close[-1] / bars.close[first] - 1) * 100)
    detail = api.get(body["url"] + "?test=1").json()
    assert detail["cells"][0]["test_aggregates"]["coins"] == 3


@pytest.mark.parametrize(
    "options",
    [{"fill": "next_open", "stop_mode": "intrabar", "slippage_pct": 0.05, "fee_pct": 0.1}, {"stop_mode": "intrabar"}],
)
@pytest.mark.parametrize("split", [{"test_start": "2024-01-12"}, {"walk_forward": {"folds": 2, "mode": "anchored"}}])
def test_compiled_cells_equal_single_backtests_with_the_options_a_split_and_walk_forward(api, coins, options, split):
    """Every stored per-coin metric (train and test) and every fold's objective equals what single
    backtests of the cell give on each window (sweeps.jobs.window_backtest: backtest_arrays, and
    window_metrics for a warm window)."""
    grid = {"fast_ma_period": [3, 8, 30], "slow_ma_period": [20, 30]}
    response = _create(api, grid=grid, **split, **options)
    assert response.status_code == 201, response.json()
    sweep = wait_sweep(response.json()["id"])
    assert sweep.status == "completed" and (sweep.completed, sweep.skipped) == (4, 2)
    work = jobs._work_build(Sweep.objects.values(*jobs._SWEEP_FIELDS).get(id=sweep.id))
    names = [w.name for w in work.windows]
    folds = 2 if "walk_forward" in split else 0
    assert names == ["train", *(["test"] if "test_start" in split else [])] + [
        f"wf_{part}_{j}" for j in range(folds) for part in ("train", "test")
    ]
    count = len(work.coin_ids)
    for cell in SweepCell.objects.filter(sweep=sweep):
        single = np.full((len(names), len(COIN_METRICS), count), np.nan, dtype=np.float32)
        for k, crypto_id in enumerate(work.coin_ids):
            for w in range(len(names)):
                try:
                    _, metrics, _, _ = jobs.window_backtest(work, crypto_id, w, cell.parameters)
                except EngineError:
                    continue
                single[w, :, k] = analysis.metrics_row(metrics)
        assert np.array_equal(metrics_unpack(cell.coin_metrics, count), single[0], equal_nan=True), cell.n
        if "test" in names:
            assert np.array_equal(metrics_unpack(cell.test_coin_metrics, count), single[1], equal_nan=True), cell.n
        for j in range(folds):
            for part in ("train", "test"):
                expected = (analysis.aggregates(single[names.index(f"wf_{part}_{j}")]) or {}).get(sweep.objective)
                assert cell.folds[part][j] == expected, (cell.n, part, j)


def test_walk_forward_chooses_per_fold_and_stitches_the_out_of_sample_curve(api, coins):
    body = _create(
        api,
        grid={"fast_ma_period": [3, 5, 8]},
        parameters={"slow_ma_period": 20},
        walk_forward={"folds": 3, "mode": "rolling"},
    ).json()
    sweep = wait_sweep(body["id"])
    wf = sweep.summary["walk_forward"]
    assert wf["mode"] == "rolling" and [f["fold"] for f in wf["folds"]] == [0, 1, 2]
    cells = {c.n: c for c in SweepCell.objects.filter(sweep=sweep)}
    for fold in wf["folds"]:
        j = fold["fold"]
        best = max(cells.values(), key=lambda c: (c.folds["train"][j], -c.n))
        assert fold["n"] == best.n and fold["train_objective"] == best.folds["train"][j]
        assert fold["test_objective"] == best.folds["test"][j]
    assert wf["folds"][0]["test_start"] < wf["folds"][1]["test_start"] < wf["folds"][2]["test_start"]
    # The out-of-sample curve covers the test segments only, from the first fold's on, compounded.
    assert len(wf["coins"]) == 3 and wf["average"]["times"][0] >= wf["folds"][0]["test_start"]
    assert all(v > 0 for v in wf["average"]["values"])
    for curve in wf["coins"].values():
        assert curve["values"][0] == pytest.approx(1.0) and curve["times"][0] >= wf["folds"][0]["test_start"]


def test_robustness_and_the_deflated_sharpe_of_the_best_cell(api, coins):
    body = _create(api, grid={"fast_ma_period": [3, 5, 8, 12]}, parameters={"slow_ma_period": 30}).json()
    sweep = wait_sweep(body["id"])
    cells = sorted(SweepCell.objects.filter(sweep=sweep), key=lambda c: c.n)
    objective = [c.objective for c in cells]
    assert cells[0].robustness == pytest.approx((objective[0] + objective[1]) / 2)
    assert cells[1].robustness == pytest.approx(sum(objective[:3]) / 3)
    dsr = sweep.summary["deflated_sharpe"]
    assert dsr["trials"] == 4 and 0.0 <= dsr["probability"] <= 1.0 and dsr["observations"] == 499


def test_cancel_stops_a_sweep_and_resume_continues_only_missing_cells(api, coins, manual_backend):
    body = _create(api, grid={"fast_ma_period": {"from": 2, "to": 13, "step": 1}}).json()
    assert len(manual_backend.queued) >= 2
    manual_backend.backend_job = manual_backend.take()
    from runs.backends import job_call

    job_call(*manual_backend.backend_job)  # one chunk done
    done_first = Sweep.objects.get(id=body["id"]).completed
    assert 0 < done_first < 12
    # The server stops: the sweep is interrupted with its done cells kept.
    run_services.batches_interrupt(batch_ids=[body["id"]])
    manual_backend.queued.clear()
    response = api.post(f"{body['url']}resume/")
    assert response.status_code == 200 and response.json()["pending"] == 12 - done_first
    manual_backend.run_all()
    sweep = Sweep.objects.get(id=body["id"])
    assert sweep.status == "completed" and sweep.completed == 12
    assert SweepCell.objects.filter(sweep=sweep, state="done").count() == 12
    assert api.post(f"{body['url']}resume/").status_code == 409
    assert api.post(f"{body['url']}cancel/").status_code == 409
    # cancel a second one mid-way
    other = _create(api, grid={"fast_ma_period": {"from": 2, "to": 13, "step": 1}}).json()
    job_call(*manual_backend.take())
    assert api.post(f"{other['url']}cancel/").json()["status"] == "cancelled"
    manual_backend.run_all()
    cancelled = Sweep.objects.get(id=other["id"])
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert cancelled.completed + cancelled.cancelled_cells == 12 and cancelled.cancelled_cells > 0


def test_the_sweep_stream_replays_start_cells_progress_and_complete(api, coins, asgi_server):
    from tests.support import read_event_stream

    body = _create(api, grid={"fast_ma_period": [3, 5, 8]}).json()
    wait_sweep(body["id"])
    stream = read_event_stream(asgi_server, f"{body['events_url']}?lastEventId=sweep-{body['id']}:0")
    kinds = [e["event"] for e in stream]
    assert kinds[0] == "start" and kinds[-1] == "complete"
    assert sorted(e["data"]["n"] for e in stream if e["event"] == "cell") == [0, 1, 2]
    assert stream[-1]["data"]["summary"]["best"]["n"] in (0, 1, 2)


def test_aggregates_leave_out_coins_that_could_not_run():
    matrix = np.full((len(COIN_METRICS), 3), np.nan, dtype=np.float32)
    row = {name: k for k, name in enumerate(COIN_METRICS)}
    matrix[:, 0] = 1.0
    matrix[row["total_return"], 0], matrix[row["buy_hold_return"], 0] = 10.0, 20.0
    matrix[:, 1] = 2.0
    matrix[row["total_return"], 1], matrix[row["buy_hold_return"], 1] = -4.0, -8.0
    out = analysis.aggregates(matrix)
    assert out["coins"] == 2 and out["avg_total_return"] == 3.0 and out["median_total_return"] == 3.0
    assert out["positive_pct"] == 50.0 and out["beat_buy_hold_pct"] == 50.0 and out["total_trades"] == 3
    assert analysis.aggregates(np.full((len(COIN_METRICS), 2), np.nan, dtype=np.float32)) is None


def test_the_sweep_command_runs_a_sweep_and_prints_its_top_cells(coins):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command(
        "sweep", "--strategy", "2", "--grid", '{"fast_ma_period": [3, 5, 8]}', "--parameters", '{"slow_ma_period": 20}',
        "--top", "2", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    sweep = Sweep.objects.get()
    assert sweep.status == "completed" and "3 cells (0 skipped) x 3 coins" in text
    best = SweepCell.objects.filter(sweep=sweep).order_by("-objective").first()
    lines = text.splitlines()
    header = next(k for k, line in enumerate(lines) if line.strip().startswith("cell"))
    assert f"fast_ma_period={best.parameters['fast_ma_period']}" in lines[header + 1]
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="grid.fast_ma_period"):
        call_command("sweep", "--strategy", "2", "--grid", '{"fast_ma_period": [0]}', stdout=io.StringIO())


def test_the_first_chunks_are_small_so_the_heatmap_starts_at_once():
    chunks = services.chunks_ramped(list(range(100)), size=40, workers=4)
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 40, 40]
    assert [n for c in chunks for n in c] == list(range(100))
    assert services.chunks_ramped([1, 2], size=40, workers=4) == [[1, 2]]
