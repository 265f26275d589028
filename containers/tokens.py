"""API tokens: issued once, stored hashed (django-rest-knox), revoked by their owner.

The database holds a token's SHA-512 digest and its first 15 characters (the lookup key
knox searches by), never the token itself: reading the database gives nothing that
authenticates. Every door checks a key the same way, through knox's own authenticate
(`user_for_key`): REST (knox's DRF class), websockets (`?token=` or the header) and the
Docker API over TCP.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.models import AuthToken
from rest_framework.exceptions import AuthenticationFailed

from containers.engine.errors import InvalidArgument, NotFound

MAX_EXPIRY_DAYS = 3650


def issue(user, expiry_days: int | None = None) -> tuple[AuthToken, str]:
    """A new token for `user` (expiring after `expiry_days`, or never); the key is returned
    here and never again."""
    if expiry_days is not None and not (isinstance(expiry_days, int) and 1 <= expiry_days <= MAX_EXPIRY_DAYS):
        raise InvalidArgument(f"expiry_days must be a whole number from 1 to {MAX_EXPIRY_DAYS}")
    ttl = timedelta(days=expiry_days) if expiry_days else None
    return AuthToken.objects.create(user=user, expiry=ttl)


def user_for_key(key: str):
    """The active user a key authenticates, or None (unknown, expired, revoked, inactive)."""
    if not key or len(key) > 256:
        return None
    try:
        user, _ = TokenAuthentication().authenticate_credentials(key.encode("utf-8", "replace"))
    except AuthenticationFailed:
        return None
    return user


def describe(t: AuthToken) -> dict[str, Any]:
    """What a token list shows: the lookup prefix (not enough to authenticate), dates."""
    return {"id": t.token_key, "created": t.created, "expiry": t.expiry}


def listing(user) -> list[dict[str, Any]]:
    live = AuthToken.objects.filter(user=user).order_by("created")
    now = timezone.now()
    return [describe(t) for t in live if t.expiry is None or t.expiry > now]


def revoke(user, token_id: str) -> None:
    """Delete `user`'s token(s) whose lookup prefix is `token_id`; NotFound when none."""
    if not AuthToken.objects.filter(user=user, token_key=token_id).delete()[0]:
        raise NotFound(f"No such token: {token_id}")
