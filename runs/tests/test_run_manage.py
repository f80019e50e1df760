"""Runs as a trader keeps them (issue 17): a name and a note (given at creation, edited later), deletion with
everything a run stored, the list's search, coins by name, the fill preset and the fills in words, the
bars actually used and a typed date outside them; and the streams in /api/schema/ (issue 17)."""

from __future__ import annotations

import json
import threading

import pytest
from django.test import RequestFactory
from django.urls import resolve
from django_eventstream.models import Event, EventCounter

from runs import events, services
from runs.models import FILL_PRESETS, METRIC_FIELDS, BacktestRun, RunPortfolio, RunResult, fills_text
from tests.support import PageLikeClient, wait_run


@pytest.fixture
def api():
    return PageLikeClient()  # the page's client: it keeps the cancel tokens of its runs


@pytest.fixture
def engine_hold(job_hook):
    """Jobs wait at this gate until the test sets it (opened at teardown), so a run stays in progress."""
    gate = threading.Event()
    job_hook(lambda crypto_ids: gate.wait(30))
    yield gate
    gate.set()


def _create(api, **body):
    body.setdefault("strategy_id", 1)
    response = api.post("/api/runs/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _finished(api, **body) -> str:
    run_id = _create(api, **body)
    wait_run(run_id)
    events.channel_writer.wait_idle(timeout=5)
    return run_id


def test_a_run_is_named_at_creation_and_renamed_and_noted_later(api, coins):
    run_id = _finished(api, name="  RSI baseline ")
    detail = api.get(f"/api/runs/{run_id}/").json()
    assert (detail["name"], detail["note"]) == ("RSI baseline", "")
    response = api.patch(f"/api/runs/{run_id}/", {"note": "fees off; compare with 0.1 %"}, format="json")
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["note"]) == ("RSI baseline", "fees off; compare with 0.1 %")
    api.patch(f"/api/runs/{run_id}/", {"name": "RSI, no fee"}, format="json")
    run = BacktestRun.objects.get(id=run_id)
    assert (run.name, run.note) == ("RSI, no fee", "fees off; compare with 0.1 %")
    assert run.status == "completed" and run.summary  # nothing else changed


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": 5}, "name", "must be a string"),
        ({"name": "x" * 101}, "name", "at most 100 characters, got 101"),
        ({"note": "n" * 2001}, "note", "at most 2000 characters"),
        ({"note": "a\x00b"}, "note", "NUL"),
        ({"fee_pct": 0.2}, "fee_pct", "cannot change"),
        ({}, "non_field_errors", "give a name, a note or both"),
        ([1, 2], "non_field_errors", "must be a JSON object"),
    ],
)
def test_a_bad_rename_is_a_400_naming_the_field_and_changes_nothing(api, coins, body, field, words):
    run_id = _finished(api, name="kept")
    response = api.patch(f"/api/runs/{run_id}/", body, format="json")
    assert response.status_code == 400
    assert words in " ".join(response.json()["errors"][field])
    assert BacktestRun.objects.get(id=run_id).name == "kept"


def test_a_name_too_long_at_creation_is_refused_like_any_field(api, coins):
    response = api.post("/api/runs/", {"strategy_id": 1, "name": "x" * 101}, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]
    assert not BacktestRun.objects.exists()


def test_unknown_runs_are_404_to_patch_and_delete(api, db):
    missing = "00000000-0000-4000-8000-000000000000"
    assert api.patch(f"/api/runs/{missing}/", {"name": "x"}, format="json").status_code == 404
    assert api.delete(f"/api/runs/{missing}/").status_code == 404


def test_deleting_a_finished_run_removes_its_results_account_and_events(api, coins):
    run_id = _finished(api)
    kept = _finished(api)
    channel = events.channel_name(run_id)
    assert RunResult.objects.filter(run_id=run_id).count() == 3
    assert RunPortfolio.objects.filter(run_id=run_id).exists()
    assert Event.objects.filter(channel=channel).exists()
    response = api.delete(f"/api/runs/{run_id}/")
    assert response.status_code == 204
    assert not BacktestRun.objects.filter(id=run_id).exists()
    assert not RunResult.objects.filter(run_id=run_id).exists()
    assert not RunPortfolio.objects.filter(run_id=run_id).exists()
    assert not Event.objects.filter(channel=channel).exists()
    assert not EventCounter.objects.filter(name=channel).exists()
    assert api.get(f"/api/runs/{run_id}/").status_code == 404
    # the other run and its events are untouched
    assert RunResult.objects.filter(run_id=kept).count() == 3
    assert Event.objects.filter(channel=events.channel_name(kept)).exists()


def test_a_run_in_progress_cannot_be_deleted_until_it_has_ended(api, coins, engine_hold):
    run_id = _create(api)
    response = api.delete(f"/api/runs/{run_id}/")
    assert response.status_code == 409
    assert "cancel it first" in response.json()["detail"]
    assert BacktestRun.objects.filter(id=run_id).exists()
    engine_hold.set()
    wait_run(run_id)
    assert api.delete(f"/api/runs/{run_id}/").status_code == 204


