"""ContainerSpec: the seed's Config, validated. Only validated values reach LXC.

Every string that may end up in an LXC config line is checked here: no newline, carriage
return or NUL anywhere, and keys restricted to safe characters. The jinja2 template then
renders these values only (StrictUndefined), so a user field can never become an LXC key.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from . import capabilities
from .errors import InvalidArgument

MIN_MEMORY = 6 * 1024 * 1024  # Docker's minimum memory limit
CFS_PERIOD = 100_000  # us, Docker's period for NanoCpus
MAX_CPU_SHARES = 262_144
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
USER_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}"
USER_RE = re.compile(rf"^{USER_PART}(:{USER_PART})?$")
PORT_RE = re.compile(
    r"^(?:(?:(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?P<public>\d{1,5})?:)?"
    r"(?P<private>\d{1,5})(?:/(?P<proto>tcp|udp))?$"
)
FORBIDDEN_CHARS = ("\n", "\r", "\x00")
NETWORK_MODES = ("bridge", "none")


def _clean(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a string")
    for ch in FORBIDDEN_CHARS:
        if ch in value:
            raise InvalidArgument(f"{what} must not contain newline, carriage return or NUL")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{what} must be an integer")
    return value


@dataclass(frozen=True)
class ContainerSpec:
    """What a container was created with. Immutable; stored as JSON."""

    image: str
    cmd: list[str] = field(default_factory=list)
    hostname: str = ""
    user: str = ""
    env: list[str] = field(default_factory=list)
    working_dir: str = ""
    memory: int = 0
    memory_swap: int = 0
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    ports: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    auto_remove: bool = False
    network_mode: str = "bridge"
    console_size: list[int] = field(default_factory=list)  # [rows, cols] for a tty
    labels: dict[str, str] = field(default_factory=dict)
    cap_add: list[str] = field(default_factory=list)  # names as given (CAP_ optional, ALL)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    pids_limit: int = 0  # Docker's PidsLimit: 0 = the engine's default, -1 = unlimited
    nano_cpus: int = 0  # CPUs x 1e9 (cpu.cfs_quota_us over a 100 ms period)
    cpu_shares: int = 0  # relative weight (cpu.shares); 0 = the kernel's 1024
    cpu_period: int = 0  # cpu.cfs_period_us; 0 = 100000
    cpu_quota: int = 0  # cpu.cfs_quota_us; 0 = none

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContainerSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known).validated()

    def validated(self) -> ContainerSpec:
        """Return self after checking every field; raise InvalidArgument naming the field."""
        _clean(self.image, "image")
        if not self.image:
            raise InvalidArgument("image must not be empty")
        validate_cmd(self.cmd)
        validate_cmd(self.entrypoint, "entrypoint")
        if self.hostname:
            _clean(self.hostname, "hostname")
            if not HOSTNAME_RE.match(self.hostname):
                raise InvalidArgument(f"invalid hostname {self.hostname!r}")
        if self.user:
            _clean(self.user, "user")
            if not USER_RE.match(self.user):
                raise InvalidArgument(f"invalid user {self.user!r}: use name, uid, name:group or uid:gid")
        validate_env(self.env)
        if self.working_dir:
            _clean(self.working_dir, "working_dir")
            if not self.working_dir.startswith("/"):
                raise InvalidArgument("working_dir must be an absolute path")
        validate_memory(self.memory, self.memory_swap)
        if self.network_mode not in NETWORK_MODES:
            raise InvalidArgument(f"network_mode must be one of {', '.join(NETWORK_MODES)}")
        validate_console_size(self.console_size)
        validate_labels(self.labels)
        capabilities.resolve(self.cap_add, self.cap_drop, False)  # names checked
        capabilities.check_host(self.cap_add)  # refused, never ignored, if the host cannot
        validate_limits(self)
        for flag in ("tty", "open_stdin", "stdin_once", "auto_remove", "privileged"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidArgument(f"{flag} must be a boolean")
        validate_ports(self.ports)
        return self

    @property
    def normalized_working_dir(self) -> str:
        return posixpath.normpath(self.working_dir) if self.working_dir else "/"

    @property
    def swap_limit(self) -> int:
        """memory+swap in bytes per the seed: 2 x memory unless -1 (unlimited) or set; 0 = none."""
        if self.memory <= 0 or self.memory_swap == -1:
            return 0
        return self.memory_swap if self.memory_swap > 0 else 2 * self.memory


def validate_cmd(cmd: Any, what: str = "cmd") -> None:
    if not isinstance(cmd, list):
        raise InvalidArgument(f"{what} must be a list of strings")
    for arg in cmd:
        if not isinstance(arg, str):
            raise InvalidArgument(f"{what} must be a list of strings")
        if "\x00" in arg:
            raise InvalidArgument(f"{what} arguments must not contain NUL")


def validate_console_size(size: Any) -> None:
    if size in ([], None):
        return
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 65535 for n in size)):
        raise InvalidArgument("console_size must be [rows, cols]")


def validate_labels(labels: Any) -> None:
    if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise InvalidArgument("labels must map strings to strings")
    for k, v in labels.items():
        if "\x00" in k or "\x00" in v or not k:
            raise InvalidArgument("label keys must be non-empty and labels must not contain NUL")


def validate_env(env: Any) -> None:
    if not isinstance(env, list):
        raise InvalidArgument("env must be a list of KEY=VALUE strings")
    for item in env:
        _clean(item, "env entry")
        key, sep, _ = item.partition("=")
        if not sep or not ENV_KEY_RE.match(key):
            raise InvalidArgument(f"invalid env entry {item!r}: expected KEY=VALUE")


def validate_limits(spec: ContainerSpec) -> None:
    """pids and CPU limits, Docker's ranges (the host's CPU count bounds nano_cpus)."""
    import os

    if _int(spec.pids_limit, "pids_limit") < -1:
        raise InvalidArgument("pids_limit must be -1 (unlimited), 0 (default) or a positive count")
    nano = _int(spec.nano_cpus, "nano_cpus")
    period, quota = _int(spec.cpu_period, "cpu_period"), _int(spec.cpu_quota, "cpu_quota")
    if nano and (period or quota):
        raise InvalidArgument("nano_cpus and cpu_period/cpu_quota cannot both be set")
    ncpu = os.cpu_count() or 1
    if nano < 0 or (nano and not 10_000_000 <= nano <= ncpu * 1_000_000_000):
        raise InvalidArgument(f"nano_cpus must be between 0.01 and {ncpu} CPUs (10000000 to "
                              f"{ncpu * 1_000_000_000})")
    shares = _int(spec.cpu_shares, "cpu_shares")
    if shares < 0 or shares > MAX_CPU_SHARES:
        raise InvalidArgument(f"cpu_shares must be between 0 and {MAX_CPU_SHARES}")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument("cpu_period must be between 1000 and 1000000 microseconds")
    if quota and quota != -1 and quota < 1000:
        raise InvalidArgument("cpu_quota must be -1 or at least 1000 microseconds")


def validate_memory(memory: Any, memory_swap: Any) -> None:
    memory = _int(memory, "memory")
    memory_swap = _int(memory_swap, "memory_swap")
    if memory < 0:
        raise InvalidArgument("memory must not be negative")
    if 0 < memory < MIN_MEMORY:
        raise InvalidArgument("memory must be at least 6 MiB (6291456 bytes)")
    if memory_swap < -1:
        raise InvalidArgument("memory_swap must be -1, 0 or a byte count")
    if memory_swap > 0 and memory == 0:
        raise InvalidArgument("memory_swap needs memory to be set")
    if memory_swap > 0 and memory_swap < memory:
        raise InvalidArgument("memory_swap must be at least memory")


def validate_ports(ports: Any) -> None:
    if not isinstance(ports, list):
        raise InvalidArgument("ports must be a list of strings")
    for port in ports:
        parse_port(port)


def parse_port(port: Any) -> dict[str, Any]:
    """Parse a -p value ("80", "8080:80", "127.0.0.1:8080:80", "53/udp")."""
    if isinstance(port, int) and not isinstance(port, bool):
        port = str(port)
    m = PORT_RE.match(_clean(port, "port")) if isinstance(port, str) else None
    if not m:
        raise InvalidArgument(f"invalid port mapping {port!r}")
    private = int(m["private"])
    public = int(m["public"]) if m["public"] else 0
    if not 1 <= private <= 65535 or public > 65535:
        raise InvalidArgument(f"invalid port number in {port!r}")
    return {"ip": (m["ip"] or "").strip("[]"), "public": public, "private": private,
            "proto": m["proto"] or "tcp"}
