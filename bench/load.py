"""Load: 20 runs of one strategy over 48 coins x a year of hourly bars, started at once on a real server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bt_load REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/load.py [--runs 20] [--coins 48] [--waves 2] [--max-concurrent N] [--skip-load]
        [--idle-streams 1000 [--hold 30] [--requests 200]]

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

With --idle-streams N (issue 18: 1000), instead of the waves: one warm-up run, then a run held
`running`, N event streams of it opened at once and left idle for --hold seconds while --requests
other GETs are timed; the server's database connections (sampled every 0.1 s), RSS, threads and
file descriptors before, with and after the streams; then N streams again and one more run (still
healthy). Printed beside the issue's targets.

Loopback only; every wait is bounded, and the script stops the server itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from support import PY, ROOT, database_prepare, flush_price_cache, server_start

KEY_PREFIX = "load"
WORKERS = 4  # BACKTEST_WORKERS, the settings' default
STREAM_TIMEOUT = 300.0  # seconds one run may take, 429 retries included
BENCH_APP = "bench-load"  # application_name of the bench's own connections (never counted)
SETTLE_SECONDS = 30.0  # at most, waiting for connections and memory to stop changing
STREAM_READERS = 2  # runs.streams.READS: the threads that read for the streams (a connection each while reading)
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

        self.conn = psycopg2.connect(url, application_name=BENCH_APP)
        self.conn.autocommit = True

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params or [])
            return cur.fetchall()

    def connections(self) -> int:
        return self.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND application_name <> %s",
            [BENCH_APP],
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


# --- --idle-streams: many idle event streams on one process ------------------------------------

# A run held `running` for the streams to wait on: made in the database as a process of another
# host would own it (so no server recovers it as an orphan), its heartbeat ahead of the lease
# for the bench's length only (a run left by an aborted bench is recovered later, and deleted at
# the next start).
HELD_OWNER = "bench-idle-elsewhere:1:held"
_HELD_RUN = """
import datetime as dt, sys
from django.utils import timezone
from runs.models import BacktestRun
BacktestRun.objects.filter(owner=sys.argv[-2]).delete()
now = timezone.now()
run = BacktestRun.objects.create(
    strategy_id=int(sys.argv[-1]), status="running", owner=sys.argv[-2], started_at=now,
    heartbeat_at=now + dt.timedelta(minutes=15), name="bench: idle streams (held running)",
)
print(run.id)
"""
_HELD_DELETE = """
import sys
from runs.models import BacktestRun
print(BacktestRun.objects.filter(owner=sys.argv[-1]).delete()[0])
"""


def django_script(env: dict[str, str], code: str, *args: str) -> str:
    """Run `code` in a Django process of the bench's settings; its stdout."""
    setup = "import django, sys; django.setup(); exec(sys.argv[1])"
    out = subprocess.run(
        [PY, "-c", setup, code, *args],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "backtest_site.settings"},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def nofile_raise(wanted: int) -> tuple[int, int]:
    """Raise this process's RLIMIT_NOFILE (inherited by the server it starts) towards `wanted`,
    at most to the hard limit; the (soft, hard) limits after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def process_facts(pid: int) -> dict[str, int]:
    """RSS, peak RSS (kB), threads and open file descriptors of a process, from /proc."""
    facts = {"fds": len(os.listdir(f"/proc/{pid}/fd"))}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "Threads"):
            facts[name] = int(value.split()[0])
    return facts


class IdleStreams:
    """`count` raw HTTP/1.1 connections to one event stream, all driven by one selector thread:
    connect, send the GET, read the status and the stream's `stream-open`, then keep reading
    (keep-alives) until closed. A stream counts as open once `stream-open` has arrived."""

    def __init__(self, port: int, path: str, count: int) -> None:
        self.port, self.count = port, count
        self.request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
        self.opened = 0
        self.failures: Counter[str] = Counter()
        self.keepalives = 0
        self.ended = 0  # open streams the server ended
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        for _ in range(self.count):
            sock = socket.socket()
            sock.setblocking(False)
            try:
                sock.connect_ex(("127.0.0.1", self.port))
            except OSError as exc:  # e.g. out of file descriptors
                sock.close()
                self._fail(f"connect: {exc.__class__.__name__}: {exc}")
                continue
            self._selector.register(sock, selectors.EVENT_WRITE, {"buffer": b"", "open": False})
        self._thread.start()

    def wait_settled(self, timeout: float) -> bool:
        """Until every stream is open or failed (True), or `timeout` seconds (False)."""
        deadline = time.perf_counter() + timeout
        with self._changed:
            while self.opened + sum(self.failures.values()) < self.count:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
        return True

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()

    def _fail(self, reason: str) -> None:
        with self._changed:
            self.failures[reason] += 1
            self._changed.notify_all()

    def _drop(self, sock: socket.socket) -> None:
        self._selector.unregister(sock)
        sock.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for key, mask in self._selector.select(timeout=0.2):
                sock, state = key.fileobj, key.data
                if mask & selectors.EVENT_WRITE:
                    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if error:
                        self._drop(sock)
                        self._fail(f"connect: {os.strerror(error)}")
                        continue
                    sock.sendall(self.request)  # 100 bytes: fits any fresh socket buffer
                    self._selector.modify(sock, selectors.EVENT_READ, state)
                    continue
                try:
                    data = sock.recv(65536)
                except OSError as exc:
                    data, reason = b"", f"{exc.__class__.__name__}: {exc}"
                else:
                    reason = "closed by the server before `stream-open`"
                if not data:
                    self._drop(sock)
                    if state["open"]:
                        self.ended += 1
                    else:
                        status = state["buffer"][:12].decode(errors="replace")
                        self._fail(status if status.startswith("HTTP/") else reason)
                    continue
                if state["open"]:
                    # The tail of the last read too: an event split between two reads is counted once.
                    tail = state["buffer"] + data
                    self.keepalives += tail.count(b"event: keep-alive")
                    state["buffer"] = tail[-20:]
                    continue
                state["buffer"] += data
                head = state["buffer"]
                if not head.startswith(b"HTTP/1.1 200"):
                    if b"\r\n" in head:
                        self._drop(sock)
                        self._fail(head.split(b"\r\n", 1)[0].decode(errors="replace"))
                    continue
                if b"stream-open" in head:
                    state["open"], state["buffer"] = True, head[-20:]
                    with self._changed:
                        self.opened += 1
                        self._changed.notify_all()


class ConnectionWatch:
    """Counts the server's database connections every 0.1 s on its own connection."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.db.connections())
            self._stop.wait(0.1)

    def __enter__(self) -> ConnectionWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def timed_requests(port: int, paths: list[str], count: int, spread: float) -> tuple[list[float], Counter[str]]:
    """`count` GETs cycling over `paths`, each on a new connection, one every spread/count seconds
    (0: back to back); their times in seconds, and the statuses that were not 200."""
    times: list[float] = []
    bad: Counter[str] = Counter()
    started = time.perf_counter()
    for k in range(count):
        wait = started + k * spread / count - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        path = paths[k % len(paths)]
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                bad[f"{path} {resp.status}"] += 1
        except OSError as exc:
            bad[f"{path} {exc.__class__.__name__}"] += 1
        finally:
            conn.close()
        times.append(time.perf_counter() - t0)
    return times, bad


