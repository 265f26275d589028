"""A container's network endpoint and port mappings as plain dicts (for Docker's shapes)."""

from __future__ import annotations

from typing import Any

from containers.models import Container, Endpoint, PortBinding
from containers.networking import per_network


def network_of(c: Container) -> dict[str, Any] | None:
    """eth0's address (empty while stopped) and `endpoints`: Docker's EndpointSettings per
    network the container is on; None when it is on none."""
    nets = per_network(c)
    if not nets:
        return None
    ep = Endpoint.objects.filter(container=c).select_related("network").first()
    first = {"network": ep.network.name, "ip": ep.ip, "prefix": ep.prefix, "gateway": ep.gateway,
             "mac": ep.mac} if ep else {"network": next(iter(nets))}
    return {**first, "endpoints": {name: endpoint_settings(c, n) for name, n in nets.items()}}


def endpoint_settings(c: Container, n: dict[str, Any]) -> dict[str, Any]:
    """Docker's EndpointSettings of `c` on one network (n: networking.per_network's entry)."""
    user_net = bool(n["aliases"]) or n.get("id") and c.spec.get("network_mode") != "bridge"
    return {
        "IPAMConfig": None, "Links": None, "Aliases": n["aliases"] or None, "DriverOpts": None,
        "MacAddress": n["mac"], "NetworkID": n["id"], "EndpointID": "", "Gateway": n["gateway"],
        "IPAddress": n["ip"], "IPPrefixLen": n["prefix"], "IPv6Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": [c.name, c.id[:12], *n["aliases"]] if user_net else None,
    }


def port_mappings(c: Container) -> list[dict[str, Any]]:
    return [{"host_ip": b.host_ip, "host_port": b.host_port, "proto": b.proto,
             "container_port": b.container_port}
            for b in PortBinding.objects.filter(container=c).order_by("container_port")]
