"""A 1,000-cell sweep: the MA crossover, fast 5..54 step 1 x slow 60..250 step 10, 48 coins x 8,760 hourly bars.

    .venv/bin/python bench/sweep.py [--vbt-coins 2] [--skip-e2e]

Prints, in one run:
1. the engine part: every cell of every coin through `sweeps.jobs.cells_compute` (what a job
   computes, no database), on one thread and on two (the kernels release the GIL);
2. vectorbt on the same grid (`MA.run_combs` of each distinct window once, the combinations by
   broadcasting, `Portfolio.from_signals` with the 10 % stop), timed on --vbt-coins coins and
   scaled to 48: its full run takes minutes;
3. end to end through the API on the embedded default (a fresh SQLite file, local-memory cache,
   the in-process pool, 48 demo coins): POST /api/sweeps/, the first `cell` event and `complete`
   on the sweep's stream, for the server's first sweep (prices read from SQLite) and its second
   (prices in the process's memo), and the server's peak memory;
4. the same sweep from the page, in headless Chromium (Debian's chromium, Playwright): the grid typed
   into /sweeps/new, Start clicked, and the time from the click to the first heatmap cell painted
   (the page's `sweep-first-cell` mark, set in the frame after ECharts drew it) and to `completed`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

FAST = list(range(5, 55))
SLOW = list(range(60, 251, 10))
# The same grid as a POST /api/sweeps/ body (bench/scale.py times it too).
SWEEP_BODY = {
    "strategy_id": 2,
    "grid": {
        "fast_ma_period": {"from": FAST[0], "to": FAST[-1], "step": 1},
        "slow_ma_period": {"from": SLOW[0], "to": SLOW[-1], "step": 10},
    },
    "start_date": "2024-01-01",
    "end_date": "2024-12-31",
}
CELLS = [{"fast_ma_period": f, "slow_ma_period": s, "stop_loss_threshold": 10.0} for f in FAST for s in SLOW]


def engine_part(threads: int) -> tuple[float, int]:
    """Seconds for every cell of every coin, in chunks of 40 cells (as the jobs take them)."""
    from engine import make_market

    from market_data.selectors import PriceSeries
    from sweeps import analysis
    from sweeps.jobs import SweepWork, cells_compute

    times, market = make_market()
    series = {
        k: PriceSeries(times, c["open"], c["high"], c["low"], c["close"], np.ones(len(times)))
        for k, c in enumerate(market)
    }
    windows = analysis.windows_plan(first=int(times[0]), last=int(times[-1]), test_start=None, walk_forward=None)
    work = SweepWork(
        strategy="ma_crossover",
        objective="avg_sharpe_ratio",
        interval="1h",
        options={"fee_pct": 0.0, "interval": "1h", "fill": "close", "stop_mode": "close", "slippage_pct": 0.0},
        coin_ids=list(series),
        series=series,
        windows=windows,
        bounds={k: [(0, len(times))] for k in series},
    )
    numbered = list(enumerate(CELLS))
    chunks = [numbered[i : i + 40] for i in range(0, len(numbered), 40)]
    cells_compute(work, chunks[0][:2])  # compiled and loaded before timing
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        done = sum(len(out) for out in pool.map(lambda chunk: cells_compute(work, chunk), chunks))
    return time.perf_counter() - started, done


def vectorbt_part(coins: int) -> float:
    """vectorbt's seconds for the grid on `coins` coins (each distinct MA once, combinations broadcast)."""
    import pandas as pd
    import vectorbt as vbt
    from engine import make_market

    times, market = make_market()
    index = pd.to_datetime(times, utc=True)
    started = time.perf_counter()
    for coin in market[:coins]:
        close = pd.Series(coin["close"], index=index)
        fast = vbt.MA.run(close, FAST, short_name="fast")
        slow = vbt.MA.run(close, SLOW, short_name="slow")
        fast_ma = np.repeat(fast.ma.to_numpy(), len(SLOW), axis=1)
        slow_ma = np.tile(slow.ma.to_numpy(), (1, len(FAST)))
        prev_f, prev_s = np.roll(fast_ma, 1, axis=0), np.roll(slow_ma, 1, axis=0)
        entries = (prev_f <= prev_s) & (fast_ma > slow_ma)
        exits = (prev_f >= prev_s) & (fast_ma < slow_ma)
        entries[0], exits[0] = False, False
        wide = pd.DataFrame(np.repeat(coin["close"][:, None], len(CELLS), axis=1), index=index)
        pf = vbt.Portfolio.from_signals(wide, entries, exits, sl_stop=0.10, freq="1h")
        pf.total_return()
    return time.perf_counter() - started


