"""Exec: run another command in a running container with `lxc-attach`. No Django imports.

Ownership: a started exec gets its own supervisor (supervisor.c in exec mode), launched and
double-forked into its own session exactly like a container's. It owns `lxc-attach` and
its stdio (pipes or a pty), writes the output to output.log, serves an attach socket with
the container supervisor's framing (so the same websocket relay serves both) and writes
exit.json atomically. An exec therefore survives the web process that started it; it ends
with its command, or with the container (whose pid namespace takes it along).

Records are files next to the container's, never database rows:

    <container dir>/exec/<exec id>/
      config.json      ExecConfig + created time (written by `create`)
      supervisor.spec  argv and paths for the supervisor (created O_EXCL: claims the start)
      state.json       supervisor pid + start time, lxc-attach pid, started_at
      exit.json        exit_code, finished_at, ... (atomic, as the container's)
      output.log       JSON-lines output records, as container.log
      attach.sock      the attach socket while the exec runs
      lxc.log          lxc-attach's own errors
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import ids
from ..errors import Conflict, ExitUnreadable, InvalidArgument, NotFound
from ..facade import build_env
from ..fs import inroot
from ..layout import DIR_MODE, Layout, private
from ..logconfig import LogLimits
from ..spec import (
    validate_argv_size,
    validate_cmd,
    validate_console_size,
    validate_env,
    validate_user,
    validate_working_dir,
)
from . import supervision, users
from .procs import alive
from .supervision import SupervisorSpec, read_exit, read_json

SHELL = "/bin/sh"
CD_AND_EXEC = 'cd -- "$1" || exit 126; shift; exec "$@"'


@dataclass(frozen=True)
class ExecConfig:
    """What to run (Docker's ExecConfig)."""

    cmd: list[str]
    tty: bool = False
    stdin: bool = False
    env: list[str] = field(default_factory=list)
    user: str = ""
    working_dir: str = ""
    console_size: list[int] = field(default_factory=list)  # [rows, cols] for a tty
    detach_keys: str = ""  # Docker's DetachKeys ("ctrl-p,ctrl-q"; checked by the API layer)

    def validated(self) -> ExecConfig:
        validate_cmd(self.cmd)
        if not self.cmd:
            raise InvalidArgument("cmd must not be empty")
        validate_env(self.env)
        validate_argv_size(self.cmd, self.env)
        validate_user(self.user)
        validate_working_dir(self.working_dir)
        validate_console_size(self.console_size)
        if not isinstance(self.detach_keys, str) or len(self.detach_keys) > 256:
            raise InvalidArgument("detach_keys must be a string of at most 256 characters")
        for flag in ("tty", "stdin"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidArgument(f"{flag} must be a boolean")
        return self


@dataclass(frozen=True)
class ExecContext:
    """What an exec inherits from its container (Docker: env, user, working dir)."""

    rootfs: str
    image_config: dict[str, Any]
    env: list[str]
    user: str
    working_dir: str
    hostname: str
    log_limits: LogLimits = LogLimits()  # output.log's rotation: the container's own limits
    privileged: bool = False  # the container runs without a seccomp profile


@dataclass(frozen=True)
class ExecInfo:
    """An exec's record, as the files say."""

    id: str
    container_id: str
    config: ExecConfig
    created: str
    started: bool
    running: bool
    pid: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ExecPaths:
    dir: str

    def _p(self, name: str) -> str:
        return os.path.join(self.dir, name)

    config = property(lambda self: self._p("config.json"))
    spec = property(lambda self: self._p("supervisor.spec"))
    state = property(lambda self: self._p("state.json"))
    exit = property(lambda self: self._p("exit.json"))
    log = property(lambda self: self._p("output.log"))
    attach = property(lambda self: self._p("attach.sock"))
    lxc_log = property(lambda self: self._p("lxc.log"))
    supervisor_log = property(lambda self: self._p("supervisor.log"))
    die_reported = property(lambda self: self._p("die.reported"))  # exec_die sent (once)


class Execs:
    """Create, start and inspect execs of the containers under one state root."""

    def __init__(self, layout: Layout):
        self.layout = layout

    def paths(self, cid: str, eid: str) -> ExecPaths:
        return ExecPaths(os.path.join(self.layout.container(cid).dir, "exec", eid))

    def create(self, cid: str, config: ExecConfig, owner: int | None = None) -> str:
        """Record a new exec of `cid` made by user id `owner` (None: the system); its id."""
        config = config.validated()
        eid = ids.new_id()
        p = self.paths(cid, eid)
        os.makedirs(os.path.dirname(p.dir), mode=DIR_MODE, exist_ok=True)  # <container>/exec
        os.makedirs(p.dir, mode=DIR_MODE)
        doc = {"container_id": cid, "created": _now(), "config": asdict(config), "owner": owner}
        tmp = p.config + ".tmp"
        with open(tmp, "w", opener=private) as f:
            json.dump(doc, f)
        os.rename(tmp, p.config)
        return eid

    def locate(self, eid: str) -> str:
        """The id of the container that owns exec `eid` (NotFound when none does)."""
        if ids.ID_RE.fullmatch(eid):
            try:
                names = os.listdir(self.layout.containers)
            except FileNotFoundError:
                names = []
            for cid in names:
                if os.path.exists(self.paths(cid, eid).config):
                    return cid
        raise NotFound(f"No such exec instance: {eid}")

    def list(self, cid: str) -> list[str]:
        try:
            return sorted(os.listdir(os.path.join(self.layout.container(cid).dir, "exec")))
        except FileNotFoundError:
            return []

    def owner(self, cid: str, eid: str) -> int | None:
        """The user id that made exec `eid` (None: the system); NotFound when unknown."""
        doc = read_json(self.paths(cid, eid).config)
        if doc is None:
            raise NotFound(f"No such exec instance: {eid}")
        return doc.get("owner")

    def inspect(self, cid: str, eid: str) -> ExecInfo:
        p = self.paths(cid, eid)
        doc = read_json(p.config)
        if doc is None:
            raise NotFound(f"No such exec instance: {eid}")
        config = ExecConfig(**doc["config"])
        state = read_json(p.state)
        done, damage = _exit_record(p)
        base = {"id": eid, "container_id": cid, "config": config, "created": doc["created"]}
        if state is None:
            # not started, or a launch that failed before lxc-attach ran
            return ExecInfo(**base, started=False, running=False,
                            exit_code=(done or {}).get("exit_code"),
                            error=damage or (done or {}).get("error", ""))
        running = done is None and not damage and alive(state["supervisor_pid"], state["supervisor_start"])
        if done is None and not running and not damage:
            done, damage = _exit_record(p)  # it may have finished between the two reads
        error = ""
        if done is not None:
            error = done.get("error") or (_lxc_errors(p.lxc_log) if done["exit_code"] else "")
        elif damage:
            error = damage  # the exit file is there but damaged: say so, not "vanished"
        elif not running:
            error = "exec supervisor vanished without recording an exit status"
        return ExecInfo(
            **base, started=True, running=running, pid=state.get("pid") if running else None,
            started_at=state.get("started_at"),
            finished_at=(done or {}).get("finished_at"),
            exit_code=(done or {}).get("exit_code"), error=error,
        )

    def start(self, cid: str, eid: str, ctx: ExecContext, timeout: float = 10.0) -> ExecInfo:
        """Launch the exec's supervisor; returns once lxc-attach runs. An exec starts once
        (Conflict on a second start); StartFailed when the supervisor could not launch it."""
        p = self.paths(cid, eid)
        info = self.inspect(cid, eid)
        config = info.config
        user = users.resolve(ctx.rootfs, config.user or ctx.user or ctx.image_config.get("User") or "")
        env = build_env(ctx.image_config.get("Env") or [], [*ctx.env, *config.env], ctx.hostname,
                        user.home, config.tty)
        workdir = posixpath.normpath(config.working_dir or ctx.working_dir
                                     or ctx.image_config.get("WorkingDir") or "/")
        cmd = list(config.cmd)
        if workdir != "/":
            if not inroot.exists(ctx.rootfs, SHELL):
                raise InvalidArgument(f"working_dir {workdir} needs {SHELL} in the container")
            cmd = [SHELL, "-c", CD_AND_EXEC, "sh", workdir, *cmd]
        # Without --elevated-privileges=LSM, lxc-attach asks the container's monitor for its
        # lxc.seccomp.profile and lxc.no_new_privs and applies both, so an exec is confined as
        # the container (capabilities: the bounding set of the container's init). A privileged
        # container has no profile: there the monitor would print an error about the missing
        # "lxc.seccomp" into the container's own output, so the flag skips the question (our
        # containers have no LSM label either way).
        confined = not ctx.privileged
        argv = [supervision.tool("lxc-attach"), "-n", cid, "-P", self.layout.lxc,
                *([] if confined else ["--elevated-privileges=LSM"]), "--clear-env",
                "-o", p.lxc_log, "-l", "ERROR", "-u", str(user.uid), "-g", str(user.gid)]
        for item in env:
            argv += ["-v", item]
        argv += ["--", *cmd]
        spec = SupervisorSpec.exec(p, argv, tty=config.tty, open_stdin=config.stdin,
                                   console_size=config.console_size,
                                   log_max_size=ctx.log_limits.max_size,
                                   log_max_file=ctx.log_limits.max_file)
        program = supervision.program(self.layout.lib)
        self._claim(p, spec)
        word = supervision.spawn(program, p.dir, p.supervisor_log, timeout)
        if word != "started":
            raise supervision.start_failure(p.exit, p.supervisor_log,
                                            f"exec supervisor did not start ({word})")
        return self.inspect(cid, eid)

    def supervisor(self, cid: str, eid: str) -> tuple[int, int] | None:
        """(pid, start time) of the exec's supervisor once it was launched."""
        state = read_json(self.paths(cid, eid).state)
        return (state["supervisor_pid"], state["supervisor_start"]) if state else None

    def claim_end(self, cid: str, eid: str) -> ExecInfo | None:
        """The record of a started exec that has ended, the first time it is asked for (a
        marker file made with O_EXCL: whoever gets it reports the end, once); else None."""
        if os.path.exists(self.paths(cid, eid).die_reported):
            return None  # the common case at each reconcile: one stat, no records read
        try:
            info = self.inspect(cid, eid)
        except NotFound:
            return None
        if not info.started or info.running:
            return None
        try:
            os.close(os.open(self.paths(cid, eid).die_reported,
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        except (FileExistsError, FileNotFoundError):
            return None
        return info

    @staticmethod
    def _claim(p: ExecPaths, spec: SupervisorSpec) -> None:
        data = spec.to_bytes()
        try:
            fd = os.open(p.spec, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise Conflict("exec has already been started") from None
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def _exit_record(p: ExecPaths) -> tuple[dict[str, Any] | None, str]:
    """(the exec's exit record or None, "" or the reason its exit file is unreadable)."""
    try:
        return read_exit(p), ""
    except ExitUnreadable as e:
        return None, str(e)


def _lxc_errors(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = [ln.strip() for ln in f if " ERROR " in ln]
    except OSError:
        return ""
    return "\n".join(ln.split(" - ", 1)[-1] for ln in lines[-3:])


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
