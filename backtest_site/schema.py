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
