"""End to end: POST /api/crypto/backtest/stream on a real server, 48 coins x a year of hourly bars.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bt_e2e REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/e2e.py [--coins 48] [--warm 5] [--strategy 1]

Steps:
1. Migrate the PostgreSQL database named by DATABASE_URL (created if missing) and load the
   demo universe (`manage.py load_demo --coins N`: hourly bars of 2024, 8,784 per coin).
2. Start the server as the README says (`uvicorn backtest_site.asgi:application ...
   --timeout-graceful-shutdown 2`) on a free port, with DATABASE_URL and REDIS_URL; wait
   for its start-up (which loads the engine) to finish.
3. Cold: delete the price cache's keys, POST, and read the stream chunk by chunk as the
   documented XHR client does; time the first `result` and `complete` from the moment
   the request is sent.
4. Warm: the same POST --warm times; print the median and every sample.
5. With --against PATH (another checkout of this project, with its own .venv): a second server
   from it on the same database and Redis, and --warm more warm POSTs to each server in turn
   (the order swapped every round), so a change in the machine's speed falls on both alike.
6. The peer (unless --no-vectorbt): vectorbt's `Portfolio.from_signals` with the metrics, in this
   process, on as many generated coins of 8,784 hourly bars (bench/engine.py): what the
   computation alone costs a library without a server, a database or a stream.

The PostgreSQL buffer cache is warm in both cases (the demo load just wrote the rows);
"cold" is the price cache (Redis) only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import time
from pathlib import Path

from support import database_prepare, flush_price_cache, server_env, server_start, server_stop

KEY_PREFIX = "e2e"


def post_stream(port: int, body: dict) -> dict:
    """POST and read the body as the documented XHR code does; times are seconds since sending."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request(
        "POST", "/api/crypto/backtest/stream", body=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    resp = conn.getresponse()
    if resp.status != 200:
        raise SystemExit(f"HTTP {resp.status}: {resp.read()[:500]!r}")
    buffer, first_result, complete, events = "", None, None, []
    while complete is None:
        chunk = resp.read1(65536)
        if not chunk:
            break
        buffer += chunk.decode()
        *blocks, buffer = buffer.split("\n\n")
        now = time.perf_counter() - started
        for block in blocks:
            if block.strip().startswith("data: "):
                event = json.loads(block.strip()[6:])
                events.append(event)
                if event["type"] == "result" and first_result is None:
                    first_result = now
                if event["type"] == "complete":
                    complete = now
    conn.close()
    if complete is None:
        raise SystemExit("the stream ended without `complete`")
    start = events[0]
    summary = events[-1]["summary"]
    return {
        "first_result": first_result,
        "complete": complete,
        "total": start["total"],
        "results": sum(e["type"] == "result" for e in events),
        "errors": sum(e["type"] == "error" for e in events),
        "server_elapsed": events[-1]["elapsed_time"],
        "run_id": start["run_id"],
        "successful": summary["successful"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coins", type=int, default=48)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--strategy", type=int, default=1)
    parser.add_argument("--skip-load", action="store_true", help="the database already holds the demo coins")
    parser.add_argument("--against", type=Path, help="another checkout: its server asked in turn with this one's")
    parser.add_argument("--no-vectorbt", action="store_true")
    args = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bt_e2e")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/4")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database")
    env = server_env(name="e2e", database_url=database_url, redis_url=redis_url, key_prefix=KEY_PREFIX)

    database_prepare(env, load_coins=None if args.skip_load else args.coins)

    server, port, up_seconds = server_start(env)
    try:
        print(f"server up in {up_seconds:.2f} s (uvicorn, engine loaded at start-up), port {port}")

        body = {"strategy_id": args.strategy, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}
        flushed = flush_price_cache(redis_url, KEY_PREFIX)
        cold = post_stream(port, body)
        print(
            f"cold ({flushed} cache keys deleted first): coins {cold['total']}, results {cold['results']}, "
            f"errors {cold['errors']}"
        )
        print(
            f"  first result {cold['first_result'] * 1000:7.1f} ms   complete {cold['complete'] * 1000:7.1f} ms   "
            f"(server elapsed_time {cold['server_elapsed']:.2f} s)"
        )
        warm = [post_stream(port, body) for _ in range(args.warm)]
        firsts = [w["first_result"] * 1000 for w in warm]
        completes = [w["complete"] * 1000 for w in warm]
        print(
            f"warm x{args.warm} (median): first result {statistics.median(firsts):7.1f} ms   "
            f"complete {statistics.median(completes):7.1f} ms"
        )
        print("  samples first result ms: " + ", ".join(f"{v:.1f}" for v in firsts))
        print("  samples complete ms:     " + ", ".join(f"{v:.1f}" for v in completes))
        if args.against is not None:
            in_turn(port, args.against, env, body, args.warm)
        if not args.no_vectorbt:
            peer(args.coins, args.warm)
        print(
            "targets (issue 10, PostgreSQL + Redis): 48 coins warm complete under 150 ms; "
            "500 coins warm complete under 1 s, cold under 3 s"
        )
    finally:
        server_stop(server)


def in_turn(port: int, against: Path, env: dict[str, str], body: dict, rounds: int) -> None:
    """This server and one from `against`, asked in turn; medians and ranges of both."""
    other, other_port, _ = server_start(env, root=against.resolve())
    try:
        for _ in range(2):
            post_stream(other_port, body)  # its memo and compiled code warm, as this one's are
        servers = {"this": port, str(against): other_port}
        samples: dict[str, list[dict]] = {name: [] for name in servers}
        for k in range(rounds):
            for name in list(servers)[:: 1 if k % 2 == 0 else -1]:
                samples[name].append(post_stream(servers[name], body))
        print(f"in turn x{rounds} with {against}:")
        for name, runs in samples.items():
            completes = [r["complete"] * 1000 for r in runs]
            firsts = [r["first_result"] * 1000 for r in runs]
            print(
                f"  {name:>12}: complete median {statistics.median(completes):7.1f} ms "
                f"({min(completes):.0f} to {max(completes):.0f})   "
                f"first result median {statistics.median(firsts):6.1f} ms"
            )
    finally:
        server_stop(other)


def peer(coins: int, repeats: int) -> None:
    """vectorbt on as many generated coins, in this process (bench/engine.py)."""
    from engine import interleaved_medians, make_market, vectorbt_runs

    _, market = make_market(coins=coins, bars=8784)
    _, with_metrics = vectorbt_runs("rsi", market)
    ms = interleaved_medians({"vbt": with_metrics}, max(3, repeats))["vbt"]
    print(f"peer: vectorbt from_signals + metrics, {coins} generated coins x 8,784 bars, in process: {ms:7.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
