"""The engine's side of the per-container supervisor: launch it, find it, signal through it.

The supervisor (supervisor.c, built by `program` into the state root's lib/) runs in its own
session. The files it writes in the container directory are the truth about a container:
  state.json  written once the container's init exists (pids and their start times)
  exit.json   written atomically after the container exited; a container's rootfs unmount
              and cgroup removal follow it, in a cleaner that holds an exclusive flock on
              exit.json until they are done (await_cleanup)
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Protocol

from .. import cbuild
from ..errors import Conflict, ExitUnreadable, InvalidArgument, StartFailed
from ..layout import ContainerPaths, private
from . import procs

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor.c")
CFLAGS = ("-O2", "-Wall", "-Wextra")  # dynamically linked: libc's pages are shared (low PSS)
SPEC_MAGIC = b"dockerweb-supervisor-spec 1"
MAX_LOG_FILES = 1000


@functools.cache
def tool(name: str) -> str:
    """The absolute path of the host program `name` (lxc-execute, lxc-attach), looked up on
    the PATH once per process, so that the supervisor's exec does not try each directory of
    the PATH first; `name` itself when it is not found (the start then fails as before)."""
    return shutil.which(name) or name


def program(lib_dir: str) -> str:
    """The supervisor binary for this source, built under `lib_dir` when missing
    (StartFailed when it cannot be built)."""
    return cbuild.build(SOURCE, lib_dir, "supervisor", cflags=CFLAGS, what="the supervisor")


class SupervisedPaths(Protocol):
    """The files a supervisor writes (a container's or an exec's directory)."""

    attach: str
    log: str
    exit: str
    state: str
    lxc_log: str


@dataclass(frozen=True)
class SupervisorSpec:
    """What a supervisor runs and where it writes: the contents of supervisor.spec.

    `argv` is the whole child command line (`lxc-execute ...` or `lxc-attach ...`), built by
    the engine. The fields after `lxc_log` are a container's only: an exec joins the
    container's cgroups, has no rootfs, and is never run under the init confinement library
    (`preload`, required for a container: it also reports the container started, see
    initconfine.c). `mode` says which ("container" or "exec").

    On disk (`to_bytes`, read by supervisor.c): the field SPEC_MAGIC, then for each key its
    name and its value(s), every field NUL-terminated. Lists are repeated keys (`argv`,
    `console_size`, `cgroup_dir`, `host_veth`); `cgroup_limit` takes three values (directory, file,
    integer); booleans are 0/1; every other key appears exactly once. Both sides validate
    the same rules (`from_bytes` is the Python reader); the supervisor refuses anything else.
    """

    argv: tuple[str, ...]
    tty: bool
    open_stdin: bool
    stdin_once: bool
    console_size: tuple[int, ...]  # (rows, cols) of a tty, or () for the default 24x80
    attach_path: str
    log_path: str
    exit_path: str
    state_path: str
    lxc_log: str
    memory_cgroup: str = ""
    cgroup_limits: tuple[tuple[str, str, int], ...] = ()
    cgroup_dirs: tuple[str, ...] = ()
    rootfs: str = ""
    preload: str = ""
    host_veths: tuple[str, ...] = ()  # its veths' host ends: the kernel deletes them (initconfine.c)
    log_max_size: int = 0  # bytes of container.log before a rotation; 0: never rotated
    log_max_file: int = 1  # files kept (container.log and .1 ... .N-1)
    mode: str = "container"

    @classmethod
    def container(cls, paths: ContainerPaths, argv: list[str], *, tty: bool, open_stdin: bool,
                  stdin_once: bool, console_size: list[int], memory_cgroup: str,
                  cgroup_limits: list[tuple[str, str, int]], cgroup_dirs: list[str],
                  preload: str, host_veths: tuple[str, ...] = (), log_max_size: int = 0,
                  log_max_file: int = 1) -> SupervisorSpec:
        """The spec of a container's supervisor (`argv` runs lxc-execute); `host_veths` are
        the host ends of the veths LXC makes for it (see initconfine.c)."""
        return cls(
            argv=tuple(argv), tty=tty, open_stdin=open_stdin, stdin_once=stdin_once,
            console_size=tuple(console_size), **_files(paths),
            memory_cgroup=memory_cgroup, cgroup_limits=tuple(cgroup_limits),
            cgroup_dirs=tuple(cgroup_dirs), rootfs=paths.rootfs, preload=preload,
            host_veths=tuple(host_veths), log_max_size=log_max_size, log_max_file=log_max_file,
        )

    @classmethod
    def exec(cls, paths: SupervisedPaths, argv: list[str], *, tty: bool, open_stdin: bool,
             console_size: list[int], log_max_size: int = 0, log_max_file: int = 1) -> SupervisorSpec:
        """The spec of an exec's supervisor (`argv` runs lxc-attach). The client that typed
        into an exec closes its stdin when it leaves (so a shell exits): stdin_once. Its
        output log rotates as its container's does."""
        return cls(argv=tuple(argv), tty=tty, open_stdin=open_stdin, stdin_once=True,
                   console_size=tuple(console_size), **_files(paths),
                   log_max_size=log_max_size, log_max_file=log_max_file, mode="exec")

    def validate(self) -> None:
        """The rules supervisor.c checks; InvalidArgument naming the first one broken."""
        def fail(why: str) -> None:
            raise InvalidArgument(f"supervisor spec: {why}")

        strings = [*self.argv, *self.cgroup_dirs, *(x for lim in self.cgroup_limits for x in lim[:2])]
        strings += [getattr(self, k) for k in _PATHS + ("mode",)]
        if any("\0" in s for s in strings):
            fail("a value contains a NUL byte")
        if self.mode not in ("container", "exec"):
            fail("mode must be container or exec")
        if not self.argv or not self.argv[0]:
            fail("argv is empty")
        if len(self.console_size) not in (0, 2) or not all(1 <= v <= 65535 for v in self.console_size):
            fail("console_size must be () or (rows, cols) within 1..65535")
        for k in _PATHS:
            value = getattr(self, k)
            if (value or k in _REQUIRED_PATHS) and not os.path.isabs(value):
                fail(f"{k} is not an absolute path")
        if not all(os.path.isabs(d) for d in self.cgroup_dirs):
            fail("cgroup_dir is not an absolute path")
        for directory, key, value in self.cgroup_limits:
            if not os.path.isabs(directory) or not key or "/" in key or not -2**63 <= value < 2**63:
                fail("bad cgroup_limit")
        if not 0 <= self.log_max_size < 2**63:
            fail("bad log_max_size")
        if not 1 <= self.log_max_file <= MAX_LOG_FILES:
            fail("bad log_max_file")
        if not all(IFNAME.fullmatch(v) for v in self.host_veths) or len(self.host_veths) > MAX_VETHS:
            fail("bad host_veth")
        container_only = (self.memory_cgroup, self.rootfs, self.preload, self.cgroup_limits,
                          self.cgroup_dirs, self.host_veths)
        if self.mode == "exec" and any(container_only):
            fail("an exec spec has container-only fields")
        if self.mode == "container" and not (self.memory_cgroup and self.rootfs and self.preload):
            fail("a container spec needs memory_cgroup, rootfs and preload")

    def to_bytes(self) -> bytes:
        """The spec file's contents (validated first)."""
        self.validate()
        fields: list[str] = []
        for key, value in self._items():
            fields.append(key)
            fields.extend(value)
        return SPEC_MAGIC + b"\0" + b"".join(f.encode("utf-8", "surrogateescape") + b"\0" for f in fields)

    def _items(self) -> list[tuple[str, list[str]]]:
        items = [("mode", [self.mode])]
        items += [("argv", [a]) for a in self.argv]
        items += [(k, ["1" if getattr(self, k) else "0"]) for k in ("tty", "open_stdin", "stdin_once")]
        items += [("console_size", [str(v)]) for v in self.console_size]
        items += [(k, [getattr(self, k)]) for k in _PATHS]
        items += [("cgroup_limit", [d, k, str(v)]) for d, k, v in self.cgroup_limits]
        items += [("cgroup_dir", [d]) for d in self.cgroup_dirs]
        items += [("host_veth", [v]) for v in self.host_veths]
        items += [(k, [str(getattr(self, k))]) for k in ("log_max_size", "log_max_file")]
        return items

    @classmethod
    def from_bytes(cls, raw: bytes) -> SupervisorSpec:
        """Parse and validate a spec file's contents (what supervisor.c accepts);
        InvalidArgument when malformed."""
        def fail(why: str) -> InvalidArgument:
            return InvalidArgument(f"supervisor spec: {why}")

        if not raw.endswith(b"\0"):
            raise fail("not a sequence of NUL-terminated fields")
        fields = [f.decode("utf-8", "surrogateescape") for f in raw[:-1].split(b"\0")]
        if fields[0] != SPEC_MAGIC.decode():
            raise fail("bad magic")
        lists: dict[str, list] = {"argv": [], "console_size": [], "cgroup_limit": [], "cgroup_dir": [],
                                  "host_veth": []}
        scalars: dict[str, str] = {}
        i = 1
        while i < len(fields):
            key = fields[i]
            arity = 3 if key == "cgroup_limit" else 1
            values = fields[i + 1:i + 1 + arity]
            if len(values) < arity:
                raise fail(f"key {key[:40]} without a value")
            i += 1 + arity
            if key in lists:
                lists[key].append(values if arity > 1 else values[0])
            elif key in _SCALARS:
                if key in scalars:
                    raise fail(f"key {key} given twice")
                scalars[key] = values[0]
            else:
                raise fail(f"unknown key {key[:40]}")
        missing = [k for k in _SCALARS if k not in scalars]
        if missing:
            raise fail(f"key {missing[0]} missing")

        def number(text: str, lo: int, hi: int, what: str) -> int:
            if not text.lstrip("-").isdigit() or not text.isascii() or not lo <= int(text) <= hi:
                raise fail(f"bad {what}")
            return int(text)

        def flag(key: str) -> bool:
            if scalars[key] not in ("0", "1"):
                raise fail(f"{key} must be 0 or 1")
            return scalars[key] == "1"

        spec = cls(
            argv=tuple(lists["argv"]), tty=flag("tty"), open_stdin=flag("open_stdin"),
            stdin_once=flag("stdin_once"),
            console_size=tuple(number(v, 1, 65535, "console_size") for v in lists["console_size"]),
            **{k: scalars[k] for k in _PATHS},
            cgroup_limits=tuple((d, k, number(v, -2**63, 2**63 - 1, "cgroup_limit value"))
                                for d, k, v in lists["cgroup_limit"]),
            cgroup_dirs=tuple(lists["cgroup_dir"]), host_veths=tuple(lists["host_veth"]),
            log_max_size=number(scalars["log_max_size"], 0, 2**63 - 1, "log_max_size"),
            log_max_file=number(scalars["log_max_file"], 1, MAX_LOG_FILES, "log_max_file"),
            mode=scalars["mode"],
        )
        spec.validate()
        return spec


IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")  # an interface name: supervisor.c's valid_ifname
MAX_VETHS = 16  # host_veth values at most (supervisor.c, initconfine.c)
_PATHS = ("attach_path", "log_path", "exit_path", "state_path", "lxc_log", "memory_cgroup",
          "rootfs", "preload")
_REQUIRED_PATHS = ("attach_path", "log_path", "exit_path", "state_path", "lxc_log")
_SCALARS = ("mode", "tty", "open_stdin", "stdin_once", *_PATHS, "log_max_size", "log_max_file")


def _files(paths: SupervisedPaths) -> dict[str, str]:
    return {"attach_path": paths.attach, "log_path": paths.log, "exit_path": paths.exit,
            "state_path": paths.state, "lxc_log": paths.lxc_log}


@dataclass(frozen=True)
class RunState:
    """What state.json says about a running container."""

    supervisor_pid: int
    supervisor_start: int
    lxc_pid: int
    init_pid: int
    init_start: int
    started_at: str

    def supervisor_alive(self) -> bool:
        return procs.alive(self.supervisor_pid, self.supervisor_start)


def read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # only complete files are renamed into place; treat junk as absent


def read_state(paths: ContainerPaths) -> RunState | None:
    doc = read_json(paths.state)
    return RunState(**doc) if doc else None


