"""An asyncio connection to a supervisor's attach socket (framing: engine/frames.py).

Used by the attach and exec consumers: the bytes go straight between the websocket and
the supervisor, never through the channel layer.
"""

from __future__ import annotations

import asyncio
import json
import os

from containers.engine.attach import MAX_SUN_PATH
from containers.engine.frames import (
    CLOSE_STDIN,
    EXIT,
    FRAME,
    HELLO,
    RESIZE,
    STDERR,
    STDIN,
    STDOUT,
    WINDOW_SIZE,
    pack,
)

__all__ = ["SupervisorLink", "STDOUT", "STDERR", "EXIT"]
READ_LIMIT = 1 << 20
MAX_STDIN_FRAME = 1 << 20


class SupervisorLink:
    """One attach session with a supervisor: read output frames, write input frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, path: str, *, stdin: bool, scrollback: bool) -> SupervisorLink:
        """Connect and say HELLO. FileNotFoundError/ConnectionRefusedError when the socket
        is not (or no longer) there. Long paths go through /proc/self/fd/N of the directory."""
        if len(path) <= MAX_SUN_PATH:
            reader, writer = await asyncio.open_unix_connection(path, limit=READ_LIMIT)
        else:
            dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
            try:
                reader, writer = await asyncio.open_unix_connection(
                    f"/proc/self/fd/{dfd}/{os.path.basename(path)}", limit=READ_LIMIT)
            finally:
                os.close(dfd)
        link = cls(reader, writer)
        link._send(HELLO, json.dumps({"stdin": stdin, "scrollback": scrollback}).encode())
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
