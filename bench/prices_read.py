"""A cold read of every coin's hourly bars: from the bars' rows, and from the packs (market_data.selectors).

    DATABASE_URL=... .venv/bin/python bench/prices_read.py [--repeats 3]

Reads the database DATABASE_URL names as it is (load coins first: `manage.py load_demo`, or
bench/e2e.py --coins 500 on PostgreSQL). Prints, for all its coins at once, the best of --repeats:
1. the rows: the one statement a read made before the packs (`selectors._prices_rows_load_many`);
2. the packs: the read of a cache miss (`selectors.prices_load_many` with the versions), after one
   read that packs whatever is not packed under the current version yet;
and checks that both give the same bars; 3. writing every pack, none stored before (what the first
cold read after migrating pays on top of the rows, or the refresh after an import of every coin).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best(repeats: int, call) -> tuple[float, object]:
    seconds, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = call()
        seconds = min(seconds, time.perf_counter() - started)
    return seconds, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--interval", default="1h")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backtest_site.settings")
    os.environ.setdefault("SECRET_KEY", "bench-prices-read-not-secret-" + "x" * 40)
    import django

    django.setup()
    from django.db import connection

    from market_data import selectors
    from market_data.models import Cryptocurrency, PricePack

    ids = list(Cryptocurrency.objects.order_by("id").values_list("id", flat=True))
    versions = selectors._versions_get_many(ids, args.interval)
    started = time.perf_counter()
    selectors.prices_load_many(crypto_ids=ids, interval=args.interval, versions=versions)  # packs what is not
    packing = time.perf_counter() - started
    rows_s, rows = best(args.repeats, lambda: selectors._prices_rows_load_many(crypto_ids=ids, interval=args.interval))
    packs_s, packs = best(
        args.repeats, lambda: selectors.prices_load_many(crypto_ids=ids, interval=args.interval, versions=versions)
    )
    fields = ("times", "open", "high", "low", "close", "volume")
    same = all(np.array_equal(getattr(rows[c], f), getattr(packs[c], f), equal_nan=True) for c in ids for f in fields)
    bars = sum(len(s) for s in packs.values())
    size = f"{bars * 48 / 1e6:.0f} MB as float64"
    print(f"{connection.vendor}: {len(ids)} coins, {bars:,} bars ({size}), load average {os.getloadavg()[0]:.2f}")
    print(f"  first read (packs what is not packed yet): {packing * 1000:8.1f} ms")
    print(f"  rows  (best of {args.repeats}): {rows_s * 1000:8.1f} ms")
    print(f"  packs (best of {args.repeats}): {packs_s * 1000:8.1f} ms   same bars: {same}")

    PricePack.objects.all().delete()
    started = time.perf_counter()
    selectors._packs_store(interval=args.interval, series=rows, versions=versions)
    print(f"  writing every pack, none stored before (once): {(time.perf_counter() - started) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
