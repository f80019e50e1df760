"""Trades stored packed (runs.tradelog): what comes back is what the engine produced, as the API serves it."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from runs.jobs import trade_log_pack
from runs.tradelog import iso_seconds, trades_pack, trades_unpack
from strategies.engine import backtest_arrays, backtest_portfolio_arrays
from tests.support import random_walk

FIELDS = ("entry_time", "entry_price", "exit_time", "exit_price", "return_pct", "reason")


def _bars(seed: int, n: int = 800) -> dict[str, np.ndarray]:
    times = np.datetime64("2024-01-01", "ns").astype(np.int64) + np.arange(n, dtype=np.int64) * 3_600_000_000_000
    return {"times": times, **random_walk(seed, n)}


def test_a_coins_trades_come_back_as_the_engine_made_them():
    result = backtest_arrays("rsi", **_bars(3), params={"rsi_period": 5})
    assert len(result.trades) > 5
    back = trades_unpack(trade_log_pack(result.trade_log))
    expected = [
        {
            **{k: t[k] for k in FIELDS},
            "entry_time": iso_seconds([t["entry_time"]])[0],
            "exit_time": iso_seconds([t["exit_time"]])[0],
        }
        for t in result.trades
    ]
    assert back == expected
    assert [list(t) for t in back[:1]] == [list(FIELDS)]  # the contract's order of fields
    assert (
        trades_unpack(b"") == []
        and trades_unpack(trade_log_pack(result.trade_log.__class__(*([np.empty(0)] * 8)))) == []
    )


def test_an_accounts_trades_keep_their_symbols():
    coins = {"BBB": _bars(1), "AAA": _bars(2)}
    result = backtest_portfolio_arrays("rsi", coins, {"rsi_period": 5}, slots=1)
    log = result.trade_log
    blob = trades_pack(
        **{k: log[k] for k in ("entry_time", "exit_time", "entry_price", "exit_price", "return_pct", "reason")},
        reasons=("signal", "stop_loss", "end_of_data"),
        symbol=log["coin"],
        symbols=result.symbols,
    )
    back = trades_unpack(blob)
    assert [t["symbol"] for t in back] == [t["symbol"] for t in result.trades] and {"AAA", "BBB"} <= {
        t["symbol"] for t in back
    }
    assert [t["return_pct"] for t in back] == [t["return_pct"] for t in result.trades]
    assert list(back[0]) == ["symbol", *FIELDS]


def test_a_truncated_blob_is_refused():
    result = backtest_arrays("rsi", **_bars(3), params={"rsi_period": 5})
    with pytest.raises(ValueError):
        trades_unpack(trade_log_pack(result.trade_log)[:-3])


@pytest.mark.parametrize("with_symbol", [False, True])
def test_the_migration_packs_stored_json_trades_the_same_way(with_symbol):
    """runs/migrations/0007 packs the JSON trades of stored runs with its own copy of the layout."""
    migration = importlib.import_module("runs.migrations.0007_trades_packed")
    trades = [
        {
            "entry_time": "2024-01-01T05:00:00Z",
            "entry_price": 101.25,
            "exit_time": "2024-01-02T00:00:00Z",
            "exit_price": 99.5,
            "return_pct": -1.7283950617283951,
            "reason": "stop_loss",
        },
        {
            "entry_time": "2024-01-03T00:00:00Z",
            "entry_price": 0.1 + 0.2,
            "exit_time": "2024-01-04T13:00:00Z",
            "exit_price": 1e-8,
            "return_pct": 12.5,
            "reason": "signal",
        },
    ]
    if with_symbol:
        trades = [{"symbol": s, **t} for s, t in zip(("ETH", "BTC"), trades, strict=True)]
    assert trades_unpack(migration._pack(trades, with_symbol)) == trades
