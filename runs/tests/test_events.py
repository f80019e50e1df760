"""Event payloads (built in one place) and the order of publishing."""

from __future__ import annotations

import asyncio
import json
import math
import threading

from runs import events


def _metrics(total_return, buy_hold=0.0, win_rate=50.0, trades=4):
    return {
        "total_return": total_return,
        "win_rate": win_rate,
        "total_trades": trades,
        "profitable_trades": trades // 2,
        "losing_trades": trades - trades // 2,
        "buy_hold_return": buy_hold,
        "sharpe_ratio": 1.23456,
        "max_drawdown": -12.345,
        "exposure_pct": 40.0,
        "stop_loss_exits": 1,
    }


def test_result_payload_rounds_metrics_as_the_original():
    metrics = {**_metrics(45.23456, 38.715), "sortino_ratio": 2.34567, "max_drawdown_duration": 12}
    payload = events.result_payload(symbol="BTC", name="Bitcoin", metrics=metrics)
    # The run stream's result has every metric (null where none was given); the original's, its ten.
    assert payload["data"]["sortino_ratio"] == 2.35 and payload["data"]["max_drawdown_duration"] == 12
    assert payload["data"]["cagr"] is None and set(payload["data"]) == {"success", "crypto_symbol", "crypto_name"} | {
        *events.METRIC_FIELDS
    }
    assert events.original_payload(payload) == {
        "type": "result",
        "data": {
            "success": True,
            "crypto_symbol": "BTC",
            "crypto_name": "Bitcoin",
            "total_return": 45.23,
            "win_rate": 50.0,
            "total_trades": 4,
            "profitable_trades": 2,
            "losing_trades": 2,
            "buy_hold_return": 38.72,
            "sharpe_ratio": 1.23,
            "max_drawdown": -12.35,
            "exposure_pct": 40.0,
            "stop_loss_exits": 1,
        },
    }


def test_non_finite_metrics_become_null_so_the_json_stays_valid():
    payload = events.result_payload(symbol="X", name="X", metrics={**_metrics(1.0), "sharpe_ratio": math.nan})
    assert payload["data"]["sharpe_ratio"] is None
    json.loads(json.dumps(payload, allow_nan=False))


def test_progress_and_error_payloads():
    assert events.progress_payload(completed=12, total=48, successful=11) == {
        "type": "progress",
        "completed": 12,
        "total": 48,
        "successful": 11,
        "percent": 25.0,
    }
    assert events.progress_payload(completed=1, total=3, successful=1)["percent"] == 33.3
    assert events.error_payload(symbol="DOGE", name="Dogecoin", error="Insufficient data") == {
        "type": "error",
        "crypto": "DOGE",
        "crypto_name": "Dogecoin",
        "error": "Insufficient data",
    }


def test_summary_averages_at_full_precision_and_names_best_and_worst():
    rows = [
        {"crypto_symbol": "AAA", "crypto_name": "A", **_metrics(10.005, buy_hold=20.0, win_rate=60.0)},
        {"crypto_symbol": "BBB", "crypto_name": "B", **_metrics(-5.0, buy_hold=-10.0, win_rate=40.0)},
        {"crypto_symbol": "CCC", "crypto_name": "C", **_metrics(30.0, buy_hold=1.0, win_rate=55.5)},
    ]
    summary = events.summary_build(total=4, rows=rows, failed=1, status="completed")
    assert summary["total_cryptos"] == 4 and summary["successful"] == 3 and summary["failed"] == 1
    assert summary["avg_return"] == round((10.005 - 5.0 + 30.0) / 3, 2)
    assert summary["avg_win_rate"] == round((60 + 40 + 55.5) / 3, 2)
    assert (summary["total_trades"], summary["total_winning_trades"], summary["total_losing_trades"]) == (12, 6, 6)
    assert summary["best_performer"]["crypto_symbol"] == "CCC" and summary["best_performer"]["total_return"] == 30.0
    assert summary["worst_performer"]["crypto_symbol"] == "BBB"
    assert summary["beat_buy_hold"] == 2  # BBB (-5 > -10) and CCC
    assert summary["status"] == "completed" and "message" not in summary


def test_summary_without_successful_coins_has_null_performers():
    summary = events.summary_build(total=2, rows=[], failed=2, status="completed")
    assert summary["best_performer"] is None and summary["worst_performer"] is None
    assert summary["avg_return"] == 0.0 and summary["successful"] == 0


def test_sse_framing_is_the_originals():
    assert events.sse_data({"type": "start", "total": 1}) == 'data: {"type": "start", "total": 1}\n\n'


def test_publish_keeps_order_for_a_listener_across_threads(tdb, monkeypatch):
    """Many threads publish to one run; a listener on an event loop sees each thread's events in the
    order that thread published them, and nothing is lost."""
    sent = []
    monkeypatch.setattr(events, "send_events", lambda payloads: sent.extend(payload for _, payload in payloads))

    async def scenario():
        listener = events.subscribe("r1")
        threads = [
            threading.Thread(
                target=lambda t=t: [events.publish("r1", {"type": "progress", "t": t, "i": i}) for i in range(50)]
            )
            for t in range(4)
        ]
        for th in threads:
            th.start()
        for th in threads:
            await asyncio.to_thread(th.join)
        received = []
        while len(received) < 200:
            received.append(await asyncio.wait_for(listener.queue.get(), 5))
        events.unsubscribe("r1", listener)
        return received

    received = asyncio.run(scenario())
    assert events.channel_writer.wait_idle(5)
    assert received == sent  # the listener and the stored channel saw one and the same order
    for t in range(4):
        assert [p["i"] for p in received if p["t"] == t] == list(range(50))
