"""A run's coins load their bars through the price cache: miss, hit, and invalidation on import."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from market_data.parsing import PriceBar
from market_data.services import prices_bulk_upsert
from runs.models import RunResult
from tests.support import BARS, T0, wait_run


def _run(**body) -> str:
    run_id = APIClient().post("/api/runs/", {"strategy_id": 1, **body}, format="json").json()["id"]
    wait_run(run_id)
    return run_id


def test_first_run_misses_the_second_hits(coins, db_loads):
    _run()
    assert sorted(db_loads) == sorted(c.coin.id for c in coins.values())  # each coin read once
    db_loads.clear()
    _run(start_date="2024-01-05")  # another window of the same series: still cached
    _run(strategy_id=2)
    assert db_loads == []


def test_an_import_invalidates_the_cached_series(coins, db_loads):
    aaa = coins["AAA"]
    first = _run(symbols=["AAA"])
    before = RunResult.objects.get(run_id=first, crypto_symbol="AAA").buy_hold_return
    # Re-import the last bar of AAA with its close doubled.
    last = T0 + dt.timedelta(hours=BARS - 1)
    close = float(aaa.close[-1]) * 2
    bar = PriceBar(last, float(aaa.open[-1]), close, float(aaa.low[-1]), close, 1000.0)
    assert prices_bulk_upsert(crypto_id=aaa.coin.id, interval="1h", bars=[bar]) == 1
    db_loads.clear()
    second = _run(symbols=["AAA"])
    assert db_loads == [aaa.coin.id]  # the new version is a miss
    after = RunResult.objects.get(run_id=second, crypto_symbol="AAA").buy_hold_return
    assert after == pytest.approx((close / aaa.close[0] - 1) * 100, rel=1e-12)
    assert after != pytest.approx(before)
