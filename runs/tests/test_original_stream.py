"""POST /api/crypto/backtest/stream: the original endpoint, read as its documented XHR client reads it."""

from __future__ import annotations

import time

from django.test import AsyncClient

from runs import events as run_events
from runs.models import BacktestRun, RunResult
from tests.support import XhrStreamReader, post_stream, run_async, wait_run

BODY = {"strategy_id": 1, "parameters": {"rsi_period": 14}, "start_date": "2024-01-01", "end_date": "2024-12-31"}
ROUNDED = ("total_return", "win_rate", "buy_hold_return", "sharpe_ratio", "max_drawdown", "exposure_pct")


def _read_with_async_client(body: dict) -> tuple[int, dict, XhrStreamReader]:
    async def go():
        response = await AsyncClient().post("/api/crypto/backtest/stream", data=body, content_type="application/json")
        reader = XhrStreamReader()
        if response.streaming:
            async for chunk in response.streaming_content:
                reader.feed(chunk if isinstance(chunk, bytes) else chunk.encode())
        else:
            reader.feed(response.content)
        return response.status_code, dict(response.headers), reader

    return run_async(go)


def _check_documented_sequence(reader: XhrStreamReader, *, total: int, errors: int = 0) -> None:
    """start first, complete last, one result or error per coin each followed by its progress,
    progress counting 1..total in order, and everything the documented page code reads present."""
    events = reader.events
    assert reader.types[0] == "start" and reader.types[-1] == "complete"
    assert reader.buffer == ""  # nothing left half-parsed
    assert events[0]["total"] == total
    body = events[1:-1]
    assert len(body) == 2 * total
    assert [e["type"] for e in body[1::2]] == ["progress"] * total
    assert sorted(e["type"] for e in body[0::2]) == sorted(["result"] * (total - errors) + ["error"] * errors)
    progress = [e for e in events if e["type"] == "progress"]
    assert [p["completed"] for p in progress] == list(range(1, total + 1))
    assert all(p["total"] == total for p in progress)
    assert progress[-1]["percent"] == 100.0
    assert progress[-1]["successful"] == total - errors
    for result in reader.state["results"]:
        # addResultRowProgressive: crypto_name, total_return.toFixed(2), win_rate.toFixed(1), total_trades,
        # buy_hold_return.toFixed(2)
        assert result["success"] is True and result["crypto_symbol"] and result["crypto_name"]
        assert isinstance(result["total_trades"], int)
        for name in ROUNDED:
            assert isinstance(result[name], float | int) and round(result[name], 2) == result[name]
    summary = reader.state["summary"]
    # displaySummary reads these
    for key in (
        "total_cryptos",
        "successful",
        "avg_return",
        "avg_win_rate",
        "total_trades",
        "total_winning_trades",
        "total_losing_trades",
    ):
        assert summary[key] is not None
    assert summary["total_cryptos"] == total and summary["successful"] == total - errors
    assert summary["failed"] == errors
    assert summary["best_performer"]["crypto_symbol"] and summary["worst_performer"]["crypto_symbol"]
    assert isinstance(events[-1]["elapsed_time"], float | int)


def test_async_client_reads_the_documented_events(coins):
    status, headers, reader = _read_with_async_client(BODY)
    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Cache-Control"] == "no-cache" and headers["X-Accel-Buffering"] == "no"
    _check_documented_sequence(reader, total=3)
    start = reader.events[0]
    assert (start["strategy_id"], start["start_date"], start["end_date"]) == (1, "2024-01-01", "2024-12-31")
    assert {r["crypto_symbol"] for r in reader.state["results"]} == {"AAA", "BBB", "CCC"}


def test_the_stream_is_stored_as_a_run(coins):
    _, _, reader = _read_with_async_client(BODY)
    run = wait_run(reader.events[0]["run_id"])
    assert run.status == BacktestRun.Status.COMPLETED
    assert run.parameters == {
        "rsi_period": 14,
        "oversold_threshold": 30.0,
        "overbought_threshold": 70.0,
        "rsi_smoothing": "sma",
        "stop_loss_threshold": 10.0,
    }
    assert (run.total, run.completed, run.successful, run.failed) == (3, 3, 3, 0)
    # The stored summary has every average; the original stream sends the original's fields of it.
    assert (
        run_events.original_payload({"type": "complete", "summary": run.summary})["summary"] == reader.state["summary"]
    )
    assert set(run.summary) > set(reader.state["summary"]) and "avg_sharpe_ratio" in run.summary
    stored = {r.crypto_symbol: r for r in RunResult.objects.filter(run=run)}
    for result in reader.state["results"]:
        row = stored[result["crypto_symbol"]]
        assert row.state == RunResult.State.DONE
        assert result["total_return"] == round(row.total_return, 2)


def test_a_coin_that_cannot_run_is_an_error_event_and_the_run_goes_on(short_coin):
    _, _, reader = _read_with_async_client(BODY)
    _check_documented_sequence(reader, total=4, errors=1)
    (error,) = [e for e in reader.events if e["type"] == "error"]
    assert error["crypto"] == "DDD" and error["crypto_name"] == "Delta"
    assert error["error"] == "Insufficient data for backtest: 10 bars, need at least 16"
    row = RunResult.objects.get(run_id=reader.events[0]["run_id"], crypto_symbol="DDD")
    assert row.state == RunResult.State.FAILED and "Insufficient data" in row.error


