"""Render the per-container LXC config with jinja2 (StrictUndefined) from validated values.

Contract: every value passed to `render` is re-checked here to be a single line with no
NUL, and environment entries must be KEY=VALUE with a safe key, so no user field can start
a new LXC key. Network lines are produced by the engine's own networking code only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import jinja2

from .errors import InvalidArgument
from .spec import ENV_KEY_RE

# Capabilities dropped, as in early Docker's LXC template.
CAP_DROP = (
    "audit_control audit_write mac_admin mac_override mknod setfcap setpcap sys_admin "
    "sys_boot sys_module sys_nice sys_pacct sys_rawio sys_resource sys_time sys_tty_config"
).split()

# Device whitelist: null, zero, full, random, urandom, tty, console, ptmx, pts, tun.
DEVICES = (
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",
    "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
)

HOOK = os.path.join(os.path.dirname(__file__), "hooks", "started")

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
    hook_fifo: str
    working_dir: str
    uid: int
    gid: int
    environment: list[str]
    network: list[str] = field(default_factory=lambda: ["lxc.net.0.type = empty"])


def _line(value: str, what: str) -> str:
    if any(ch in value for ch in "\n\r\x00"):
        raise InvalidArgument(f"{what} must be a single line")
    return value


def render(p: LxcParams) -> str:
    """The LXC config text for `p`. Raises InvalidArgument on any unsafe value."""
    for name in ("hostname", "rootfs", "log_file", "cgroup_container", "cgroup_monitor",
                 "hook_fifo", "working_dir"):
        _line(getattr(p, name), name)
    for path in (p.rootfs, p.log_file, p.hook_fifo):
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
    return _env.get_template("lxc.conf.j2").render(
        hostname=p.hostname, rootfs=p.rootfs, log_file=p.log_file,
        cgroup_container=p.cgroup_container, cgroup_monitor=p.cgroup_monitor,
        start_hook=HOOK, hook_fifo=p.hook_fifo, working_dir=p.working_dir,
        uid=int(p.uid), gid=int(p.gid), cap_drop=CAP_DROP, devices=DEVICES,
        environment=p.environment, network=p.network,
    )
