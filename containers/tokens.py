"""API tokens: issued once, stored hashed (django-rest-knox), revoked by their owner.

The database holds a token's SHA-512 digest and its first 15 characters (the lookup key
knox searches by), never the token itself: reading the database gives nothing that
authenticates. Every door checks a key the same way, through knox's own authenticate
(`user_for_key`): REST (`KeyAuthentication`, knox's DRF class in one query), websockets
(`?token=` or the header) and the Docker API over TCP.
"""

from __future__ import annotations

import binascii
from datetime import timedelta
from hmac import compare_digest
from typing import Any

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from knox.signals import token_expired
from rest_framework.exceptions import AuthenticationFailed

from containers.engine.errors import InvalidArgument, NotFound
from containers.prepared import Prepared

MAX_EXPIRY_DAYS = 3650


# the token rows of a lookup prefix with their users, compiled once (containers/prepared)
_ROWS = Prepared(AuthToken, lambda prefix: AuthToken.objects.select_related("user").filter(token_key=prefix))


class KeyAuthentication(TokenAuthentication):
    """knox's DRF authentication (`Authorization: Token <key>`) in one query: the token rows
    of the key's lookup prefix with their user. An expired row is deleted when it is met, as
    knox does; unlike knox, authenticating does not also read and clean the user's other
    tokens at every request (`issue` removes a user's expired tokens)."""

    def authenticate_credentials(self, token: bytes):
        key = token.decode("utf-8")
        now = timezone.now()
        try:
            digest = hash_token(key)
        except (TypeError, binascii.Error):
            raise AuthenticationFailed("Invalid token.") from None
        for row in _ROWS(key[:CONSTANTS.TOKEN_KEY_LENGTH]):
            if row.expiry is not None and row.expiry < now:
                username = row.user.get_username()
                row.delete()
                token_expired.send(sender=self.__class__, username=username, source="auth_token")
                continue
            if compare_digest(digest, row.digest):
                if knox_settings.AUTO_REFRESH and row.expiry:
                    self.renew_token(row)
                return self.validate_user(row)
        raise AuthenticationFailed("Invalid token.")


class KeyAuthenticationScheme(KnoxTokenScheme):
    """The OpenAPI schema's security scheme for it: knox's."""

    target_class = KeyAuthentication


def issue(user, expiry_days: int | None = None) -> tuple[AuthToken, str]:
    """A new token for `user` (expiring after `expiry_days`, or never); the key is returned
    here and never again. The user's expired tokens are deleted."""
    if expiry_days is not None and not (isinstance(expiry_days, int) and 1 <= expiry_days <= MAX_EXPIRY_DAYS):
        raise InvalidArgument(f"expiry_days must be a whole number from 1 to {MAX_EXPIRY_DAYS}")
    ttl = timedelta(days=expiry_days) if expiry_days else None
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    return AuthToken.objects.create(user=user, expiry=ttl)


def user_for_key(key: str):
    """The active user a key authenticates, or None (unknown, expired, revoked, inactive)."""
    if not key or len(key) > 256:
        return None
    try:
        user, _ = KeyAuthentication().authenticate_credentials(key.encode("utf-8", "replace"))
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