def end_to_end() -> dict[str, float]:
    """Through the API on the embedded default: a fresh SQLite file, local memory, the in-process pool."""
    from support import PY, server_start

    folder = tempfile.mkdtemp(prefix="bt-sweep-bench-")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
        "DEBUG": "0",
        "SECRET_KEY": "bench-sweep-not-secret-" + "x" * 40,
        "STATIC_MANIFEST": "0",
        "RUNS_THROTTLE_RATE": "100000/min",
        "READS_THROTTLE_RATE": "100000/min",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "backtest_site.settings",
    }
    import subprocess

    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PY, "manage.py", "load_demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    server, port, _ = server_start(env)
    try:
        body = SWEEP_BODY
        headers = {"Content-Type": "application/json"}  # a script: no cookies, so no CSRF (runs/CONTRACT.md)

        def one_sweep() -> dict[str, float]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            started = time.perf_counter()
            conn.request("POST", "/api/sweeps/", body=json.dumps(body), headers=headers)
            created = json.loads(conn.getresponse().read())
            posted = time.perf_counter() - started
            stream = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            stream.request("GET", f"{created['events_url']}?lastEventId=sweep-{created['id']}:0")
            reply = stream.getresponse()
            first_cell = complete = None
            buffer = ""
            while complete is None:
                chunk = reply.read1(65536)
                if not chunk:
                    break
                buffer += chunk.decode()
                *blocks, buffer = buffer.split("\n\n")
                for block in blocks:
                    if "event: cell" in block and first_cell is None:
                        first_cell = time.perf_counter() - started
                    if "event: complete" in block:
                        complete = time.perf_counter() - started
            stream.close()
            return {"cells": created["cells"], "post": posted, "first_cell": first_cell, "complete": complete}

        # The first sweep of a fresh server reads every coin's bars from SQLite (cold); the second finds
        # them in the process's price memo (warm), as every later sweep and run of that server does.
        cold = one_sweep()
        warm = one_sweep()
        page = page_sweep(port)
        status = (Path("/proc") / str(server.pid) / "status").read_text()
        peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
        return {"cold": cold, "warm": warm, "page": page, "peak_mb": peak_kb / 1024}
    finally:
        server.terminate()
        server.wait(20)


def page_sweep(port: int) -> dict[str, float] | None:
    """The grid of SWEEP_BODY typed into /sweeps/new and started there; the times the page measured
    from the click (performance.now() in the one document: Start shows the sweep in place)."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        print("  (no /usr/bin/chromium: the page is not timed; sh scripts/chromium.sh installs it)")
        return None
    from playwright.sync_api import sync_playwright

    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{base}/sweeps/new?strategy={SWEEP_BODY['strategy_id']}")
            page.wait_for_selector("#sweep-form[data-ready=true]")
            for name, label in (("fast_ma_period", "Fast MA period"), ("slow_ma_period", "Slow MA period")):
                page.get_by_label(f"How {label} is set").select_option("range")
                for part in ("from", "to", "step"):
                    page.get_by_label(f"{label} {part}").fill(str(SWEEP_BODY["grid"][name][part]))
            for field in ("start_date", "end_date"):
                page.locator(f"#{field}").fill(SWEEP_BODY[field])
            page.wait_for_selector(f"#preview[data-cells='{len(CELLS)}']", timeout=30_000)
            page.wait_for_selector("#start-button:not([disabled])")
            # The view's code and ECharts, imported and warmed while the form is edited (a person
            # typing a grid takes longer than that).
            page.wait_for_selector("#sweep-form[data-view-ready=true]")
            page.evaluate(
                "document.addEventListener('click', (e) => {"
                " if (e.target.id === 'start-button') window.startedAt = performance.now(); }, true)"
            )
            page.click("#start-button")
            # (wait_for_function evaluates a string, which the page's Content-Security-Policy refuses)
            page.wait_for_selector("#sweep-page[data-status=completed]", timeout=120_000)
            done = page.evaluate("performance.now() - window.startedAt")
            first = page.evaluate("performance.getEntriesByName('sweep-first-cell')[0].startTime - window.startedAt")
            return {"first_cell": first / 1000, "complete": done / 1000}
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vbt-coins", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backtest_site.settings")
    os.environ.setdefault("SECRET_KEY", "bench-sweep-not-secret-" + "x" * 40)
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    print(f"{len(CELLS):,} cells (fast 5..54 x slow 60..250 step 10) x 48 coins x 8,760 hourly bars, MA crossover")
    for threads in (1, 2):
        samples = [engine_part(threads) for _ in range(args.repeats)]
        seconds = statistics.median(s for s, _ in samples)
        print(f"engine part, {threads} thread(s): {seconds:6.2f} s  (median of {args.repeats}; target under 2 s)")
    vbt = vectorbt_part(args.vbt_coins)
    print(f"vectorbt: {vbt:6.2f} s for {args.vbt_coins} coins -> {vbt * 48 / args.vbt_coins:7.1f} s scaled to 48 coins")
    if not args.skip_e2e:
        e2e = end_to_end()
        print("end to end (SQLite, local memory, in-process pool; targets: first cell 0.5 s, complete 5 s):")
        for label in ("cold", "warm"):
            one = e2e[label]
            print(
                f"  {label} (the server's {'first' if label == 'cold' else 'second'} sweep): {one['cells']} cells, "
                f"POST answered in {one['post'] * 1000:.0f} ms, first cell {one['first_cell'] * 1000:.0f} ms, "
                f"complete {one['complete']:.2f} s"
            )
        if e2e["page"]:
            page = e2e["page"]
            print(
                f"  the page (headless Chromium, the server's third sweep): first heatmap cell painted "
                f"{page['first_cell'] * 1000:.0f} ms after the click on Start (target 0.5 s), "
                f"completed shown at {page['complete']:.2f} s"
            )
        print(f"  server peak {e2e['peak_mb']:.0f} MB (target under 1 GB)")


if __name__ == "__main__":
    main()
