"""A container's network endpoint and port mappings as plain dicts (for Docker's shapes)."""

from __future__ import annotations

from typing import Any

from containers.models import Container, Endpoint, PortBinding


def network_of(c: Container) -> dict[str, Any] | None:
    ep = Endpoint.objects.filter(container=c).select_related("network").first()
    if ep is None:
        return None
    return {"network": ep.network.name, "ip": ep.ip, "prefix": ep.prefix, "gateway": ep.gateway,
            "mac": ep.mac}


def port_mappings(c: Container) -> list[dict[str, Any]]:
    return [{"host_ip": b.host_ip, "host_port": b.host_port, "proto": b.proto,
             "container_port": b.container_port}
            for b in PortBinding.objects.filter(container=c).order_by("container_port")]
