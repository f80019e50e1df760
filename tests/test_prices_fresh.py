"""Prices are never stale (issue 18): `manage.py import_prices` in another process, with the default
settings (no Redis: each process has a cache of its own) or while Redis hangs, is seen by the next
run of this process (the "server"), whose in-process memo holds the old series.

Runs on the embedded default (SQLite + local memory) and on PostgreSQL (DATABASE_URL); the Redis
test brings a Redis server of its own (tests/test_faults.PrivateRedis) and hangs it with SIGSTOP.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.test.utils import override_settings

from backtest_site.cache import cache_guard
from market_data import selectors
from market_data.models import Cryptocurrency
from runs.api import run_request_create
from runs.models import RunResult
from tests.support import BARS, T0, wait_run
from tests.test_faults import ROOT, PrivateRedis, _database_url, redis_caches

pytestmark = pytest.mark.usefixtures("runs_settings")

BODY = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}
MORE = 200  # bars the import adds after the coin's 500


def _aaa() -> RunResult:
    run = wait_run(run_request_create(BODY).id)
    return RunResult.objects.get(run=run, crypto_symbol="AAA")


def _csv(path: Path) -> Path:
    """AAA's bars again, every one changed (a steady rise), and MORE new ones after them."""
    lines = ["datetime,open,high,low,close,volume"]
    for i in range(BARS + MORE):
        close = 50.0 + i * 0.25 + (3.0 if i % 7 == 0 else 0.0)
        lines.append(f"{(T0 + dt.timedelta(hours=i)).isoformat()},{close - 0.1},{close + 1},{close - 1},{close},5")
    path.write_text("\n".join(lines) + "\n")
    return path


def _import_elsewhere(path: Path, **env: str) -> str:
    """`manage.py import_prices` as an operator runs it: a process of its own, the site's settings."""
    environ = {
        k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    environ.update(
        DJANGO_SETTINGS_MODULE="backtest_site.settings",
        DATABASE_URL=_database_url(),
        SECRET_KEY="prices-fresh-test-" + "x" * 40,
        **env,
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "import_prices", str(path), "--symbol", "AAA", "--interval", "1h"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_import_in_another_process_reaches_this_processes_memo_with_the_default_settings(coins, tmp_path):
    before = _aaa()
    assert before.bars == BARS
    coin = Cryptocurrency.objects.get(symbol="AAA")
    key = selectors._series_key(coin.id, "1h", coin.prices_version)
    assert selectors.series_memo.get_many([key])  # this process holds the old series in memory
    _import_elsewhere(_csv(tmp_path / "aaa.csv"))
    after = _aaa()
    assert after.bars == BARS + MORE  # the next run uses the new series
    assert after.total_return != before.total_return
    assert after.last_bar == T0 + dt.timedelta(hours=BARS + MORE - 1)


def test_an_import_while_redis_hangs_is_seen_by_the_next_run(coins, tmp_path, monkeypatch):
    """The cache is a real Redis, shared by this process and the import's. It hangs (SIGSTOP)
    during the import, and is back for the next run: that run reads the new series."""
    server = PrivateRedis(tmp_path)
    server.start()
    cache_guard.reset()
    monkeypatch.setattr(cache_guard, "retry_after", 0.2)
    try:
        with override_settings(CACHES=redis_caches(server.port)):
            before = _aaa()  # cached in Redis and in this process's memo
            assert before.bars == BARS
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                _import_elsewhere(
                    _csv(tmp_path / "aaa.csv"),
                    REDIS_URL=f"redis://127.0.0.1:{server.port}/0",
                    CACHE_KEY_PREFIX="faults",  # as this process's cache (redis_caches)
                )
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            cache_guard.reset()
            after = _aaa()
            assert after.bars == BARS + MORE
            assert after.total_return != before.total_return
    finally:
        server.kill()
