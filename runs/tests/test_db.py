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


def test_values_are_prepared_as_their_fields_save_them(db):
    """rows_update / rows_insert skip Django's calls for plain values: what they send is what the field
    itself would send, for plain values and for the others (numpy numbers, bools, None, bytes, datetimes)."""
    import datetime as dt

    import numpy as np

    from runs.db import _preparer
    from runs.models import RunResult

    values = {
        "total_return": [1.5, None, np.float64(2.25), 3, float("nan")],
        "total_trades": [7, None, np.int64(8), 9.0, True],
        "crypto_symbol": ["BTC", None, ""],
        "error": ["boom", ""],
        "equity": [b"\x00\x01", b""],
        "finished_at": [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), None],
    }

    def plain(value):  # comparable: NaN as text, binary wrappers (memoryview, psycopg2's Binary) as bytes
        if isinstance(value, float) and value != value:
            return "nan"
        if isinstance(value, memoryview):
            return bytes(value)
        return bytes(value.adapted) if hasattr(value, "adapted") else value

    for name, cases in values.items():
        field = RunResult._meta.get_field(name)
        prepare = _preparer(field)
        for value in cases:
            got, want = prepare(value), field.get_db_prep_save(value, connection)
            assert type(got) is type(want), (name, value)
            assert plain(got) == plain(want), (name, value)


def test_rows_insert_stores_what_bulk_create_stores(coins):
    """The pending rows of a run, inserted with only the values that are not NULL, read back exactly as
    rows bulk_create made from the same values (every other field NULL or its default)."""
    from market_data.models import Cryptocurrency
    from runs.db import rows_insert
    from runs.models import BacktestRun, RunResult
    from strategies.models import Strategy

    strategy = Strategy.objects.order_by("id").first()
    lean, stock = (BacktestRun.objects.create(strategy=strategy, parameters={}) for _ in range(2))
    cryptos = list(Cryptocurrency.objects.order_by("symbol")[:5])
    given = {"state": RunResult.State.PENDING, "error": "", "trade_log": b"", "equity": b""}
    inserted = rows_insert(
        RunResult,
        fields=["run", "crypto", "crypto_symbol", "crypto_name", "is_demo", *given],
        rows=[
            {"run": lean.id, "crypto": c.id, "crypto_symbol": c.symbol, "crypto_name": c.name, "is_demo": c.is_demo}
            | given
            for c in cryptos
        ],
        batch=2,  # three statements
    )
    RunResult.objects.bulk_create(
        RunResult(run=stock, crypto=c, crypto_symbol=c.symbol, crypto_name=c.name, is_demo=c.is_demo) for c in cryptos
    )
    assert inserted == len(cryptos)
    skip = {"id", "run"}
    names = [f.attname for f in RunResult._meta.concrete_fields if f.name not in skip]

    def read(run):
        return [
            {n: bytes(v) if isinstance(v, memoryview) else v for n, v in row.items()}
            for row in RunResult.objects.filter(run=run).order_by("crypto_symbol").values(*names)
        ]

    assert read(lean) == read(stock)
    assert len(read(lean)) == len(cryptos)


def test_packed_columns_are_stored_without_compression(db):
    """The bytea columns of packed numbers are SET STORAGE EXTERNAL (runs 0007, market_data 0004,
    sweeps 0005): pglz cannot shrink them and spends about 1 ms a 36 KB value trying."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL column setting")
    from market_data.models import PricePack
    from runs.models import RunPortfolio, RunResult
    from sweeps.models import SweepCell

    wanted = {
        (RunResult._meta.db_table, "trade_log"),
        (RunResult._meta.db_table, "equity"),
        (RunPortfolio._meta.db_table, "trade_log"),
        (RunPortfolio._meta.db_table, "equity"),
        (PricePack._meta.db_table, "bars"),
        (SweepCell._meta.db_table, "coin_metrics"),
        (SweepCell._meta.db_table, "test_coin_metrics"),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attname, a.attstorage FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'bytea'::regtype",
            [sorted({table for table, _ in wanted})],
        )
        storage = {(table, column): kind for table, column, kind in cursor.fetchall()}
    assert storage == dict.fromkeys(wanted, "e")
