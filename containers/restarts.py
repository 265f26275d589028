"""Restart policies on the records: what an exit schedules, what a user's stop cancels, and
the claims the worker's restarter makes (containers/worker.py `Restarter`). The decisions
are engine/restart.py's (Docker's restart manager); the state lives in the database, so it
survives the worker:

- `stopped_by`: "stop" / "kill" once the user stopped it; no policy restarts it until the
  user's next start (`USER_START_RESET`, written by the start's claim).
- `restart_at`: set (with the exit, by `after_exit`) while the container waits out its
  back-off (Docker's "restarting"); cleared by the claim that restarts it, or by a stop.
- `restart_delay_ms`: the back-off in force (100 ms doubling, reset by a run of 10 s).
- `restart_count`: restarts the policy made since the user's last start (Docker's
  RestartCount), counted when the restart is decided, as Docker.
- `exit_reason`: why the last run ended.

Every change is one conditional UPDATE, so the worker's loop, a user's verb and a second
worker boot never both win.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone as djtz

from containers import rowsql
from containers.engine import restart
from containers.engine.errors import IllegalTransition, NotFound
from containers.engine.state import State
from containers.models import Container
from containers.runtime import host_name

STOPPED_STATES = (State.EXITED.value, State.DEAD.value)  # where a policy restart starts from


def exit_reason(c: Container, exit_code: int, oom: bool, error: str = "") -> str:
    """Why the run of `c` (the record as it was before the exit) ended, in words."""
    if c.stopped_by == "stop":
        return "stopped by the user"
    if c.stopped_by == "kill":
        return "killed by the user"
    if oom:
        return "killed by the kernel: out of memory"
    if error:
        return error
    return f"the command exited with code {exit_code}"


def after_exit(c: Container, exit_code: int, *, oom: bool = False, error: str = "") -> dict[str, str]:
    """Record why the run of `c` ended and apply its restart policy: schedule the restart
    after the back-off (restart_at, restart_count + 1) or not. `c` is the record as it was
    before the exit was recorded (its start time, its user's stop). Returns the extra
    attributes of the `die` event (Docker's execDuration, and the reason)."""
    now = djtz.now()
    ran_for = (now - c.started_at).total_seconds() if c.started_at else 0.0
    spec = c.spec or {}
    decision = restart.decide(spec.get("restart_policy") or restart.NO,
                              int(spec.get("restart_max_retries") or 0), exit_code,
                              c.restart_count, bool(c.stopped_by), c.restart_delay_ms, ran_for)
    reason = exit_reason(c, exit_code, oom, error)
    fields: dict[str, Any] = {"exit_reason": reason[:255], "restart_delay_ms": decision.delay_ms}
    if decision.restart:
        fields.update(restart_at=now + timedelta(milliseconds=decision.delay_ms),
                      restart_count=rowsql.Add(1))
    # only the run that was judged, and only if no one stopped it meanwhile (plain SQL: it
    # runs at every exit)
    rowsql.update(Container, {"pk": c.id, "state__in": STOPPED_STATES, "stopped_by": c.stopped_by,
                              "restart_at": None}, fields)
    return {"execDuration": str(int(ran_for)), "reason": reason[:255]}


def cancel(cid: str, how: str) -> bool:
    """A user's stop or kill (`how`): no policy restart until the user's next start. True
    when it cancelled a restart that was waiting out its back-off."""
    Container.objects.filter(pk=cid).update(stopped_by=how)
    return bool(Container.objects.filter(pk=cid, state__in=STOPPED_STATES)
                .exclude(restart_at=None).update(restart_at=None))


# what a user's start (or restart) resets, as Docker's: the user's stop is over, a pending
# policy restart is dropped, and the restart count and back-off start afresh. Written by the
# start's claim, in its UPDATE (lifecycle.start_by_user): only for a container that does not
# run, so a start of a running one changes nothing
USER_START_RESET: dict[str, Any] = {"stopped_by": "", "restart_at": None, "restart_count": 0,
                                    "restart_delay_ms": 0}


def due(now: datetime | None = None) -> list[tuple[str, datetime]]:
    """(id, restart_at) of this host's containers whose back-off is over, oldest first."""
    rows = Container.objects.filter(host=host_name(), state__in=STOPPED_STATES,
                                    restart_at__lte=now or djtz.now())
    return list(rows.order_by("restart_at").values_list("id", "restart_at"))


def next_due_in(now: datetime | None = None) -> float | None:
    """Seconds until this host's next scheduled restart (0 when one is due), or None."""
    now = now or djtz.now()
    at = (Container.objects.filter(host=host_name(), state__in=STOPPED_STATES)
          .exclude(restart_at=None).order_by("restart_at").values_list("restart_at", flat=True).first())
    return None if at is None else max(0.0, (at - now).total_seconds())


def claim(cid: str, at: datetime, **fields: Any) -> bool:
    """Take the restart scheduled at `at` and begin its start: exited/dead -> starting,
    writing `fields` too, in one conditional UPDATE (a second claimant, a user's stop or
    start, or a removal in between makes it fail). The state moves in the claim itself, so
    a user's stop or forced removal that comes after it finds the container starting and
    waits for that start, never an exited record that a start is about to take."""
    try:
        Container.transition(cid, State.STARTING, "restart",
                             sources=[State(s) for s in STOPPED_STATES],
                             match={"restart_at": at, "stopped_by": ""}, restart_at=None, **fields)
    except (IllegalTransition, NotFound):
        return False
    return True


def reschedule_lost(now: datetime | None = None) -> list[str]:
    """At worker boot: "always" and "unless-stopped" containers that do not run, were not
    stopped by their user and have no restart scheduled (a start that failed ended their
    restarts; as dockerd restarts them when it starts) are scheduled now. Returns their ids."""
    now = now or djtz.now()
    lost = []
    rows = Container.objects.filter(host=host_name(), state__in=STOPPED_STATES, restart_at=None,
                                    stopped_by="")
    for cid, spec in rows.values_list("id", "spec"):
        if restart.restarts_at_boot((spec or {}).get("restart_policy") or restart.NO, False):
            if Container.objects.filter(pk=cid, restart_at=None, stopped_by="",
                                        state__in=STOPPED_STATES).update(restart_at=now):
                lost.append(cid)
    return lost
