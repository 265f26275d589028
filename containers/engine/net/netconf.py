"""A container's network as LXC config lines, plus its /etc/hostname, /etc/hosts and
/etc/resolv.conf, written into the container's runtime directory (ETC_FILES; layout.py's
ContainerPaths.etc, on the runtime tmpfs) and bind-mounted over those paths at start
(fs/mounts.py), as Docker does: they never enter the container's layer, so diff, export and
commit do not see them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")  # Docker's fallback when the host only has local resolvers


@dataclass(frozen=True)
class Endpoint:
    bridge: str
    subnet: IPv4Network
    ip: IPv4Address
    gateway: IPv4Address
    mac: str
    veth: str  # host-side name, <= 15 chars


def veth_name(cid: str) -> str:
    return "dw" + cid[:12]


def extra_veth_name(cid: str, n: int) -> str:
    """Host-side name of the container's interface eth<n> (n >= 1: a further network)."""
    return f"dw{cid[:10]}i{n:02d}"


def lxc_lines(ep: Endpoint | None, extra: tuple[Endpoint, ...] = ()) -> list[str]:
    """lxc.net.N.* for a veth per network (eth0 on `ep`, with the default route; eth1... on
    `extra`), or an empty (loopback-only) network."""
    if ep is None:  # flags up: LXC brings `lo` up in the new namespace (Docker does)
        return ["lxc.net.0.type = empty", "lxc.net.0.flags = up"]
    lines = []
    for n, e in enumerate((ep, *extra)):
        lines += [
            f"lxc.net.{n}.type = veth",
            f"lxc.net.{n}.link = {e.bridge}",
            f"lxc.net.{n}.flags = up",
            f"lxc.net.{n}.name = eth{n}",
            f"lxc.net.{n}.veth.pair = {e.veth}",
            f"lxc.net.{n}.hwaddr = {e.mac}",
            f"lxc.net.{n}.ipv4.address = {e.ip}/{e.subnet.prefixlen} {e.subnet.broadcast_address}",
        ]
    lines.append(f"lxc.net.0.ipv4.gateway = {ep.gateway}")
    return lines


def hosts_file(hostname: str, name: str, cid: str, ip: IPv4Address | None) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"]
    names = " ".join(dict.fromkeys([hostname, name, cid[:12]]))
    lines.append(f"{ip}\t{names}" if ip else f"127.0.1.1\t{names}")
    return "\n".join(lines) + "\n"


def resolv_conf(host_text: str, nameserver: str = "") -> str:
    """The host's resolv.conf without local nameservers (unreachable from a container);
    Docker's public fallback when nothing is left. With `nameserver` (a user network's DNS
    on its gateway) that one only, with the host's search/options lines and ndots:0, as
    Docker's embedded DNS: a short name is asked as it is first."""
    kept, servers = [], []
    for line in host_text.splitlines():
        m = re.match(r"\s*nameserver\s+(\S+)", line)
        if m:
            if not (m.group(1).startswith("127.") or m.group(1) == "::1"):
                servers.append(m.group(1))
        elif line.strip() and not line.lstrip().startswith("#"):
            kept.append(line)
    servers = servers or list(FALLBACK_DNS)
    if nameserver:
        return "\n".join([*kept, f"nameserver {nameserver}", "options ndots:0"]) + "\n"
    return "\n".join([*kept, *(f"nameserver {s}" for s in servers)]) + "\n"


# container path -> file name in the container's directory (bind-mounted over the path)
ETC_FILES = {"/etc/hostname": "hostname", "/etc/hosts": "hosts", "/etc/resolv.conf": "resolv.conf"}


def host_resolv() -> str:
    """The host's /etc/resolv.conf ("" when unreadable)."""
    try:
        with open("/etc/resolv.conf") as f:
            return f.read()
    except OSError:
        return ""


def write_etc(dest: str, hostname: str, name: str, cid: str, ip: IPv4Address | None,
              nameserver: str = "") -> dict[str, str]:
    """Write hostname, hosts and resolv.conf into directory `dest` (the container's runtime
    directory's, made by us; never inside its root, so a commit or diff never sees them); return
    {container path: host file} to bind-mount. `nameserver`: a user network's DNS.

    Written in place (no temporary and rename): at a start nothing has them mounted (a
    running container's resolv.conf is rewritten by write_resolv), a start interrupted
    halfway rewrites them at the next, and a restart then allocates and deletes no inode
    (issue 13: each costs a scan of the recently deleted ones on a journal-less ext4)."""
    texts = {"/etc/hostname": hostname + "\n", "/etc/hosts": hosts_file(hostname, name, cid, ip),
             "/etc/resolv.conf": resolv_conf(host_resolv(), nameserver)}
    out = {}
    for path, text in texts.items():
        host = os.path.join(dest, ETC_FILES[path])
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            os.fchmod(fd, 0o644)  # whatever the umask: read by the container's users through the mount
            data = text.encode()
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        out[path] = host
    return out


def write_resolv(dest: str, nameserver: str = "") -> None:
    """Rewrite resolv.conf of a running container (a live connect or disconnect) in
    directory `dest`, in place: the container's bind mount holds this inode."""
    with open(os.path.join(dest, ETC_FILES["/etc/resolv.conf"]), "r+") as f:
        f.write(resolv_conf(host_resolv(), nameserver))
        f.truncate()
