"""Two imports of overlapping files of one coin at the same time: no duplicate bars, no half-written file.

Each import runs in its own thread with its own database connection (committed data, as two
`manage.py import_prices` processes would see). Both threads parse their file, then wait at a
barrier, so their transactions start together: on PostgreSQL both would find no coin row and
try to create it; on SQLite the second waits for the first's write lock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from market_data import services
from market_data.models import Cryptocurrency, Price

pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
ROWS = 1500


def bar_values(i: int, base: float) -> tuple[Decimal, ...]:
    """(open, high, low, close, volume) of hour i of a file whose prices start at `base`."""
    close = base + i * 0.5
    return tuple(Decimal(str(v)).quantize(Decimal("1e-8")) for v in (close - 0.25, close + 1, close - 1, close, 10 + i))


def write_file(path: Path, *, first_hour: int, rows: int, base: float, bad_line: int | None = None) -> Path:
    """Hourly bars from hour `first_hour`; with bad_line, that data line (the header is line 1) is unparsable."""
    lines = ["datetime,open,high,low,close,volume"]
    for k in range(rows):
        i = first_hour + k
        o, h, lo, c, v = bar_values(i, base)
        lines.append(f"{(T0 + dt.timedelta(hours=i)).isoformat()},{o},{h},{lo},{c},{v}")
    if bad_line is not None:
        lines[bad_line - 1] = lines[bad_line - 1].replace(",", ",oops", 1)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def together(monkeypatch):
    """together(f, g, ...) runs the calls in threads whose transactions start at the same moment;
    returns what each returned or raised."""

    def run(*calls: Callable[[], object]) -> list[object]:
        parsed = threading.Barrier(len(calls), timeout=30)
        read_files = services._read_files

        def read_then_wait(*args, **kwargs):
            try:
                return read_files(*args, **kwargs)
            finally:  # a refused file waits too, so it is refused while the other import runs
                parsed.wait()

        monkeypatch.setattr(services, "_read_files", read_then_wait)
        outcomes: list[object] = [None] * len(calls)

        def work(k: int, call: Callable[[], object]) -> None:
            try:
                outcomes[k] = call()
            except BaseException as exc:  # noqa: BLE001 - handed to the test to assert on
                outcomes[k] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=work, args=(k, c)) for k, c in enumerate(calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "an import is stuck (deadlock?)"
        return outcomes

    return run


def stored_bars(symbol: str) -> dict[int, tuple[Decimal, ...]]:
    """{hour index: (open, high, low, close, volume)} of the coin's 1h bars."""
    rows = Price.objects.filter(crypto__symbol=symbol, interval_type="1h").values_list(
        "datetime", "open", "high", "low", "close", "volume"
    )
    return {int((r[0] - T0).total_seconds()) // 3600: tuple(r[1:]) for r in rows}


def import_csv(path: Path, symbol: str) -> Callable[[], object]:
    return lambda: services.prices_import_csv(paths=[path], symbol=symbol, interval="1h")


def test_two_imports_of_overlapping_files_of_a_new_coin_leave_the_union_each_file_whole(tmp_path, together):
    half = ROWS // 2
    a = write_file(tmp_path / "a.csv", first_hour=0, rows=ROWS, base=100.0)
    b = write_file(tmp_path / "b.csv", first_hour=half, rows=ROWS, base=5000.0)

    outcomes = together(import_csv(a, "BTC"), import_csv(b, "BTC"))

    assert all(isinstance(o, services.ImportReport) for o in outcomes), outcomes
    assert sorted(o.created for o in outcomes) == [False, True]  # exactly one of them created the coin
    assert Cryptocurrency.objects.filter(symbol="BTC").count() == 1
    bars = stored_bars("BTC")
    assert len(bars) == Price.objects.count() == ROWS + half  # the union, no duplicates
    assert sorted(bars) == list(range(ROWS + half))
    # Every bar is one file's row (no mix within a row) ...
    source = {}
    for i, values in bars.items():
        from_a = i < ROWS and values == bar_values(i, 100.0)
        from_b = i >= half and values == bar_values(i, 5000.0)
        assert from_a or from_b, f"hour {i}: {values} is in neither file"
        source[i] = "a" if from_a else "b"
    # ... and the overlap comes wholly from the import that committed last: no half-written file.
    assert len({source[i] for i in range(half, ROWS)}) == 1


def test_overlapping_imports_into_an_existing_coin_are_serialized(tmp_path, together):
    Cryptocurrency.objects.create(symbol="ETH", name="Ethereum")
    a = write_file(tmp_path / "a.csv", first_hour=0, rows=ROWS, base=100.0)
    b = write_file(tmp_path / "b.csv", first_hour=0, rows=ROWS, base=7000.0)

    outcomes = together(import_csv(a, "eth"), import_csv(b, "ETH"))

    assert all(isinstance(o, services.ImportReport) and not o.created for o in outcomes), outcomes
    bars = stored_bars("ETH")
    assert len(bars) == Price.objects.count() == ROWS
    assert set(bars.values()) in (
        {bar_values(i, 100.0) for i in range(ROWS)},
        {bar_values(i, 7000.0) for i in range(ROWS)},
    )


def test_a_file_refused_late_writes_nothing_while_another_import_runs(tmp_path, together):
    good = write_file(tmp_path / "good.csv", first_hour=0, rows=ROWS, base=100.0)
    # Overlaps the good file and goes beyond it; its very last line is bad.
    bad = write_file(tmp_path / "bad.csv", first_hour=ROWS // 2, rows=ROWS, base=9000.0, bad_line=ROWS + 1)
    # The refused file names a coin of its own too: it must not be created.
    bad_new = write_file(tmp_path / "bad_new.csv", first_hour=0, rows=ROWS, base=9000.0, bad_line=ROWS + 1)

    outcomes = together(
        import_csv(good, "SOL"),
        lambda: call_command("import_prices", str(bad), symbol="SOL", interval="1h"),
        lambda: call_command("import_prices", str(bad_new), symbol="ADA", interval="1h"),
    )

    assert isinstance(outcomes[0], services.ImportReport), outcomes[0]
    for refused in outcomes[1:]:
        assert isinstance(refused, CommandError), refused
        assert f"line {ROWS + 1}" in str(refused) and "nothing was imported" in str(refused)
    bars = stored_bars("SOL")
    assert bars == {i: bar_values(i, 100.0) for i in range(ROWS)}
    assert not Cryptocurrency.objects.filter(symbol="ADA").exists()
    assert Price.objects.count() == ROWS
