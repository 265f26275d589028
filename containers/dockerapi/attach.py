"""Hijacked `POST /containers/{id}/attach` (docker attach, docker run's streams).

Bridges the raw client stream to the container's supervisor socket:
- stdin sent before the container starts is buffered, not dropped;
- the client's half-close closes the container's stdin when the container has StdinOnce and
  no tty (as dockerd: `if cfg.CloseStdin && !cfg.TTY`); a tty session's end never does, so
  the docker CLI's own detach (its escape proxy eats ctrl-p ctrl-q and just closes the
  connection) leaves the container running with its stdin open;
- detach keys (default ctrl-p ctrl-q; tty only, as Docker) end the attach, never the container;
- output is multiplexed ([stream,0,0,0,len] frames) without a tty, raw with one;
- if the container starts and exits before we could connect, its output is sent from the
  log file instead, so nothing of a short run is lost.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import socket
import struct
import time
from typing import Any
from urllib.parse import parse_qs

from containers import hosts, lookup
from containers.asyncstream import in_thread
from containers.dockerapi.hijack import RawStream
from containers.engine.errors import EngineError, InvalidArgument
from containers.engine.layout import ContainerPaths
from containers.engine.run.frames import CLOSE_STDIN, EXIT, STDERR, STDIN, STDOUT, docker_mux
from containers.engine.run.logfile import Follower, LogQuery, Record
from containers.link import PendingInput, SupervisorLink, Target, finished_at, wait_link
from containers.runtime import engine

ATTACH_RE = re.compile(r"^(?:/v(?P<version>[0-9.]+))?/containers/(?P<ref>[^/]+)/attach\Z")
DEFAULT_DETACH = b"\x10\x11"  # ctrl-p ctrl-q
WAIT_STEP = 0.01


def _flag(params: dict[str, list[str]], name: str) -> bool:
    return (params.get(name) or ["0"])[-1].lower() in ("1", "true", "yes")


def parse_detach_keys(spec: str | None) -> bytes:
    """Docker's detachKeys ("ctrl-p,ctrl-q", "a,ctrl-@") -> bytes; empty = default."""
    if not spec:
        return DEFAULT_DETACH
    out = bytearray()
    for key in spec.split(","):
        key = key.strip()
        if key.startswith("ctrl-") and len(key) == 6:
            ch = key[5]
            special = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            out.append(special.get(ch, (ord(ch.lower()) - 96) & 0x1F))
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided: unknown key {key!r}")
    return bytes(out)


def response_head(tty: bool, version: str | None) -> bytes:
    multiplexed = not tty and (version is None or tuple(map(int, version.split("."))) >= (1, 42))
    kind = "multiplexed-stream" if multiplexed else "raw-stream"
    ctype = f"application/vnd.docker.{kind}"
    return (f"HTTP/1.1 101 UPGRADED\r\nContent-Type: {ctype}\r\nConnection: Upgrade\r\n"
            f"Upgrade: tcp\r\n\r\n").encode()


HEAD_GAP_S = 0.05
HEAD_READ_WAIT_S = 5.0  # at most this long for a unix-socket client to read the 101
SIOCOUTQ = 0x5411  # = TIOCOUTQ: bytes sent on a unix socket that the peer has not read yet


async def send_head(stream: RawStream, head: bytes) -> None:
    """Write the 101 answer, then hold any output until the client has read it: docker-py
    reads the response through a buffer and loses bytes that arrive together with the
    headers (docker-py issue 3332), which happens when output is already waiting (exec,
    attach to a running container) or the client is slow to be scheduled. On a unix socket
    the kernel says when the peer has read everything we sent (SIOCOUTQ is 0), so the wait
    is exact (bounded by HEAD_READ_WAIT_S); elsewhere (TCP) a fixed HEAD_GAP_S pause."""
    await stream.write(head)
    fd = _unix_fd(stream)
    if fd is None:
        await asyncio.sleep(HEAD_GAP_S)
        return
    deadline = time.monotonic() + HEAD_READ_WAIT_S
    while time.monotonic() < deadline and not stream.closed.is_set():
        if stream.transport.get_write_buffer_size() == 0 and _unread(fd) == 0:
            return
        await asyncio.sleep(0.002)