# a run's cleaner (LXC's teardown, an unmount, rmdirs) is done in milliseconds; it kills an
# lxc-execute stuck in its teardown after 10 s (supervisor.c TEARDOWN_MS); below the RPC's 30 s
CLEANUP_WAIT_S = 25.0
CLEANUP_POLL_S = 0.001


def await_cleanup(exit_path: str, timeout: float = CLEANUP_WAIT_S) -> None:
    """Return once the run that wrote `exit_path` is cleaned up: its supervisor unmounts the
    rootfs and removes the cgroups after exit.json, in a cleaner holding an exclusive flock
    on that file (supervisor.c clean_after). Whoever mounts the rootfs, or removes the
    container, calls this first: a cleaner still at work would unmount the new mount or
    meet a renamed directory. No exit.json (a first start, a run that is on): at once.

    Raises Conflict when the cleaner is not done after `timeout` seconds (an unmount that
    hangs): nothing was touched, the caller may retry.
    """
    try:
        fd = os.open(exit_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return  # closing the descriptor lets go of the shared lock
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise Conflict("the container's last run is still being cleaned up (LXC's "
                                   "teardown, the unmount of its root); try again") from None
                time.sleep(CLEANUP_POLL_S)
    finally:
        os.close(fd)


def read_exit(paths: SupervisedPaths) -> dict[str, Any] | None:
    """The last run's exit record, or None when there is none (yet).

    Raises ExitUnreadable (with the reason) when exit.json exists but is not a record: it is
    only ever renamed into place complete, so junk there is damage, never a write in flight
    (or a host crash in the few milliseconds before the run's cleaner made it durable).
    """
    try:
        with open(paths.exit, "rb") as f:
            raw = f.read(1 << 20)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ExitUnreadable(f"exit status unreadable: {e.strerror or type(e).__name__}") from None
    try:
        doc = json.loads(raw)
    except ValueError as e:  # includes UnicodeDecodeError
        raise ExitUnreadable(f"exit status unreadable: {_short(e)}") from None
    if not isinstance(doc, dict):
        raise ExitUnreadable("exit status unreadable: not a JSON object")
    code = doc.get("exit_code")
    if not isinstance(code, int) or isinstance(code, bool):
        raise ExitUnreadable("exit status unreadable: no integer exit_code")
    return doc


def _short(err: Exception) -> str:
    return str(err)[:120] or type(err).__name__


def launch(paths: ContainerPaths, spec: SupervisorSpec, program: str, timeout: float = 30.0) -> RunState:
    """Start a supervisor (the binary `program`, see program()) for `spec` and return once
    the container runs.

    Raises StartFailed with LXC's own error text when the container did not start.
    """
    data = spec.to_bytes()
    for stale in (paths.state, paths.exit):
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    tmp = paths.spec + ".tmp"
    with open(tmp, "wb", opener=private) as f:
        f.write(data)
    os.rename(tmp, paths.spec)
    if spawn(program, paths.dir, paths.supervisor_log, timeout) == "started":
        state = read_state(paths)
        if state is not None:
            return state
    raise start_failure(paths.exit, paths.supervisor_log, "supervisor failed to start")


def spawn(program: str, directory: str, supervisor_log: str, timeout: float) -> str:
    """Run `program directory FD` (a supervisor, which double-forks into its own session and
    reads directory/supervisor.spec) and return the first word it writes on FD: "started",
    "failed", or "timeout" when none came within `timeout` seconds. Its stderr is appended
    to `supervisor_log`."""
    r, w = os.pipe()
    with open(supervisor_log, "ab", opener=private) as err:
        proc = subprocess.Popen(
            [program, directory, str(w)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            pass_fds=(w,), start_new_session=True, close_fds=True,
        )
    os.close(w)
    try:
        return _read_word(r, timeout)
    finally:
        os.close(r)
        proc.wait()


def start_failure(exit_path: str, supervisor_log: str, fallback: str) -> StartFailed:
    """Why a supervisor did not start: the error of its exit file, else the end of its own
    log, else `fallback`."""
    info = read_json(exit_path) or {}
    return StartFailed(info.get("error") or _tail(supervisor_log) or fallback)


def _read_word(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return "timeout"
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    return data.decode().strip()


def _tail(path: str, n: int = 5) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:]).strip()
    except OSError:
        return ""


def main_pid(state: RunState) -> int | None:
    """The container's main process (the child of LXC's init), when it exists."""
    kids = procs.children(state.init_pid)
    return kids[0] if kids else None


def await_main(state: RunState, timeout: float = 1.0) -> int | None:
    """main_pid, waiting a moment for it: "started" is sent by LXC's init just before it
    forks the command (initconfine.c), so a signal sent right after a start could
    otherwise find no main process and hit the init (whose SIGKILL makes lxc-execute exit 1,
    not 137)."""
    deadline = time.monotonic() + timeout
    while (pid := main_pid(state)) is None:
        if time.monotonic() >= deadline or not procs.alive(state.init_pid, state.init_start):
            return None
        time.sleep(0.001)
    return pid


def deliver(state: RunState, sig: int) -> bool:
    """Send `sig` to the container's main process (so its exit code is 128+sig, and because
    LXC's init swallows some signals such as SIGHUP); to the init when there is no main
    process yet. Returns False when the container no longer runs.
    """
    if not procs.alive(state.init_pid, state.init_start):
        return False
    pid = await_main(state)
    started = procs.start_time(pid) if pid else None
    if pid and started is not None and procs.send_signal(pid, started, sig):
        return True
    return procs.send_signal(state.init_pid, state.init_start, sig)


def kill_init(state: RunState) -> bool:
    """SIGKILL the container's init: the whole pid namespace dies (last resort)."""
    import signal as _signal

    return procs.send_signal(state.init_pid, state.init_start, _signal.SIGKILL)


def wait_supervisor(state: RunState, timeout: float | None) -> bool:
    """Block until the supervisor exited (True) or `timeout` seconds passed (False)."""
    try:
        fd = os.pidfd_open(state.supervisor_pid)
    except (ProcessLookupError, OSError):
        return True
    try:
        if not state.supervisor_alive():
            return True
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)
