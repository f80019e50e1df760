"""Load: 20 runs of one strategy over 48 coins x a year of hourly bars, started at once on a real server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bt_load REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/load.py [--runs 20] [--coins 48] [--waves 2] [--max-concurrent N] [--skip-load]

Steps:
1. Migrate the PostgreSQL database named by DATABASE_URL (created if missing) and load the
   demo universe (`manage.py load_demo --coins N`: 8,784 hourly bars of 2024 per coin).
2. Start one uvicorn process as the README says, on PostgreSQL + Redis, with
   BACKTEST_MAX_CONCURRENT_RUNS = --max-concurrent (default: --runs, so every run starts at
   once; lower it to see the 429s, which are retried after their Retry-After) and the creation
   throttle opened up (every request comes from one address). Wait for its start-up.
3. Count the database's connections (pg_stat_activity) and read the server's memory.
4. Each wave (the first with the price cache emptied): --runs threads POST the original endpoint
   at the same moment and read their streams until `complete`. Time to complete is measured
   from the request's first send (a 429 and its wait count in it).
5. Check in the database: every run completed, one result row per coin and run (no duplicate),
   all done, one `complete` event stored per run.
6. Let the server settle, then count the connections and read the memory again.
7. Print runs/s, p50/p95 time to complete, peak and settled server memory, connections.

Loopback only; every wait is bounded, and the script stops the server itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from support import database_prepare, flush_price_cache, server_start

KEY_PREFIX = "load"
WORKERS = 4  # BACKTEST_WORKERS, the settings' default
STREAM_TIMEOUT = 300.0  # seconds one run may take, 429 retries included
SETTLE_SECONDS = 30.0  # at most, waiting for connections and memory to stop changing
BODY = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak since the process started) from /proc, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0])
    return out


class Database:
    """The bench's own connection, for counting and checking (not counted itself)."""

    def __init__(self, url: str) -> None:
        import psycopg2

        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params or [])
            return cur.fetchall()

    def connections(self) -> int:
        return self.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )[0][0]


@dataclass
class RunStream:
    run_id: str | None = None
    seconds: float | None = None  # from the first send to `complete`
    refused: int = 0  # 429 answers before it was accepted
    results: int = 0
    errors: int = 0
    summary: dict = field(default_factory=dict)
    failure: str | None = None


