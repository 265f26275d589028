"""Websocket authentication: the Django session (the dashboard) or an API token.

A token comes as `?token=<key>` or an `Authorization: Token <key>` header. A session is
accepted only from a page of this site (the Origin header's host must be the Host
header's), so another site cannot open a socket with the user's cookies. Consumers
close unauthenticated sockets with code 4401 (streams/base.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser


def _headers(scope: dict[str, Any]) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def token_key(scope: dict[str, Any]) -> str:
    """The API token the client presented, or ""."""
    auth = _headers(scope).get(b"authorization", b"").decode("latin-1").split()
    if len(auth) == 2 and auth[0].lower() in ("token", "bearer"):
        return auth[1]
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (query.get("token") or [""])[0]


def same_origin(scope: dict[str, Any]) -> bool:
    """True when no Origin is given (not a browser) or it names the host being asked."""
    headers = _headers(scope)
    origin = headers.get(b"origin")
    if not origin:
        return True
    return urlsplit(origin.decode("latin-1")).netloc == headers.get(b"host", b"").decode("latin-1")


@database_sync_to_async
def user_for_token(key: str):
    from containers.tokens import user_for_key

    return user_for_key(key)


class TokenAuthMiddleware(BaseMiddleware):
    """Sets scope["user"] from an API token, or drops a cross-origin session user."""

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        key = token_key(scope)
        if key:
            scope["user"] = await user_for_token(key) or AnonymousUser()
            scope["auth"] = "token"
        elif getattr(scope.get("user"), "is_authenticated", False) and same_origin(scope):
            scope["auth"] = "session"
        else:
            scope["user"] = AnonymousUser()
        return await super().__call__(scope, receive, send)


def socket_auth(inner):
    """Session (cookie) authentication, then API tokens, around `inner`."""
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
