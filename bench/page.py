"""The run page with many coins, in headless Chromium: the budgets of issue 17, measured, not asserted.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bt_e2e REDIS_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python bench/page.py [--coins 500] [--repeat 3] [--skip-load]

Steps: the database of bench/e2e.py (migrated, the demo universe and bench coins loaded: hourly bars
of 2024), the server started as the README says; then, --repeat times, `/` opened in Debian's
chromium (Playwright), *Run backtest* pressed for every coin and, from the page itself:
1. every frame over 50 ms from the press on (Long Animation Frames), and the time its scripts ran
   (forced style and layout included): the budget is no frame with 100 ms of the page's scripts;
2. the summary's lag behind the last event (`bt:complete-received` to `bt:summary-shown`): 0.5 s;
3. a sort of every row by Sharpe, from the press to the laid-out table: 100 ms.
A frame's duration also counts what this 2-core machine gave the server, the database and the
browser's other processes meanwhile, so the figures move with the machine's load (printed beside them).
tests/browser/test_many_coins.py checks the same page's structure (only the rows near the viewport
in the document, the sort, the summary after `complete`) without timing it.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from support import database_prepare, server_env, server_start, server_stop

CHROMIUM = Path("/usr/bin/chromium")
FRAMES = """() => { window.__frames = [];
    new PerformanceObserver(l => window.__frames.push(...l.getEntries().map(e =>
      [Math.round(e.duration), Math.round((e.scripts || []).reduce((sum, s) => sum + s.duration, 0))])))
      .observe({ type: 'long-animation-frame' }); }"""
LAG = """() => performance.getEntriesByName('bt:summary-shown')[0].startTime
    - performance.getEntriesByName('bt:complete-received')[0].startTime"""
SORT = """() => { const t = performance.now();
    document.querySelector('#results-head th[data-key="sharpe_ratio"] button').click();
    document.body.offsetHeight;
    return performance.now() - t; }"""


def one_run(browser, base: str, coins: int) -> dict[str, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{base}/")
        page.wait_for_selector("#backtest-page[data-ready=true]", timeout=60_000)
        page.evaluate(FRAMES)
        page.click("#run-button")
        page.wait_for_selector("#summary:not(.d-none)", timeout=300_000)
        frames = page.evaluate("window.__frames")
        lag = page.evaluate(LAG)
        page.locator("#results-table").scroll_into_view_if_needed()
        page.wait_for_selector("#results-table:not([data-rendered='0'])", state="attached")
        sort = page.evaluate(SORT)
        return {
            "frames": len(frames),
            "longest_frame": max((d for d, _ in frames), default=0),
            "most_script": max((s for _, s in frames), default=0),
            "lag": lag,
            "sort": sort,
            "rendered": int(page.locator("#results-table").get_attribute("data-rendered")),
            "load": os.getloadavg()[0],
        }
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coins", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-load", action="store_true", help="the database already holds the coins")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: sh scripts/chromium.sh installs it")
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bt_e2e")
    env = server_env(
        name="page",
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/4"),
        key_prefix="e2e",
    )
    database_prepare(env, load_coins=None if args.skip_load else args.coins)
    server, port, _ = server_start(env)
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
            try:
                runs = [one_run(browser, f"http://127.0.0.1:{port}", args.coins) for _ in range(args.repeat)]
            finally:
                browser.close()
    finally:
        server_stop(server)
    print(f"the run page, every coin of the database ({args.coins} asked for), {args.repeat} runs:")
    for k, r in enumerate(runs, 1):
        print(
            f"  run {k}: {r['frames']} frames over 50 ms, the longest {r['longest_frame']} ms; "
            f"most script in one frame {r['most_script']} ms (budget 100); summary {r['lag']:.0f} ms after "
            f"`complete` (budget 500); sort {r['sort']:.1f} ms (budget 100); {r['rendered']} rows in the "
            f"document; load average {r['load']:.1f}"
        )
    print(
        f"  medians: most script {statistics.median(r['most_script'] for r in runs):.0f} ms, summary lag "
        f"{statistics.median(r['lag'] for r in runs):.0f} ms, sort {statistics.median(r['sort'] for r in runs):.1f} ms"
    )


if __name__ == "__main__":
    main()
