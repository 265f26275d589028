"""Streams of another host's containers, relayed to that host (issue 16).

A container's logs, attach, exec, stats, files and export exist only on its host, and its
exit is seen first there (wait). A request for them that reaches another host's web server
or Docker API is passed on, unchanged, to the container's host and the answer passed back
as it comes: the same bytes and framing both ways, back-pressure by TCP (each side reads
only as fast as the other writes).

- Web (REST and the websockets): `relay_http` / `relay_ws` to the host's `web_url`, with the
  caller's own credentials (session cookie or API token: the database, and so the sessions
  and tokens, are shared) plus the relay signature.
- Docker API: `relay_http` and, for hijacked attach/exec, `splice_hijack` to the host's
  Docker API over TCP (`docker_tcp`); there the relay signature stands for the unix
  socket's caller (the system), whom a token cannot name.

The signature: header `X-Dockerweb-Relay: <unix time>:<HMAC-SHA256(secret, time \\n method
\\n path?query)>` with the shared DOCKERWEB_RELAY_SECRET, valid for MAX_SKEW_S seconds. It
proves a peer host sent the request. The link between hosts is plain TCP: run it on a
private network (docs/SCALE.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q

from containers.models import Container, ExecRecord, Host
from containers.runtime import host_name

SIG_HEADER = b"x-dockerweb-relay"
MAX_SKEW_S = 60
CHUNK = 1 << 16
MAX_HEAD = 1 << 16
MAX_BUFFERED_BODY = 64 << 20
HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"te", b"trailer",
              b"proxy-connection", b"content-length", SIG_HEADER}

_C = r"(?P<ref>[^/]+)"
_E = r"(?P<eid>[0-9a-f]{64})"
_V = r"(?:/v[0-9.]+)?"
WEB_ROUTES = [re.compile(p) for p in (
    rf"^/api/containers/{_C}/(?:logs|stats|changes|export|archive|top|exec|commit|wait)/$",
    rf"^/api/exec/{_E}/(?:start/|resize/)?$",
    rf"^/ws/containers/{_C}/(?:attach|logs|stats)/$",
    rf"^/ws/exec/{_E}/$",
)]
DOCKER_ROUTES = [re.compile(p) for p in (
    rf"^{_V}/containers/{_C}/(?:logs|attach|stats|export|changes|archive|top|resize|exec|wait)$",
    rf"^{_V}/exec/{_E}/(?:start|resize|json)$",
    rf"^{_V}/commit$",
)]


@dataclass(frozen=True)
class Peer:
    """The host a request is for: its name and how to reach its servers."""

    name: str
    web_url: str
    docker_tcp: str


# ---- where ------------------------------------------------------------------------------
def peer_for(path: str, query: dict[str, list[str]], docker: bool) -> Peer | None:
    """The other host that must serve `path`, or None (this host's, or not a container's:
    served here as usual, with its usual errors)."""
    for route in DOCKER_ROUTES if docker else WEB_ROUTES:
        m = route.match(path)
        if m is None:
            continue
        groups = m.groupdict()
        if groups.get("eid"):
            execs = ExecRecord.objects.filter(pk=groups["eid"])
            host = execs.values_list("container__host", flat=True).first()
        else:
            ref = groups.get("ref") or (query.get("container") or [""])[0]
            host = _container_host(ref) if ref else None
        if not host or host == host_name():
            return None
        h = Host.objects.filter(name=host).values_list("web_url", "docker_tcp").first()
        return Peer(host, *h) if h else Peer(host, "", "")
    return None


def _container_host(ref: str) -> str | None:
    """The host of the one container `ref` names (full id, name, or a unique id prefix)."""
    named = Container.objects.filter(Q(pk=ref) | Q(name=ref.lstrip("/")))
    rows = list(named.values_list("host", flat=True)[:2])
    if len(rows) != 1 and len(ref) >= 3 and re.fullmatch(r"[0-9a-f]+", ref):
        rows = list(Container.objects.filter(pk__startswith=ref).values_list("host", flat=True)[:2])
    return rows[0] if len(rows) == 1 else None


# ---- the signature ------------------------------------------------------------------------
def _mac(when: str, method: str, target: str) -> str:
    msg = f"{when}\n{method}\n{target}".encode()
    return hmac.new(settings.DOCKERWEB_RELAY_SECRET.encode(), msg, hashlib.sha256).hexdigest()


def sign(method: str, target: str) -> bytes:
    """The relay header's value for `method target` (target: path?query as sent)."""
    when = str(int(time.time()))
    return f"{when}:{_mac(when, method, target)}".encode()


