"""Who owns a run (or sweep), who may control it, and which client it counts against.

A run belongs to the user who started it (signed in, or with an API token) or, started
anonymously, to whoever holds its cancel token: returned once in the 201 answer, stored only
as a SHA-256 hash, sent back in the X-Cancel-Token header. Its owner or staff may cancel,
rename and delete it (resume a sweep); a run with neither owner (created before owners
existed, or by the original endpoint, whose answer has no room for a token) is staff's only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from rest_framework.exceptions import PermissionDenied

from backtest_site.clients import client_address

TOKEN_HEADER = "X-Cancel-Token"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Creator:
    """Who creates a run: the owner fields to store, the client it counts against, and the cancel
    token to return once (None for a signed-in creator)."""

    user: Any = None
    client: str = ""
    cancel_token: str | None = None

    @property
    def owner_fields(self) -> dict[str, Any]:
        return {
            "created_by": self.user,
            "cancel_token_hash": token_hash(self.cancel_token) if self.cancel_token else "",
            "client": self.client,
        }


def request_user(request) -> Any:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def client_key(request) -> str:
    """The client a request counts against: its user, else its address."""
    user = request_user(request)
    return f"user:{user.pk}" if user is not None else f"addr:{client_address(request)}"


def creator(request, *, token: bool = True) -> Creator:
    """The creator of a request; an anonymous one gets a new cancel token when `token`."""
    user = request_user(request)
    cancel_token = secrets.token_urlsafe(32) if user is None and token else None
    return Creator(user=user, client=client_key(request), cancel_token=cancel_token)


def control_refusal(request, obj, *, what: str, action: str) -> str | None:
    """None if the request may `action` the run or sweep `obj`, else why not (HTTP 403)."""
    user = request_user(request)
    if user is not None and user.is_staff:
        return None
    if obj.created_by_id is not None:
        if user is not None and user.pk == obj.created_by_id:
            return None
        return f"Only the user who started this {what}, or staff, may {action} it."
    sent = request.headers.get(TOKEN_HEADER, "")
    if obj.cancel_token_hash:
        if sent and hmac.compare_digest(token_hash(sent), obj.cancel_token_hash):
            return None
        reason = "a wrong" if sent else "no"
        return (
            f"Only the owner of this {what}, or staff, may {action} it: the request has {reason} "
            f"{TOKEN_HEADER} header (the cancel_token of the 201 answer that created it)."
        )
    return f"This {what} has no owner (started before owners, or by the original endpoint): only staff may {action} it."


def may_control(request, obj) -> bool:
    """Whether the request may cancel, rename, delete (or resume) the run or sweep `obj`: the
    pages show those controls only to whom they would answer."""
    return control_refusal(request, obj, what="", action="") is None


def controlled(request, model, batch_id, *, what: str, action: str) -> Any:
    """The run or sweep `batch_id` of `model`, if the request may `action` it (its owner or staff);
    else Http404 (no such one) or PermissionDenied (403, saying what is missing)."""
    obj = model.objects.filter(id=batch_id).only("id", "created_by", "cancel_token_hash").first()
    if obj is None:
        raise Http404
    refusal = control_refusal(request, obj, what=what, action=action)
    if refusal:
        raise PermissionDenied(refusal)
    return obj
