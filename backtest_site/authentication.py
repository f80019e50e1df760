"""CSRF for every browser write to the API, signed in or not.

DRF's SessionAuthentication checks CSRF only for signed-in users, so an anonymous
cross-site form could still start or cancel runs. Scripts use the documented original
endpoint (`POST /api/crypto/backtest/stream`, exempt) or send the token like the page.
"""

from __future__ import annotations

from django.middleware.csrf import CsrfViewMiddleware
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication


class _CSRFCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason  # the reason instead of an HTTP response


class CsrfEnforcedAnonymous(BaseAuthentication):
    """Authenticates nobody; refuses an unsafe request without a valid CSRF token."""

    def authenticate(self, request):
        check = _CSRFCheck(lambda req: None)
        check.process_request(request._request)
        reason = check.process_view(request._request, None, (), {})
        if reason:
            raise exceptions.PermissionDenied(f"CSRF Failed: {reason}")
        return None


# For views that change state: session users first (they get the same CSRF check).
CSRF_PROTECTED = [SessionAuthentication, CsrfEnforcedAnonymous]


class CsrfEnforcedAnonymousScheme(OpenApiAuthenticationExtension):
    """How /api/schema/ describes CsrfEnforcedAnonymous: the CSRF token in a header (with
    its cookie), as the page sends it. Without it drf-spectacular warns on every schema
    request that it cannot resolve the authenticator."""

    target_class = CsrfEnforcedAnonymous
    name = "csrfToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRFToken",
            "description": "The value of the csrftoken cookie, which is sent with it (anonymous writes too).",
        }
