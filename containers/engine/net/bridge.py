"""The containers' bridge (pyroute2), its address (the gateway) and the sysctls it needs."""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network

from pyroute2 import IPRoute

from . import ipam


def _sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/{path}", "w") as f:
        f.write(value)


def ensure(name: str, subnet: IPv4Network, gateway: IPv4Address | None = None) -> None:
    """Create bridge `name` with the `gateway` address of `subnet` (default: its first host
    address), up. Idempotent.
    Also: ip_forward=1 (routing to/from containers), route_localnet=1 on the bridge (DNAT
    of 127.0.0.1 traffic to containers; portmap's loopback chain keeps containers off the
    host's loopback, which this setting would otherwise open to them)."""
    gw = str(gateway or ipam.gateway(subnet))
    with IPRoute() as ipr:
        if not ipr.link_lookup(ifname=name):
            ipr.link("add", ifname=name, kind="bridge")
        idx = ipr.link_lookup(ifname=name)[0]
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=2)}
        if gw not in have:
            ipr.addr("add", index=idx, address=gw, prefixlen=subnet.prefixlen)
        ipr.link("set", index=idx, state="up")
    _sysctl("net/ipv4/ip_forward", "1")
    _sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")


def remove(name: str) -> None:
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            ipr.link("del", index=found[0])


def exists(name: str) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def host_networks() -> list[IPv4Network]:
    """Networks of the host's routes and addresses (to choose a subnet that clashes with none)."""
    out = []
    with IPRoute() as ipr:
        for r in ipr.get_routes(family=2):
            dst = r.get_attr("RTA_DST")
            if dst:
                out.append(ipaddress.IPv4Network(f"{dst}/{r['dst_len']}", strict=False))
        for a in ipr.get_addr(family=2):
            out.append(ipaddress.IPv4Network(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}", strict=False))
    return out


def named(prefix: str) -> list[str]:
    """Names of the links that start with `prefix` (the user networks' bridges of one
    installation or test run)."""
    with IPRoute() as ipr:
        names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
    return sorted(n for n in names if n and n.startswith(prefix))
