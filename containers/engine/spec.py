"""ContainerSpec: the seed's Config, validated. Only validated values reach LXC.

Every string that may end up in an LXC config line is checked here: no newline, carriage
return or NUL anywhere, and keys restricted to safe characters. The jinja2 template then
renders these values only (StrictUndefined), so a user field can never become an LXC key.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from . import logconfig, restart
from .confine import capabilities
from .errors import InvalidArgument, shown
from .fs import mounts as mountspec
from .fs.inroot import check_path

MIN_MEMORY = 6 * 1024 * 1024  # Docker's minimum memory limit
CFS_PERIOD = 100_000  # us, Docker's period for NanoCpus
MAX_CPU_SHARES = 262_144
# Patterns end in `\Z`, never `$` (which also matches before a trailing newline), and are
# used with fullmatch: a whole value is validated, whatever method a caller uses.
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\Z")
HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}\Z)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\Z"
)
USER_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}"
USER_RE = re.compile(rf"^{USER_PART}(:{USER_PART})?\Z")
PORT_RE = re.compile(
    r"^(?:(?:(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?P<public>\d{1,5})?:)?"
    r"(?P<private>\d{1,5})(?:/(?P<proto>tcp|udp))?\Z"
)
# argv and environment: the kernel refuses (E2BIG) one string over MAX_ARG_STRLEN (32 pages,
# 128 KiB with its NUL) and everything together over ARG_MAX (a quarter of the stack limit:
# 2 MiB with the usual 8 MiB). We allow half of that for cmd + entrypoint + env, counted as
# the kernel does (bytes + NUL + one pointer each), leaving the rest to the image's own env,
# the variables we add and lxc-execute's options.
ARG_STRLEN_MAX = 128 * 1024 - 1  # bytes in one argument or env entry
ARGV_TOTAL_MAX = 1024 * 1024  # bytes, cmd + entrypoint + env together
VOLUMES_FROM_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}(:(ro|rw))?\Z")
IMAGE_REF_MAX = 512  # name (255) + ":" tag (128) + "@sha256:" digest (71) fits
LABEL_KEY_MAX = 1024
LABEL_VALUE_MAX = 64 * 1024
LABELS_TOTAL_MAX = 1024 * 1024
FORBIDDEN_CHARS = ("\n", "\r", "\x00")
NETWORK_MODES = ("bridge", "none")  # or the name of a user-defined network
NETWORK_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}")  # Docker's, 64 at most


def _clean(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} must be a string")
    for ch in FORBIDDEN_CHARS:
        if ch in value:
            raise InvalidArgument(f"{what} must not contain newline, carriage return or NUL")
    return value


_SCALARS = (str, int, bool, float, type(None))


def _plain(value: Any) -> Any:
    """A deep copy of `value` as `dataclasses.asdict` makes it for a field's value: JSON's
    types copied here, anything else by asdict's own rule (deepcopy, nested dataclasses)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [_plain(v) for v in value]
    if kind is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    return _asdict_value(value)


