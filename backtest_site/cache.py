"""The cache outage guard, shared by everything that uses the cache (price series, the throttle).

If the cache (Redis) is down, callers go on without it: one warning is logged and the cache is
left alone for `retry_after` seconds before it is tried again, so an outage costs no connect
time-out per call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class CacheGuard:
    """Remembers a cache outage: logs it once, retries after `retry_after` seconds."""

    def __init__(self, retry_after: float = 5.0) -> None:
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._retry_at = 0.0

    def usable(self) -> bool:
        return self._down_since is None or time.monotonic() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._down_since is None:
                logger.warning("Price cache unavailable, reading prices from the database: %s", exc)
                self._down_since = time.monotonic()
            self._retry_at = time.monotonic() + self.retry_after

    def succeeded(self) -> None:
        if self._down_since is not None:
            with self._lock:
                if self._down_since is not None:
                    logger.warning("Price cache is back after %.1f s", time.monotonic() - self._down_since)
                    self._down_since = None

    def reset(self) -> None:
        """Forget any outage (tests)."""
        with self._lock:
            self._down_since = None
            self._retry_at = 0.0

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Run one cache operation; on any error note the outage and return None."""
        if not self.usable():
            return None
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # redis errors, connection refused, time-outs
            self.failed(exc)
            return None
        self.succeeded()
        return result


cache_guard = CacheGuard()
