"""What a monitor scrapes at GET /metrics (Prometheus text format, prometheus_client).

Counted in this process: job errors (runs.jobs increments JOB_ERRORS where a job fails). Read
at each scrape: runs by status (one GROUP BY on the database, every process gives the same),
this process's open event streams (runs.streams.hub) and the jobs waiting in its pool.
A registry of its own, so nothing else registered in the process (or the test suite) shows up.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

JOB_ERRORS = Counter(
    "backtest_job_errors",
    "Job failures in this process: prices (a chunk's prices could not be read, its coins failed), "
    "coin (the engine raised on one coin, a bug), job (a job raised and ended early).",
    ["kind"],
    registry=REGISTRY,
)
for _kind in ("prices", "coin", "job"):
    JOB_ERRORS.labels(kind=_kind)  # exported as 0 before the first error


def pool_queue_length() -> int | None:
    """Jobs waiting for a thread in this process's pool; None when jobs run elsewhere (Celery)."""
    from runs import backends

    pool = getattr(backends.backend(), "pool", None)
    queue = getattr(pool, "_work_queue", None)  # ThreadPoolExecutor's own queue of pending work
    return None if queue is None else queue.qsize()


class SiteCollector:
    """The gauges read at scrape time."""

    def collect(self):
        from django.db.models import Count

        from runs.models import BacktestRun
        from runs.streams import hub

        runs = GaugeMetricFamily("backtest_runs", "Stored runs by status (all processes).", labels=["status"])
        counts = dict(
            BacktestRun.objects.order_by().values("status").annotate(n=Count("id")).values_list("status", "n")
        )
        for status in BacktestRun.Status.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs
        yield GaugeMetricFamily(
            "backtest_open_streams", "Run event streams open on this process.", value=hub.open_count()
        )
        queued = pool_queue_length()
        if queued is not None:
            yield GaugeMetricFamily(
                "backtest_pool_queue_length", "Jobs waiting for a thread of this process's pool.", value=queued
            )

    def describe(self):
        return []  # read at scrape time only: registering must not touch the database


REGISTRY.register(SiteCollector())