def run_one(port: int, barrier: threading.Barrier) -> RunStream:
    """POST the original endpoint (at the barrier) and read the stream until `complete`;
    on 429, wait its Retry-After and try again."""
    out = RunStream()
    barrier.wait()
    started = time.perf_counter()
    deadline = started + STREAM_TIMEOUT
    while time.perf_counter() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=STREAM_TIMEOUT)
        try:
            conn.request(
                "POST",
                "/api/crypto/backtest/stream",
                body=json.dumps(BODY),
                headers={"Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            if resp.status == 429:
                out.refused += 1
                wait = float(resp.getheader("Retry-After", "1"))
                resp.read()
                time.sleep(min(wait, max(0.0, deadline - time.perf_counter())))
                continue
            if resp.status != 200:
                out.failure = f"HTTP {resp.status}: {resp.read()[:300]!r}"
                return out
            buffer = ""
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    out.failure = "the stream ended without `complete`"
                    return out
                buffer += chunk.decode()
                *blocks, buffer = buffer.split("\n\n")
                for block in blocks:
                    if not block.strip().startswith("data: "):
                        continue
                    event = json.loads(block.strip()[6:])
                    kind = event["type"]
                    if kind == "start":
                        out.run_id = event["run_id"]
                    elif kind == "result":
                        out.results += 1
                    elif kind == "error":
                        out.errors += 1
                    elif kind == "complete":
                        out.seconds = time.perf_counter() - started
                        out.summary = event["summary"]
                        return out
        except OSError as exc:
            out.failure = f"{exc.__class__.__name__}: {exc}"
            return out
        finally:
            conn.close()
    out.failure = f"not accepted within {STREAM_TIMEOUT:.0f} s"
    return out


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


class MemoryWatch:
    """Samples the server's RSS every 50 ms while a wave runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, memory_kb(self.pid)["VmRSS"])
            self._stop.wait(0.05)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def check_stored(db: Database, streams: list[RunStream], coins: int) -> list[str]:
    """What is wrong in the database for these runs (empty when all is well)."""
    problems = []
    ids = [s.run_id for s in streams if s.run_id]
    runs = {
        str(r[0]): r[1:]
        for r in db.query(
            "SELECT id, status, total, completed, successful, failed FROM runs_backtestrun WHERE id = ANY(%s::uuid[])",
            [ids],
        )
    }
    rows = {
        str(r[0]): r[1:]
        for r in db.query(
            "SELECT run_id, count(*), count(DISTINCT crypto_id), count(*) FILTER (WHERE state = 'done') "
            "FROM runs_runresult WHERE run_id = ANY(%s::uuid[]) GROUP BY run_id",
            [ids],
        )
    }
    completes = dict(
        db.query(
            "SELECT channel, count(*) FROM django_eventstream_event WHERE type = 'complete' AND channel = ANY(%s) "
            "GROUP BY channel",
            [[f"run-{i}" for i in ids]],
        )
    )
    for run_id in ids:
        status, total, completed, successful, failed = runs.get(run_id, (None,) * 5)
        count, distinct, done = rows.get(run_id, (0, 0, 0))
        if status != "completed" or total != coins or completed != coins or successful != coins or failed:
            problems.append(f"run {run_id}: {status}, total {total}, completed {completed}, failed {failed}")
        if (count, distinct, done) != (coins, coins, coins):
            problems.append(f"run {run_id}: {count} result rows, {distinct} coins, {done} done (want {coins})")
        if completes.get(f"run-{run_id}") != 1:
            problems.append(f"run {run_id}: {completes.get(f'run-{run_id}', 0)} stored `complete` events")
    return problems


def most_at_once(db: Database, streams: list[RunStream]) -> int:
    """The most of these runs that were in progress at the same moment (created_at to finished_at)."""
    ids = [s.run_id for s in streams if s.run_id]
    rows = db.query("SELECT created_at, finished_at FROM runs_backtestrun WHERE id = ANY(%s::uuid[])", [ids])
    # At equal times a finish sorts first (-1 < +1): a run that ends as another starts is not counted twice.
    changes = sorted(
        [(c, 1) for c, _ in rows] + [(f, -1) for _, f in rows if f is not None], key=lambda x: (x[0], x[1])
    )
    now = most = 0
    for _, step in changes:
        now += step
        most = max(most, now)
    return most


def settle(db: Database, pid: int) -> tuple[int, int, float]:
    """Wait until the connection count and RSS stop changing (2 s alike); (connections, rss kB, seconds)."""
    started = time.perf_counter()
    last, same_since = None, time.perf_counter()
    while time.perf_counter() - started < SETTLE_SECONDS:
        now = (db.connections(), memory_kb(pid)["VmRSS"] // 1024)  # MB: page-level jitter is no change
        if now != last:
            last, same_since = now, time.perf_counter()
        elif time.perf_counter() - same_since >= 2.0:
            break
        time.sleep(0.25)
    return db.connections(), memory_kb(pid)["VmRSS"], time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--coins", type=int, default=48)
    parser.add_argument("--waves", type=int, default=2, help="rounds of --runs runs (the first with a cold cache)")
    parser.add_argument("--max-concurrent", type=int, help="the server's BACKTEST_MAX_CONCURRENT_RUNS (default --runs)")
    parser.add_argument("--strategy", type=int, default=1)
    parser.add_argument("--skip-load", action="store_true", help="the database already holds the demo coins")
    args = parser.parse_args()
    if not (1 <= args.runs <= 100 and 1 <= args.waves <= 5 and 1 <= args.coins <= 48):
        raise SystemExit("--runs 1..100, --waves 1..5, --coins 1..48")
    limit = args.max_concurrent or args.runs
    BODY["strategy_id"] = args.strategy

    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bt_load")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": KEY_PREFIX,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-load-not-secret-" + "x" * 40),
        "STATIC_MANIFEST": "0",
        "BACKTEST_WORKERS": str(WORKERS),
        "BACKTEST_MAX_CONCURRENT_RUNS": str(limit),
        "RUNS_THROTTLE_RATE": "100000/min",
        "READS_THROTTLE_RATE": "100000/min",
        "LOG_LEVEL": "WARNING",
    }

    database_prepare(env, load_coins=None if args.skip_load else args.coins)
    db = Database(database_url)
    (coins,) = db.query(
        "SELECT count(*) FROM cryptocurrencies c WHERE is_active AND EXISTS (SELECT 1 FROM crypto_prices p "
        "WHERE p.crypto_id = c.id AND p.interval_type = '1h' AND p.datetime >= '2024-01-01' "
        "AND p.datetime < '2025-01-01')"
    )[0]
    leftover = db.query("SELECT count(*) FROM runs_backtestrun WHERE status IN ('pending', 'running')")[0][0]

    server, port, up_seconds = server_start(env)
    failed = False
    try:
        print(
            f"server: uvicorn pid {server.pid}, port {port}, up in {up_seconds:.2f} s; "
            f"PostgreSQL + Redis; BACKTEST_WORKERS={WORKERS}, BACKTEST_MAX_CONCURRENT_RUNS={limit}"
            + (" (all runs start at once)" if limit >= args.runs else " (429s expected, retried after Retry-After)")
        )
        if leftover:
            print(f"  ({leftover} run(s) left in progress by an earlier server were marked interrupted at start-up)")
        connections_before = db.connections()
        mem = memory_kb(server.pid)
        print(
            f"before: {connections_before} database connections, server RSS {mem['VmRSS'] / 1024:.0f} MB; "
            f"{args.runs} runs x {coins} coins x {args.waves} waves, strategy {args.strategy}"
        )
        settled_rss = []
        settled_connections = []
        for wave in range(1, args.waves + 1):
            flushed = flush_price_cache(redis_url, KEY_PREFIX) if wave == 1 else 0
            barrier = threading.Barrier(args.runs)
            results: list[RunStream] = [RunStream()] * args.runs

            def worker(k: int, barrier=barrier, results=results) -> None:
                results[k] = run_one(port, barrier)

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.runs)]
            with MemoryWatch(server.pid) as watch:
                wave_started = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(STREAM_TIMEOUT + 30)
                wall = time.perf_counter() - wave_started
            done = [r for r in results if r.seconds is not None]
            times = [r.seconds for r in done]
            problems = [f"stream: {r.failure}" for r in results if r.failure]
            # After settling: the run stream's copy of an event is stored a few ms after the live one.
            connections, rss, waited = settle(db, server.pid)
            deadline = time.perf_counter() + 15
            while (stored := check_stored(db, results, coins)) and time.perf_counter() < deadline:
                time.sleep(0.5)
            problems += stored
            at_once = most_at_once(db, results)
            if at_once > limit:
                problems.append(f"{at_once} runs were in progress at once, over the limit of {limit}")
            settled_connections.append(connections)
            settled_rss.append(rss)
            label = "cold cache" if wave == 1 else "warm cache"
            print(f"wave {wave} ({label}{f', {flushed} keys deleted first' if flushed else ''}):")
            print(
                f"  {len(done)}/{args.runs} runs completed in {wall:.2f} s = {len(done) / wall:.2f} runs/s "
                f"({len(done) * coins / wall:.0f} coin backtests/s); 429s retried: {sum(r.refused for r in results)}; "
                f"most in progress at once: {at_once} (limit {limit})"
            )
            if times:
                print(
                    f"  time to complete: p50 {percentile(times, 50):.2f} s, p95 {percentile(times, 95):.2f} s, "
                    f"min {min(times):.2f} s, max {max(times):.2f} s"
                )
            print(
                "  checks: "
                + (
                    f"ok: every run completed, {coins} result rows each, no duplicates, one `complete` event stored "
                    "each, the limit held"
                    if not problems
                    else "PROBLEMS"
                )
            )
            for problem in problems[:10]:
                print(f"    {problem}")
            print(
                f"  server RSS peak {watch.peak / 1024:.0f} MB (sampled), "
                f"settled {rss / 1024:.0f} MB after {waited:.1f} s; "
                f"database connections {connections}"
            )
            failed = failed or bool(problems) or len(done) != args.runs
        mem = memory_kb(server.pid)
        kept = WORKERS + 1  # pool threads and the event writer keep theirs (BACKTEST_THREAD_CONN_MAX_AGE)
        leak = settled_connections[-1] > kept + connections_before or (
            len(settled_connections) > 1 and settled_connections[-1] > settled_connections[0]
        )
        print(
            f"connections: before {connections_before}, after each wave {settled_connections} "
            f"(at most {kept} are kept by design: {WORKERS} pool threads + the event writer) -> "
            + ("LEAK" if leak else "no leak")
        )
        growth = (settled_rss[-1] - settled_rss[0]) / settled_rss[0] * 100 if len(settled_rss) > 1 else 0.0
        print(
            f"memory: peak {mem['VmHWM'] / 1024:.0f} MB (VmHWM), settled after each wave "
            f"{[round(r / 1024) for r in settled_rss]} MB (last vs first {growth:+.1f}%)"
        )
        failed = failed or leak
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print("RESULT:", "FAILED" if failed else "ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
