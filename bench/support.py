"""What the benches share: a free port, the PostgreSQL database, the price cache's keys."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / ".venv" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_database(url: str) -> None:

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def flush_price_cache(redis_url: str, key_prefix: str) -> int:
    """Delete this bench's cache keys only (other users of the Redis database keep theirs)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{key_prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    return len(keys)


DEMO_COUNT = 48

# More coins than the demo universe: generated the same way (market_data.demo), as bench coins
# BX000, BX001, ... whose bars cover the same year; loaded once, kept for later runs.
_BENCH_COINS = """
import dataclasses, sys
from market_data import demo
from market_data.models import Cryptocurrency
from market_data.parsing import PriceBar
from market_data.services import prices_bulk_upsert
wanted = int(sys.argv[-1])
times = demo.demo_times()
templates = demo.DEMO_COINS
for i in range(wanted):
    symbol = f"BX{i:03d}"
    defaults = {"name": f"Bench coin {i} (demo)", "is_demo": True}
    coin, created = Cryptocurrency.objects.get_or_create(symbol=symbol, defaults=defaults)
    if not created:
        continue
    spec = dataclasses.replace(templates[i % len(templates)], symbol=symbol)
    rows = demo.demo_ohlcv(spec, len(times)).tolist()
    prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=[PriceBar(t, *r) for t, r in zip(times, rows)])
"""


def database_prepare(env: dict[str, str], *, load_coins: int | None) -> None:
    """Create and migrate the bench's database; load that many coins unless None (the demo
    universe's 48, then generated bench coins beyond them)."""
    ensure_database(env["DATABASE_URL"])
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    if load_coins is not None and load_coins > DEMO_COUNT:
        started = time.perf_counter()
        setup = "import django, sys; django.setup(); exec(sys.argv[1])"
        subprocess.run(
            [PY, "-c", setup, _BENCH_COINS, str(load_coins - DEMO_COUNT)],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "backtest_site.settings"},
            check=True,
        )
        print(f"{load_coins - DEMO_COUNT} bench coins ready in {time.perf_counter() - started:.1f} s")
        load_coins = DEMO_COUNT
    if load_coins is not None:
        out = subprocess.run(
            [PY, "manage.py", "load_demo", "--coins", str(load_coins)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        print(out.stdout.strip())


def server_env(*, name: str, database_url: str, redis_url: str, key_prefix: str, **extra: str) -> dict[str, str]:
    """This environment plus what a benchmark's server runs with: the given database and Redis, DEBUG
    off, plain static names, throttles out of the way, warnings only; `extra` on top."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": key_prefix,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", f"bench-{name}-not-secret-" + "x" * 40),
        "STATIC_MANIFEST": "0",
        "RUNS_THROTTLE_RATE": "100000/min",
        "READS_THROTTLE_RATE": "100000/min",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def server_stop(server: subprocess.Popen) -> None:
    """Stop a server of server_start: terminate, and kill it if it has not gone within 10 s."""
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()


def server_start(env: dict[str, str], *, root: Path = ROOT) -> tuple[subprocess.Popen, int, float]:
    """Start uvicorn as the README says, on a free port, from the checkout `root` (this one by
    default; its own .venv); wait until it accepts connections.

    Returns the process, its port and the seconds it took to start.
    """
    port = free_port()
    args = ["backtest_site.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--timeout-graceful-shutdown", "2", "--log-level", "warning"]
    server = subprocess.Popen([root / ".venv" / "bin" / "uvicorn", *args], cwd=root, env=env)
    started = time.perf_counter()
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server, port, time.perf_counter() - started
        except OSError:
            if server.poll() is not None or time.perf_counter() - started > 180:  # a cold numba cache: a minute
                server.kill()
                raise SystemExit("the server did not start") from None
            time.sleep(0.05)
