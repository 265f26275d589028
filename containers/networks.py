"""User-defined networks: create, remove, prune, connect, disconnect (the worker runs the
ones with host effects), and the networks a container joins at create. Each network is its
own bridge, subnet and set of nft rules (engine/net/portmap.py: isolation from every other
bridge); its name service is nameservice.py.

Subnets: an explicit one is refused when it overlaps a network or a host route; otherwise
the first free /DOCKERWEB_NETWORK_POOL_SIZE of DOCKERWEB_NETWORK_POOL. Guards: one worker per
state root creates networks, under `_LOCK` (the overlap check and the INSERT are one step),
and the database refuses a second network with the same name, bridge or subnet.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from containers import events, lookup, networking
from containers.engine import ids
from containers.engine.errors import Conflict, EngineError, Forbidden, InvalidArgument, NotFound
from containers.engine.net import bridge, ipam, netconf, portmap, veth
from containers.engine.spec import NETWORK_NAME_RE, validate_labels
from containers.engine.state import State
from containers.models import Container, Endpoint, Membership, Network
from containers.runtime import engine, host_name

log = logging.getLogger("dockerweb.networks")
PREDEFINED = ("bridge", "none", "host", "default")
ALIAS_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}")
ALIASES_MAX = 64
_LOCK = threading.Lock()  # network create/remove in this (the one) worker


def _changed() -> None:
    """Tell the name service that networks or addresses changed (no-op outside the worker)."""
    from containers import nameservice

    nameservice.changed()


def _event(action: str, net: Network, **attributes: Any) -> None:
    """A network event as Docker's (Type network; attributes name, container_id: `container`
    is emit's own parameter)."""
    events.emit(action, type="network", actor_id=net.nid, actor_name=net.name,
                owner_id=net.owner_id, name=net.name, **attributes)


# ---- create / remove / prune (worker) --------------------------------------------------
def create(name: str, *, subnet: str = "", gateway: str = "", labels: dict[str, str] | None = None,
           owner_id: int | None = None) -> Network:
    """A new user network with its bridge, rules and DNS. InvalidArgument (bad name, subnet,
    gateway), Forbidden (a predefined name), Conflict (name taken, subnet overlap, pool full)."""
    if not isinstance(name, str) or not NETWORK_NAME_RE.fullmatch(name):
        raise InvalidArgument(f"invalid network name {name!r}: [a-zA-Z0-9][a-zA-Z0-9_.-]*, 64 at most")
    if name in PREDEFINED:
        raise Forbidden(f"{name} is a pre-defined network and cannot be created")
    labels = labels or {}
    validate_labels(labels)
    if gateway and not subnet:
        raise InvalidArgument("a gateway needs a subnet (--subnet)")
    networking.default_network()  # our table first
    with _LOCK:
        if Network.objects.filter(name=name).exists():
            raise Conflict(f"network with name {name} already exists")
        in_use = [ipaddress.IPv4Network(s) for s in Network.objects.values_list("subnet", flat=True)]
        in_use += bridge.host_networks()
        if subnet:
            net_subnet = ipam.parse_subnet(subnet)
            ipam.check_free(net_subnet, in_use)
        else:
            pool = ipam.parse_pool(settings.DOCKERWEB_NETWORK_POOL, settings.DOCKERWEB_NETWORK_POOL_SIZE)
            net_subnet = next(ipam.pool_free(pool, settings.DOCKERWEB_NETWORK_POOL_SIZE, in_use), None)
            if net_subnet is None:
                raise Conflict("all predefined address pools have been fully subnetted")
        gw = ipam.parse_gateway(gateway, net_subnet) if gateway else ipam.gateway(net_subnet)
        net = _insert(name, net_subnet, gw, labels, owner_id)
        try:
            networking.verify(net, force=True)
        except BaseException:
            _forget(net)
            raise
    _event("create", net)
    _changed()
    return net


