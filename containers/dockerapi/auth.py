"""Who may use the Docker API: anyone who can open the unix socket (root-owned, 0660, like
docker.sock) acts as the system (sees and owns like root on Docker); over TCP only
requests carrying `Authorization: Token <API token>`, acting as that token's user."""

from __future__ import annotations

from typing import Any

from containers.asyncstream import in_thread


def over_tcp(scope: dict[str, Any]) -> bool:
    server = scope.get("server")
    return bool(server) and server[1] is not None


USER_KEY = "dockerweb.user"  # the scope key holding the TCP caller's user


def _token_user(key: str):
    from containers.tokens import user_for_key

    return user_for_key(key)


async def allowed(scope: dict[str, Any]) -> bool:
    """True when the caller may go on; over TCP the token's user is put in scope[USER_KEY]."""
    if not over_tcp(scope):
        return True
    headers = dict(scope.get("headers") or [])
    kind, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if kind.lower() not in ("token", "bearer") or not key:
        from containers.hostrelay import verified

        if verified(scope):  # relayed by a peer host for its socket's caller: the system
            scope[USER_KEY] = None
            return True
        return False
    user = await in_thread(_token_user)(key.strip())
    if user is None:
        return False
    scope[USER_KEY] = user
    return True


def actor(scope: dict[str, Any]):
    """Who acts: the token's user over TCP; None (the system, as root on docker.sock) on the
    unix socket. Call after `allowed`."""
    if over_tcp(scope):
        return scope[USER_KEY]  # KeyError rather than system rights if auth was skipped
    return None


UNAUTHORIZED = b'{"message": "authentication required: send Authorization: Token <API token>"}'
