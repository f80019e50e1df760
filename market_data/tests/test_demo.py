"""load_demo: a deterministic, labelled demo universe that never overwrites imported coins."""

import datetime as dt
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from market_data import demo
from market_data.models import Cryptocurrency, Price


def load(**options) -> str:
    out = StringIO()
    call_command("load_demo", stdout=out, **options)
    return out.getvalue()


def test_the_universe_has_48_distinct_coins_and_a_bar_every_hour_of_2024():
    assert len(demo.DEMO_COINS) == 48
    assert len({c.symbol for c in demo.DEMO_COINS}) == 48
    times = demo.demo_times()
    assert (times[0], times[-1], len(times)) == (
        dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2024, 12, 31, 23, tzinfo=dt.UTC),
        8784,
    )


def test_every_generated_bar_is_a_valid_bar():
    for coin in demo.DEMO_COINS:
        bars = demo.demo_ohlcv(coin, 8784)
        o, h, lo, c, v = bars.T
        assert (bars[:, :4] > 0).all(), coin.symbol
        assert (h >= np.maximum(o, c)).all() and (lo <= np.minimum(o, c)).all(), coin.symbol
        assert (v > 0).all() and (v < 1e12).all(), coin.symbol
        assert (o[1:] == c[:-1]).all(), coin.symbol  # each bar opens at the previous close


def test_generation_is_deterministic_and_starts_near_the_coins_price():
    btc = demo.DEMO_COINS[0]
    first, second = demo.demo_ohlcv(btc, 100), demo.demo_ohlcv(btc, 100)
    assert np.array_equal(first, second)
    assert first[0, 0] == btc.start_price
    assert not np.array_equal(first, demo.demo_ohlcv(demo.DEMO_COINS[1], 100))


@pytest.mark.django_db
def test_load_demo_marks_coins_as_demo_in_flag_and_name():
    out = load(coins=2)
    coins = list(Cryptocurrency.objects.order_by("id"))
    assert [(c.symbol, c.name, c.is_demo) for c in coins] == [
        ("BTC", "Bitcoin (demo)", True),
        ("ETH", "Ethereum (demo)", True),
    ]
    assert Price.objects.filter(crypto=coins[0], interval_type="1h").count() == 8784
    assert "Loaded 2 demo coins, 17,568 bars" in out
    assert "rows/s" in out


@pytest.mark.django_db
def test_loaded_bars_are_the_generated_ones():
    load(symbols="SOL")
    rows = list(
        Price.objects.filter(crypto__symbol="SOL").order_by("datetime").values_list("open", "high", "low", "close")[:50]
    )
    expected = demo.demo_ohlcv(next(c for c in demo.DEMO_COINS if c.symbol == "SOL"), 8784)[:50, :4]
    assert np.allclose(np.array(rows, dtype=float), expected, rtol=1e-12, atol=1e-8)


@pytest.mark.django_db
def test_loading_twice_changes_nothing():
    load(symbols="BTC")
    before = list(Price.objects.order_by("id").values_list("id", "datetime", "close", "created_at"))
    load(symbols="BTC")
    assert list(Price.objects.order_by("id").values_list("id", "datetime", "close", "created_at")) == before


@pytest.mark.django_db
def test_if_empty_loads_nothing_when_any_coin_exists():
    Cryptocurrency.objects.create(symbol="XYZ", name="Real coin")
    out = load(if_empty=True, coins=1)
    assert "already has coins" in out
    assert list(Cryptocurrency.objects.values_list("symbol", flat=True)) == ["XYZ"]


@pytest.mark.django_db
def test_if_empty_loads_into_an_empty_database():
    load(if_empty=True, coins=1)
    assert Cryptocurrency.objects.get().symbol == "BTC"


@pytest.mark.django_db
def test_real_data_always_wins_over_the_demo():
    real = Cryptocurrency.objects.create(symbol="ETH", name="Ethereum")
    Price.objects.create(crypto=real, datetime=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), open=1, high=2, low=1, close=2)
    out = load(symbols="BTC,ETH")
    real.refresh_from_db()
    assert (real.name, real.is_demo) == ("Ethereum", False)
    assert list(Price.objects.filter(crypto=real).values_list("close", flat=True)) == [2]
    assert Price.objects.filter(crypto__symbol="BTC").count() == 8784
    assert "Kept imported coins (not overwritten by the demo): ETH" in out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "message"), [({"symbols": "BTC,NOPE"}, "not demo symbols: NOPE"), ({"coins": 49}, "between 1 and 48")]
)
def test_bad_selection_is_refused(options, message):
    with pytest.raises(CommandError, match=message):
        load(**options)
    assert not Cryptocurrency.objects.exists()