def _insert(name: str, subnet: ipaddress.IPv4Network, gw: ipaddress.IPv4Address,
            labels: dict[str, str], owner_id: int | None) -> Network:
    for _ in range(3):
        nid = ids.new_id()
        try:
            with transaction.atomic():
                return Network.objects.create(
                    name=name, nid=nid, host=host_name(),
                    bridge=(settings.DOCKERWEB_NETWORK_BRIDGE_PREFIX + nid)[:15],
                    subnet=str(subnet), gateway=str(gw), labels=labels, owner_id=owner_id)
        except IntegrityError:
            if Network.objects.filter(name=name).exists():
                raise Conflict(f"network with name {name} already exists") from None
            if Network.objects.filter(subnet=str(subnet)).exists():
                raise Conflict(f"invalid pool request: subnet {subnet} is in use") from None
    raise Conflict("could not choose a unique bridge name")


def _forget(net: Network) -> None:
    """Host parts first (rules, bridge), then the record."""
    portmap.remove_network(networking.table(), net.bridge)
    bridge.remove(net.bridge)
    net.delete()


def remove(nid: str) -> None:
    """Remove a user network that no container is on (Conflict otherwise); the default
    bridge cannot be removed (Forbidden)."""
    net = _network(nid)
    if not net.user_defined:
        raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
    with _LOCK:
        busy = Conflict(f"error while removing network: network {net.name} id {net.nid} has active "
                        "endpoints")
        if Membership.objects.filter(network=net).exists() or Endpoint.objects.filter(network=net).exists():
            raise busy
        try:
            with transaction.atomic():
                Network.objects.filter(pk=net.pk).delete()
        except (IntegrityError, ProtectedError):  # a connect got in first
            raise busy from None
        portmap.remove_network(networking.table(), net.bridge)
        bridge.remove(net.bridge)
    _changed()
    _event("destroy", net)


def prune(nids: list[str]) -> list[str]:
    """Remove those of `nids` (user networks the caller sees) that no container is on;
    return their names."""
    gone = []
    for net in Network.objects.filter(nid__in=nids, host=host_name()).exclude(name="bridge"):
        try:
            remove(net.nid)
            gone.append(net.name)
        except (Conflict, NotFound):
            continue
    return gone


def restore() -> None:
    """At worker boot: every user network's bridge and rules exist (re-made if the host lost
    them, e.g. after a reboot)."""
    for net in Network.objects.filter(host=host_name()).exclude(name="bridge"):
        try:
            networking.verify(net, force=True)
        except EngineError as e:
            log.error("network %s could not be restored: %s", net.name, e.message)


# ---- membership ----------------------------------------------------------------------
def check_aliases(aliases: Any) -> list[str]:
    if aliases is None:
        return []
    if not isinstance(aliases, list) or len(aliases) > ALIASES_MAX or not all(
            isinstance(a, str) and ALIAS_RE.fullmatch(a) for a in aliases):
        raise InvalidArgument(f"aliases must be a list of at most {ALIASES_MAX} names "
                              "([a-zA-Z0-9][a-zA-Z0-9_.-]*, 63 at most)")
    return list(dict.fromkeys(aliases))


def joins_at_create(mode: str, endpoints: dict[str, Any], user) -> list[tuple[Network, list[str]]]:
    """The user networks a new container joins, NetworkMode's first, with their aliases:
    from HostConfig.NetworkMode and NetworkingConfig.EndpointsConfig ({name or id:
    {"Aliases": [...]}}), each looked up as `user` sees networks (NotFound: 404)."""
    if not isinstance(endpoints, dict):
        raise InvalidArgument("EndpointsConfig must be an object")
    if mode in ("host", "default"):
        raise InvalidArgument(f"network mode {mode} is not supported: bridge, none or a user network")
    wanted: dict[str, Any] = {}
    if mode not in ("bridge", "none"):
        wanted[mode] = None
    wanted.update(endpoints)
    out: list[tuple[Network, list[str]]] = []
    for ref, conf in wanted.items():
        if conf is not None and not isinstance(conf, dict):
            raise InvalidArgument("each EndpointsConfig entry must be an object")
        aliases = check_aliases((conf or {}).get("Aliases"))
        ipam_conf = (conf or {}).get("IPAMConfig") or {}
        if not isinstance(ipam_conf, dict) or ipam_conf.get("IPv4Address") or ipam_conf.get("IPv6Address"):
            raise InvalidArgument("static addresses (--ip, IPAMConfig) are not supported")
        if ref in ("bridge", "none", "default"):  # the CLI names NetworkMode "default" here too
            if ref != mode and not (ref == "default" and mode == "bridge"):
                raise InvalidArgument(f"container cannot be on network {ref}: its NetworkMode is {mode}")
            if aliases:
                raise InvalidArgument("network-scoped alias is supported only for containers in user "
                                      "defined networks")
            continue
        if mode == "none":
            raise InvalidArgument("container cannot be connected to a network: its NetworkMode is none")
        net = lookup.network(ref, user)
        if any(n.pk == net.pk for n, _ in out):
            continue  # the same network by name and by id
        out.append((net, aliases))
    return out


