"""The asyncio link to a supervisor's attach socket (framing: engine/run/frames.py), and where
it is.

Used by the attach and exec websocket consumers: the bytes go straight between the client
and the supervisor, never through the channel layer.

A container's supervisor (and so its attach socket) exists only while it runs. Attaching
before start therefore waits for the socket and asks for the scrollback, which holds the
first output (256 KiB). A run that starts and ends between two looks is replayed from its
log file instead, so nothing of the first output is lost either way.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import EllipsisType
from typing import Any

from containers import execs
from containers.engine.errors import NotFound
from containers.engine.run import logfile as logs
from containers.engine.run.client import unix_address
from containers.engine.run.frames import (
    CLOSE_STDIN,
    EXIT,
    FRAME,
    HELLO,
    LIVE,
    RESIZE,
    STDERR,
    STDIN,
    STDOUT,
    WINDOW_SIZE,
    pack,
)
from containers.engine.run.supervision import read_json
from containers.runtime import engine

__all__ = ["SupervisorLink", "PendingInput", "Target", "wait_link", "finished_at", "last_run_records",
           "container_target", "exec_target", "STDOUT", "STDERR", "EXIT", "LIVE"]
READ_LIMIT = 1 << 20
MAX_STDIN_FRAME = 1 << 20
MAX_PENDING_INPUT = 4 << 20
POLL_S = 0.005
GONE_CHECK_S = 1.0


class SupervisorLink:
    """One attach session with a supervisor: read output frames, write input frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, path: str, *, stdin: bool, scrollback: bool,
                      mark_live: bool = False) -> SupervisorLink:
        """Connect and say HELLO. FileNotFoundError/ConnectionRefusedError when the socket
        is not (or no longer) there. Long paths work (engine.run.client.unix_address).
        With `mark_live`, the supervisor sends one LIVE frame between the scrollback and
        the live output."""
        with unix_address(path) as address:
            reader, writer = await asyncio.open_unix_connection(address, limit=READ_LIMIT)
        link = cls(reader, writer)
        hello: dict[str, bool] = {"stdin": stdin, "scrollback": scrollback}
        if mark_live:
            hello["mark_live"] = True
        link._send(HELLO, json.dumps(hello).encode())
        return link

    def _send(self, kind: int, payload: bytes = b"") -> None:
        self.writer.write(pack(kind, payload))

    async def read_frame(self) -> tuple[int, bytes] | None:
        """The next (kind, payload), or None when the supervisor closed the connection."""
        try:
            head = await self.reader.readexactly(FRAME.size)
            kind, length = FRAME.unpack(head)
            return kind, (await self.reader.readexactly(length) if length else b"")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None

    async def write_stdin(self, data: bytes) -> None:
        """Queue `data` for the container's stdin; waits while the socket is backed up."""
        view = memoryview(data)
        for i in range(0, len(view), MAX_STDIN_FRAME):
            self._send(STDIN, bytes(view[i:i + MAX_STDIN_FRAME]))
        await self.writer.drain()

    def resize(self, rows: int, cols: int) -> None:
        self._send(RESIZE, WINDOW_SIZE.pack(rows, cols))

    def close_stdin(self) -> None:
        self._send(CLOSE_STDIN)

    def close(self) -> None:
        self.writer.close()

    def release(self, keep_stdin: bool) -> None:
        """End this session: closed now, or with `keep_stdin` held open (its output read and
        dropped) until the process ends. The supervisor closes a StdinOnce container's (or
        an exec's) stdin when a client that wrote to it leaves; a client that detached, or
        a tty session's end, must leave the process its stdin, as dockerd does (it closes
        stdin only for StdinOnce without a tty)."""
        if not keep_stdin:
            self.close()
            return
        task = asyncio.get_running_loop().create_task(self._drain())
        _HELD.add(task)
        task.add_done_callback(_HELD.discard)

    async def _drain(self) -> None:
        try:
            while (frame := await self.read_frame()) is not None and frame[0] != EXIT:
                pass
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()


_HELD: set[asyncio.Task] = set()  # released links held until their process ends


class PendingInput:
    """Input for a supervisor that cannot be reached yet (attach before start), delivered
    in order once it can: the last resize, the stdin bytes, then a close of stdin."""

    def __init__(self, limit: int = MAX_PENDING_INPUT):
        self.limit = limit
        self.stdin = bytearray()
        self.size: tuple[int, int] | None = None
        self.close_stdin = False

    def add(self, data: bytes) -> bool:
        """Keep `data` for stdin; False, and nothing kept, when that would pass the limit."""
        if len(self.stdin) + len(data) > self.limit:
            return False
        self.stdin += data
        return True

    async def deliver(self, link: SupervisorLink) -> None:
        """Send what is kept to `link`, including what is added while this waits; when it
        returns (no await after the last look) nothing is left."""
        if self.size is not None:
            link.resize(*self.size)
            self.size = None
        while self.stdin:
            data = bytes(self.stdin)
            self.stdin.clear()
            await link.write_stdin(data)
        if self.close_stdin:
            link.close_stdin()
            self.close_stdin = False


@dataclass(frozen=True)
class Target:
    """The files of one supervised process (a container or an exec)."""

    socket: str  # attach.sock
    state: str  # state.json: started_at of the current run
    exit: str  # exit.json of the last run
    log: str  # JSON-lines output records

    def exit_doc(self) -> dict[str, Any] | None:
        return read_json(self.exit)


def container_target(cid: str) -> Target:
    p = engine().paths(cid)
    return Target(socket=p.attach, state=p.state, exit=p.exit, log=p.log)


def exec_target(eid: str) -> Target:
    p = execs.paths(eid)
    return Target(socket=p.attach, state=p.state, exit=p.exit, log=p.log)


async def wait_link(target: Target, *, stdin: bool, scrollback: bool = True,
                    gone: Callable[[], Awaitable[bool]] | None = None,
                    before: str | None | EllipsisType = ..., until: Callable[[], bool] | None = None,
                    mark_live: bool = False) -> SupervisorLink | dict[str, Any] | None:
    """Connect as soon as the supervisor listens. Returns the link, or the exit document
    of a run that started and finished before we could connect (replay its log).
    NotFound when `gone()` (asked once a second) says the container was removed meanwhile.

    `before` is the finished_at of the last run that does not count (default: read now;
    a session passes what it read when it began, so a run that ended since counts).
    `until()` is asked at every look: when true, the wait ends with None. `mark_live`: see
    SupervisorLink.connect."""
    if before is ...:
        before = finished_at(target)
    loop = asyncio.get_running_loop()
    next_check = loop.time() + GONE_CHECK_S
    while True:
        if until is not None and until():
            return None
        if os.path.exists(target.socket):
            try:
                return await SupervisorLink.connect(target.socket, stdin=stdin, scrollback=scrollback,
                                                   mark_live=mark_live)
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


def finished_at(target: Target) -> str | None:
    """The finished_at of the target's last run (None before any ended)."""
    return (target.exit_doc() or {}).get("finished_at")


def last_run_records(target: Target) -> list[logs.Record]:
    """Output records of the last run (since the started_at in state.json)."""
    state = read_json(target.state) or {}
    since = logs.parse_time(state["started_at"]) if state.get("started_at") else None
    return logs.read(target.log, logs.LogQuery(since=since))[0]
