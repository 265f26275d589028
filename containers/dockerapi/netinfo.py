"""A container's network endpoint and port mappings as plain dicts (for Docker's shapes).

Filled in by the networking issue; until then containers have no endpoint.
"""

from __future__ import annotations

from typing import Any

from containers.models import Container


def network_of(c: Container) -> dict[str, Any] | None:
    return None


def port_mappings(c: Container) -> list[dict[str, Any]]:
    return []