def record_joins(c: Container, joins: list[tuple[Network, list[str]]]) -> None:
    """Membership rows of a new container (in create's transaction)."""
    for net, aliases in joins:
        Membership.objects.create(container=c, network=net, aliases=aliases)


def connect(nid: str, cid: str, aliases: list[str]) -> None:
    """Put container `cid` on user network `nid` (worker). A running container gets the
    interface at once (ethN in its netns) and, if this is its first user network, that
    network's DNS in /etc/resolv.conf; a stopped one at its next start."""
    net, c = _network(nid), _container(cid)
    aliases = check_aliases(aliases)
    if not net.user_defined:
        raise InvalidArgument("the default bridge is chosen at create (NetworkMode), not by connect")
    if c.spec.get("network_mode") == "none":
        raise Conflict("container cannot be connected to a network: its network mode is none")
    if net.host and net.host != c.host:
        raise Conflict(f"network {net.name} is on host {net.host} and container {c.name} on host "
                       f"{c.host}: networks do not span hosts")
    try:
        with transaction.atomic():
            m = Membership.objects.create(container=c, network=net, aliases=aliases)
    except IntegrityError:
        if not Network.objects.filter(pk=net.pk).exists():
            raise NotFound(f"network {nid} not found") from None
        raise Conflict(f"endpoint with name {c.name} already exists in network {net.name}") from None
    if c.status == State.RUNNING:
        try:
            _attach_live(c, net)
        except BaseException:
            m.delete()
            raise
    _changed()
    _event("connect", net, container_id=c.id)


def _attach_live(c: Container, net: Network) -> None:
    run = engine().status(c.id).run
    if run is None or not run.init_pid:
        raise Conflict(f"container {c.name} is not running")
    taken = set(Endpoint.objects.filter(container=c).values_list("veth", flat=True))
    first = not taken
    n = next(i for i in range(1, 100) if netconf.extra_veth_name(c.id, i) not in taken)
    networking.verify(net)
    name = netconf.veth_name(c.id) if first else netconf.extra_veth_name(c.id, n)
    ep = networking.allocate_ip(c, net, name)
    try:
        veth.attach(run.init_pid, ep, default_route=first)
    except BaseException:
        Endpoint.objects.filter(container=c, network=net).delete()
        raise
    _update_resolv(c)


def disconnect(nid: str, cid: str, force: bool = False) -> None:
    """Take container `cid` off user network `nid` (worker): its interface there goes at once
    if it runs. NotFound when it is not on it."""
    net, c = _network(nid), _container(cid)
    if not net.user_defined:
        raise InvalidArgument("disconnecting from the default bridge is not supported")
    m = Membership.objects.filter(container=c, network=net).first()
    if m is None and not force:
        raise NotFound(f"container {c.name} is not connected to network {net.name}")
    ep = Endpoint.objects.filter(container=c, network=net).first()
    if ep is not None:
        veth.detach(ep.veth)
        ep.delete()
        _update_resolv(c)
    if m is not None:
        m.delete()
    _changed()
    _event("disconnect", net, container_id=c.id)


def _update_resolv(c: Container) -> None:
    """/etc/resolv.conf of running `c`: its first user network's DNS, else the host's."""
    first = (Endpoint.objects.filter(container=c).exclude(network__name="bridge")
             .select_related("network").first())
    try:
        netconf.write_resolv(engine().paths(c.id).etc, first.network.gateway if first else "")
    except OSError as e:
        log.warning("resolv.conf of %s not updated: %s", c.id[:12], e)


def _network(nid: str) -> Network:
    net = Network.objects.filter(nid=nid).first()
    if net is None:
        raise NotFound(f"network {nid} not found")
    return net


def _container(cid: str) -> Container:
    c = Container.objects.filter(pk=cid).first()
    if c is None:
        raise NotFound(f"No such container: {cid}")
    return c
