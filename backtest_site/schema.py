"""The refusals every operation of the API can give, added to /api/schema/ (drf-spectacular hook).

drf-spectacular documents the answers a view declares; the refusals common to all of them come
from DRF and Django around the view (a bad query, CSRF or a wrong token, an unknown id, a body
that is not JSON, the throttles). Each is added where it can happen, so a client (and the schema
fuzz test, which checks every status code against the schema) knows them all.
"""

from __future__ import annotations

from typing import Any

ERROR_BODY = {
    "type": "object",
    "description": "`detail` (a message) or `errors` (each bad field with its messages)",
    "properties": {
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
    },
}

UNSAFE = {"post", "put", "patch", "delete"}


def _answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_BODY}}}


def refusals_add(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in UNSAFE | {"get"}:
                continue
            refusals = {
                "401": "a wrong or unknown API token (Authorization: Token ...)",
                "429": "throttled (see Retry-After)",
            }
            if operation.get("parameters") or "requestBody" in operation:
                refusals["400"] = "bad input: each bad field or parameter with the rule it breaks"
            if "{" in path or any(p.get("name") == "page" for p in operation.get("parameters", ())):
                refusals["404"] = "no such object (or page)"
            if method in UNSAFE:
                refusals["403"] = "CSRF check failed, or not allowed to do this"
            if "requestBody" in operation:
                refusals["415"] = "the body is not application/json"
            responses = operation.setdefault("responses", {})
            for code, description in refusals.items():
                responses.setdefault(code, _answer(description))
    return result


def not_found(request, exception=None):
    """handler404: under /api/ a JSON 404 like the views' own (a path no route matches, such as a
    run id that is not a UUID); elsewhere Django's page."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


CHECK = {
    "type": "object",
    "required": ["ok", "ms"],
    "properties": {"ok": {"type": "boolean"}, "ms": {"type": "number"}, "error": {"type": "string"}},
}
HEALTH_BODY = {
    "type": "object",
    "required": ["status", "checks", "pool_queue_length"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "failing"]},
        "checks": {
            "type": "object",
            "description": "database and cache always; broker when CELERY_BROKER_URL is set",
            "additionalProperties": CHECK,
        },
        "pool_queue_length": {
            "type": "integer",
            "nullable": True,
            "description": "jobs waiting for a thread of this process's pool (null with Celery)",
        },
    },
}


def health_add(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """GET /healthz and GET /metrics (backtest_site/health.py): not DRF views, documented here."""
    paths = result.setdefault("paths", {})
    paths["/healthz"] = {
        "get": {
            "operationId": "healthz",
            "tags": ["operations"],
            "summary": "Health for load balancers: database, cache, broker (when configured), pool queue",
            "responses": {
                "200": {"description": "every check passed", "content": {"application/json": {"schema": HEALTH_BODY}}},
                "405": _answer("any method but GET or HEAD"),
                "503": {
                    "description": "a check failed: its `error` says why",
                    "content": {"application/json": {"schema": HEALTH_BODY}},
                },
            },
        }
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "tags": ["operations"],
            "summary": "Prometheus text format: runs by status, job errors, open streams, pool queue length",
            "responses": {
                "200": {
                    "description": "backtest_runs{status}, backtest_job_errors_total{kind}, backtest_open_streams, "
                    "backtest_pool_queue_length",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "405": _answer("any method but GET or HEAD"),
            },
        }
    }
    return result
