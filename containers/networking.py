"""Networking service: the default bridge network, per-container allocation (IP, host ports)
guarded by database constraints, NAT rules, release and sweep. Runs in the worker."""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from containers.engine.errors import Conflict
from containers.engine.net import bridge, ipam, netconf, portmap
from containers.engine.spec import ContainerSpec, parse_port
from containers.models import Container, Endpoint, Network, PortBinding
from containers.runtime import host_name

log = logging.getLogger("dockerweb.networking")
DEFAULT = "bridge"
ATTEMPTS = 50


@dataclass
class Plan:
    endpoint: netconf.Endpoint | None
    mappings: list[portmap.Mapping] = field(default_factory=list)


def table() -> str:
    return settings.DOCKERWEB_NFT_TABLE


def default_network() -> Network:
    """The default bridge network record (created on first use) with its bridge and NAT."""
    here = host_name()
    net = Network.objects.filter(host=here, name=DEFAULT).first()
    if net is None:
        net = _create_default(here)
    now = time.monotonic()
    if now - _verified_at.get(net.name, -VERIFY_EVERY) >= VERIFY_EVERY:
        subnet = ipaddress.IPv4Network(net.subnet)
        if not bridge.exists(net.bridge):
            bridge.ensure(net.bridge, subnet)
        portmap.ensure_table(table(), net.bridge, subnet)
        _verified_at[net.name] = now
    return net


def _create_default(here: str) -> Network:
    """This host's default network: DOCKERWEB_SUBNET, or the first private subnet that
    overlaps neither this host's routes nor any other host's network (issue 16: each host
    its own subnet; the unique subnet column settles two hosts racing for the same one)."""
    if settings.DOCKERWEB_SUBNET:
        subnet = ipam.parse_subnet(settings.DOCKERWEB_SUBNET)
        clash = [n.host for n in Network.objects.exclude(host=here)
                 if ipaddress.IPv4Network(n.subnet).overlaps(subnet)]
        if clash:
            raise Conflict(f"DOCKERWEB_SUBNET {subnet} overlaps a network of host {clash[0]}")
    else:
        others = [ipaddress.IPv4Network(n) for n in Network.objects.values_list("subnet", flat=True)]
        subnet = ipam.pick_subnet([*bridge.host_networks(), *others])
    try:
        return Network.objects.create(name=DEFAULT, host=here, bridge=settings.DOCKERWEB_BRIDGE,
                                      subnet=str(subnet), gateway=str(ipam.gateway(subnet)))
    except IntegrityError:
        net = Network.objects.filter(host=here, name=DEFAULT).first()
        if net is None:  # the subnet was taken by another host in the meantime
            raise Conflict(f"subnet {subnet} was just taken by another host: start again") from None
        return net


# the bridge and the nft table are checked (and re-made if someone removed them) at most every
# VERIFY_EVERY seconds per process, not at each start: the check is a netlink call and an nft run
VERIFY_EVERY = 10.0
_verified_at: dict[str, float] = {}


def allocate(c: Container, spec: ContainerSpec) -> Plan:
    """Reserve an IP and the host ports of `c`. Conflict (409) when a requested port is taken;
    nothing stays reserved then."""
    if spec.network_mode == "none":
        return Plan(endpoint=None)
    net = default_network()
    try:
        ep = _allocate_ip(c, net)
        mappings = [_allocate_port(c, parse_port(p), ep.ip) for p in spec.ports]
    except BaseException:
        release(c.id)
        raise
    return Plan(endpoint=ep, mappings=mappings)


