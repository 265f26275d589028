"""Exec service: run another command in a running container (Docker's `exec`).

Thin over containers/engine/run/exec.py (which documents the design: one double-forked
supervisor per exec, records as files under the container's directory). Execs are
started from the web process: nothing about them is in the database, since the exec
supervisor owns the process from the start. The worker reports each end as an `exec_die`
event (it watches the supervisor it is told about, and sweeps at every reconcile).
"""

from __future__ import annotations

from functools import lru_cache

from containers import events, hosts, lookup, rpc
from containers.engine.errors import Conflict, NotFound
from containers.engine.logconfig import limits
from containers.engine.run.exec import ExecConfig, ExecContext, ExecInfo, ExecPaths, Execs
from containers.engine.state import State
from containers.models import Container, ExecRecord
from containers.runtime import engine


@lru_cache(maxsize=1)
def execs() -> Execs:
    return Execs(engine().layout)


def _running(c: Container) -> Container:
    if c.status != State.RUNNING:
        raise Conflict(f"Container {c.id} is not running")
    return c


def create(ref: str, config: ExecConfig, user) -> str:
    """Record an exec made by `user` (None: the system) for a running container they see;
    returns the exec id."""
    c = _running(hosts.here(lookup.container(ref, user)))
    eid = execs().create(c.id, config, owner=None if user is None else user.pk)
    ExecRecord.objects.create(id=eid, container=c)  # where it is, for the other hosts
    events.emit("exec_create", c, execID=eid, cmd=" ".join(config.cmd))
    return eid


def inspect(eid: str) -> ExecInfo:
    return execs().inspect(execs().locate(eid), eid)


def paths(eid: str) -> ExecPaths:
    return execs().paths(execs().locate(eid), eid)


def start(eid: str) -> ExecInfo:
    """Start a created exec (once); returns when its process runs."""
    cid = execs().locate(eid)
    c = Container.objects.select_related("image").filter(pk=cid).first()
    if c is None:
        raise NotFound(f"No such exec instance: {eid}")
    _running(c)
    spec = c.spec
    ctx = ExecContext(rootfs=engine().paths(cid).rootfs, image_config=dict(c.image.config),
                      env=list(spec.get("env") or []), user=spec.get("user") or "",
                      working_dir=spec.get("working_dir") or "", hostname=c.hostname,
                      log_limits=limits(spec.get("log_opts") or {}, engine().config.log_limits),
                      privileged=bool(spec.get("privileged")))
    info = execs().start(cid, eid, ctx)
    events.emit("exec_start", c, execID=eid, cmd=" ".join(info.config.cmd))
    sup = execs().supervisor(cid, eid)
    if sup is not None:
        rpc.cast("watch_exec", cid=cid, eid=eid, pid=sup[0], started=sup[1])
    return info


def resize(eid: str, rows: int, cols: int) -> None:
    """Set the tty size of a running exec (409 when it does not run; OSError when it ended
    meanwhile)."""
    from containers.engine.run.client import AttachClient

    if not inspect(eid).running:
        raise Conflict(f"exec {eid} is not running")
    with AttachClient(paths(eid).attach, timeout=5) as client:
        client.resize(rows, cols)


def report_end(cid: str, eid: str) -> bool:
    """Emit `exec_die` for an exec that ended, once; True if this call did."""
    info = execs().claim_end(cid, eid)
    if info is None:
        return False
    code = info.exit_code if info.exit_code is not None else -1
    events.emit("exec_die", Container.objects.filter(pk=cid).first(), actor_id=cid, execID=eid,
                exitCode=str(code))
    return True


def report_ends(cids: list[str]) -> int:
    """`report_end` for every exec of these containers; how many were reported."""
    return sum(report_end(cid, eid) for cid in cids for eid in execs().list(cid))


def exists(eid: str) -> bool:
    try:
        execs().locate(eid)
    except NotFound:
        return False
    return True