def verified(scope: dict[str, Any]) -> bool:
    """True when the request carries a valid relay signature from a peer host."""
    value = dict(scope.get("headers") or []).get(SIG_HEADER, b"").decode("latin-1")
    when, _, mac = value.partition(":")
    if not when.isdigit() or abs(time.time() - int(when)) > MAX_SKEW_S:
        return False
    return hmac.compare_digest(mac, _mac(when, scope.get("method", "GET"), _target(scope)))


def _target(scope: dict[str, Any]) -> str:
    qs = scope.get("query_string") or b""
    return scope["path"] + (f"?{qs.decode('latin-1')}" if qs else "")


# ---- HTTP ---------------------------------------------------------------------------------
def _address(peer: Peer, docker: bool) -> tuple[str, int]:
    if docker:
        host, _, port = peer.docker_tcp.rpartition(":")
        if not port.isdigit():
            raise ConnectionError(f"host {peer.name} has no Docker API over TCP (DOCKERWEB_DOCKER_TCP)")
        return host.strip("[]"), int(port)
    u = urlsplit(peer.web_url)
    if not u.hostname:
        raise ConnectionError(f"host {peer.name} has no web address (DOCKERWEB_WEB_URL)")
    return u.hostname, u.port or 80


def _head(scope: dict[str, Any], version: str, extra: list[tuple[bytes, bytes]]) -> bytes:
    target = _target(scope)
    lines = [f"{scope['method']} {target} HTTP/{version}".encode()]
    for k, v in scope.get("headers") or []:
        if k.lower() not in HOP_BY_HOP:
            lines.append(k + b": " + v)
    lines += [k + b": " + v for k, v in extra]
    lines.append(SIG_HEADER + b": " + sign(scope["method"], target))
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _request_body(receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client went away")
        body += message.get("body", b"")
        if len(body) > MAX_BUFFERED_BODY:
            raise ValueError("request body too large to relay")
        if not message.get("more_body"):
            return bytes(body)


async def relay_http(scope, receive, send, peer: Peer, docker: bool) -> None:
    """Pass an ASGI HTTP request to `peer` (HTTP/1.0: the answer ends when the peer closes)
    and its answer back, streamed. 503 naming the host when it cannot be reached."""
    try:
        reader, writer = await asyncio.open_connection(*_address(peer, docker), limit=CHUNK * 4)
    except (OSError, ConnectionError) as e:
        await _error(send, 503, f"host {peer.name} cannot be reached: {e}")
        return
    try:
        body = await _request_body(receive)
        writer.write(_head(scope, "1.0", [(b"content-length", str(len(body)).encode()),
                                           (b"connection", b"close")]) + body)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, headers, chunked = _parse_head(head)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        async for chunk in (_dechunked(reader) if chunked else _raw(reader)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as e:
        await _error(send, 502, f"relay to host {peer.name} failed: {e}")
    finally:
        writer.close()


async def _raw(reader: asyncio.StreamReader):
    while chunk := await reader.read(CHUNK):
        yield chunk


async def _dechunked(reader: asyncio.StreamReader):
    """The body of a chunked answer (HTTP/1.1 chunked transfer coding), chunk by chunk."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            return
        left = size
        while left:
            data = await reader.read(min(left, CHUNK))
            if not data:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(data)
            yield data
        await reader.readexactly(2)


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]], bool]:
    """(status, the end-to-end headers, whether the body is chunked) of an answer's head."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers, chunked = [], False
    for line in lines[1:]:
        k, sep, v = line.partition(b":")
        name = k.strip().lower()
        if name == b"transfer-encoding":
            chunked = b"chunked" in v.lower()
        elif sep and name not in HOP_BY_HOP:
            headers.append((name, v.strip()))
    return status, headers, chunked


async def _error(send, status: int, message: str) -> None:
    import json

    try:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps({"message": message}).encode()})
    except Exception:  # noqa: BLE001 - the answer had begun: the connection just ends
        pass


# ---- hijacked attach / exec (Docker API) --------------------------------------------------
async def splice_hijack(scope: dict[str, Any], stream, peer: Peer) -> None:
    """Pass a hijacked request (`Upgrade: tcp`) to `peer`'s Docker API and splice the two
    connections: the peer's 101 and stream go to the client, the client's bytes to it."""
    from containers.dockerapi.attach import http_error

    try:
        reader, writer = await asyncio.open_connection(*_address(peer, True), limit=CHUNK * 4)
    except (OSError, ConnectionError) as e:
        await http_error(stream, 503, f"host {peer.name} cannot be reached: {e}")
        return
    body = await _hijack_body(scope, stream)
    writer.write(_head(scope, "1.1", [(b"connection", b"Upgrade"), (b"upgrade", b"tcp"),
                                      (b"content-length", str(len(body)).encode())]) + body)

    async def up() -> None:
        while data := await stream.read():
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()

    async def down() -> None:
        while data := await reader.read(CHUNK):
            await stream.write(data)

    sending = asyncio.ensure_future(up())
    try:
        await down()
    except ConnectionError:
        pass
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()


