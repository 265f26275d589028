"""Hijacked exec start (docker exec): added with the exec feature."""

from __future__ import annotations

from typing import Any

from containers.dockerapi.hijack import RawStream


async def hijack_exec(scope: dict[str, Any], stream: RawStream) -> bool:
    """Handle POST /exec/{id}/start if `scope` is one; False when it is not an exec."""
    return False
