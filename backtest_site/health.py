"""GET /healthz for load balancers and GET /metrics for monitors (README "Production").

/healthz answers 200 when every check passes and 503 when one fails, with each check in the body:
the database (a query), the cache (a write read back: Redis when REDIS_URL is set), the broker
when CELERY_BROKER_URL is set (a connection), and the pool's queue length (information only).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import REGISTRY, pool_queue_length


def database_check() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def cache_check() -> None:
    # Straight to the cache, not through the outage guard: the point is to see an outage.
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", 10)
    try:
        if cache.get(key) != "ok":
            raise RuntimeError("the cache did not give back what was written")
    finally:
        cache.delete(key)


def broker_check() -> None:
    from backtest_site.celery import app

    with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)


def _run(check: Callable[[], None]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # any failure of a check is its answer, never a 500
        error = f"{exc.__class__.__name__}: {exc}"[:300]
        return {"ok": False, "error": error, "ms": round((time.perf_counter() - started) * 1000, 1)}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _run(database_check), "cache": _run(cache_check)}
    if settings.CELERY_BROKER_URL:
        checks["broker"] = _run(broker_check)
    ok = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if ok else "failing", "checks": checks, "pool_queue_length": pool_queue_length()}
    return JsonResponse(body, status=200 if ok else 503)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
