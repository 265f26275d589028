"""A container's network as LXC config lines, plus /etc/hostname, /etc/hosts and
/etc/resolv.conf written into its root (through fds that inroot.py resolved inside it: a
symlink the image planted, or one a container swaps in, cannot redirect the write)."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from ..fs import inroot

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
    if ep is None:
        return ["lxc.net.0.type = empty"]
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


def write_etc(root: str, hostname: str, name: str, cid: str, ip: IPv4Address | None) -> None:
    """Write /etc/hostname, /etc/hosts, /etc/resolv.conf into the container root."""
    try:
        with open("/etc/resolv.conf") as f:
            host_resolv = f.read()
    except OSError:
        host_resolv = ""
    files = {"/etc/hostname": hostname + "\n", "/etc/hosts": hosts_file(hostname, name, cid, ip),
             "/etc/resolv.conf": resolv_conf(host_resolv)}
    root_fd = inroot.open_root(root)
    try:
        etc, _ = inroot.make_dirs(root_fd, "/etc")
    finally:
        os.close(root_fd)
    try:
        for path, text in files.items():
            _write_in(etc, os.path.basename(path), text)
    finally:
        os.close(etc)


def _write_in(dir_fd: int, name: str, text: str) -> None:
    """Regular file `name` in `dir_fd` with `text`; a symlink or other non-file there is
    replaced, never followed."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                 dir_fd=dir_fd)
    with os.fdopen(fd, "w") as f:
        f.write(text)
