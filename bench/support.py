"""What the benches share: a free port, the PostgreSQL database, the price cache's keys."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg2

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / ".venv" / "bin" / "python"
UVICORN = ROOT / ".venv" / "bin" / "uvicorn"


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


def database_prepare(env: dict[str, str], *, load_coins: int | None) -> None:
    """Create and migrate the bench's database; load that many demo coins unless None."""
    ensure_database(env["DATABASE_URL"])
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
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


def server_start(env: dict[str, str]) -> tuple[subprocess.Popen, int, float]:
    """Start uvicorn as the README says, on a free port; wait until it accepts connections.

    Returns the process, its port and the seconds it took to start.
    """
    port = free_port()
    args = ["backtest_site.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--timeout-graceful-shutdown", "2", "--log-level", "warning"]
    server = subprocess.Popen([UVICORN, *args], cwd=ROOT, env=env)
    started = time.perf_counter()
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server, port, time.perf_counter() - started
        except OSError:
            if server.poll() is not None or time.perf_counter() - started > 60:
                server.kill()
                raise SystemExit("the server did not start") from None
            time.sleep(0.05)
