"""A container's network as LXC config lines, plus its /etc/hostname, /etc/hosts and
/etc/resolv.conf, written into the container's own directory (ETC_FILES) and bind-mounted
over those paths at start (fs/mounts.py), as Docker does: they never enter the container's
layer, so diff, export and commit do not see them."""

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


def lxc_lines(ep: Endpoint | None) -> list[str]:
    """lxc.net.0.* for a veth on the bridge, or an empty (loopback-only) network."""
    if ep is None:  # flags up: LXC brings `lo` up in the new namespace (Docker does)
        return ["lxc.net.0.type = empty", "lxc.net.0.flags = up"]
    return [
        "lxc.net.0.type = veth",
        f"lxc.net.0.link = {ep.bridge}",
        "lxc.net.0.flags = up",
        "lxc.net.0.name = eth0",
        f"lxc.net.0.veth.pair = {ep.veth}",
        f"lxc.net.0.hwaddr = {ep.mac}",
        f"lxc.net.0.ipv4.address = {ep.ip}/{ep.subnet.prefixlen} {ep.subnet.broadcast_address}",
        f"lxc.net.0.ipv4.gateway = {ep.gateway}",
    ]


def hosts_file(hostname: str, name: str, cid: str, ip: IPv4Address | None) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"]
    names = " ".join(dict.fromkeys([hostname, name, cid[:12]]))
    lines.append(f"{ip}\t{names}" if ip else f"127.0.1.1\t{names}")
    return "\n".join(lines) + "\n"


def resolv_conf(host_text: str) -> str:
    """The host's resolv.conf without local nameservers (unreachable from a container);
    Docker's public fallback when nothing is left."""
    kept, servers = [], []
    for line in host_text.splitlines():
        m = re.match(r"\s*nameserver\s+(\S+)", line)
        if m:
            if not (m.group(1).startswith("127.") or m.group(1) == "::1"):
                servers.append(m.group(1))
        elif line.strip() and not line.lstrip().startswith("#"):
            kept.append(line)
    servers = servers or list(FALLBACK_DNS)
    return "\n".join([*kept, *(f"nameserver {s}" for s in servers)]) + "\n"


# container path -> file name in the container's directory
ETC_FILES = {"/etc/hostname": "hostname", "/etc/hosts": "hosts", "/etc/resolv.conf": "resolv.conf"}


def write_etc(dest: str, hostname: str, name: str, cid: str, ip: IPv4Address | None) -> dict[str, str]:
    """Write hostname, hosts and resolv.conf into directory `dest` (the container's own,
    made by us); return {container path: host file} to bind-mount."""
    try:
        with open("/etc/resolv.conf") as f:
            host_resolv = f.read()
    except OSError:
        host_resolv = ""
    texts = {"/etc/hostname": hostname + "\n", "/etc/hosts": hosts_file(hostname, name, cid, ip),
             "/etc/resolv.conf": resolv_conf(host_resolv)}
    out = {}
    for path, text in texts.items():
        host = os.path.join(dest, ETC_FILES[path])
        tmp = host + ".tmp"
        with open(tmp, "w") as f:  # 0644: read by the container's users through the mount
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, host)
        out[path] = host
    return out
