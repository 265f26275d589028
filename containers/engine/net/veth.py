"""A running container's further network interfaces, added and removed live (docker network
connect/disconnect): a veth pair made on the host, one end moved into the container's netns
(found from its init pid, /proc/<pid>/ns/net) and set up there with pyroute2. And the host
ends a run left behind (`clear_stale`)."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterable

from pyroute2 import IPRoute, NetNS
from pyroute2.netlink.exceptions import NetlinkError

from ..errors import Conflict, EngineError
from .netconf import Endpoint


def _free_ifname(ns: NetNS) -> str:
    taken = {link.get_attr("IFLA_IFNAME") for link in ns.get_links()}
    return next(f"eth{n}" for n in range(64) if f"eth{n}" not in taken)


def attach(init_pid: int, ep: Endpoint, default_route: bool = False) -> str:
    """Add interface ethN (the first free N) for `ep` in the netns of `init_pid`, with its
    address and MAC, up (and the default route via its gateway if `default_route`: the
    container had no network); the host end `ep.veth` on `ep.bridge`, up. Returns ethN. On any
    failure nothing is left (deleting the host end deletes the pair)."""
    netns = f"/proc/{init_pid}/ns/net"
    peer = "dwp" + secrets.token_hex(6)  # a temporary host name, renamed inside
    with IPRoute() as ipr:
        bridges = ipr.link_lookup(ifname=ep.bridge)
        if not bridges:
            raise EngineError(f"bridge {ep.bridge} is missing")
        if ipr.link_lookup(ifname=ep.veth):
            raise Conflict(f"interface {ep.veth} exists already")
        ipr.link("add", ifname=ep.veth, kind="veth", peer=peer)
        try:
            host_end = ipr.link_lookup(ifname=ep.veth)[0]
            ipr.link("set", index=ipr.link_lookup(ifname=peer)[0], net_ns_fd=netns)
            with NetNS(netns) as ns:
                ifname = _free_ifname(ns)
                idx = ns.link_lookup(ifname=peer)[0]
                ns.link("set", index=idx, ifname=ifname, address=ep.mac)
                ns.addr("add", index=idx, address=str(ep.ip), prefixlen=ep.subnet.prefixlen,
                        broadcast=str(ep.subnet.broadcast_address))
                ns.link("set", index=idx, state="up")
                if default_route:
                    ns.route("add", dst="0.0.0.0/0", gateway=str(ep.gateway))
            ipr.link("set", index=host_end, master=bridges[0], state="up")
            return ifname
        except BaseException:
            detach(ep.veth)
            raise


def detach(veth: str) -> None:
    """Remove the pair whose host end is `veth` (its container end goes with it). Idempotent."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=veth)
        if found:
            ipr.link("del", index=found[0])


def clear_stale(names: Iterable[str]) -> None:
    """Delete the interfaces named `names` that are still there. At a container's end its
    host ends are left to the kernel (initconfine.c), which deletes each pair shortly after,
    with the container's network namespace; a start that needs the same name before that
    (a restart) deletes it here. One stat per name when there is none, the usual case."""
    for name in names:
        if os.path.exists(f"/sys/class/net/{name}"):
            try:
                detach(name)
            except NetlinkError as e:
                if e.code != errno.ENODEV:  # gone meanwhile: the kernel was first
                    raise
