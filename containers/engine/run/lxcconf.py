"""Render the per-container LXC config with jinja2 (StrictUndefined) from validated values.

Contract: every value passed to `render` is re-checked here to be a single line with no
NUL, and environment entries must be KEY=VALUE with a safe key, so no user field can start
a new LXC key. Network lines are produced by the engine's own networking code only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import jinja2

from ..confine.capabilities import BITS
from ..errors import InvalidArgument
from ..spec import ENV_KEY_RE

# Docker's masked and read-only paths (moby oci/defaults.go), relative to the rootfs. Mount
# entries are optional: a path this kernel lacks (kcore, sysrq-trigger here) is skipped.
MASKED_FILES = ("proc/kcore", "proc/keys", "proc/latency_stats", "proc/timer_list",
                "proc/timer_stats", "proc/sched_debug")
MASKED_DIRS = ("proc/asound", "proc/acpi", "proc/scsi", "sys/firmware",
               "sys/devices/virtual/powercap")
# /proc/sys is read-only already (lxc.mount.auto proc:mixed)
READ_ONLY = ("proc/bus", "proc/fs", "proc/irq", "proc/sysrq-trigger")

# Device whitelist: null, zero, full, random, urandom, tty, console, ptmx, pts, tun.
DEVICES = (
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",
    "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
)

# an lxc.mount.entry value as fs/mounts.py makes it: absolute source, relative target (both
# fstab-escaped, no whitespace or control character), a bind, optionally read-only; or a
# tmpfs with checked options
_FIELD = r"[^\s\x00-\x1f\x7f]"
MOUNT_ENTRY_RE = re.compile(rf"^(/{_FIELD}* [^/\s\x00-\x1f\x7f]{_FIELD}* none r?bind(,ro)?"
                            rf"|tmpfs [^/\s\x00-\x1f\x7f]{_FIELD}* tmpfs [a-zA-Z0-9_=,%]+) 0 0\Z")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class LxcParams:
    hostname: str
    rootfs: str
    log_file: str
    cgroup_container: str
    cgroup_monitor: str
    working_dir: str
    uid: int
    gid: int
    environment: list[str]
    network: list[str] = field(default_factory=lambda: ["lxc.net.0.type = empty"])
    privileged: bool = False
    capabilities: frozenset[str] = frozenset()  # kept (capabilities.resolve); ignored if privileged
    seccomp_profile: str = ""  # path of the profile file; required unless privileged
    mounts: list[str] = field(default_factory=list)  # lxc.mount.entry values (fs/mounts.prepare)


def _line(value: str, what: str) -> str:
    if any(ch in value for ch in "\n\r\x00"):
        raise InvalidArgument(f"{what} must be a single line")
    return value


def render(p: LxcParams) -> str:
    """The LXC config text for `p`. Raises InvalidArgument on any unsafe value."""
    for name in ("hostname", "rootfs", "log_file", "cgroup_container", "cgroup_monitor",
                 "working_dir"):
        _line(getattr(p, name), name)
    if not p.privileged and not p.seccomp_profile:
        raise InvalidArgument("an unprivileged container needs a seccomp profile")
    caps = sorted(p.capabilities)
    if any(c not in BITS for c in caps):
        raise InvalidArgument("unknown capability")
    for path in (p.rootfs, p.log_file, _line(p.seccomp_profile, "seccomp_profile")):
        if " " in path:
            raise InvalidArgument(f"path {path!r} must not contain spaces")
    for item in p.environment:
        key, sep, _ = _line(item, "environment entry").partition("=")
        if not sep or not ENV_KEY_RE.fullmatch(key):
            raise InvalidArgument(f"invalid environment entry {item!r}")
    for line in p.network:
        _line(line, "network line")
        if not line.startswith("lxc.net."):
            raise InvalidArgument("network lines must be lxc.net.* keys")
    for entry in p.mounts:
        if not MOUNT_ENTRY_RE.fullmatch(entry):
            raise InvalidArgument("invalid mount entry")
    return _env.get_template("lxc.conf.j2").render(
        hostname=p.hostname, rootfs=p.rootfs, log_file=p.log_file,
        cgroup_container=p.cgroup_container, cgroup_monitor=p.cgroup_monitor,
        working_dir=p.working_dir,
        uid=int(p.uid), gid=int(p.gid), devices=DEVICES,
        environment=p.environment, network=p.network, privileged=bool(p.privileged),
        cap_keep=caps, seccomp_profile=p.seccomp_profile, masked_files=MASKED_FILES,
        masked_dirs=MASKED_DIRS, read_only=READ_ONLY, mounts=p.mounts,
    )
