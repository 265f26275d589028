"""The engine's side of the per-container supervisor: launch it, find it, signal through it.

The supervisor (supervisor.py) runs as a fresh `python3 -I -S` in its own session. The
files it writes in the container directory are the truth about a container:
  state.json  written once the container's init exists (pids and their start times)
  exit.json   written atomically after the container exited and was cleaned up
"""

from __future__ import annotations

import json
import marshal
import os
import select
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..errors import ExitUnreadable, StartFailed
from ..layout import ContainerPaths, private
from . import procs

SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor.py")
PYTHON = "/usr/bin/python3"


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
    container's cgroups, has no start hook and no rootfs, and is never run under the init
    confinement library (`preload`). The supervisor is stdlib-only and reads the spec as the
    plain dict of `to_marshal`, indexing every field (none is ever None).
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
    hook_fifo: str = ""
    memory_cgroup: str = ""
    cgroup_limits: tuple[tuple[str, str, int], ...] = ()
    cgroup_dirs: tuple[str, ...] = ()
    rootfs: str = ""
    preload: str = ""
    log_max_size: int = 0  # bytes of container.log before a rotation; 0: never rotated
    log_max_file: int = 1  # files kept (container.log and .1 ... .N-1)

    @classmethod
    def container(cls, paths: ContainerPaths, argv: list[str], *, tty: bool, open_stdin: bool,
                  stdin_once: bool, console_size: list[int], memory_cgroup: str,
                  cgroup_limits: list[tuple[str, str, int]], cgroup_dirs: list[str],
                  preload: str, log_max_size: int = 0, log_max_file: int = 1) -> SupervisorSpec:
        """The spec of a container's supervisor (`argv` runs lxc-execute)."""
        return cls(
            argv=tuple(argv), tty=tty, open_stdin=open_stdin, stdin_once=stdin_once,
            console_size=tuple(console_size), **_files(paths), hook_fifo=paths.hook_fifo,
            memory_cgroup=memory_cgroup, cgroup_limits=tuple(cgroup_limits),
            cgroup_dirs=tuple(cgroup_dirs), rootfs=paths.rootfs, preload=preload,
            log_max_size=log_max_size, log_max_file=log_max_file,
        )

    @classmethod
    def exec(cls, paths: SupervisedPaths, argv: list[str], *, tty: bool, open_stdin: bool,
             console_size: list[int], log_max_size: int = 0, log_max_file: int = 1) -> SupervisorSpec:
        """The spec of an exec's supervisor (`argv` runs lxc-attach). The client that typed
        into an exec closes its stdin when it leaves (so a shell exits): stdin_once. Its
        output log rotates as its container's does."""
        return cls(argv=tuple(argv), tty=tty, open_stdin=open_stdin, stdin_once=True,
                   console_size=tuple(console_size), **_files(paths),
                   log_max_size=log_max_size, log_max_file=log_max_file)

    def to_marshal(self) -> dict[str, Any]:
        """The plain dict the supervisor loads (marshal knows no dataclasses)."""
        return asdict(self)


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


def read_exit(paths: SupervisedPaths) -> dict[str, Any] | None:
    """The last run's exit record, or None when there is none (yet).

    Raises ExitUnreadable (with the reason) when exit.json exists but is not a record: it is
    only ever renamed into place complete, so junk there is damage, never a write in flight.
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


def launch(paths: ContainerPaths, spec: SupervisorSpec, timeout: float = 30.0) -> RunState:
    """Start a supervisor for `spec` and return once the container runs.

    Raises StartFailed with LXC's own error text when the container did not start.
    """
    for stale in (paths.state, paths.exit):
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    tmp = paths.spec + ".tmp"
    with open(tmp, "wb", opener=private) as f:
        marshal.dump(spec.to_marshal(), f)
    os.rename(tmp, paths.spec)
    if spawn(SUPERVISOR, paths.dir, paths.supervisor_log, timeout) == "started":
        state = read_state(paths)
        if state is not None:
            return state
    raise start_failure(paths.exit, paths.supervisor_log, "supervisor failed to start")


def spawn(script: str, directory: str, supervisor_log: str, timeout: float) -> str:
    """Run `python3 -I -S script directory FD` (a supervisor, which double-forks into its own
    session and reads directory/supervisor.spec) and return the first word it writes on FD:
    "started", "failed", or "timeout" when none came within `timeout` seconds. Its stderr
    is appended to `supervisor_log`."""
    r, w = os.pipe()
    with open(supervisor_log, "ab", opener=private) as err:
        proc = subprocess.Popen(
            [PYTHON, "-I", "-S", script, directory, str(w)],
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
    """main_pid, waiting a moment for it: "started" is LXC's start hook, which runs just
    before LXC's init forks the command, so a signal sent right after a start could
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
