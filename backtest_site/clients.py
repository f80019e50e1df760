"""Who a request comes from: the client address, trusting X-Forwarded-For only from configured proxies.

With no TRUSTED_PROXIES the address is the connection's (REMOTE_ADDR), whatever the request says,
so a client cannot rotate forged X-Forwarded-For addresses past the throttles. Behind proxies,
TRUSTED_PROXIES lists their addresses (or networks): the client is the right-most address of
X-Forwarded-For that is not one of them.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str) -> bool:
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request) -> str:
    """The client's address of a Django (or DRF) request."""
    meta = request.META
    remote = meta.get("REMOTE_ADDR") or ""
    if not _trusted(remote):
        return remote
    forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    for address in reversed(forwarded):
        if not _trusted(address):
            return address
    return forwarded[0] if forwarded else remote