async def _hijack_body(scope: dict[str, Any], stream, timeout: float = 5.0) -> bytes:
    """The hijacked request's body (the hijacking protocol collects it into stream.body)."""
    deadline = time.monotonic() + timeout
    while stream.skip and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    return stream.body


# ---- websockets (web) ---------------------------------------------------------------------
async def relay_ws(scope, receive, send, peer: Peer) -> None:
    """Pass a websocket to `peer`'s web server, message by message, both ways."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    first = await receive()
    if first["type"] != "websocket.connect":
        return
    u = urlsplit(peer.web_url)
    url = f"ws://{u.hostname}:{u.port or 80}{_target(scope)}"
    keep = {b"cookie", b"authorization", b"origin", b"host"}
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers") or []
               if k.lower() in keep and k.lower() != b"host"]
    headers.append((SIG_HEADER.decode(), sign("GET", _target(scope)).decode()))
    try:
        upstream = await connect(url, additional_headers=headers, max_size=None, open_timeout=10,
                                 compression=None)
    except (OSError, InvalidStatus, TimeoutError) as e:
        code = getattr(getattr(e, "response", None), "status_code", 0)
        await send({"type": "websocket.close", "code": 4000 + code if code else 1011,
                    "reason": f"host {peer.name}: {e}"[:120]})
        return
    await send({"type": "websocket.accept"})

    async def up() -> None:
        while True:
            m = await receive()
            if m["type"] == "websocket.disconnect":
                await upstream.close()
                return
            if m.get("bytes") is not None:
                await upstream.send(m["bytes"])
            elif m.get("text") is not None:
                await upstream.send(m["text"])

    sending = asyncio.ensure_future(up())
    code = 1000
    try:
        async for msg in upstream:
            key = "bytes" if isinstance(msg, bytes) else "text"
            await send({"type": "websocket.send", key: msg})
    except ConnectionClosed:
        pass
    finally:
        if upstream.close_code is not None:
            code = upstream.close_code
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        await upstream.close()
    try:
        await send({"type": "websocket.close", "code": code})
    except Exception:  # noqa: BLE001 - the client left first
        pass


# ---- the ASGI middleware ------------------------------------------------------------------
PEERS_TTL_S = 5.0
_peers_seen: list[float | bool] = [0.0, False]  # [checked at (monotonic), other hosts exist]


def _refresh_other_hosts() -> bool:
    """Whether any other host is registered (one query; remembered for PEERS_TTL_S s)."""
    _peers_seen[:] = [time.monotonic(), Host.objects.exclude(name=host_name()).exists()]
    return bool(_peers_seen[1])


def _lookup(scope: dict[str, Any], docker: bool) -> Peer | None:
    from urllib.parse import parse_qs

    return peer_for(scope["path"], parse_qs((scope.get("query_string") or b"").decode("latin-1")), docker)


async def peer_of(scope: dict[str, Any], docker: bool) -> Peer | None:
    """The peer host that must serve this request, or None (serve it here). A request a peer
    relayed (signed) is always served here: never relayed twice. A single host pays no
    query and no thread hop per request: whether other hosts exist is asked at most every
    PEERS_TTL_S seconds."""
    if scope["type"] not in ("http", "websocket") or SIG_HEADER in dict(scope.get("headers") or []):
        return None
    if not any(r.match(scope["path"]) for r in (DOCKER_ROUTES if docker else WEB_ROUTES)):
        return None
    from containers.asyncstream import in_thread

    fresh = time.monotonic() - float(_peers_seen[0]) < PEERS_TTL_S
    if not (bool(_peers_seen[1]) if fresh else await in_thread(_refresh_other_hosts)()):
        return None
    return await in_thread(_lookup)(scope, docker)


class RelayMiddleware:
    """ASGI: a request for another host's container goes to that host (web server side)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        peer = await peer_of(scope, docker=False)
        if peer is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await relay_ws(scope, receive, send, peer)
        else:
            await relay_http(scope, receive, send, peer, docker=False)
