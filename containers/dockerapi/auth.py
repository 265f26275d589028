"""Who may use the Docker API: anyone who can open the unix socket (root-owned, 0660, like
docker.sock); over TCP only requests carrying `Authorization: Token <API token>`."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections


def over_tcp(scope: dict[str, Any]) -> bool:
    server = scope.get("server")
    return bool(server) and server[1] is not None


def _token_valid(key: str) -> bool:
    from rest_framework.authtoken.models import Token

    close_old_connections()
    try:
        return Token.objects.filter(key=key, user__is_active=True).exists()
    finally:
        close_old_connections()


async def allowed(scope: dict[str, Any]) -> bool:
    if not over_tcp(scope):
        return True
    headers = dict(scope.get("headers") or [])
    kind, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if kind.lower() not in ("token", "bearer") or not key:
        return False
    return await sync_to_async(_token_valid, thread_sensitive=False)(key.strip())


UNAUTHORIZED = b'{"message": "authentication required: send Authorization: Token <API token>"}'
