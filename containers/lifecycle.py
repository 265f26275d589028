"""Container lifecycle service: one function per user verb, plus exit recording and
reconciliation. Host effects (start, stop, kill, remove) run in the worker; create, wait
and reads run anywhere. Each function: claim a state transition (conditional UPDATE), make
one engine call, record the result, emit the event.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone as djtz

from containers import (
    events,
    exithints,
    hostimages,
    hosts,
    lookup,
    networking,
    networks,
    placement,
    restarts,
    rowsql,
    volumes,
)
from containers.engine import ids
from containers.engine import signals as sigs
from containers.engine.errors import (
    CommandNotFound,
    Conflict,
    EngineError,
    IllegalTransition,
    InvalidArgument,
    NotModified,
    StartFailed,
)
from containers.engine.run.command import exit_code_of
from containers.engine.spec import ContainerSpec
from containers.engine.state import ACTIVE, State
from containers.images import info as image_info
from containers.models import Container, Event, Image
from containers.runtime import engine, host_name

log = logging.getLogger("dockerweb.lifecycle")
# record_exit runs in the worker from the exit watcher and from the verbs (stop, kill) at
# once: one lock per container (striped) lets the loser see the winner's whole work (state,
# network released, events) instead of returning halfway through it
_EXIT_LOCKS = [threading.RLock() for _ in range(64)]  # re-entrant: auto-remove runs inside
START_FAILED_EXIT = 128
START_SOURCES = (State.CREATED, State.EXITED, State.DEAD)  # states a start claims from


def _ts(text: str | None) -> datetime | None:
    if not text:
        return None
    base, _, frac = text.rstrip("Z").partition(".")
    dt = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return dt.replace(microsecond=int((frac + "000000")[:6])) if frac else dt


# ---- create (web) ---------------------------------------------------------------------
def create(spec: ContainerSpec, name: str = "", *, user,
           endpoints: dict[str, Any] | None = None, host: str = "",
           image: Image | None = None) -> Container:
    """Validate and record a new container owned by `user` (None: the system), from an
    image they see, on the user networks of its NetworkMode and `endpoints` (Docker's
    NetworkingConfig.EndpointsConfig), which they must see, on `host` or the host placement
    chooses (a user network's host when it joins one). Conflict (409) when the name is
    taken, by anyone: names are global and the message says no more than that. `image`:
    what `lookup.image(spec.image, user)` returned to the caller already (not read again)."""
    spec = spec.validated()
    wanted = ids.validate_name(name) if name else ""
    img = image if image is not None else lookup.image(spec.image, user)
    spec, anonymous = volumes.plan(spec, img.config, user)
    joins = networks.joins_at_create(spec.network_mode, endpoints or {}, user)
    where = placement.choose(host, wanted, networks=[net for net, _ in joins])
    cid = ids.new_id()
    for _ in range(5):
        cname = wanted or ids.random_name()
        try:
            with transaction.atomic():
                c = rowsql.create(Container(  # one plain-SQL INSERT: no compile (rowsql)
                    id=cid, name=cname, image=img, image_ref=spec.image, spec=spec.to_dict(),
                    hostname=spec.hostname or ids.short(cid), host=where,
                    owner=lookup.owner_of(user),
                ))
                volumes.attach(c, anonymous, user)
                networks.record_joins(c, joins)
                events.emit("create", c)
            return c
        except IntegrityError:
            if wanted:
                raise Conflict(
                    f'Conflict. The container name "/{wanted}" is already in use.'
                ) from None
    raise Conflict("could not generate a unique container name")


def current(ref: str) -> Container:
    """Look up `ref` and make its record agree with reality first (the worker reconciles
    before acting: an exit the watcher has not recorded yet is recorded now). The worker
    acts as the system: callers resolved `ref` for their user before asking it (a full id
    then: read as plain SQL, rowsql)."""
    c = (rowsql.get(Container, ref) if ids.ID_RE.match(ref) else None) or lookup.container(ref, None)
    if c.status in (State.RUNNING, State.STOPPING) and engine().status(c.id).kind != "running":
        c = record_exit(c.id) or c
    return c


# ---- start (worker) -------------------------------------------------------------------
def start(ref: str) -> Container:
    """Start a created or exited container; returns once it runs.

    A start that fails records exit code 127/126 (command) or 128 plus the error text,
    leaves the container exited, and re-raises the typed error.
    """
    return _start(current(ref))


def _start(c: Container, reset: dict[str, Any] | None = None) -> Container:
    """`start` of the record `c` just read (`current`); `reset`: more fields the claim
    writes (a user's start: restarts.USER_START_RESET)."""
    c, before = _claim_start(c, reset or {})
    return _launch(c, before)


def _launch(c: Container, before: dict[str, Any]) -> Container:
    """Run the container of record `c`, claimed (starting) by this caller; `before`: the
    fields its claim changed, put back if the start is refused before anything runs."""
    # from here on every failure leaves `starting`: back where it was, or exited with the error
    try:
        spec = ContainerSpec.from_dict(c.spec)
        c.image = rowsql.get(Image, c.image_id) or c.image  # the ORM's lazy read compiles a query
        hostimages.ensure(c.image)  # placed on a host without it: copied or pulled first
        plan = networking.allocate(c, spec)
    except Exception as e:  # refused before anything ran: back to where it was
        Container.objects.filter(pk=c.id, state=State.STARTING.value).update(**before)
        exithints.announce(c.id)  # not running again, without an event: wake its waiters
        _auto_remove(c)  # as any failed start: docker run --rm waits for the removal
        raise _start_error(e) from e
    try:
        run = engine().start(c.id, spec, image_info(c.image), c.hostname, c.name, plan.endpoint,
                             plan.extra, plan.nameserver)
    except Exception as e:
        err = _start_error(e)
        _record_failed_start(c, err)
        raise err from e
    try:
        networking.activate(c, plan)
    except Exception as e:  # it runs, unreachable: stop it and say why
        err = _start_error(e)
        try:
            engine().force_kill(c.id)
        except Exception:
            log.exception("killing %s after a failed start failed", c.id[:12])
        _record_failed_start(c, err)
        raise err from e
    # the start event commits with the state: whoever sees "running" (the watcher recording
    # a quick exit or OOM) writes its events after it
    ran = {"started_at": _ts(run.started_at), "supervisor_pid": run.supervisor_pid,
           "supervisor_start": run.supervisor_start, "init_pid": run.init_pid}
    with transaction.atomic():
        try:
            Container.transition(c.id, State.RUNNING, "record start", **ran)
            recorded = True
        except IllegalTransition:
            recorded = False  # it already exited and the watcher recorded that first
        events.emit("start", c)
    if not recorded:
        return Container.objects.get(pk=c.id)
    for field, value in {"state": State.RUNNING.value, **ran}.items():
        setattr(c, field, value)  # the record as just written: no read before the reply
    return c


START_RACE_WAIT = 25.0  # s a start waits for a concurrent start's outcome (< the RPC's 30 s)
# what every start's claim clears: the last run's outcome
START_CLEARS: dict[str, Any] = {"error": "", "exit_code": None, "oom_killed": False, "finished_at": None}


def _before_start(c: Container) -> dict[str, Any]:
    """The fields of record `c` that a start's claim changes, to put back if the start is
    refused before anything runs."""
    return {"state": c.state, "error": c.error, "exit_code": c.exit_code,
            "oom_killed": c.oom_killed, "finished_at": c.finished_at}


def _as_claimed(c: Container, fields: dict[str, Any]) -> Container:
    """Record `c` as a start's claim just wrote it: starting, with `fields` (what the start
    event and the worker's reply carry, without reading it again)."""
    c.state = State.STARTING.value
    for field, value in fields.items():
        setattr(c, field, value)
    return c


def _claim_start(c: Container, reset: dict[str, Any]) -> tuple[Container, dict[str, Any]]:
    """Claim `c` for a start: created/exited/dead -> starting, writing `reset` too in the
    same UPDATE. Returns the record and the fields to put back if the start is refused
    before anything runs (`reset` stays, as a user's start resets even a start that fails).

    Concurrent starts: one claims, the others wait (bounded) for its outcome and answer 304
    (NotModified) when it runs, or try again when it did not (as if they had come after it).
    A claim lost to anything else (a removal) is the usual 409.
    """
    deadline = time.monotonic() + START_RACE_WAIT
    while True:
        while c.status == State.STARTING and time.monotonic() < deadline:
            time.sleep(0.02)
            c = lookup.container(c.id, None)
        if c.status in (State.RUNNING, State.STARTING):
            raise NotModified("container already started")
        before = _before_start(c)
        try:
            Container.transition(c.id, State.STARTING, "start", **START_CLEARS, **reset)
            return _as_claimed(c, {**START_CLEARS, **reset}), before
        except IllegalTransition:
            c = current(c.id)
            if c.status not in (State.STARTING, State.RUNNING, *START_SOURCES) \
                    or time.monotonic() >= deadline:
                raise


def _start_error(err: Exception) -> EngineError:
    """What a failed start reports: a typed error as it is; anything else (an OSError from the
    host, a bug) as StartFailed with a short message (an OSError's strerror, never the file
    name it carries, which may be user input)."""
    if isinstance(err, EngineError):
        return err
    log.error("start failed unexpectedly", exc_info=err)
    text = (err.strerror if isinstance(err, OSError) and err.strerror else str(err)) or type(err).__name__
    return StartFailed(f"start failed: {text[:200]}")


def _record_failed_start(c: Container, err: EngineError) -> None:
    """starting -> exited with exit code 127/126 (command) or 128 and the error text."""
    try:
        networking.release(c.id)
    except Exception:
        log.exception("releasing the network of %s failed", c.id[:12])
    code = exit_code_of(err) if isinstance(err, CommandNotFound) else START_FAILED_EXIT
    Container.transition(c.id, State.EXITED, "record failed start", exit_code=code,
                         error=err.message, finished_at=djtz.now())
    events.emit("die", c, exitCode=str(code), error=err.message)
    _auto_remove(c)


def abandon_start(cid: str) -> None:
    """After a start that failed without the worker settling it (no worker, Redis down, no
    answer in time), honour auto-remove from the API process that answered: a `docker run
    --rm` container that never left created/exited/dead is removed here, so the CLI's wait
    for its removal ends. One that a late worker claimed meanwhile (starting, running) is
    left to that worker, which removes it when the start fails or the container exits (the
    conditional transitions decide who removes it). Never raises."""
    c = Container.objects.filter(pk=cid).first()
    if c is None or not c.spec.get("auto_remove") or c.status in ACTIVE:
        return
    try:
        Container.transition(c.id, State.REMOVING, "remove after a failed start")
        _finish_remove(Container.objects.get(pk=c.id), volumes=True)
    except EngineError as e:
        log.warning("auto-remove of %s after a failed start failed: %s", cid[:12], e.message)
    except Exception:
        log.exception("auto-remove of %s after a failed start failed", cid[:12])


# ---- exit recording and reconciliation (worker) ---------------------------------------
def record_exit(cid: str, supervisor_pid: int | None = None, *, settle_starting: bool = False
                ) -> Container | None:
    """Make the record agree with the engine once a supervisor is gone. Idempotent.

    `supervisor_pid`: the supervisor whose exit is being reported; a report about an older
    supervisor (the container was restarted meanwhile) is ignored. A `starting` record
    belongs to the start call in flight and is only settled at worker boot
    (`settle_starting`), when no start can be in flight.
    """
    with _EXIT_LOCKS[hash(cid) % len(_EXIT_LOCKS)]:
        return _record_exit(cid, supervisor_pid, settle_starting)


def _record_exit(cid: str, supervisor_pid: int | None, settle_starting: bool) -> Container | None:
    c = rowsql.get(Container, cid)
    if c is None or c.status not in ACTIVE:
        return c
    if c.status == State.STARTING and not settle_starting:
        return c
    if supervisor_pid is not None and c.supervisor_pid != supervisor_pid:
        return c
    st = engine().status(cid)
    if st.kind == "running":
        return c
    # the UPDATE holds only for the run that was judged: a restart may have begun since (the
    # record then says starting, or names another supervisor) and must not be marked exited
    sources = [State.RUNNING, State.STOPPING, *([State.STARTING] if settle_starting else [])]
    judged = {"supervisor_pid": c.supervisor_pid}
    if st.kind == "exited" and st.exit is not None:
        info = st.exit
        code = int(info["exit_code"])
        try:  # one commit: the state, the addresses and the events (waiters wake after it)
            with transaction.atomic():
                Container.transition(
                    cid, State.EXITED, "record exit", sources=sources, match=judged,
                    exit_code=code, paused=False,
                    oom_killed=bool(info.get("oom_killed")), error=info.get("error", ""),
                    finished_at=_ts(info.get("finished_at")) or djtz.now(),
                )
                networking.release(cid)
                if info.get("oom_killed"):
                    events.emit("oom", c)
                events.emit("die", c, exitCode=str(code), **restarts.after_exit(
                    c, code, oom=bool(info.get("oom_killed")), error=info.get("error") or ""))
        except IllegalTransition:
            return Container.objects.get(pk=cid)
        _auto_remove(c, after_wait=True)
    elif st.kind == "unreadable":
        _record_unreadable_exit(c, st.reason, sources, judged)
    else:
        reason = st.reason or "container vanished: no supervisor and no exit record"
        try:
            Container.transition(cid, State.DEAD, "mark dead", sources=sources, match=judged,
                                 error=reason, exit_code=-1, finished_at=djtz.now())
        except IllegalTransition:
            return Container.objects.get(pk=cid)
        engine().reap_dead(cid)  # only now: the record was of this very run
        networking.release(cid)
        events.emit("die", c, exitCode="-1", error=reason, **restarts.after_exit(c, -1, error=reason))
        log.warning("container %s marked dead: %s", cid[:12], reason)
        _auto_remove(c)
    return rowsql.get(Container, cid)


def _record_unreadable_exit(c: Container, reason: str, sources: list[State],
                            judged: dict[str, Any]) -> None:
    """The run ended but its exit.json is damaged: exited, exit code -1 (unknown), the reason
    as the error. Exited, not dead: the supervisor got as far as its last step (the file is
    only renamed into place after the clean-up), so the run did end; the container, its
    files and its log stay as they are (only leftovers are reaped, as for a dead one) and it
    may be started or removed as usual. Auto-remove (--rm) is honoured like any exit."""
    try:
        Container.transition(c.id, State.EXITED, "record exit", sources=sources, match=judged,
                             exit_code=-1, paused=False, error=reason,
                             finished_at=djtz.now())
    except IllegalTransition:
        return
    engine().reap_dead(c.id)  # the clean-up may not have finished: nothing may stay behind
    networking.release(c.id)
    events.emit("die", c, exitCode="-1", error=reason, **restarts.after_exit(c, -1, error=reason))
    log.warning("container %s exited with an unreadable exit status: %s", c.id[:12], reason)
    _auto_remove(c)


def _thaw(c: Container) -> None:
    """Signals cannot act on a frozen container: unpause it first."""
    if c.paused:
        engine().freeze(c.id, False)
        Container.objects.filter(pk=c.id).update(paused=False)


AUTO_REMOVE_GRACE = 3.0  # s an exited auto-remove container waits for a wait to report its exit


def _auto_remove(c: Container, *, after_wait: bool = False) -> None:
    """Remove a container created with auto_remove (docker run --rm) once it exited.

    `after_wait` (a normal exit): dockerd's order as its clients see it — the status reaches
    the waiters, then the container goes. So it stays (exited; logs and inspect readable)
    until a wait reports its exit (`wait_check` removes it then: docker-py's run reads
    logs and inspects between start and wait; the CLI's `--rm` waits for `removed`) or
    AUTO_REMOVE_GRACE passes (a timer here; the reconcile for one a worker restart lost)."""
    if not c.spec.get("auto_remove"):
        return
    if after_wait and AUTO_REMOVE_GRACE > 0:
        timer = threading.Timer(AUTO_REMOVE_GRACE, _auto_remove_in_thread, args=(c.id,))
        timer.daemon = True
        timer.start()
        return
    try:
        remove(c.id, volumes=True)  # --rm takes the anonymous volumes with it (as Docker)
    except EngineError as e:
        log.warning("auto-remove of %s failed: %s", c.id[:12], e.message)


def _auto_remove_exited(cid: str) -> None:
    """Remove auto-remove container `cid` if it is still there and ended (not restarted
    meanwhile). Several may try (timer, waiters, reconcile): the claim decides, the losers
    do nothing. Never raises."""
    try:
        c = Container.objects.filter(pk=cid).first()
        if c is not None and c.spec.get("auto_remove") and c.status in (State.EXITED, State.DEAD):
            remove(cid, volumes=True)  # --rm takes the anonymous volumes with it (as Docker)
    except IllegalTransition:
        pass  # another remover claimed it
    except EngineError as e:
        log.warning("auto-remove of %s failed: %s", cid[:12], e.message)
    except Exception:
        log.exception("auto-remove of %s failed", cid[:12])


def _auto_remove_in_thread(cid: str) -> None:
    from django.db import connections

    try:
        _auto_remove_exited(cid)
    finally:
        connections.close_all()  # this thread's


def reconcile(boot: bool = False) -> list[str]:
    """Compare every active record on this host with reality; return the ids still running.

    At `boot` (no command can be in flight) also settles `starting` records and finishes
    removals that a crash interrupted.
    """
    running = []
    mine = Container.objects.filter(host=host_name())
    for c in mine.filter(state__in=[s.value for s in ACTIVE]):
        if c.status == State.STARTING and not boot:
            continue  # the start call in flight records its own outcome
        st = engine().status(c.id)
        if st.kind == "running" and st.run is not None:
            if c.status == State.STARTING:
                try:
                    Container.transition(
                        c.id, State.RUNNING, "adopt", started_at=_ts(st.run.started_at),
                        supervisor_pid=st.run.supervisor_pid,
                        supervisor_start=st.run.supervisor_start, init_pid=st.run.init_pid,
                    )
                except IllegalTransition:
                    pass
            running.append(c.id)
        else:
            record_exit(c.id, settle_starting=boot)
    grace = djtz.now() - timedelta(seconds=AUTO_REMOVE_GRACE)  # timers a worker restart lost
    for cid in mine.filter(state=State.EXITED.value, spec__auto_remove=True,
                           finished_at__lt=grace).values_list("id", flat=True):
        _auto_remove_exited(cid)
    if boot:
        for c in mine.filter(state=State.REMOVING.value):
            _finish_remove(c)
        networking.default_network()
        networks.restore()
        networking.sweep(set(running))
    return running


# ---- stop / kill / restart (worker) ---------------------------------------------------
def stop(ref: str, timeout: float | None = None, signal_name: str | None = None) -> Container:
    """SIGTERM (or `signal_name`), wait `timeout` s (default 10), SIGKILL. 304 if not running."""
    c = current(ref)
    wait = stop_wait(c, timeout)
    sig = sigs.parse(signal_name, default=signal.SIGTERM)
    cancelled = restarts.cancel(c.id, "stop")  # no policy restart after the user's stop
    c = _start_settled(c.id)  # read after the cancel: a restart claimed before it is seen
    if c.status in (State.CREATED, State.EXITED, State.DEAD):
        if cancelled:  # it was waiting to restart (Docker's "restarting"): it stays stopped
            return c
        raise NotModified("container already stopped")
    Container.transition(c.id, State.STOPPING, "stop", stopped_by="stop")
    _thaw(c)
    st = engine().stop(c.id, wait, sig)
    if st.kind == "running":  # did not die even after SIGKILL: put the record back
        Container.transition(c.id, State.RUNNING, "record failed stop")
        raise EngineError("container did not stop after SIGKILL")
    c = record_exit(c.id) or c
    events.emit("stop", c)
    return c


def kill(ref: str, signal_name: str | None = None) -> Container:
    """Deliver a signal (default KILL). 409 when the container does not run."""
    c = current(ref)
    sig = sigs.parse(signal_name)
    _thaw(c)
    if c.status in (State.RUNNING, State.STOPPING) and sig in USER_STOP_SIGNALS:
        restarts.cancel(c.id, "kill")  # before the exit it causes is recorded
    if c.status not in (State.RUNNING, State.STOPPING) or not engine().kill(c.id, sig):
        raise Conflict(f"Cannot kill container: {ref}: container is not running")
    events.emit("kill", c, signal=str(sig))
    if sig == signal.SIGKILL:
        if engine().force_kill(c.id).kind != "running":
            record_exit(c.id)
    return Container.objects.get(pk=c.id)


def restart(ref: str, timeout: float | None = None) -> Container:
    """A user's restart: stop (if it runs), then a user's start (the restart count starts
    afresh, as Docker's); the `restart` event."""
    c = current(ref)
    if c.status in (State.RUNNING, State.STOPPING):
        stop(c.id, timeout)
    c = start_by_user(c.id)
    events.emit("restart", c)
    return Container.objects.get(pk=c.id)


# signals whose `kill` counts as the user stopping the container (Docker: the stop signal
# or SIGKILL): no restart policy restarts it until the user's next start
USER_STOP_SIGNALS = frozenset({signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})
NO_LIMIT_WAIT = 86400.0  # s: StopTimeout -1 ("wait for ever"), bounded for the RPC


def start_by_user(ref: str) -> Container:
    """A user's start (REST, Docker API, dashboard, restart): as Docker, the user's stop is
    over, a pending policy restart is dropped and the restart count and back-off start
    afresh (restarts.USER_START_RESET, written by the start's claim), then `start`."""
    return _start(current(ref), reset=restarts.USER_START_RESET)


def stop_wait(c: Container, timeout: float | None) -> float:
    """Seconds a stop waits before SIGKILL: `timeout` when given, else the container's
    StopTimeout (-1: no limit), else 10."""
    if timeout is None:
        timeout = c.spec.get("stop_timeout")
        if timeout == -1:
            return NO_LIMIT_WAIT
    timeout = 10.0 if timeout is None else float(timeout)
    if timeout < 0:
        raise InvalidArgument("timeout must not be negative")
    return timeout


def restart_by_policy(cid: str, at: datetime) -> Container | None:
    """The worker's restart of `cid` when its back-off (scheduled `at`) is over: claim it
    (restarts.claim, which moves it to starting in the same UPDATE; None when someone else
    did, or the user stopped, started or removed it meanwhile), then start it as `start`
    does (the `start` event; a failed start is recorded as any, and ends the restarts until
    the next exit or user start)."""
    c = rowsql.get(Container, cid)
    if c is None:
        return None
    before = _before_start(c)
    if not restarts.claim(cid, at, **START_CLEARS):
        return None
    return _launch(_as_claimed(c, {**START_CLEARS, "restart_at": None}), before)


UPDATE_FIELDS = ("memory", "memory_swap", "memory_swappiness", "pids_limit", "nano_cpus",
                 "cpu_shares", "cpu_period", "cpu_quota", "restart_policy", "restart_max_retries")


def update(cid: str, changes: dict[str, Any]) -> Container:
    """docker update: change the limits and the restart policy of a container that is not
    being removed; a running one gets its new limits at once (its cgroups), any other at
    its next start. `changes` holds spec fields (UPDATE_FIELDS) with Docker's meaning:
    only the ones given change. Refused (400) as Docker refuses it: a NanoCpus change when
    CpuPeriod/CpuQuota are set and the reverse, a memory limit above the memory+swap limit
    in force without a new one, a policy for an auto-remove container. The `update` event."""
    c = current(cid)
    if c.status == State.REMOVING:
        raise Conflict(f"Cannot update container {c.id}: container is marked for removal")
    old = ContainerSpec.from_dict(c.spec)
    new = ContainerSpec.from_dict({**c.spec, **update_changes(old, changes)})
    if c.status in (State.RUNNING, State.STOPPING):
        engine().update_limits(c.id, new)
    Container.objects.filter(pk=c.id).update(spec=new.to_dict())
    c = Container.objects.get(pk=c.id)
    events.emit("update", c)
    return c


def update_changes(old: ContainerSpec, changes: dict[str, Any]) -> dict[str, Any]:
    """The spec fields `changes` sets, checked against `old` as Docker's UpdateContainer."""
    unknown = set(changes) - set(UPDATE_FIELDS)
    if unknown:
        raise InvalidArgument(f"cannot update {', '.join(sorted(unknown))}")
    out = dict(changes)
    nano, period, quota = (out.get(k) for k in ("nano_cpus", "cpu_period", "cpu_quota"))
    clash = "Conflicting options: {} cannot be updated as {} has already been set"
    if nano and old.cpu_period:
        raise InvalidArgument(clash.format("Nano CPUs", "CPU Period"))
    if nano and old.cpu_quota:
        raise InvalidArgument(clash.format("Nano CPUs", "CPU Quota"))
    if period and old.nano_cpus:
        raise InvalidArgument(clash.format("CPU Period", "NanoCPUs"))
    if quota and old.nano_cpus:
        raise InvalidArgument(clash.format("CPU Quota", "NanoCPUs"))
    memory = out.get("memory")
    if memory and "memory_swap" not in out and old.swap_limit:
        if memory > old.swap_limit:
            raise InvalidArgument("Memory limit should be smaller than already set memoryswap limit, "
                                  "update the memoryswap at the same time")
        out["memory_swap"] = old.swap_limit  # the memory+swap limit in force stays, as Docker's
    if "restart_policy" in out and old.auto_remove and out["restart_policy"] not in ("", "no"):
        raise InvalidArgument("Restart policy cannot be updated because AutoRemove is enabled "
                              "for the container")
    return out


def pause(ref: str, paused: bool) -> Container:
    """Freeze (or thaw) a running container. 409 when it does not run or is already so."""
    c = current(ref)
    if c.status != State.RUNNING:
        raise Conflict(f"Container {c.id} is not running")
    if c.paused == paused:
        raise Conflict(f"Container {c.id} is {'already' if paused else 'not'} paused")
    engine().freeze(c.id, paused)
    Container.objects.filter(pk=c.id).update(paused=paused)
    events.emit("pause" if paused else "unpause", c)
    return Container.objects.get(pk=c.id)


def top(ref: str, *, user) -> tuple[list[str], list[list[str]]]:
    """`ps` of the processes of a container `user` sees: (titles, rows). 409 unless it runs."""
    c = hosts.here(lookup.container(ref, user))
    if c.status not in (State.RUNNING, State.STOPPING):
        raise Conflict(f"Container {c.id} is not running")
    return engine().top(c.id)


def rename(ref: str, new_name: str, *, user) -> Container:
    """Give a container `user` sees a new unique name (409 when taken)."""
    c = lookup.container(ref, user)
    name = ids.validate_name(new_name)
    try:
        with transaction.atomic():
            Container.objects.filter(pk=c.id).update(name=name)
    except IntegrityError:
        raise Conflict(f'Conflict. The container name "/{name}" is already in use.') from None
    events.emit("rename", Container.objects.get(pk=c.id), oldName=f"/{c.name}")
    return Container.objects.get(pk=c.id)


# ---- remove (worker) ------------------------------------------------------------------
def remove(ref: str, force: bool = False, volumes: bool = False) -> None:
    """Delete a container that does not run (or, with force, kill it first); with
    `volumes` (docker rm -v) also its anonymous volumes no other container uses."""
    c = current(ref)
    if not force and c.restart_at is not None:
        raise Conflict(f"You cannot remove a restarting container {c.id}. Stop the container "
                       "before attempting removal or force remove")
    if force:
        restarts.cancel(c.id, "kill")  # as a user's kill: no policy restart from now on
    deadline = time.monotonic() + START_RACE_WAIT
    while True:
        if force:  # read after the cancel: a restart claimed before it is seen starting
            c = _start_settled(c.id, deadline)
        if c.status in ACTIVE:
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {c.id}. Stop the container before "
                    "attempting removal or force remove"
                )
            if c.status != State.STARTING:
                _thaw(c)
                events.emit("kill", c, signal=str(int(signal.SIGKILL)))
                engine().force_kill(c.id)
                record_exit(c.id)
        try:
            Container.transition(c.id, State.REMOVING, "remove")
            break
        except IllegalTransition:
            # a start (another user's) claimed it after the read: a forced removal waits for
            # that start and kills what it started, as `docker rm -f` always wins
            if not force or time.monotonic() >= deadline:
                raise
    c.state = State.REMOVING.value  # what _finish_remove reads (id, name, image, owner) is as read
    _finish_remove(c, volumes=volumes)


def _start_settled(cid: str, deadline: float | None = None) -> Container:
    """The fresh record of `cid` once a start in flight (a policy restart, another user's
    start) has settled, waiting until `deadline` (default: START_RACE_WAIT from now)."""
    if deadline is None:
        deadline = time.monotonic() + START_RACE_WAIT
    c = current(cid)
    while c.status == State.STARTING and time.monotonic() < deadline:
        time.sleep(0.02)
        c = current(cid)
    return c


def _finish_remove(c: Container, volumes: bool = False) -> None:
    """Delete files then the record; on failure the record goes to `dead` with the reason
    (so a later remove can retry) instead of staying in `removing`. The addresses, the
    record and the destroy event go in one commit. With `volumes`, then the anonymous
    volumes no other container uses."""
    try:
        engine().remove(c.id, force=True)  # a run left behind is killed first
        with transaction.atomic():
            networking.drop_rules(c.id)  # its address and port rows go with the record:
            rowsql.delete_row(Container, c.id)  # its dependent rows, without the collector
            events.emit("destroy", actor_id=c.id, actor_name=c.name, image=c.image_ref,
                        name=c.name, owner_id=c.owner_id)
    except EngineError as e:
        Container.transition(c.id, State.DEAD, "fail removal", error=f"removal failed: {e.message}")
        raise
    if volumes:
        _release_volumes(c)


def _release_volumes(c: Container) -> None:
    from containers import volumes as volume_service  # the parameter shadows the module

    try:
        volume_service.release(c.spec)
    except Exception:
        log.exception("removing the anonymous volumes of %s failed", c.id[:12])


# ---- wait (anywhere) ------------------------------------------------------------------
WAIT_CONDITIONS = ("not-running", "next-exit", "removed")  # Docker's, same meanings


@dataclass(frozen=True)
class WaitOutcome:
    """What a satisfied wait condition reports: Docker's StatusCode and Error message, and
    the record when it still exists (None once removed)."""

    exit_code: int
    error: str | None
    container: Container | None


def wait_condition(condition: str) -> str:
    """`condition` checked ("" means not-running); InvalidArgument for an unknown one."""
    condition = condition or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise InvalidArgument(f"invalid condition: {condition}")
    return condition


def wait_check(cid: str, condition: str, after_seq: int,
               known: Container | None = None) -> WaitOutcome | None:
    """The outcome once `condition` holds for container `cid`, else None. next-exit counts
    only die events after `after_seq` (read before the wait began: events.latest_seq);
    removed reports the last die event's exit code; not-running of a container removed
    meanwhile (an auto-remove between two polls, or before the first: the container existed
    when the wait began) reports its last die event's exit code, as dockerd tells its
    waiters before it removes; with no die event, 0 and the error "container removed".
    `known`: the record of `cid` as the caller just read it (saves reading it again)."""
    c = known if known is not None else lookup.by_id(cid)
    if c is not None and c.status not in ACTIVE and c.spec.get("auto_remove") and (
            condition != "next-exit" or _died_since(cid, after_seq)):
        _auto_remove_exited(cid)  # its exit is reported now: it may go (see _auto_remove)
        c = Container.objects.filter(pk=cid).first()
    if condition == "removed":
        if c is not None:
            return None
        die = Event.objects.filter(actor_id=cid, action="die").order_by("-seq").first()
        return WaitOutcome(int(die.attributes.get("exitCode", 0)) if die else 0, None, None)
    if condition == "next-exit":
        die = _died_since(cid, after_seq)
        if die is None:
            return None
        return WaitOutcome(int(die.attributes.get("exitCode", 0)), None, c)
    if c is None:
        die = Event.objects.filter(actor_id=cid, action="die").order_by("-seq").first()
        if die is not None:
            return WaitOutcome(int(die.attributes.get("exitCode", 0)), None, None)
        return WaitOutcome(0, "container removed", None)
    if c.status in ACTIVE:
        return None
    return WaitOutcome(c.exit_code if c.exit_code and c.exit_code > 0 else 0, None, c)


def wait(ref: str, timeout: float | None = None, *, user,
         condition: str = "not-running") -> WaitOutcome | None:
    """Block until `condition` holds for the container `ref` that `user` sees; None when
    `timeout` (seconds) passes first. `wait_async` for a synchronous caller (REST): the
    looks run in the caller's thread, on its database connection, and it blocks on its
    process's exit hints there (no event loop, no Redis round trip). A condition that holds
    already (a wait after the exit) is answered from the record just looked up."""
    condition = wait_condition(condition)
    c = lookup.container(ref, user)
    after_seq = events.latest_seq() if condition == "next-exit" else 0  # next-exit's only
    if condition != "next-exit" and (outcome := wait_check(c.id, condition, after_seq, known=c)):
        return outcome
    deadline = None if timeout is None else time.monotonic() + timeout
    with exithints.Listener(c.id) as hints:  # joined before the first look, as in wait_async
        while (outcome := wait_check(c.id, condition, after_seq)) is None:
            left = exithints.RECHECK_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return None
            hints.next(min(left, exithints.RECHECK_S))
        return outcome


def _died_since(cid: str, after_seq: int) -> Event | None:
    return Event.objects.filter(actor_id=cid, action="die", seq__gt=after_seq).first()


async def wait_async(cid: str, condition: str, after_seq: int,
                     timeout: float | None = None) -> WaitOutcome | None:
    """The outcome once `condition` holds for container `cid`; None after `timeout` seconds
    (None: no limit, the caller's connection bounds it).

    Woken by the exit itself, never by polling: it joins its process's exit hints for the
    container (exithints) before its first look at the records, then looks again only when
    a hint comes (the worker recorded an exit, a removal finished) or, as the net for a hint
    lost while Redis was away, after RECHECK_S seconds without one. A wait that begins after the
    exit answers at its first look. A missing worker only delays the answer until its
    reconcile records the exit."""
    from containers.asyncstream import in_thread

    check = in_thread(wait_check)
    deadline = None if timeout is None else time.monotonic() + timeout
    async with exithints.Listener(cid) as hints:
        while (outcome := await check(cid, condition, after_seq)) is None:
            left = exithints.RECHECK_S if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return None
            await hints.next_async(min(left, exithints.RECHECK_S))
    return outcome


def describe_exit(c: Container) -> dict[str, Any]:
    code = c.exit_code
    out: dict[str, Any] = {"exit_code": code, "oom_killed": c.oom_killed, "error": c.error}
    if code is not None and code > 128 and code - 128 < signal.NSIG:
        out["signal"] = sigs.name(code - 128)
    return out
