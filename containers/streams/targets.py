"""Where an attach session connects: a supervisor's files, and waiting for its socket.

A container's supervisor (and so its attach socket) exists only while it runs. Attaching
before start therefore waits for the socket and asks for the scrollback, which holds the
first output (256 KiB). A run that starts and ends between two looks is replayed from its
log file instead, so nothing of the first output is lost either way.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from containers.engine import logs
from containers.engine.errors import NotFound
from containers.engine.supervision import read_json
from containers.streams.link import SupervisorLink

POLL_S = 0.005
GONE_CHECK_S = 1.0


@dataclass(frozen=True)
class Target:
    """The files of one supervised process (a container or an exec)."""

    socket: str  # attach.sock
    state: str  # state.json: started_at of the current run
    exit: str  # exit.json of the last run
    log: str  # JSON-lines output records

    def exit_doc(self) -> dict[str, Any] | None:
        return read_json(self.exit)


async def wait_link(target: Target, *, stdin: bool, scrollback: bool = True,
                    gone: Callable[[], Awaitable[bool]] | None = None
                    ) -> SupervisorLink | dict[str, Any]:
    """Connect as soon as the supervisor listens. Returns the link, or the exit document
    of a run that started and finished before we could connect (replay its log).
    NotFound when `gone()` says the container was removed meanwhile."""
    before = (target.exit_doc() or {}).get("finished_at")
    loop = asyncio.get_running_loop()
    next_check = loop.time() + GONE_CHECK_S
    while True:
        if os.path.exists(target.socket):
            try:
                return await SupervisorLink.connect(target.socket, stdin=stdin, scrollback=scrollback)
            except (FileNotFoundError, ConnectionRefusedError):
                pass  # it exited between the two steps
        done = target.exit_doc()
        if done is not None and done.get("finished_at") != before:
            return done
        if gone is not None and loop.time() >= next_check:
            if await gone():
                raise NotFound("the container was removed")
            next_check = loop.time() + GONE_CHECK_S
        await asyncio.sleep(POLL_S)


def last_run_records(target: Target) -> list[logs.Record]:
    """Output records of the last run (since the started_at in state.json)."""
    state = read_json(target.state) or {}
    since = logs.parse_time(state["started_at"]) if state.get("started_at") else None
    return logs.read(target.log, logs.LogQuery(since=since))[0]