def test_real_server_streams_incrementally_to_the_xhr_reader(coins, asgi_server):
    read = post_stream(asgi_server, BODY)
    assert read.status == 200
    assert read.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert read.headers["cache-control"] == "no-cache"
    assert read.headers["x-accel-buffering"] == "no"
    assert read.headers["connection"] == "keep-alive"
    assert read.headers.get("transfer-encoding") == "chunked"
    _check_documented_sequence(read.reader, total=3)
    # Every event is exactly `data: {json}\n\n`, the original framing.
    blocks = read.body.decode().split("\n\n")
    assert blocks[-1] == ""
    assert all(b.startswith("data: {") and "\n" not in b for b in blocks[:-1])
    # The first result is parsed before `complete` arrives: the body is not buffered whole.
    first_result = next(t for t, e in read.arrivals if e["type"] == "result")
    complete = read.arrivals[-1][0]
    assert first_result <= complete
    wait_run(read.reader.events[0]["run_id"])


def test_results_arrive_in_the_order_coins_complete(coins, asgi_server, job_hook):
    """Jobs are submitted AAA, BBB, CCC; with AAA slowest and CCC fastest, the results must come
    CCC, BBB, AAA, each as it is ready: the first long before `complete`."""
    delay = {coins["AAA"].coin.id: 1.0, coins["BBB"].coin.id: 0.5, coins["CCC"].coin.id: 0.0}
    job_hook(lambda crypto_ids: time.sleep(sum(delay[c] for c in crypto_ids)))
    read = post_stream(asgi_server, BODY)
    results = [(t, e["data"]["crypto_symbol"]) for t, e in read.arrivals if e["type"] == "result"]
    assert [symbol for _, symbol in results] == ["CCC", "BBB", "AAA"]
    complete_at = read.arrivals[-1][0]
    assert read.arrivals[-1][1]["type"] == "complete"
    assert complete_at >= 1.0
    assert results[0][0] < complete_at - 0.5, read.arrivals
    assert results[1][0] < complete_at - 0.2, read.arrivals
    wait_run(read.reader.events[0]["run_id"])


def test_client_disconnect_does_not_stop_the_run(coins, asgi_server, job_hook):
    job_hook(lambda crypto_ids: time.sleep(0.3))
    read = post_stream(asgi_server, BODY, stop_after=1)  # leave after `start`
    assert read.reader.types == ["start"]
    run = wait_run(read.reader.events[0]["run_id"])
    assert run.status == BacktestRun.Status.COMPLETED
    assert RunResult.objects.filter(run=run, state=RunResult.State.DONE).count() == 3
    from runs import events

    assert str(run.id) not in events._listeners  # the cancelled generator unsubscribed


def test_get_is_not_allowed(tdb):
    assert run_async(AsyncClient().get, "/api/crypto/backtest/stream").status_code == 405


def test_stream_needs_no_login_and_no_csrf_token(coins):
    async def go():
        client = AsyncClient(enforce_csrf_checks=True)
        response = await client.post("/api/crypto/backtest/stream", data=BODY, content_type="application/json")
        reader = XhrStreamReader()
        async for chunk in response.streaming_content:
            reader.feed(chunk)
        return response.status_code, reader

    status, reader = run_async(go)
    assert status == 200 and reader.types[-1] == "complete"


def test_no_bars_in_the_period_is_a_run_of_zero_that_says_so(coins):
    _, _, reader = _read_with_async_client({**BODY, "start_date": "2030-01-01", "end_date": "2030-12-31"})
    assert reader.types == ["start", "complete"]
    assert reader.events[0]["total"] == 0
    summary = reader.events[1]["summary"]
    assert summary["total_cryptos"] == 0 and summary["status"] == "completed"
    assert "No bars" in summary["message"]
    run = BacktestRun.objects.get(id=reader.events[0]["run_id"])
    assert run.status == BacktestRun.Status.COMPLETED and run.total == 0


def test_concurrent_streams_each_get_their_own_run(coins, asgi_server):
    import threading

    reads = {}

    def client(name, body):
        reads[name] = post_stream(asgi_server, body)

    threads = [
        threading.Thread(target=client, args=("all", BODY)),
        threading.Thread(
            target=client, args=("two", {**BODY, "strategy_id": 2, "parameters": {}, "symbols": ["AAA", "BBB"]})
        ),
        threading.Thread(target=client, args=("one", {**BODY, "strategy_id": 6, "parameters": {}, "symbols": ["CCC"]})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    totals = {"all": 3, "two": 2, "one": 1}
    run_ids = set()
    for name, read in reads.items():
        _check_documented_sequence(read.reader, total=totals[name])
        run_ids.add(read.reader.events[0]["run_id"])
    assert len(run_ids) == 3
    assert {r["crypto_symbol"] for r in reads["two"].reader.state["results"]} == {"AAA", "BBB"}
    for run_id in run_ids:
        wait_run(run_id)


def test_many_coins_progress_in_order_and_every_coin_once(tdb, seeded):
    from tests.support import add_coin

    for k in range(16):
        add_coin(f"C{k:02d}", f"Coin {k}", bars=300, seed=100 + k)
    _, _, reader = _read_with_async_client({**BODY, "strategy_id": 3, "parameters": {}})
    _check_documented_sequence(reader, total=16)
    assert sorted(r["crypto_symbol"] for r in reader.state["results"]) == [f"C{k:02d}" for k in range(16)]
    wait_run(reader.events[0]["run_id"])