def _allocate_ip(c: Container, net: Network) -> netconf.Endpoint:
    subnet = ipaddress.IPv4Network(net.subnet)
    for _ in range(ATTEMPTS):
        taken = Endpoint.objects.filter(network=net).values_list("ip", flat=True)
        ip = ipam.next_free(subnet, taken)
        ep = netconf.Endpoint(bridge=net.bridge, subnet=subnet, ip=ip, gateway=ipam.gateway(subnet),
                              mac=ipam.mac_for(ip), veth=netconf.veth_name(c.id))
        try:
            with transaction.atomic():
                Endpoint.objects.create(container=c, network=net, ip=str(ip), prefix=subnet.prefixlen,
                                        gateway=str(ep.gateway), mac=ep.mac, veth=ep.veth)
            return ep
        except IntegrityError:
            continue  # another start took this address first: take the next one
    raise Conflict(f"could not allocate an address in {subnet}")


def _allocate_port(c: Container, want: dict[str, Any], ip: ipaddress.IPv4Address) -> portmap.Mapping:
    proto, host_ip = want["proto"], want["ip"]
    if want["public"]:
        portmap.check_explicit(proto, host_ip, want["public"])
        candidates = [want["public"]]
    else:
        start = random.randrange(len(portmap.EPHEMERAL))
        candidates = [portmap.EPHEMERAL[(start + i) % len(portmap.EPHEMERAL)] for i in range(2000)]
    for port in candidates:
        if not want["public"] and not portmap.port_free(proto, host_ip, port):
            continue
        try:
            with transaction.atomic():
                PortBinding.objects.create(container=c, host_ip=host_ip, host_port=port, proto=proto,
                                           container_port=want["private"], host=c.host)
            return portmap.Mapping(host_ip, port, proto, str(ip), want["private"])
        except IntegrityError:
            if want["public"]:
                raise Conflict(f"Bind for {host_ip or '0.0.0.0'}:{port} failed: port is already "
                               "allocated") from None
    raise Conflict("no free host port in 49153-65535")


def activate(c: Container, plan: Plan) -> None:
    """Install the NAT rules once the container runs."""
    portmap.add(table(), c.id, plan.mappings)


def release(cid: str) -> None:
    """Drop rules and reservations of `cid`. Idempotent. Rules exist only while the port
    rows do (rows first at allocate, rules removed before the rows here; the boot sweep
    takes any other), so a container without ports costs no nft run."""
    if PortBinding.objects.filter(container_id=cid).exists():
        portmap.remove(table(), cid)
    PortBinding.objects.filter(container_id=cid).delete()
    Endpoint.objects.filter(container_id=cid).delete()


def sweep(running: set[str]) -> None:
    """At worker boot: rules and reservations of containers that no longer run go away."""
    gone = portmap.sweep(table(), running)
    here = host_name()  # other hosts' reservations are theirs to sweep
    eps = Endpoint.objects.filter(container__host=here).exclude(container_id__in=running)
    binds = PortBinding.objects.filter(container__host=here).exclude(container_id__in=running)
    stale = set(eps.values_list("container_id", flat=True))
    stale |= set(binds.values_list("container_id", flat=True))
    for cid in stale:
        release(cid)
    if gone or stale:
        log.info("swept network state of %d containers", len(set(gone) | stale))


def describe(c: Container) -> dict[str, Any]:
    """NetworkSettings for inspect: ip, prefix, gateway, mac, ports private -> public."""
    ep = Endpoint.objects.filter(container=c).select_related("network").first()
    ports: dict[str, list[dict[str, Any]]] = {}
    for b in PortBinding.objects.filter(container=c).order_by("container_port"):
        ports.setdefault(f"{b.container_port}/{b.proto}", []).append(
            {"host_ip": b.host_ip or "0.0.0.0", "host_port": b.host_port, "host": b.host or c.host})
    if ep is None:
        return {"network": c.spec.get("network_mode", "bridge"), "ip": "", "prefix": 0,
                "gateway": "", "mac": "", "ports": ports}
    return {"network": ep.network.name, "ip": ep.ip, "prefix": ep.prefix, "gateway": ep.gateway,
            "mac": ep.mac, "veth": ep.veth, "ports": ports}
