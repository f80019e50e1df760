"""Time `import_prices` on 48 coins x 8,760 hourly bars (420,480 rows).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bt_data_bench .venv/bin/python bench/import.py

`--coins 50` gives the 438,000 rows of the issue's figure. Writes one CSV per coin into a
temporary directory (the format pandas writes: unnamed index column of ISO times, then open,
high, low, close, volume; named as freqtrade names files, BENCH00_USDT-1h.csv), migrates the
database named by DATABASE_URL, then times, in one process:
1. one `import_prices` of the folder (every coin in one command, the coins from the file names);
2. the same again (which must change nothing);
3. one `import_prices` per file, as the importer had to be called before (each file its own commit);
and, first, the reading and checking of the files alone (no database).
It prints rows, seconds and rows/s of each, beside the rate of the importer before the
vectorised one (`BEFORE`, measured with this script at commit 0a8c194 on the same machine) and the
rate before the direct COPY and client-built numerics (`UPSERT_ONLY`, this script at b2f213e).
The bench coins (symbols BENCH00, BENCH01, ...) are deleted (and the table vacuumed) before each
first import, and at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backtest_site.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from market_data import demo  # noqa: E402
from market_data.formats import read_price_file  # noqa: E402
from market_data.models import Cryptocurrency, Price  # noqa: E402

BARS = 8760
# bench/import.py at 0a8c194 (one import_prices per file, the per-row parser and text COPY), PostgreSQL 2026-12-02.
BEFORE = {"first import": 13_269, "re-import": 20_964}
# bench/import.py at b2f213e (every bar through a temporary table, float8 -> text -> numeric casts and one
# INSERT ... ON CONFLICT DO UPDATE; an ANALYZE after every command), PostgreSQL 2026-12-03, load 1 to 3.6.
UPSERT_ONLY = {
    "first import (one command)": 28_363,
    "re-import (one command)": 73_564,
    "first import (one command per file)": 11_606,
    "re-import (one command per file)": 15_507,
}


def write_csvs(folder: Path, coins: int) -> list[tuple[str, Path]]:
    times = [t.strftime("%Y-%m-%d %H:%M:%S+00:00") for t in demo.demo_times()[:BARS]]
    files = []
    for k in range(coins):
        # Beyond the 48 demo coins, reuse their parameters under a new seed.
        spec = dataclasses.replace(demo.DEMO_COINS[k % len(demo.DEMO_COINS)], symbol=f"BENCH{k:02d}")
        bars = demo.demo_ohlcv(spec, BARS)
        path = folder / f"BENCH{k:02d}_USDT-1h.csv"
        with open(path, "w") as out:
            out.write(",open,high,low,close,volume\n")
            out.writelines(
                f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r}\n"
                for t, (o, h, lo, c, v) in zip(times, bars.tolist(), strict=True)
            )
        files.append((f"BENCH{k:02d}", path))
    return files


def import_each(files: list[tuple[str, Path]]) -> float:
    started = time.perf_counter()
    for symbol, path in files:
        call_command("import_prices", str(path), symbol=symbol, stdout=open(os.devnull, "w"))
    return time.perf_counter() - started


def parse_only(files: list[tuple[str, Path]]) -> float:
    """Reading and checking every file, no database: the importer's own share of the time."""
    started = time.perf_counter()
    for _, path in files:
        read_price_file(path)
    return time.perf_counter() - started


def import_folder(folder: Path) -> float:
    started = time.perf_counter()
    call_command("import_prices", str(folder), quote="USDT", stdout=open(os.devnull, "w"))
    return time.perf_counter() - started


def bench_delete(bench) -> None:
    """Delete the bench coins and, on PostgreSQL, vacuum their bars away: every phase starts from the same
    table, whether autovacuum runs or not (dead rows of earlier runs slow every insert)."""
    bench.delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM crypto_prices")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=48)
    parser.add_argument("--keep", action="store_true", help="keep the bench coins afterwards")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    bench = Cryptocurrency.objects.filter(symbol__startswith="BENCH")
    bench_delete(bench)
    rows = args.coins * BARS

    def line(label: str, seconds: float, note: str = "") -> None:
        before = BEFORE.get(label.split(" (")[0])
        upsert_only = UPSERT_ONLY.get(label)
        beside = f"   (before: {before:,} rows/s; b2f213e: {upsert_only:,} rows/s)" if before else ""
        print(f"{label + ':':<40}{rows:,} rows in {seconds:6.2f} s = {rows / seconds:>9,.0f} rows/s{note}{beside}")

    with tempfile.TemporaryDirectory() as tmp:
        files = write_csvs(Path(tmp), args.coins)
        print(f"database: {connection.vendor} ({connection.settings_dict['NAME']}), {args.coins} coins x {BARS} bars")
        print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        line("parse and check only (no database)", parse_only(files))
        seconds = import_folder(Path(tmp))
        stored = Price.objects.filter(crypto__in=bench).count()
        line("first import (one command)", seconds, f" ({stored:,} rows stored)")
        line("re-import (one command)", import_folder(Path(tmp)), " (changes nothing)")
        bench_delete(bench)
        line("first import (one command per file)", import_each(files))
        line("re-import (one command per file)", import_each(files), " (changes nothing)")
    if not args.keep:
        bench_delete(bench)
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
