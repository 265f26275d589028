"""The attach protocol on a websocket, relayed to a supervisor link.

Websocket protocol (container attach and exec alike):
- output: binary frames. With a tty the raw bytes; without, one stream byte (1 stdout,
  2 stderr) followed by the data. Recent output (the scrollback) comes first.
- input: binary frames are stdin, byte for byte. Text frames are JSON control messages:
  {"type": "resize", "rows": R, "cols": C} and {"type": "close_stdin"}.
- live: a text frame {"type": "live"} once the scrollback has been sent: the output before
  it is history (a terminal must not answer the queries in it: its answers would be typed
  into the process), the output after it is live.
- end: a text frame {"type": "exit", ...exit.json} when the process exits, then close.
Input that arrives before the supervisor is reachable (attach before start) is kept and
delivered once it is, the last resize included.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from containers.engine.errors import InvalidArgument
from containers.engine.run.logfile import Record
from containers.link import (
    EXIT,
    LIVE,
    STDERR,
    STDOUT,
    PendingInput,
    SupervisorLink,
    Target,
    last_run_records,
    wait_link,
)
from containers.streams.base import CLOSE_NORMAL, StreamConsumer, in_thread

STREAM_BYTES = {"stdout": STDOUT, "stderr": STDERR}
REPLAY_BATCH = 256 * 1024
DROPPED = {"type": "warning", "message": "output was dropped: this client fell behind"}
LIVE_MARK = {"type": "live"}


class AttachStream(StreamConsumer):
    """Relays one websocket to one supervisor link. Subclasses find the link (`stream`)."""

    tty = False
    link: SupervisorLink | None = None
    wants_stdin = False  # this session may write to the process (set by follow)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.early = PendingInput()  # input before the supervisor is reachable
        self.relayed_output = False

    # ---- input -------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            if self.link is not None:
                await self.link.write_stdin(bytes_data)
            else:
                self.early.add(bytes_data)  # dropped beyond its limit
            return
        try:
            msg = json.loads(text_data or "")
            kind = msg.get("type") if isinstance(msg, dict) else None
            if kind == "resize":
                size = _size(msg.get("rows"), msg.get("cols"))
                if self.link is not None:
                    self.link.resize(*size)
                else:
                    self.early.size = size
            elif kind == "close_stdin":
                if self.link is not None:
                    self.link.close_stdin()
                else:
                    self.early.close_stdin = True
            else:
                raise InvalidArgument(f"unknown message type {kind!r}")
        except (ValueError, InvalidArgument) as e:
            await self.send_json({"type": "error", "message": f"bad control message: {e}"})

    # ---- output ------------------------------------------------------------------------
    async def follow(self, target: Target, *, stdin: bool, scrollback: bool,
                     gone: Callable[[], Awaitable[bool]],
                     running: Callable[[], Awaitable[bool]]) -> None:
        """Attach to `target` (waiting for it to start), relay until it exits, then send
        the exit frame and close."""
        self.wants_stdin = stdin
        while True:
            got = await wait_link(target, stdin=stdin, scrollback=scrollback, gone=gone, mark_live=True)
            if isinstance(got, dict):  # started and finished between two looks
                await self.replay(await in_thread(last_run_records)(target))
                return await self.finish(got)
            done = await self.relay(got) or target.exit_doc()
            if done is not None:
                if scrollback and not self.relayed_output:
                    # it ended before the supervisor took our HELLO: the log has what we missed
                    await self.replay(await in_thread(last_run_records)(target))
                return await self.finish(done)
            if not await running():
                return await self.finish({"exit_code": None, "error": "the supervisor was lost"})
            await self.send_json(DROPPED)  # the supervisor dropped us as too slow: go on live
            scrollback = False

    async def relay(self, link: SupervisorLink) -> dict[str, Any] | None:
        """Pump output frames to the websocket until the process exits (its exit document)
        or the supervisor drops the connection (None)."""
        self.link = link
        await self.early.deliver(link)
        try:
            while (frame := await link.read_frame()) is not None:
                kind, payload = frame
                if kind == EXIT:
                    return json.loads(payload)
                if kind == LIVE:
                    await self.send_json(LIVE_MARK)
                elif kind in (STDOUT, STDERR):
                    self.relayed_output = True
                    await self.send(bytes_data=payload if self.tty else bytes((kind,)) + payload)
            return None
        finally:  # a tty session's end leaves the process its stdin, as dockerd (link.release)
            self.link = None
            link.release(keep_stdin=self.tty and self.wants_stdin)

    async def replay(self, records: list[Record]) -> None:
        """Send logged output as if it were live (for a run that ended before we connected)."""
        batch, stream, size = [], None, 0
        for rec in records:
            kind = STREAM_BYTES.get(rec.stream, STDOUT)
            if batch and (kind != stream or size >= REPLAY_BATCH):
                await self._send_output(stream, b"".join(batch))
                batch, size = [], 0
            batch.append(rec.data)
            stream, size = kind, size + len(rec.data)
        if batch:
            await self._send_output(stream, b"".join(batch))

    async def _send_output(self, kind: int, data: bytes) -> None:
        await self.send(bytes_data=data if self.tty else bytes((kind,)) + data)

    async def finish(self, exit_doc: dict[str, Any]) -> None:
        await self.send_json({"type": "exit", **exit_doc})
        await self.close(code=CLOSE_NORMAL)


def _size(rows: Any, cols: Any) -> tuple[int, int]:
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n < 65536 for n in (rows, cols)):
        raise InvalidArgument("rows and cols must be integers from 1 to 65535")
    return rows, cols
