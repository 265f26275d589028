"""A container's record carried in the worker's reply to a start, so the web answers a
start with the record as the worker wrote it instead of reading it again.

`reply(c)` (the worker's `_result`) gives the id, the state and `record`: the fields a run
changes (state, times, exit, supervisor, restart bookkeeping), JSON/msgpack-safe (times as
ISO 8601). `after_start(before, result)` (the REST start view) is the record the web read
before the call (`before`, for everything a start does not change: name, spec, image,
host, owner...) with the reply's fields, or None when the reply cannot be trusted for all
of them and the caller must read the record again:

- only after the first start of a container (`before` was `created`): the worker's record
  of a start holds what it wrote (state, start time, supervisor) and, for the rest, what
  it read before its claim, which for a created container are already the values the
  claim and a user's start write (no error, exit code or finish time, restart count 0, no
  restart due); a start of an exited container clears its exit in the claim, which an
  older worker (another host's may be one) did not copy into the record it replies with
  (`lifecycle._as_claimed` does now), so such a reply is not trusted;
- or when the reply's record was read after the start (a container that exited before
  its start was recorded): that one is whole.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from containers.engine.state import State
from containers.models import Container

FIELDS = ("state", "started_at", "finished_at", "exit_code", "oom_killed", "error",
          "supervisor_pid", "supervisor_start", "init_pid", "restart_count", "stopped_by",
          "restart_at", "restart_delay_ms", "exit_reason", "paused")
TIMES = frozenset({"started_at", "finished_at", "restart_at"})


def reply(c: Container) -> dict[str, Any]:
    """What the worker answers for a container: {"id", "state", "record": FIELDS}."""
    record = {}
    for name in FIELDS:
        value = getattr(c, name)
        record[name] = value.isoformat() if isinstance(value, datetime) else value
    return {"id": c.id, "state": c.state, "record": record}


def after_start(before: Container, result: Any) -> Container | None:
    """`before` (read before the start call) updated with the worker's reply to the start,
    or None when it cannot be built from them (see the module: read the record again)."""
    if not isinstance(result, dict) or result.get("id") != before.id:
        return None
    record = result.get("record")
    if not isinstance(record, dict) or set(record) != set(FIELDS):
        return None
    if before.state != State.CREATED.value and record["state"] == State.RUNNING.value:
        return None  # a restart: an older worker's reply does not show the exit its claim cleared
    c = copy.copy(before)
    for name, value in record.items():
        setattr(c, name, datetime.fromisoformat(value) if name in TIMES and value else value)
    return c
