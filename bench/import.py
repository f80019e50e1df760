"""Time `import_prices` on 48 coins x 8,760 hourly bars (420,480 rows).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bt_bench .venv/bin/python bench/import.py

`--coins 50` gives the 438,000 rows of the issue's figure. Writes one CSV per coin into a
temporary directory (the format pandas writes:
unnamed index column of ISO times, then open, high, low, close, volume), migrates the
database named by DATABASE_URL, imports every file with `import_prices` in one process,
then imports them all again (which must change nothing), and prints rows, seconds and
rows/s for both passes. The bench coins (symbols BENCH00, BENCH01, ...) are deleted at the
end unless --keep is given.
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
from market_data.models import Cryptocurrency, Price  # noqa: E402

BARS = 8760


def write_csvs(folder: Path, coins: int) -> list[tuple[str, Path]]:
    times = [t.strftime("%Y-%m-%d %H:%M:%S+00:00") for t in demo.demo_times()[:BARS]]
    files = []
    for k in range(coins):
        # Beyond the 48 demo coins, reuse their parameters under a new seed.
        spec = dataclasses.replace(demo.DEMO_COINS[k % len(demo.DEMO_COINS)], symbol=f"BENCH{k:02d}")
        bars = demo.demo_ohlcv(spec, BARS)
        path = folder / f"bench{k:02d}.csv"
        with open(path, "w") as out:
            out.write(",open,high,low,close,volume\n")
            out.writelines(
                f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r}\n"
                for t, (o, h, lo, c, v) in zip(times, bars.tolist(), strict=True)
            )
        files.append((f"BENCH{k:02d}", path))
    return files


def import_all(files: list[tuple[str, Path]]) -> float:
    started = time.perf_counter()
    for symbol, path in files:
        call_command("import_prices", str(path), symbol=symbol, stdout=open(os.devnull, "w"))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=48)
    parser.add_argument("--keep", action="store_true", help="keep the bench coins afterwards")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    bench = Cryptocurrency.objects.filter(symbol__startswith="BENCH")
    bench.delete()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_csvs(Path(tmp), args.coins)
        rows = args.coins * BARS
        print(f"database: {connection.vendor} ({connection.settings_dict['NAME']}), {args.coins} coins x {BARS} bars")
        first = import_all(files)
        stored = Price.objects.filter(crypto__in=bench).count()
        print(f"first import:  {rows:,} rows in {first:.2f} s = {rows / first:,.0f} rows/s ({stored:,} rows stored)")
        again = import_all(files)
        print(f"re-import:     {rows:,} rows in {again:.2f} s = {rows / again:,.0f} rows/s (changes nothing)")
    if not args.keep:
        bench.delete()


if __name__ == "__main__":
    main()
