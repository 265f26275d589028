"""Serve Docker's hijacked `Upgrade: tcp` connections from uvicorn.

ASGI has no message for "take over this TCP stream", so no stock ASGI server can do what
`docker attach` / `docker exec` need (POST + `Connection: Upgrade`, `Upgrade: tcp`, then a
raw byte stream both ways). The least invasive real way: subclass uvicorn's httptools
protocol (uvicorn and httptools are pinned in requirements.txt; tests/test_docker_*.py
exercise this class) so that when the parser stops at an upgrade to `tcp`, the transport
is handed to an async handler as a `RawStream`. Everything else (plain HTTP, websockets)
is uvicorn's own code path.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HIGH_WATER = 1 << 20
BODY_MAX = 64 << 10  # bytes of a hijacked request's body kept (an exec start's is ~50)


class RawStream(asyncio.Protocol):
    """The hijacked connection: `read()` chunks (b"" at the client's half-close), `write()`.

    `eof_received` returns True, so after the client shuts down its writing side we keep
    sending output until the process exits (what the docker CLI expects).
    """

    def __init__(self, transport: asyncio.Transport, skip: int = 0):
        self.transport = transport
        self.skip = skip  # the request body (httptools stops after the headers on an upgrade)
        self.body = b""
        self.body_done = asyncio.Event()  # all `skip` bytes of the body arrived
        if not skip:
            self.body_done.set()
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.buffered = 0
        self.closed = asyncio.Event()
        self._can_write = asyncio.Event()
        self._can_write.set()

    def data_received(self, data: bytes) -> None:
        if self.skip:
            dropped = min(self.skip, len(data))
            self.body += data[:dropped][:BODY_MAX - len(self.body)]  # the rest is skipped unread
            data, self.skip = data[dropped:], self.skip - dropped
            if not self.skip:
                self.body_done.set()
            if not data:
                return
        self.queue.put_nowait(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.queue.put_nowait(b"")
        self.body_done.set()  # what came of the body is all there is
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.put_nowait(b"")
        self.closed.set()
        self.body_done.set()
        self._can_write.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    async def request_body(self, timeout: float = 10.0) -> bytes:
        """The request's body (Content-Length bytes; fewer if the client stopped sending
        it within `timeout` seconds or closed)."""
        try:
            await asyncio.wait_for(self.body_done.wait(), timeout)
        except TimeoutError:
            pass
        return self.body

    async def read(self) -> bytes:
        data = await self.queue.get()
        self.buffered -= len(data)
        if self.buffered <= HIGH_WATER // 2:
            self.transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        if self.closed.is_set():
            raise ConnectionResetError("client went away")
        self.transport.write(data)
        await self._can_write.wait()

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


HijackHandler = Callable[[dict[str, Any], RawStream], Awaitable[None]]


class HijackingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus `Upgrade: tcp` handed to `hijack_handler`."""

    hijack_handler: HijackHandler | None = None  # set by the server runner

    def _is_tcp_upgrade(self) -> bool:
        return self._get_upgrade() == b"tcp" and self.hijack_handler is not None

    def _should_upgrade(self) -> bool:
        return self._is_tcp_upgrade() or super()._should_upgrade()

    def data_received(self, data: bytes) -> None:
        """uvicorn's own data_received, with the tcp upgrade case added."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade as exc:
            if self._is_tcp_upgrade():
                offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
                self.handle_tcp_upgrade(data[offset:])
            elif super()._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def handle_tcp_upgrade(self, rest: bytes) -> None:
        self.connections.discard(self)
        parsed = httptools.parse_url(self.url)
        scope = dict(self.scope)
        scope["path"] = urllib.parse.unquote(parsed.path.decode("ascii"))
        scope["query_string"] = parsed.query or b""
        length = dict(self.headers).get(b"content-length", b"0")
        stream = RawStream(self.transport, skip=int(length) if length.isdigit() else 0)
        self.transport.set_protocol(stream)
        if rest:
            stream.data_received(rest)
        task = self.loop.create_task(self._run(scope, stream))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, scope: dict[str, Any], stream: RawStream) -> None:
        try:
            await self.hijack_handler(scope, stream)  # type: ignore[misc]
        except Exception:
            self.logger.exception("hijacked connection failed")
        finally:
            stream.close()
