"""Networking service: the default bridge network, per-container allocation (an IP on each of
its networks, host ports) guarded by database constraints, NAT rules, release and sweep.
Runs in the worker. User networks themselves (create, remove, connect) are networks.py."""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from containers import rowsql
from containers.engine.errors import Conflict
from containers.engine.net import bridge, ipam, netconf, portmap
from containers.engine.spec import ContainerSpec, parse_port
from containers.engine.state import State
from containers.models import Container, Endpoint, Membership, Network, PortBinding
from containers.prepared import Prepared
from containers.runtime import host_name

log = logging.getLogger("dockerweb.networking")
DEFAULT = "bridge"
ATTEMPTS = 50
SPREAD_AFTER_LOSS = 4  # see allocate_ip
SPREAD_MAX = 256


@dataclass
class Plan:
    endpoint: netconf.Endpoint | None  # eth0 (ports are published to it)
    mappings: list[portmap.Mapping] = field(default_factory=list)
    extra: tuple[netconf.Endpoint, ...] = ()  # eth1... on further networks
    nameserver: str = ""  # the first user network's DNS (its gateway); "": the host's resolvers


def table() -> str:
    return settings.DOCKERWEB_NFT_TABLE


def default_network() -> Network:
    """The default bridge network record (created on first use) with its bridge and NAT."""
    here = host_name()
    net = next(iter(_NETWORK(here, DEFAULT)), None)  # (host, name) is unique
    if net is None:
        net = _create_default(here)
    verify(net)
    return net


def verify(net: Network, force: bool = False) -> None:
    """Make sure `net`'s bridge and nft rules exist (re-made if someone removed them): at
    most every VERIFY_EVERY seconds per process unless `force`. A user network needs the
    default one's table first."""
    now = time.monotonic()
    if not force and now - _verified_at.get(net.bridge, -VERIFY_EVERY) < VERIFY_EVERY:
        return
    subnet = ipaddress.IPv4Network(net.subnet)
    if not net.user_defined:
        if not bridge.exists(net.bridge):
            bridge.ensure(net.bridge, subnet)
        portmap.ensure_table(table(), net.bridge, subnet)
    else:
        default_network()
        if not bridge.exists(net.bridge):
            bridge.ensure(net.bridge, subnet, ipaddress.IPv4Address(net.gateway))
        portmap.ensure_network(table(), net.bridge, subnet)
    _verified_at[net.bridge] = now


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
    nets = networks_of(c, spec)
    if not nets:
        return Plan(endpoint=None)
    try:
        eps = []
        for n, net in enumerate(nets):
            verify(net)
            veth = netconf.veth_name(c.id) if n == 0 else netconf.extra_veth_name(c.id, n)
            eps.append(allocate_ip(c, net, veth))
        mappings = [_allocate_port(c, parse_port(p), eps[0].ip) for p in spec.ports]
    except BaseException:
        release(c.id)
        raise
    dns = next((net.gateway for net in nets if net.user_defined), "")
    return Plan(endpoint=eps[0], mappings=mappings, extra=tuple(eps[1:]), nameserver=dns)


def networks_of(c: Container, spec: ContainerSpec) -> list[Network]:
    """The networks `c` joins at start, eth0's first: the default bridge for mode "bridge",
    then its user networks (create's NetworkMode first: it was joined first)."""
    if spec.network_mode == "none":
        return []
    nets = [default_network()] if spec.network_mode == DEFAULT else []
    return nets + [m.network for m in _MEMBERSHIPS(c.id)]


def allocate_ip(c: Container, net: Network, veth: str) -> netconf.Endpoint:
    """Reserve the lowest free address of `net` for `c` (an Endpoint row; the unique
    constraint settles races) with host-side interface name `veth`."""
    subnet = ipaddress.IPv4Network(net.subnet)
    gw = ipaddress.IPv4Address(net.gateway)
    for attempt in range(ATTEMPTS):
        try:
            # the read and the insert in one transaction: on SQLite (BEGIN IMMEDIATE) one
            # writer's, so no concurrent start takes the address in between (a burst of 100
            # starts lost that race 79 times, each read and parsed again); elsewhere (PostgreSQL)
            # the unique constraint still settles it
            with transaction.atomic():
                # the lowest free address first; after losing a race (concurrent starts all
                # read the same lowest one), one at random among the SPREAD_AFTER_LOSS ** n
                # lowest free
                taken = rowsql.column(Endpoint, "ip", {"network": net.pk})
                ip = ipam.next_free(subnet, taken, gw,
                                    among=min(SPREAD_AFTER_LOSS ** attempt, SPREAD_MAX))
                ep = netconf.Endpoint(bridge=net.bridge, subnet=subnet, ip=ip, gateway=gw,
                                      mac=ipam.mac_for(ip), veth=veth)
                rowsql.insert(Endpoint, {"container": c.id, "network": net.pk, "ip": str(ip),
                                         "prefix": subnet.prefixlen, "gateway": str(ep.gateway),
                                         "mac": ep.mac, "veth": ep.veth})
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
    """Drop rules and reservations of `cid`. Idempotent. Plain SQL (rowsql): it runs at
    every exit."""
    drop_rules(cid)
    rowsql.delete(PortBinding, {"container": cid})
    rowsql.delete(Endpoint, {"container": cid})


