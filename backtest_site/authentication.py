"""Who may write to the API: scripts with an API token, browsers with the CSRF token.

DRF's SessionAuthentication checks CSRF only for signed-in users, so an anonymous
cross-site form could still start or cancel runs: CsrfEnforcedAnonymous checks it for
anonymous requests too. The CSRF secret lives in the session (CSRF_USE_SESSIONS), so a
script cannot invent a cookie and a matching header.

A request that carries no cookies at all is not a browser acting for someone (CSRF rides on
the cookies a browser sends): it may write anonymously, as it may POST to the original
endpoint, throttled and held to its client's share of runs. Cross-site pages cannot use that:
the write endpoints take only application/json bodies (a preflight, never granted), and
cancelling or changing a run needs its owner's session, API token or cancel token.
"""

from __future__ import annotations

from django.middleware.csrf import CsrfViewMiddleware
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, TokenAuthentication


class _CSRFCheck(CsrfViewMiddleware):
    def _reject(self, request, reason):
        return reason  # the reason instead of an HTTP response


class CsrfEnforcedAnonymous(BaseAuthentication):
    """Authenticates nobody; refuses an unsafe request with cookies but without a valid CSRF token."""

    def authenticate(self, request):
        if not request._request.COOKIES:
            return None  # no browser credentials to abuse: a script (see the module's docstring)
        check = _CSRFCheck(lambda req: None)
        check.process_request(request._request)
        reason = check.process_view(request._request, None, (), {})
        if reason:
            raise exceptions.PermissionDenied(
                f"CSRF Failed: {reason} Scripts send an API token instead (Authorization: Token ...)."
            )
        return None


# For views that change state: an API token (no CSRF), then session users (CSRF checked), then
# anonymous browsers (CSRF checked).
CSRF_PROTECTED = [TokenAuthentication, SessionAuthentication, CsrfEnforcedAnonymous]


class CsrfEnforcedAnonymousScheme(OpenApiAuthenticationExtension):
    """How /api/schema/ describes CsrfEnforcedAnonymous: the CSRF token in a header, as the page
    sends it. Without it drf-spectacular warns on every schema request that it cannot resolve the
    authenticator."""

    target_class = CsrfEnforcedAnonymous
    name = "csrfToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRFToken",
            "description": (
                'The page\'s CSRF token (<meta name="csrf-token">), which its session holds: browser '
                "writes, anonymous too. Scripts send `Authorization: Token <key>` instead."
            ),
        }
