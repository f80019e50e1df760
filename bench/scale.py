"""Scale-out on Celery: one run of 500 coins x a year of hourly bars, on the in-process pool and
on 1 and 2 Celery worker processes, in one run of this script.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bt_scale REDIS_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/scale.py [--coins 500] [--repeat 2]

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coins", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--strategy", type=int, default=1)
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

    def timed_run() -> float:
        from runs import services
        from runs.serializers import RunRequestSerializer

        request = RunRequestSerializer(
            data={"strategy_id": options.strategy, "start_date": "2024-01-01", "end_date": "2024-12-31"}
        )
        request.is_valid(raise_exception=True)
        started = time.perf_counter()
        run = services.run_create(**request.validated_data)
        while True:
            row = BacktestRun.objects.values("finished_at", "status", "completed", "total").get(id=run.id)
            if row["finished_at"] is not None:
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        backends.wait_idle(run.id, timeout=60)
        if row["status"] != "completed" or row["completed"] != row["total"] or row["total"] < options.coins:
            raise SystemExit(f"run {run.id} ended {row}")
        return seconds

    results: dict[str, list[float]] = {}
    pool = backends.ThreadPoolBackend(settings.BACKTEST_WORKERS)
    backends.backend_use(pool)
    timed_run()  # warm-up: the price cache filled
    results[f"in-process pool ({settings.BACKTEST_WORKERS} threads)"] = [timed_run() for _ in range(options.repeat)]
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
            results[label] = [timed_run() for _ in range(options.repeat)]
        finally:
            worker.stop()
    app.close()

    print(f"\n{options.coins} coins x 8,784 hourly bars, strategy {options.strategy}, {os.cpu_count()} cores")
    best = {}
    for label, samples in results.items():
        best[label] = min(samples)
        print(f"  {label:<45} {best[label]:6.2f} s   (samples: {', '.join(f'{s:.2f}' for s in samples)})")
    pool_s, one, two = best.values()
    print(f"  1 -> 2 worker processes: {one / two:.2f}x faster (target >= 1.7x)")
    print(f"  1 worker process vs the pool: {one / pool_s:.2f}x the pool's time (target <= 1.2x)")


if __name__ == "__main__":
    main()