def drop_rules(cid: str) -> None:
    """Drop the NAT rules of `cid`, before its port rows go (at exit: `release`; at removal
    the record's deletion takes the rows with it). Rules exist only while the port rows do
    (rows first at allocate, rules removed before the rows; the boot sweep takes any other),
    so a container without ports costs one query and no nft run. Idempotent."""
    if rowsql.exists(PortBinding, {"container": cid}):
        portmap.remove(table(), cid)


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
    """NetworkSettings for inspect: ip, prefix, gateway, mac of eth0, ports private -> public,
    and `networks`: each network by name (ip, prefix, gateway, mac, aliases; the address
    fields empty while the container does not run). Two queries for most containers (its
    networks, its addresses; see _endpoints), a third with published ports; none for a
    container in network mode none."""
    eps = _endpoints(c)
    nets = per_network(c, eps)
    ports: dict[str, list[dict[str, Any]]] = {}
    if c.spec.get("ports"):  # host ports are reserved for spec.ports only (allocate)
        for b in PortBinding.objects.filter(container=c).order_by("container_port"):
            ports.setdefault(f"{b.container_port}/{b.proto}", []).append(
                {"host_ip": b.host_ip or "0.0.0.0", "host_port": b.host_port, "host": b.host or c.host})
    if not eps:
        return {"network": c.spec.get("network_mode", "bridge"), "ip": "", "prefix": 0,
                "gateway": "", "mac": "", "ports": ports, "networks": nets}
    ep = eps[0]
    return {"network": ep.network.name, "ip": ep.ip, "prefix": ep.prefix, "gateway": ep.gateway,
            "mac": ep.mac, "veth": ep.veth, "ports": ports, "networks": nets}


def _endpoints(c: Container) -> list[Endpoint]:
    """`c`'s addresses with their networks, eth0's first; none without a query for a container
    never started (addresses are allocated by a start, after `created`) or on no network
    (mode none: `allocate` gives it none)."""
    if c.state == State.CREATED.value or _on_no_network(c):
        return []
    return _ENDPOINTS(c.id)  # by id


# inspect's reads (every GET, start and create reply): compiled once (containers/prepared)
_ENDPOINTS = Prepared(Endpoint, lambda cid: Endpoint.objects.filter(
    container_id=cid).select_related("network"))
_MEMBERSHIPS = Prepared(Membership, lambda cid: Membership.objects.filter(
    container_id=cid).select_related("network"))
_NETWORK = Prepared(Network, lambda host, name: Network.objects.filter(host=host, name=name).order_by()[:1])


def _on_no_network(c: Container) -> bool:
    """Mode none: never on a network (create refuses its endpoints, connect refuses it)."""
    return c.spec.get("network_mode") == "none"


def per_network(c: Container, eps: list[Endpoint] | None = None) -> dict[str, dict[str, Any]]:
    """Each network `c` is on, by name: {id, ip, prefix, gateway, mac, aliases}, eth0's first.
    A stopped container is still on its networks, without an address (as Docker's). `eps`:
    its endpoints when the caller has read them (_endpoints)."""
    eps = _endpoints(c) if eps is None else eps
    out: dict[str, dict[str, Any]] = {}
    blank = {"ip": "", "prefix": 0, "gateway": "", "mac": ""}
    if c.spec.get("network_mode", DEFAULT) == DEFAULT:
        on = [ep.network for ep in eps if ep.network.name == DEFAULT and ep.network.host == c.host]
        net = on[0] if on else None
        if net is None:
            net = next(iter(_NETWORK(c.host, DEFAULT)), None)  # (host, name) is unique
        out[DEFAULT] = {"id": net.nid if net else "", **blank, "aliases": []}
    for m in () if _on_no_network(c) else _MEMBERSHIPS(c.id):
        out[m.network.name] = {"id": m.network.nid, **blank, "aliases": list(m.aliases)}
    for ep in eps:
        entry = out.setdefault(ep.network.name, {"id": ep.network.nid, "aliases": []})
        entry.update(ip=ep.ip, prefix=ep.prefix, gateway=ep.gateway, mac=ep.mac)
    return out
