"""A scripted stand-in for containers.engine.facade.Engine, for the fast tier (tests/fast):
no LXC, no root. A test says what `status()` answers per container and reads which host
operations were asked for (`calls`). Put it in place with `containers.runtime.use()`."""

from __future__ import annotations

import signal
from typing import Any

from containers.engine.errors import EngineError
from containers.engine.facade import EngineConfig, Status
from containers.engine.layout import ContainerPaths, Layout
from containers.engine.run.supervision import RunState

FINISHED_AT = "2026-01-02T03:04:05.123456Z"


class FakeEngine:
    """Answers like an Engine from a script; `calls` lists (method, cid, *args) in order."""

    def __init__(self, state_root: str):
        self.config = EngineConfig(state_root, "dwfake", pids_limit=4096)
        self.layout = Layout(state_root)
        self.statuses: dict[str, Status] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.start_error: EngineError | None = None  # what the next start() raises
        self.remove_error: EngineError | None = None  # what the next remove() raises

    # ---- the script ---------------------------------------------------------------------
    def running(self, cid: str, supervisor_pid: int = 100, init_pid: int = 101) -> RunState:
        run = RunState(supervisor_pid=supervisor_pid, supervisor_start=1000 + supervisor_pid,
                       lxc_pid=supervisor_pid + 1, init_pid=init_pid, init_start=2000,
                       started_at="2026-01-02T03:04:00.5Z")
        self.statuses[cid] = Status("running", run=run)
        return run

    def exited(self, cid: str, exit_code: int, *, oom_killed: bool = False, error: str = "") -> None:
        doc = {"exit_code": exit_code, "oom_killed": oom_killed, "finished_at": FINISHED_AT}
        if error:
            doc["error"] = error
        self.statuses[cid] = Status("exited", exit=doc)

    def dead(self, cid: str, reason: str = "supervisor (pid 100) vanished") -> None:
        self.statuses[cid] = Status("dead", reason=reason)

    def unreadable(self, cid: str, reason: str = "exit status unreadable: Expecting value") -> None:
        self.statuses[cid] = Status("unreadable", reason=reason)

    def called(self, method: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == method]

    # ---- the Engine's methods that the services call --------------------------------------
    class images:  # noqa: N801 - the store's one question the services ask of it here
        @staticmethod
        def has(image_id: str) -> bool:
            return True

    def paths(self, cid: str) -> ContainerPaths:
        return self.layout.container(cid)

    def status(self, cid: str) -> Status:
        return self.statuses.get(cid, Status("absent"))

    def start(self, cid: str, spec, image, hostname: str, name: str = "", endpoint=None, extra=(),
              nameserver="") -> RunState:
        self.calls.append(("start", cid))
        if self.start_error is not None:
            err, self.start_error = self.start_error, None
            raise err
        return self.running(cid)

    def kill(self, cid: str, sig: int) -> bool:
        self.calls.append(("kill", cid, sig))
        return self.status(cid).kind == "running"

    def stop(self, cid: str, timeout: float, sig: int = signal.SIGTERM) -> Status:
        self.calls.append(("stop", cid, timeout, sig))
        if self.status(cid).kind == "running":
            self.exited(cid, 128 + sig)
        return self.status(cid)

    def force_kill(self, cid: str, grace: float = 5.0) -> Status:
        self.calls.append(("force_kill", cid))
        if self.status(cid).kind == "running":
            self.exited(cid, 137)
        return self.status(cid)

    def freeze(self, cid: str, frozen: bool) -> None:
        self.calls.append(("freeze", cid, frozen))

    def reap_dead(self, cid: str) -> None:
        self.calls.append(("reap_dead", cid))

    def remove(self, cid: str, force: bool = False) -> None:
        self.calls.append(("remove", cid))
        if force and self.status(cid).kind == "running":
            self.force_kill(cid)
        if self.remove_error is not None:
            err, self.remove_error = self.remove_error, None
            raise err
        self.statuses.pop(cid, None)
