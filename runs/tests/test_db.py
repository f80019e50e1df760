"""Database connections of the pool's threads and the event writer."""

import time

import pytest
from django.db import connection
from rest_framework.test import APIClient

from runs.db import thread_connection_prepare
from tests.support import wait_run


def test_prepare_keeps_the_connection_and_relaxes_commits_on_postgresql(tdb, settings):
    settings.BACKTEST_THREAD_CONN_MAX_AGE = 300
    connection.close()
    thread_connection_prepare()
    assert connection.close_at is None or connection.close_at > time.monotonic() + 250
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "off"
    marker = connection._thread_prepared
    thread_connection_prepare()  # prepared once per connection
    assert connection._thread_prepared == marker
    connection.close()


def test_pool_threads_leave_no_connection_open_under_the_test_runner(coins):
    """BACKTEST_THREAD_CONN_MAX_AGE is 0 under pytest, so the test database can be dropped."""
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL sessions")
    run_id = APIClient().post("/api/runs/", {"strategy_id": 1}, format="json").json()["id"]
    wait_run(run_id)
    deadline = time.monotonic() + 5
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            others = cursor.fetchone()[0]
        if others == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert others == 0
