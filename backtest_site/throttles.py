"""The read throttle: anonymous GET/HEAD requests of the API, per client address.

Generous (READS_THROTTLE_RATE, e.g. "600/min"): the pages read many endpoints, and a signed-in
user is never throttled here. It keeps one client's loop from taking the server's memory and
database. The rate is read from settings on every request, like RUNS_THROTTLE_RATE's.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import SimpleRateThrottle

from .cache import cache_guard
from .clients import client_address


class ReadThrottle(SimpleRateThrottle):
    scope = "reads"

    def get_rate(self) -> str | None:
        return settings.READS_THROTTLE_RATE

    def allow_request(self, request, view) -> bool:
        if request.method not in SAFE_METHODS:
            return True
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return True
        # A cache (Redis) outage lets reads through, as it does run creation (runs.api).
        allowed = cache_guard.call(super().allow_request, request, view)
        return True if allowed is None else allowed

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}