def _asdict_value(value: Any) -> Any:
    @dataclass
    class _Box:
        v: Any

    return asdict(_Box(value))["v"]


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
    log_opts: dict[str, str] = field(default_factory=dict)  # json-file max-size / max-file
    log_driver: str = logconfig.DEFAULT_DRIVER  # json-file, local or none (stores nothing)
    restart_policy: str = restart.NO  # no, always, unless-stopped, on-failure
    restart_max_retries: int = 0  # on-failure's maximum retry count; 0: no maximum
    stop_timeout: int | None = None  # Docker's Config.StopTimeout: stop's default wait (s)
    memory_swappiness: int | None = None  # memory.swappiness 0-100; None: the host's
    # bind mounts and volumes (fs/mounts.py dicts: type, source, target, read_only, mode,
    # origin); a volume's source "" is anonymous until the create names it
    mounts: list[dict[str, Any]] = field(default_factory=list)
    binds: list[str] = field(default_factory=list)  # HostConfig.Binds as given (inspect)
    volumes_from: list[str] = field(default_factory=list)  # "container[:ro|rw]", resolved at create

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, lists and dicts copied (what `dataclasses.asdict` gives,
        at a quarter of its CPU: every create stores it)."""
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContainerSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known).validated()

    def validated(self) -> ContainerSpec:
        """Return self after checking every field; raise InvalidArgument naming the field."""
        _clean(self.image, "image")
        if not self.image:
            raise InvalidArgument("image must not be empty")
        if len(self.image) > IMAGE_REF_MAX:
            raise InvalidArgument(f"image reference must not be more than {IMAGE_REF_MAX} characters")
        validate_cmd(self.cmd)
        validate_cmd(self.entrypoint, "entrypoint")
        if self.entrypoint:  # surely argv[0]: a path the kernel can take
            check_path(self.entrypoint[0], "entrypoint command")
        if self.hostname:
            _clean(self.hostname, "hostname")
            if not HOSTNAME_RE.fullmatch(self.hostname):
                raise InvalidArgument(f"invalid hostname {shown(self.hostname)}")
        validate_user(self.user)
        validate_env(self.env)
        validate_argv_size(self.cmd, self.entrypoint, self.env)
        validate_working_dir(self.working_dir)
        validate_memory(self.memory, self.memory_swap)
        if self.network_mode not in NETWORK_MODES and not (
                isinstance(self.network_mode, str) and NETWORK_NAME_RE.fullmatch(self.network_mode)):
            raise InvalidArgument(f"network_mode must be one of {', '.join(NETWORK_MODES)} "
                                  "or a network name")
        validate_console_size(self.console_size)
        validate_labels(self.labels)
        capabilities.resolve(self.cap_add, self.cap_drop, False)  # names checked
        capabilities.check_host(self.cap_add)  # refused, never ignored, if the host cannot
        validate_limits(self)
        logconfig.validate_driver(self.log_driver)
        logconfig.validate_opts(self.log_opts, self.log_driver)
        restart.validate(self.restart_policy, self.restart_max_retries)
        if self.auto_remove and self.restart_policy not in ("", restart.NO):
            raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
        validate_stop_timeout(self.stop_timeout)
        validate_swappiness(self.memory_swappiness)
        for flag in ("tty", "open_stdin", "stdin_once", "auto_remove", "privileged"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidArgument(f"{flag} must be a boolean")
        validate_ports(self.ports)
        mountspec.validate(self.mounts)
        if not isinstance(self.binds, list) or not all(isinstance(b, str) for b in self.binds):
            raise InvalidArgument("binds must be a list of strings")
        for b in self.binds:
            _clean(b, "bind")
        if not isinstance(self.volumes_from, list) or not all(
                isinstance(v, str) and VOLUMES_FROM_RE.fullmatch(v) for v in self.volumes_from):
            raise InvalidArgument("volumes_from must be a list of \"container[:ro|rw]\"")
        return self

    @property
    def swap_limit(self) -> int:
        """memory+swap in bytes per the seed: 2 x memory unless -1 (unlimited) or set; 0 = none."""
        if self.memory <= 0 or self.memory_swap == -1:
            return 0
        return self.memory_swap if self.memory_swap > 0 else 2 * self.memory


def validate_user(user: Any) -> None:
    """"" or name, uid, name:group, uid:gid (each part at most 32 characters)."""
    if user:
        _clean(user, "user")
        if not USER_RE.fullmatch(user):
            raise InvalidArgument(f"invalid user {shown(user)}: use name, uid, name:group or uid:gid")


def validate_working_dir(path: Any) -> None:
    """"" or an absolute path the kernel can take (PATH_MAX, NAME_MAX per component)."""
    if path:
        _clean(path, "working_dir")
        if not path.startswith("/"):
            raise InvalidArgument("working_dir must be an absolute path")
        check_path(path, "working_dir")


def validate_argv_size(*lists: list[str]) -> None:
    """Refuse what execve would refuse with E2BIG: one string over ARG_STRLEN_MAX bytes, or
    all of them over ARGV_TOTAL_MAX (bytes + NUL + a pointer each). Lists already checked to
    hold strings."""
    total = 0
    for items in lists:
        for item in items:
            n = len(item.encode("utf-8", "surrogateescape"))
            if n > ARG_STRLEN_MAX:
                raise InvalidArgument(
                    f"argument or env entry too long ({n} bytes, at most {ARG_STRLEN_MAX}): {shown(item)}")
            total += n + 1 + 8
    if total > ARGV_TOTAL_MAX:
        raise InvalidArgument(
            f"command, entrypoint and env too long together ({total} bytes, at most {ARGV_TOTAL_MAX})")


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
    total = 0
    for k, v in labels.items():
        if "\x00" in k or "\x00" in v or not k:
            raise InvalidArgument("label keys must be non-empty and labels must not contain NUL")
        if len(k) > LABEL_KEY_MAX or len(v) > LABEL_VALUE_MAX:
            raise InvalidArgument(f"label {shown(k)} too long: keys at most {LABEL_KEY_MAX} characters, "
                                  f"values at most {LABEL_VALUE_MAX}")
        total += len(k) + len(v)
    if total > LABELS_TOTAL_MAX:
        raise InvalidArgument(f"labels must not be more than {LABELS_TOTAL_MAX} characters together")


def validate_env(env: Any) -> None:
    """KEY=VALUE entries, or a bare KEY (Docker: the variable is unset in the container)."""
    if not isinstance(env, list):
        raise InvalidArgument("env must be a list of KEY=VALUE strings")
    for item in env:
        _clean(item, "env entry")
        key = item.partition("=")[0]
        if not ENV_KEY_RE.fullmatch(key):
            raise InvalidArgument(f"invalid env entry {shown(item)}: expected KEY=VALUE or KEY")


def validate_limits(spec: ContainerSpec) -> None:
    """pids and CPU limits, Docker's ranges (the host's CPU count bounds nano_cpus)."""
    import os

    if _int(spec.pids_limit, "pids_limit") < -1:
        raise InvalidArgument("pids_limit must be -1 (unlimited), 0 (default) or a positive count")
    nano = _int(spec.nano_cpus, "nano_cpus")
    period, quota = _int(spec.cpu_period, "cpu_period"), _int(spec.cpu_quota, "cpu_quota")
    if nano and period:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano and quota:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    ncpu = os.cpu_count() or 1
    if nano < 0 or (nano and not 10_000_000 <= nano <= ncpu * 1_000_000_000):
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} "
                              "CPUs available")
    shares = _int(spec.cpu_shares, "cpu_shares")
    if shares < 0 or shares > MAX_CPU_SHARES:
        raise InvalidArgument(f"invalid CPU shares {shares}: the range is 0 (the default) to "
                              f"{MAX_CPU_SHARES}")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                              "than 1s (i.e. 1000000)")
    if quota and quota != -1 and quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")


def validate_stop_timeout(timeout: Any) -> None:
    """None (stop's default, 10 s), -1 (wait for ever) or a number of seconds."""
    if timeout is not None and (_int(timeout, "StopTimeout") < -1):
        raise InvalidArgument(f"invalid StopTimeout {timeout}: must be -1 (no limit) or a number "
                              "of seconds")


def validate_swappiness(value: Any) -> None:
    """None (the host's) or 0-100; Docker's message."""
    if value is not None and not 0 <= _int(value, "MemorySwappiness") <= 100:
        raise InvalidArgument(f"Invalid value: {value}, valid memory swappiness range is 0-100")


def validate_memory(memory: Any, memory_swap: Any) -> None:
    memory = _int(memory, "memory")
    memory_swap = _int(memory_swap, "memory_swap")
    if memory < 0:
        raise InvalidArgument("memory must not be negative")
    if 0 < memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory_swap < -1:
        raise InvalidArgument("memory_swap must be -1, 0 or a byte count")
    if memory_swap > 0 and memory == 0:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, "
                              "see usage")
    if memory_swap > 0 and memory_swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")


def validate_ports(ports: Any) -> None:
    if not isinstance(ports, list):
        raise InvalidArgument("ports must be a list of strings")
    for port in ports:
        parse_port(port)


def parse_port(port: Any) -> dict[str, Any]:
    """Parse a -p value ("80", "8080:80", "127.0.0.1:8080:80", "53/udp")."""
    if isinstance(port, int) and not isinstance(port, bool):
        port = str(port)
    m = PORT_RE.fullmatch(_clean(port, "port")) if isinstance(port, str) else None
    if not m:
        raise InvalidArgument(f"invalid port mapping {shown(port)}")
    private = int(m["private"])
    public = int(m["public"]) if m["public"] else 0
    if not 1 <= private <= 65535 or public > 65535:
        raise InvalidArgument(f"invalid port number in {shown(port)}")
    return {"ip": (m["ip"] or "").strip("[]"), "public": public, "private": private,
            "proto": m["proto"] or "tcp"}
