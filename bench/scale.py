"""Scale-out on Celery: one run of 500 coins x a year of hourly bars, and a 1,000-cell sweep over
48 of them, each on the in-process pool and on 1 and 2 Celery worker processes, in one run of this script.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bt_scale REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/scale.py [--coins 500] [--sweep-coins 48] [--repeat 2] [--skip-runs|--skip-sweeps]

Steps:
1. Migrate the database and load the coins (bench/support.py: the demo universe, then
   generated bench coins; hourly bars of 2024, 8,784 per coin; kept for later runs).
2. This process is a web process (Django set up with the same environment): it creates each run
   with `services.run_create` and times it from creation to `finished_at` (every result and
   event stored). The broker is the Redis of REDIS_URL (CELERY_BROKER_URL defaults to it).
3. A warm-up run on the pool fills the price cache (Redis): every timed run then reads its
   prices from the cache, as a web process's second run does.
4. Timed: the pool (BACKTEST_WORKERS threads), then `celery -A backtest_site worker
   --concurrency 1`, then `--concurrency 2` (each started, warmed up and idle before its run);
   --repeat runs each, the best is printed with every sample.
5. The same for the sweep (bench/sweep.py's grid: the MA crossover, fast 5..54 x slow 60..250 step
   10, 1,000 cells) over the first --sweep-coins coins by symbol, timed from creation to
   `finished_at` (every cell stored, the conclusions written), after a warm-up sweep on the pool.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from support import database_prepare  # noqa: E402
from sweep import SWEEP_BODY  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coins", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--strategy", type=int, default=1)
    parser.add_argument("--sweep-coins", type=int, default=48)
    parser.add_argument("--skip-runs", action="store_true", help="time the sweep only")
    parser.add_argument("--skip-sweeps", action="store_true", help="time the run only")
    options = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            raise SystemExit(f"set {name} (see the docstring)")
    os.environ.setdefault("SECRET_KEY", "bench-scale-" + "x" * 50)
    os.environ.setdefault("CACHE_KEY_PREFIX", "scale")
    broker = os.environ.get("CELERY_BROKER_URL") or os.environ["REDIS_URL"]
    os.environ.pop("CELERY_BROKER_URL", None)  # this process chooses its backend itself
    database_prepare(dict(os.environ), load_coins=options.coins)

    os.environ["DJANGO_SETTINGS_MODULE"] = "backtest_site.settings"
    import django

    django.setup()
    from django.conf import settings

    from runs import backends, lifecycle
    from runs.models import BacktestRun
    from tests.celery_support import Worker, client_app

    lifecycle.engine_warm_up()
    app = client_app(broker)
    app.control.purge()  # nothing left of an earlier, interrupted bench

    def until_finished(model, batch_id, started: float) -> tuple[dict, float]:
        """Poll the batch until `finished_at` is set: its row and the seconds since `started`; then
        wait for its jobs to be idle (their events stored)."""
        while True:
            row = model.objects.values("finished_at", "status", "completed", "total").get(id=batch_id)
            if row["finished_at"] is not None:
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        backends.wait_idle(str(batch_id), timeout=60)
        return row, seconds

    def timed_run() -> float:
        from runs import services
        from runs.serializers import RunRequestSerializer

        request = RunRequestSerializer(
            data={"strategy_id": options.strategy, "start_date": "2024-01-01", "end_date": "2024-12-31"}
        )
        request.is_valid(raise_exception=True)
        started = time.perf_counter()
        run = services.run_create(**request.validated_data)
        row, seconds = until_finished(BacktestRun, run.id, started)
        if row["status"] != "completed" or row["completed"] != row["total"] or row["total"] < options.coins:
            raise SystemExit(f"run {run.id} ended {row}")
        return seconds

    from market_data.models import Cryptocurrency
    from sweeps.models import Sweep

    symbols = list(Cryptocurrency.objects.order_by("symbol").values_list("symbol", flat=True)[: options.sweep_coins])

    def timed_sweep() -> float:
        from sweeps.api import sweep_request_create

        started = time.perf_counter()
        sweep = sweep_request_create({**SWEEP_BODY, "symbols": symbols})
        row, seconds = until_finished(Sweep, sweep.id, started)
        if row["status"] != "completed" or row["completed"] != row["total"] or row["total"] != 1000:
            raise SystemExit(f"sweep {sweep.id} ended {row}")
        return seconds

    kinds = [
        (kind, timer)
        for kind, timer, skip in (("run", timed_run, options.skip_runs), ("sweep", timed_sweep, options.skip_sweeps))
        if not skip
    ]
    results: dict[str, dict[str, list[float]]] = {kind: {} for kind, _ in kinds}
    pool = backends.ThreadPoolBackend(settings.BACKTEST_WORKERS)
    backends.backend_use(pool)
    for kind, timer in kinds:
        timer()  # warm-up: the price cache filled
        results[kind][f"in-process pool ({settings.BACKTEST_WORKERS} threads)"] = [
            timer() for _ in range(options.repeat)
        ]
    pool.shutdown()
    logs = Path("/tmp") / f"bench-scale-{os.getpid()}"
    logs.mkdir(exist_ok=True)
    for concurrency in (1, 2):
        worker = Worker(
            broker,
            f"scale{concurrency}",
            concurrency=concurrency,
            log=logs / f"worker{concurrency}.log",
            env={
                "CELERY_VISIBILITY_TIMEOUT": "45",
                "CELERY_TASK_TIME_LIMIT": "30",
                "BACKTEST_THREAD_CONN_MAX_AGE": "300",
            },
        )
        try:
            worker.start(app)
            backends.backend_use(backends.CeleryBackend(app))
            label = f"celery, 1 worker x --concurrency {concurrency}"
            for kind, timer in kinds:
                results[kind][label] = [timer() for _ in range(options.repeat)]
        finally:
            worker.stop()
    app.close()

    titles = {
        "run": f"a run of {options.coins} coins x 8,784 hourly bars, strategy {options.strategy}",
        "sweep": f"a sweep of 1,000 cells (MA crossover) x {len(symbols)} coins x 8,784 hourly bars",
    }
    for kind, _ in kinds:
        print(f"\n{titles[kind]}, {os.cpu_count()} cores")
        best = {}
        for label, samples in results[kind].items():
            best[label] = min(samples)
            print(f"  {label:<45} {best[label]:6.2f} s   (samples: {', '.join(f'{s:.2f}' for s in samples)})")
        pool_s, one, two = best.values()
        print(f"  1 -> 2 worker processes: {one / two:.2f}x faster (target >= 1.7x)")
        print(f"  1 worker process vs the pool: {one / pool_s:.2f}x the pool's time (target <= 1.2x)")


if __name__ == "__main__":
    main()