def idle_main(args: argparse.Namespace, env: dict[str, str], db: Database, coins: int) -> int:
    """--idle-streams N: a run held running, N streams of it open at once and left idle; while they
    are open, the server's database connections, other requests' times and its memory."""
    count = args.idle_streams
    url = env["DATABASE_URL"]
    run_id = django_script(env, _HELD_RUN, HELD_OWNER, str(args.strategy))
    server, port, up_seconds = server_start(env)
    problems: list[str] = []
    streams = None
    try:
        facts = process_facts(server.pid)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        print(
            f"server: uvicorn pid {server.pid}, port {port}, up in {up_seconds:.2f} s; PostgreSQL + Redis; "
            f"BACKTEST_WORKERS={WORKERS}; RUN_STREAMS_PER_CLIENT={env['RUN_STREAMS_PER_CLIENT']}, "
            f"RUN_STREAMS_MAX={env['RUN_STREAMS_MAX']}; RLIMIT_NOFILE {soft} (hard {hard}), "
            "uvicorn with no --limit-concurrency"
        )
        # One real run first, so the pool threads and the event writer hold the connections they keep.
        warm = run_one(port, threading.Barrier(1))
        if warm.seconds is None:
            problems.append(f"warm-up run: {warm.failure}")
        time.sleep(1.0)
        before = db.connections()
        paths = ["/api/runs/", "/api/strategies/", "/api/cryptocurrencies/", f"/api/runs/{run_id}/"]
        base_times, base_bad = timed_requests(port, paths, args.requests, 0.0)
        facts = process_facts(server.pid)
        print(
            f"before: warm-up run of {coins} coins in {warm.seconds or 0:.2f} s; {before} database connections; "
            f"server RSS {facts['VmRSS'] / 1024:.0f} MB, {facts['Threads']} threads, {facts['fds']} fds; "
            f"{args.requests} requests back to back: p50 {percentile(base_times, 50) * 1000:.0f} ms, "
            f"p95 {percentile(base_times, 95) * 1000:.0f} ms"
        )
        streams = IdleStreams(port, f"/api/runs/{run_id}/events/", count)
        with ConnectionWatch(url) as watch, MemoryWatch(server.pid) as memory:
            t0 = time.perf_counter()
            streams.start()
            settled = streams.wait_settled(120.0)
            open_seconds = time.perf_counter() - t0
            with_streams = process_facts(server.pid)
            print(
                f"streams: {streams.opened}/{count} open in {open_seconds:.2f} s"
                + ("" if settled else " (gave up waiting after 120 s)")
                + (f"; refused or failed: {dict(streams.failures)}" if streams.failures else "")
            )
            print(
                f"  with them: server RSS {with_streams['VmRSS'] / 1024:.0f} MB "
                f"(+{(with_streams['VmRSS'] - facts['VmRSS']) / 1024:.0f} MB, "
                f"{(with_streams['VmRSS'] - facts['VmRSS']) / max(streams.opened, 1):.0f} kB a stream), "
                f"{with_streams['Threads']} threads, {with_streams['fds']} fds"
            )
            # Paced over the hold, which spans at least one keep-alive round of every stream.
            times, bad = timed_requests(port, paths, args.requests, args.hold)
            # A quiet moment with the streams still open: no request in flight, no keep-alive round due.
            time.sleep(1.0)
            connections_open = db.connections()
        hold_seconds = time.perf_counter() - t0
        samples = watch.samples
        p50, p95 = percentile(times, 50), percentile(times, 95)
        print(
            f"  while open ({hold_seconds:.0f} s): {args.requests} requests over {args.hold:.0f} s "
            f"({', '.join(paths[:3])}, the run): p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {max(times) * 1000:.0f} ms" + (f"; not 200: {dict(bad)}" if bad else "")
        )
        print(
            f"  database connections: before {before}; while open {dict(sorted(Counter(samples).items()))} "
            f"(count: samples, every 0.1 s), in a quiet moment at the end {connections_open}; "
            f"keep-alives received {streams.keepalives} ({streams.keepalives / max(streams.opened, 1):.1f} a stream); "
            f"server RSS peak {memory.peak / 1024:.0f} MB; streams the server ended: {streams.ended}"
        )
        opened, ended = streams.opened, streams.ended
        streams.close()
        streams = None
        connections_after, rss_after, waited = settle(db, server.pid)
        after = process_facts(server.pid)
        print(
            f"closed: after {waited:.1f} s {connections_after} database connections, server RSS "
            f"{rss_after / 1024:.0f} MB, {after['Threads']} threads, {after['fds']} fds"
        )
        held = db.query(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 70), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND backend_type = 'client backend' AND application_name <> %s "
            "GROUP BY 1 ORDER BY 2 DESC",
            [BENCH_APP],
        )
        print("  their last queries: " + "; ".join(f"{n} x {q!r}" for q, n in held))
        # Still healthy: the slots of the closed streams are free again, requests and runs are served.
        again = IdleStreams(port, f"/api/runs/{run_id}/events/", count)
        again.start()
        again.wait_settled(120.0)
        again.close()
        after_times, after_bad = timed_requests(port, paths, 20, 0.0)
        last = run_one(port, threading.Barrier(1))
        print(
            f"  health: {again.opened}/{count} streams open again (the closed ones' slots freed); "
            f"20 requests p95 {percentile(after_times, 95) * 1000:.0f} ms"
            + (f" (not 200: {dict(after_bad)})" if after_bad else "")
            + f"; a new run of {coins} coins "
            + (f"completed in {last.seconds:.2f} s" if last.seconds is not None else f"FAILED: {last.failure}")
        )
        # Beside `before`, a sample may count the stream readers' connections while they read (a
        # keep-alive round) and the timed request in flight (one at a time, its connection closed after).
        allowed = before + STREAM_READERS + 1
        rows = [
            (
                f"{count:,} idle streams open at once on one server process",
                f"{opened:,} open, {ended} ended by the server",
                opened == count and not ended,
            ),
            (
                "database connections unchanged (pool threads + writer)",
                f"before {before}; with the streams open {connections_open} when quiet, at most {max(samples)} "
                f"(<= {allowed}: + {STREAM_READERS} stream readers while they read + the timed request); "
                f"after {connections_after}",
                connections_open <= before and max(samples) <= allowed and connections_after <= before,
            ),
            (
                "other requests still served, p95 under 500 ms",
                f"p95 {p95 * 1000:.0f} ms, {sum(bad.values())} not 200",
                p95 < 0.5 and not bad,
            ),
            (
                "memory printed",
                f"RSS {facts['VmRSS'] / 1024:.0f} MB before, {with_streams['VmRSS'] / 1024:.0f} MB with the "
                f"streams (peak {memory.peak / 1024:.0f}), {rss_after / 1024:.0f} MB after",
                True,
            ),
        ]
        print("issue 18's targets:")
        for target, figure, ok in rows:
            print(f"  {'ok ' if ok else 'NO '} {target}: {figure}")
            if not ok:
                problems.append(target)
        if again.opened != count:
            problems.append(f"only {again.opened}/{count} streams opened again after closing")
        if after_bad or last.seconds is None:
            problems.append("the server was not healthy after the streams closed")
        for problem in problems:
            print(f"  problem: {problem}")
    finally:
        if streams is not None:
            streams.close()
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        django_script(env, _HELD_DELETE, HELD_OWNER)
    print("RESULT:", "FAILED" if problems else "ok")
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--coins", type=int, default=48)
    parser.add_argument("--waves", type=int, default=2, help="rounds of --runs runs (the first with a cold cache)")
    parser.add_argument("--max-concurrent", type=int, help="the server's BACKTEST_MAX_CONCURRENT_RUNS (default --runs)")
    parser.add_argument("--strategy", type=int, default=1)
    parser.add_argument("--skip-load", action="store_true", help="the database already holds the demo coins")
    parser.add_argument(
        "--idle-streams",
        type=int,
        metavar="N",
        help="instead of the runs: N idle event streams of a run held running, open at once (issue 18: 1000)",
    )
    parser.add_argument("--hold", type=float, default=30.0, help="--idle-streams: seconds they stay open (min 25)")
    parser.add_argument(
        "--requests", type=int, default=200, help="--idle-streams: other requests timed while they are open"
    )
    args = parser.parse_args()
    if args.idle_streams is not None and not (
        1 <= args.idle_streams <= 10_000 and args.hold >= 25 and 1 <= args.requests <= 10_000
    ):
        raise SystemExit("--idle-streams 1..10000, --hold at least 25 (one keep-alive round), --requests 1..10000")
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
        "BACKTEST_CLIENT_CONCURRENCY": str(limit),  # every request comes from this one address
        "RUNS_THROTTLE_RATE": "100000/min",
        "READS_THROTTLE_RATE": "100000/min",
        "LOG_LEVEL": "WARNING",
    }
    if args.idle_streams:
        # Every stream comes from this one address: the per-client and total limits are raised past them.
        env["RUN_STREAMS_PER_CLIENT"] = env["RUN_STREAMS_MAX"] = str(args.idle_streams + 10)
        nofile_raise(2 * args.idle_streams + 1024)  # the server inherits it: a socket per stream on both sides

    database_prepare(env, load_coins=None if args.skip_load else args.coins)
    db = Database(database_url)
    (coins,) = db.query(
        "SELECT count(*) FROM cryptocurrencies c WHERE is_active AND EXISTS (SELECT 1 FROM crypto_prices p "
        "WHERE p.crypto_id = c.id AND p.interval_type = '1h' AND p.datetime >= '2024-01-01' "
        "AND p.datetime < '2025-01-01')"
    )[0]
    if args.idle_streams:
        return idle_main(args, env, db, coins)
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
