"""Linux capabilities of a container: Docker's default set, --cap-add/--cap-drop/--privileged.

Contract: `resolve` takes the spec's lists (names with or without CAP_, any case, or "ALL")
and returns the exact set the container keeps, as lower-case names without CAP_ (LXC's
spelling). Unknown names raise InvalidArgument, so nothing asked for is ever ignored.
"""

from __future__ import annotations

import functools
from typing import Any

from ..errors import InvalidArgument

# Bit number -> name, as in linux/capability.h (0 .. CAP_LAST_CAP = 40 on kernels >= 5.9).
NAMES = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
)
BITS = {name: bit for bit, name in enumerate(NAMES)}

# Docker's default set (moby oci/caps/defaults.go): CapEff 00000000a80425fb.
DOCKER_DEFAULT = frozenset((
    "chown", "dac_override", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
    "net_bind_service", "net_raw", "sys_chroot", "mknod", "audit_write", "setfcap",
))
ALL = frozenset(NAMES)


def normalize(name: Any) -> str:
    """'CAP_SYS_ADMIN' / 'sys_admin' / 'SYS_ADMIN' -> 'sys_admin'; 'all' -> 'all'."""
    if not isinstance(name, str):
        raise InvalidArgument("capabilities must be strings")
    low = name.strip().lower()
    if low.startswith("cap_"):
        low = low[4:]
    if low != "all" and low not in BITS:
        raise InvalidArgument(f"unknown capability: {name[:64]!r}")
    return low


def validate(names: Any, what: str) -> list[str]:
    """The list normalized; InvalidArgument for a non-list or an unknown name."""
    if not isinstance(names, list):
        raise InvalidArgument(f"{what} must be a list of capability names")
    return [normalize(n) for n in names]


def resolve(cap_add: list[str], cap_drop: list[str], privileged: bool) -> frozenset[str]:
    """The capabilities a container keeps, Docker's rules (moby TweakCapabilities):
    privileged keeps all; cap_add ALL keeps all but cap_drop; cap_drop ALL keeps cap_add
    only; otherwise the default set minus cap_drop plus cap_add."""
    if privileged:
        return ALL
    add, drop = set(validate(cap_add, "cap_add")), set(validate(cap_drop, "cap_drop"))
    if "all" in add:
        return frozenset(ALL - drop)
    if "all" in drop:
        return frozenset(add)
    return frozenset((DOCKER_DEFAULT - drop) | add)


@functools.cache
def host_bounding() -> frozenset[str]:
    """The capabilities this (root) process may pass on: its bounding set (CapBnd), read
    once (it never grows, and the engine's processes never drop from it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                value = int(line.split()[1], 16)
                return frozenset(n for n, b in BITS.items() if value >> b & 1)
    return ALL


def check_host(cap_add: list[str]) -> None:
    """InvalidArgument when a capability named in cap_add (not ALL) is one this host cannot
    give (root's bounding set lacks it, e.g. sys_resource on some VMs): never ignored."""
    if not cap_add:
        return  # the usual spec: nothing to look up
    missing = set(validate(cap_add, "cap_add")) - {"all"} - host_bounding()
    if missing:
        raise InvalidArgument("this host cannot grant " + ", ".join(docker_names(sorted(missing))))


def mask(caps: frozenset[str] | set[str]) -> int:
    """The kernel bitmask of `caps` (as CapEff in /proc/PID/status)."""
    return sum(1 << BITS[c] for c in caps)


def docker_names(caps: list[str]) -> list[str]:
    """Names (any accepted spelling) as Docker shows them in HostConfig (CAP_SYS_ADMIN, ALL)."""
    return ["ALL" if c == "all" else f"CAP_{c.upper()}" for c in map(normalize, caps)]