def test_the_list_searches_by_name_or_note_and_names_the_coins(api, coins):
    alpha = _finished(api, name="Alpha test", symbols=["AAA", "CCC"])
    _finished(api, name="Beta", note="a note about ALPHA")
    _finished(api)
    found = api.get("/api/runs/?search=alpha").json()
    assert found["count"] == 2
    rows = {r["id"]: r for r in found["results"]}
    assert rows[alpha]["coin_symbols"] == ["AAA", "CCC"]
    assert api.get("/api/runs/?search=gamma").json()["count"] == 0
    assert api.get("/api/runs/?search=").json()["count"] == 3


def test_every_run_is_stamped_with_its_fill_preset_and_says_its_fills_in_words(api, coins):
    for preset in FILL_PRESETS:
        options = {k: preset[k] for k in ("fill", "stop_mode", "slippage_pct")}
        run = api.get(f"/api/runs/{_finished(api, fee_pct=0.1, **options)}/").json()
        assert run["fill_preset"] == {"key": preset["key"], "label": preset["label"]}
        assert run["fills_text"] == fills_text(preset["fill"], preset["stop_mode"], preset["slippage_pct"], 0.1)
    custom = api.get(f"/api/runs/{_finished(api, slippage_pct=0.2)}/").json()
    assert custom["fill_preset"]["key"] == "custom"
    text = custom["fills_text"]
    assert "close of the bar" in text and "0.2 % slippage" in text and "no fee" in text
    listed = api.get("/api/runs/").json()["results"]
    assert {r["fill_preset"]["key"] for r in listed} == {p["key"] for p in FILL_PRESETS} | {"custom"}


def test_a_start_before_the_data_runs_on_the_bars_there_are_and_says_so(api, coins):
    # the coins' bars start 2024-01-01 00:00 (tests.support.T0); 500 hourly bars
    run_id = _finished(api, start_date="2023-01-01", end_date="2030-12-31")
    run = api.get(f"/api/runs/{run_id}/").json()
    assert run["start_date"] == "2023-01-01"  # as typed, echoed
    assert run["first_bar"] == "2024-01-01T00:00:00Z"
    assert run["last_bar"] == "2024-01-21T19:00:00Z"  # bar 499
    assert run["warnings"]["start_date"] == [
        "2023-01-01 is before the data: the first bar used is 2024-01-01 00:00 UTC, and the run starts there"
    ]
    assert "after the data" in run["warnings"]["end_date"][0]
    stored = BacktestRun.objects.get(id=run_id)
    assert stored.first_bar.isoformat() == "2024-01-01T00:00:00+00:00"
    row = next(r for r in api.get("/api/runs/").json()["results"] if r["id"] == run_id)
    assert row["first_bar"] == run["first_bar"] and row["warnings"] == run["warnings"]
    assert RunResult.objects.filter(run_id=run_id, first_bar__isnull=True).count() == 0


def test_dates_inside_the_data_give_no_warning(api, coins):
    run = api.get(f"/api/runs/{_finished(api, start_date='2024-01-02', end_date='2024-01-10')}/").json()
    assert run["warnings"] == {}
    assert run["first_bar"] == "2024-01-02T00:00:00Z" and run["last_bar"] == "2024-01-10T23:00:00Z"


def test_run_delete_service_refuses_in_progress_runs(coins, engine_hold, api):
    run_id = _create(api)
    with pytest.raises(services.RunInProgress):
        services.run_delete(run_id=run_id)
    engine_hold.set()


def test_the_schema_documents_the_original_stream_and_both_event_streams():
    request = RequestFactory().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    response = resolve("/api/schema/").func(request)
    response.render()
    schema = json.loads(response.content)
    post = schema["paths"]["/api/crypto/backtest/stream"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/RunRequest")
    stream = post["responses"]["200"]["content"]["text/event-stream"]
    assert stream["schema"] == {"$ref": "#/components/schemas/RunEvent"}
    # the example is the original's stream: its ten metrics only, each event a data: line
    lines = [json.loads(line[6:]) for line in stream["example"].split("\n\n") if line.startswith("data: ")]
    assert [e["type"] for e in lines] == ["start", "result", "progress", "error", "progress", "complete"]
    assert "cagr" not in lines[1]["data"] and "sharpe_ratio" in lines[1]["data"]
    assert {"400", "405", "415", "429", "503"} <= set(post["responses"])
    for path in ("/api/runs/{run_id}/events/", "/api/sweeps/{sweep_id}/events/"):
        get = schema["paths"][path]["get"]
        assert "text/event-stream" in get["responses"]["200"]["content"]
        assert {"204", "400", "404", "429", "503"} <= set(get["responses"])
        assert {p["name"] for p in get["parameters"]} >= {"lastEventId", "Last-Event-ID"}
    components = schema["components"]["schemas"]
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in components["RunEvent"]["oneOf"]}
    assert kinds == {f"Run{k}Event" for k in ("Start", "Result", "Error", "Progress", "Portfolio", "Complete")}
    assert set(METRIC_FIELDS) <= set(components["ResultData"]["properties"])
    assert {"avg_sharpe_ratio", "skipped", "beat_buy_hold"} <= set(components["RunSummary"]["properties"])
    run_events = schema["paths"]["/api/runs/{run_id}/events/"]["get"]["responses"]["200"]["content"]
    assert "event: portfolio" not in run_events["text/event-stream"]["example"]  # an example of a run's stream
    assert "event: complete\nid: run-" in run_events["text/event-stream"]["example"]