def _unix_fd(stream: Any) -> int | None:
    """The fd of a hijacked unix-socket connection, else None (TCP, websockets)."""
    transport = getattr(stream, "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    return sock.fileno() if sock is not None and sock.family == socket.AF_UNIX else None


def _unread(fd: int) -> int:
    """Bytes we sent on unix socket `fd` that the peer has not read (0 on any error)."""
    try:
        return struct.unpack("i", fcntl.ioctl(fd, SIOCOUTQ, b"\0\0\0\0"))[0]
    except OSError:
        return 0


async def http_error(stream: RawStream, status: int, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    reason = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict"}.get(
        status, "Error")
    await stream.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)


class DetachKeys:
    """Docker's detach sequence typed on a tty: a matched prefix is held back and the
    sequence itself is never forwarded."""

    def __init__(self, keys: bytes):
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes of `data` to forward, and whether the sequence is complete (then the
        rest of `data` is dropped)."""
        out = bytearray()
        for b in data:
            if b == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    return bytes(out), True
                continue
            out += self.keys[:self.matched]
            self.matched = 0
            out.append(b)
        return bytes(out), False


class Attach:
    """One attach session: the client's stream bridged to a supervisor link (containers/link.py)."""

    def __init__(self, stream: RawStream, cid: str, spec: dict[str, Any], params: dict[str, list[str]],
                 was_running: bool, paths: Any = None):
        self.stream = stream
        self.cid = cid
        self.paths: ContainerPaths = paths or engine().paths(cid)  # an exec's paths have the same shape
        self.target = Target(socket=self.paths.attach, state=self.paths.state, exit=self.paths.exit,
                             log=self.paths.log)
        self.tty = bool(spec.get("tty"))
        self.multiplexed = not self.tty  # the websocket variant is never multiplexed
        self.stdin_once = bool(spec.get("stdin_once"))
        self.want = {"stdin": _flag(params, "stdin"), STDOUT: _flag(params, "stdout"),
                     STDERR: _flag(params, "stderr")}
        self.detach = parse_detach_keys((params.get("detachKeys") or [""])[-1])
        self.was_running = was_running
        self.before = finished_at(self.target)  # a run that ends after this counts
        # Hold the log open from now on: an auto-removed container's directory may be gone
        # before we could connect, and the output must still reach this client.
        os.makedirs(self.paths.dir, mode=0o700, exist_ok=True)
        os.close(os.open(self.paths.log, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        query = LogQuery(stdout=self.want[STDOUT], stderr=self.want[STDERR])
        self.history: Follower | None = Follower(self.paths.log, query)  # for logs=1: from the start
        self.log = Follower(self.paths.log, query)  # from now on (across rotations)
        self.log.skip_existing()
        self.pending = PendingInput()  # stdin before we are connected
        self.link: SupervisorLink | None = None
        self.connected = asyncio.Event()
        self.done = asyncio.Event()

    def out(self, kind: int, data: bytes) -> bytes:
        return docker_mux(kind, data) if self.multiplexed else data

    async def serve(self, params: dict[str, list[str]]) -> None:
        """Docker's `logs` (the whole log first) and `stream` (then live) options; closes."""
        try:
            history, self.history = self.history, None
            if _flag(params, "logs") and history is not None:
                self.log.close()
                self.log = history  # the whole log, then on from its end
                existing = history.existing()
                while batch := await asyncio.to_thread(next, existing, None):
                    await self.write_records(batch)
                self.was_running = True  # the log covered what came before
            elif history is not None:
                history.close()
            if _flag(params, "stream"):
                await self.run()
        finally:
            self.close()

    async def run(self) -> None:
        pump_in = asyncio.create_task(self.client_to_container())
        try:
            await self.container_to_client()
        finally:
            pump_in.cancel()
            if self.link is not None:  # detached, or a tty's end: the process keeps its stdin
                self.link.release(keep_stdin=self.done.is_set() or (self.tty and self.want["stdin"]))
            self.close()

    def close(self) -> None:
        self.log.close()
        if self.history is not None:
            self.history.close()
            self.history = None

    # -- client -> container ---------------------------------------------------------------
    async def client_to_container(self) -> None:
        detach = DetachKeys(self.detach)
        while True:
            data = await self.stream.read()
            if not data:  # half-close (or gone)
                if self.want["stdin"] and self.stdin_once and not self.tty:
                    await self.send(CLOSE_STDIN)
                return
            if not self.want["stdin"]:
                continue
            if not self.tty:  # as Docker: detach keys only apply to a tty
                await self.send(STDIN, data)
                continue
            data, detached = detach.feed(data)
            await self.send(STDIN, data)
            if detached:
                self.done.set()
                return

    async def send(self, kind: int, payload: bytes = b"") -> None:
        """STDIN before the link is up is kept (`pending`; past its limit the client waits,
        so memory stays bounded and no byte is lost); CLOSE_STDIN waits for the link."""
        if kind == STDIN and not payload:
            return
        if not self.connected.is_set():
            if kind == STDIN and self.pending.add(payload):
                return
            await self.connected.wait()
        assert self.link is not None
        if kind == STDIN:
            await self.link.write_stdin(payload)
        else:
            self.link.close_stdin()
            await self.link.writer.drain()

    # -- container -> client ---------------------------------------------------------------
    async def container_to_client(self) -> None:
        link = await self.connect()
        if self.stream.closed.is_set():
            return  # the client went away before the container could be reached
        if link is None or await self.pump_frames(link) == "lost":
            await self.wait_exited()
            await self.replay_log()

    async def pump_frames(self, link: SupervisorLink) -> str:
        """Forward supervisor frames; "exit", "detached", or "lost" when the connection
        ended, or the exit came, before any output (we connected as the supervisor was
        leaving: the log has it all). An exit without output is "lost" too: a supervisor
        that ends before it read our HELLO sends the exit without the scrollback (the
        output came before we connected), and a run with no output replays nothing."""
        waiter = asyncio.create_task(self.done.wait())
        got_output = False
        try:
            while True:
                read = asyncio.create_task(link.read_frame())
                finished, _ = await asyncio.wait({read, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if read not in finished:
                    read.cancel()
                    return "detached"
                frame = read.result()
                if frame is None:
                    return "exit" if got_output else "lost"
                kind, payload = frame
                if kind == EXIT:
                    return "exit" if got_output else "lost"
                got_output = True
                if self.want.get(kind):
                    await self.stream.write(self.out(kind, payload))
        finally:
            waiter.cancel()

    async def wait_exited(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.exited_since_attach() and time.monotonic() < deadline:
            await asyncio.sleep(WAIT_STEP)

    async def connect(self) -> SupervisorLink | None:
        """The link, once the container started (stdin kept meanwhile is sent first). None
        when it ran and exited meanwhile (replay the log instead) or the client went away."""
        got = await wait_link(self.target, stdin=self.want["stdin"], scrollback=not self.was_running,
                              before=self.before, until=self.stopped_waiting)
        if not isinstance(got, SupervisorLink):
            return None
        self.link = got
        await self.pending.deliver(got)  # then at once `connected`: nothing is kept after it
        self.connected.set()
        return got

    def stopped_waiting(self) -> bool:
        return self.stream.closed.is_set() or not os.path.isdir(self.paths.dir)

    def exited_since_attach(self) -> bool:
        if not os.path.isdir(self.paths.dir):
            return True  # auto-removed already
        done = self.target.exit_doc()  # (a start removes the last run's exit.json)
        return done is not None and done.get("finished_at") != self.before

    async def replay_log(self) -> None:
        """Send the records written since the last replay (or the attach), in batches."""
        while True:
            records, got = await asyncio.to_thread(self.log.poll)
            await self.write_records(records)
            if not got:
                return

    async def write_records(self, records: list[Record]) -> None:
        if records:
            await self.stream.write(b"".join(
                self.out(STDOUT if r.stream == "stdout" else STDERR, r.data) for r in records))


async def _audit(scope: dict[str, Any], verb: str, target: str, status: int) -> None:
    """The audit row of a hijacked (or websocket) Docker attach/exec, once at open."""
    from containers import audit
    from containers.dockerapi.auth import actor

    await in_thread(audit.socket_record)(scope, user=actor(scope), verb=verb, target=target,
                                         via="docker", status=status)


async def hijack(scope: dict[str, Any], stream: RawStream) -> None:
    """Entry point for every hijacked request on the Docker socket."""
    from containers.dockerapi.auth import allowed

    if not await allowed(scope):
        await http_error(stream, 401, "authentication required: send Authorization: Token <API token>")
        return
    from containers import hostrelay

    if (peer := await hostrelay.peer_of(scope, docker=True)) is not None:  # another host's
        await hostrelay.splice_hijack(scope, stream, peer)
        return
    m = ATTACH_RE.match(scope["path"])
    if m is None:
        from containers.dockerapi.exec import hijack_exec

        if await hijack_exec(scope, stream):
            return
        await http_error(stream, 404, f"page not found: {scope['path']}")
        return
    params = parse_qs(scope["query_string"].decode())
    from containers.dockerapi.auth import actor

    try:
        c = hosts.here(await in_thread(lookup.container)(m["ref"], actor(scope)))
    except EngineError as e:
        code = {"not_found": 404, "elsewhere": 421}.get(e.kind, 400)
        await _audit(scope, "POST containers/<ref>/attach", m["ref"], code)
        await http_error(stream, code, e.message)
        return
    from containers.engine.state import ACTIVE

    try:
        session = Attach(stream, c.id, c.spec, params, was_running=c.status in ACTIVE)
    except InvalidArgument as e:  # detachKeys
        await _audit(scope, "POST containers/<ref>/attach", m["ref"], 400)
        await http_error(stream, 400, e.message)
        return
    await _audit(scope, "POST containers/<ref>/attach", m["ref"], 101)
    try:
        await send_head(stream, response_head(session.tty, m["version"]))
        await session.serve(params)
    finally:
        session.close()


class WebSocketStream:
    """An ASGI websocket behind RawStream's interface (read/write/closed), so the same
    Attach session serves GET /containers/{id}/attach/ws (binary frames, never multiplexed)."""

    def __init__(self, receive, send):
        self.receive, self.send_ = receive, send
        self.closed = asyncio.Event()

    async def read(self) -> bytes:
        if self.closed.is_set():
            return b""
        msg = await self.receive()
        if msg["type"] == "websocket.disconnect":
            self.closed.set()
            return b""
        return msg.get("bytes") or (msg.get("text") or "").encode()

    async def write(self, data: bytes) -> None:
        if self.closed.is_set():
            raise ConnectionResetError("client went away")
        await self.send_({"type": "websocket.send", "bytes": data})

    def close(self) -> None:
        self.closed.set()


ATTACH_WS_RE = re.compile(r"^(?:/v[0-9.]+)?/containers/(?P<ref>[^/]+)/attach/ws\Z")


async def attach_ws(scope: dict[str, Any], receive, send) -> None:
    """ASGI websocket app for Docker's attach/ws."""
    from containers.dockerapi.auth import allowed
    from containers.engine.state import ACTIVE

    m = ATTACH_WS_RE.match(scope["path"])
    await receive()  # websocket.connect
    if m is None or not await allowed(scope):
        await send({"type": "websocket.close", "code": 4404 if m is None else 4401})
        return
    from containers.dockerapi.auth import actor

    try:
        c = hosts.here(await in_thread(lookup.container)(m["ref"], actor(scope)))
    except EngineError:
        await _audit(scope, "GET containers/<ref>/attach/ws", m["ref"], 404)
        await send({"type": "websocket.close", "code": 4404})
        return
    await _audit(scope, "GET containers/<ref>/attach/ws", m["ref"], 101)
    await send({"type": "websocket.accept"})
    params = parse_qs(scope["query_string"].decode())
    stream = WebSocketStream(receive, send)
    session = Attach(stream, c.id, c.spec, params, was_running=c.status in ACTIVE)  # type: ignore[arg-type]
    session.multiplexed = False
    try:
        await session.serve(params)
    finally:
        if not stream.closed.is_set():
            await send({"type": "websocket.close", "code": 1000})
