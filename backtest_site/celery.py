"""The Celery application: `celery -A backtest_site worker` executes runs' jobs (runs.tasks).

Configured from the Django settings named CELERY_* (backtest_site/settings.py, "Celery"). Only
workers and the web processes' `runs.backends.CeleryBackend` use it, and only when
CELERY_BROKER_URL is set; without it the site never connects to a broker.

What a worker does when it starts (the signals below):
1. `worker_init`, in the main process before it forks its pool: the engine's compiled kernels
   loaded (numba compiles, or reads its on-disk cache, once: the children inherit them and never
   write the cache, so two processes never write it at once), and this process set up as a worker.
2. `worker_process_init`, in each pool process: the same (a fast no-op after the fork), plus
   the heartbeat thread that renews the runs whose chunks the process is executing.
"""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backtest_site.settings")

app = Celery("backtest_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["runs"])


@signals.worker_init.connect
def _worker_init(sender=None, **_: object) -> None:
    from runs import tasks

    # A solo or threads pool forks nothing: the main process executes the tasks, so it beats.
    forks = "prefork" in str(getattr(sender, "pool_cls", "prefork")).lower()
    tasks.worker_process_setup(heartbeat=not forks)


@signals.worker_process_init.connect
def _worker_process_init(**_: object) -> None:
    from runs import tasks

    tasks.worker_process_setup(heartbeat=True)
