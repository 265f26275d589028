"""Commands from the API servers to a worker: this host's over its Unix socket, another
host's (issue 16) over the channel layer with a reply channel per call.

This host's worker listens on `<state>/run/worker.sock` (containers/rpcserver.py; framing in
containers/rpcwire.py). `call` runs in the caller's thread (the API servers' request threads:
dockerweb/requestthreads.py) on a blocking socket that thread keeps for its next calls, with
no event loop and no Redis: a call is one read of the heartbeat file, one write and one
read (measured 0.1-0.2 ms round trip for the write and read against 1.5 ms over Redis
inside one event loop, plus async_to_sync's hop to a loop and back).
`acall` (async callers) opens an asyncio connection per call. Another host's worker is
reached through Redis (`hosts.channel(host)`), as before: `acall`, and `call` through
async_to_sync.

A call carries a deadline; the worker drops calls that expired while it was away, so a
worker that comes back never replays stale commands. Both transports get the same reply
from the worker (containers/worker.answer).

Faults are answered at once where they can be known, all 503:
- this host's worker: one whose heartbeat (containers/heartbeat.py) says it is not running
  is `Unavailable` before anything is sent (once RESTART_GRACE_S seconds passed without a
  live heartbeat: a restarted worker is waited for), or while the reply is awaited (checked
  every WATCH_S seconds), instead of after the whole RPC timeout. A socket that refuses or is
  missing while the heartbeat is alive is a worker booting (it listens after its boot
  reconcile): tried again until the deadline. A kept connection found broken when sending
  (the worker restarted since) is replaced once: a failed send delivered no whole frame, so
  the command was certainly not taken. A connection lost after the command was sent is
  `Unavailable` saying so (LOST: it may have run). No answer within the timeout is
  `Unavailable`, "did not answer".
- another host's worker: Redis refusing or closing the connection is `Unreachable` as soon
  as redis-py sees it (NOT_SENT before the send, LOST after), a host not seen lately is
  `Unavailable` ("host B is down", containers/hosts.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import threading
import time
import uuid
from typing import Any

import redis.exceptions
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from containers import heartbeat, hosts, rpcwire
from containers.engine.errors import Unavailable, Unreachable, from_kind

DEFAULT_TIMEOUT = 30.0
WATCH_S = 0.5
RESTART_GRACE_S = 3.0
PING_TIMEOUT = 1.0
CONNECT_RETRY_S = 0.02  # while a live worker's socket is not there yet (its boot)
CAST_TIMEOUT_S = 1.0  # a cast's connect and send at most (it never waits for the worker)
# what the channel layer raises when Redis is away (refused, closed, reset, timed out)
LAYER_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
log = logging.getLogger(__name__)


NOT_SENT = "the command was not sent; retry once it is back"
LOST = "the command was sent, its answer is lost (it may have run: check the container)"


def _unreachable(err: BaseException, outcome: str = NOT_SENT) -> Unreachable:
    """The error a client sees: what is down and what became of the command, not redis-py's
    text (it names the socket path); that goes to the log."""
    log.warning("Redis unreachable: %s", err)
    return Unreachable(f"Redis (the channel layer to the worker) is unreachable: {outcome}")


def target(args: dict[str, Any]) -> str:
    """The host whose worker acts on a command: the host of the container it names (`ref` or
    `cid`, a full id), else this host (issue 16: one worker per host, each on its own
    channel, so exactly one worker acts on a container)."""
    cid = args.get("ref") or args.get("cid") or args.get("container")
    if cid:
        return _host_of(cid) or settings.DOCKERWEB_HOST
    if isinstance(args.get("id"), str):  # a network's (network_remove)
        from containers.models import Network

        return Network.objects.filter(nid=args["id"]).values_list("host", flat=True).first() or \
            settings.DOCKERWEB_HOST
    return settings.DOCKERWEB_HOST


@functools.lru_cache(maxsize=4096)
def _host_of_cached(cid: str) -> str:
    from containers.models import Container

    host = Container.objects.filter(pk=cid).values_list("host", flat=True).first()
    if host is None:
        raise LookupError(cid)  # not cached: the record may come
    return host


def _host_of(cid: str) -> str | None:
    """The host of container `cid` (a container never moves and ids are never reused, so
    the answer is cached)."""
    try:
        return _host_of_cached(cid)
    except LookupError:
        return None


async def _send(op: str, args: dict[str, Any], reply_to: str | None, timeout: float,
                host: str) -> None:
    try:
        await get_channel_layer().send(hosts.channel(host), {
            "type": "engine.call", "op": op, "args": args, "reply_to": reply_to,
            "deadline": time.time() + timeout,
        })
    except LAYER_ERRORS as e:
        raise _unreachable(e) from None


def _worker_gone(op: str) -> None:
    """Unavailable at once when the heartbeat says no worker runs."""
    if (why := heartbeat.problem()) is not None:
        raise Unavailable(f"cannot {op}: {why}")


async def _worker_present(op: str) -> None:
    """Return once the heartbeat says a worker runs; Unavailable after RESTART_GRACE_S
    seconds without one (a worker being restarted by the process manager is back within it,
    and its first beat comes before its boot reconcile). One heartbeat read when it runs."""
    if heartbeat.problem() is None:
        return
    deadline = time.monotonic() + RESTART_GRACE_S
    while heartbeat.problem() is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    _worker_gone(op)


def _local(host: str) -> bool:
    return not host or host == settings.DOCKERWEB_HOST


def _timed_out(op: str, timeout: float) -> Unavailable:
    return Unavailable(f"the worker did not answer {op!r} within {timeout:.0f}s")


def _lost(op: str) -> Unavailable:
    """The connection closed after the command was sent: say why when the heartbeat knows."""
    why = heartbeat.problem() or "the worker closed the connection"
    return Unavailable(f"cannot {op}: {why}; {LOST}")


def _not_sent(op: str, err: BaseException) -> Unavailable:
    log.warning("worker socket: %s not sent: %s", op, err)
    return Unavailable(f"cannot {op}: the worker's socket failed ({type(err).__name__}); {NOT_SENT}")


def _reply_value(reply: dict[str, Any]) -> Any:
    if reply.get("ok"):
        return reply.get("result")
    raise from_kind(reply["error"]["kind"], reply["error"]["message"])


# ---- this host's worker: its Unix socket (containers/rpcserver.py) ---------------------------

_thread = threading.local()  # .conn: this thread's kept connection to the worker


def _socket_path() -> str:
    return rpcwire.socket_path(settings.RUN_DIR)


def _worker_present_sync(op: str) -> None:
    """`_worker_present` for a thread."""
    if heartbeat.problem() is None:
        return
    deadline = time.monotonic() + RESTART_GRACE_S
    while heartbeat.problem() is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    _worker_gone(op)


def _connect(op: str, timeout: float, deadline: float) -> socket.socket:
    """A new connection to this host's worker. While none listens (refused, or no socket: a
    worker booting, or gone) or its backlog is full (EAGAIN: a burst of new connections) it
    tries again every CONNECT_RETRY_S as long as the heartbeat says one runs (the socket
    comes after the boot reconcile), and raises Unavailable when the heartbeat says none
    runs (after RESTART_GRACE_S) or at `deadline`."""
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(max(deadline - time.monotonic(), 0.001))
            conn.connect(_socket_path())
            return conn
        except (FileNotFoundError, ConnectionRefusedError, BlockingIOError):
            conn.close()
        except TimeoutError:
            conn.close()
            raise _timed_out(op, timeout) from None
        except OSError as e:
            conn.close()
            raise _not_sent(op, e) from None
        _worker_present_sync(op)
        if time.monotonic() >= deadline:
            raise _timed_out(op, timeout)
        time.sleep(CONNECT_RETRY_S)


def _send_once(conn: socket.socket, op: str, frame: bytes, timeout: float, deadline: float) -> None:
    """Send the whole `frame` before `deadline` (a stopped worker's full buffer blocks a
    large one); OSError when the connection is broken (nothing was taken)."""
    conn.settimeout(max(deadline - time.monotonic(), 0.001))
    try:
        conn.sendall(frame)
    except TimeoutError:
        conn.close()  # part of a frame may be in the buffer: the stream is unusable
        raise _timed_out(op, timeout) from None


def _send_sync(op: str, frame: bytes, timeout: float, deadline: float) -> socket.socket:
    """Send `frame` on this thread's kept connection, or a new one; a kept connection found
    broken by the send (the worker restarted since) is replaced once: a send that failed
    delivered no whole frame, so the command was certainly not taken."""
    kept = getattr(_thread, "conn", None)
    _thread.conn = None
    conn = kept or _connect(op, timeout, deadline)
    try:
        _send_once(conn, op, frame, timeout, deadline)
    except OSError as e:
        conn.close()
        if kept is None:
            raise _not_sent(op, e) from None
        conn = _connect(op, timeout, deadline)
        try:
            _send_once(conn, op, frame, timeout, deadline)
        except OSError as e2:
            conn.close()
            raise _not_sent(op, e2) from None
    return conn


def _receive_sync(conn: socket.socket, op: str, timeout: float, deadline: float) -> dict[str, Any]:
    """The reply frame on `conn`, checking the heartbeat every WATCH_S seconds meanwhile."""
    buf = b""
    need = rpcwire.HEADER.size
    body_len = -1
    while True:
        if len(buf) >= need:
            if body_len < 0:
                body_len = rpcwire.length(buf[:need])
                need += body_len
                continue
            if len(buf) > need:
                raise rpcwire.FrameError("more than one reply")
            return rpcwire.decode(buf[rpcwire.HEADER.size:])
        left = deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(op, timeout)
        conn.settimeout(min(WATCH_S, left))
        try:
            chunk = conn.recv(max(need - len(buf), 65536))
        except TimeoutError:
            _worker_gone(op)
            continue
        except OSError:
            raise _lost(op) from None
        if not chunk:
            raise _lost(op)
        buf += chunk


def _call_here(op: str, args: dict[str, Any], timeout: float) -> Any:
    """`call` to this host's worker over its socket, from a thread (no event loop)."""
    _worker_present_sync(op)
    deadline = time.monotonic() + timeout
    frame = rpcwire.request(op, args, time.time() + timeout)
    conn = _send_sync(op, frame, timeout, deadline)
    try:
        reply = _receive_sync(conn, op, timeout, deadline)
    except BaseException as e:
        conn.close()  # a late reply must not be taken for the next call's
        if isinstance(e, rpcwire.FrameError):
            log.warning("worker socket: unreadable reply to %s: %s", op, e)
            raise _lost(op) from None
        raise
    _thread.conn = conn
    return _reply_value(reply)


async def _aconnect(op: str, timeout: float, deadline: float
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`_connect` for async callers."""
    while True:
        try:
            return await asyncio.open_unix_connection(_socket_path())
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        except OSError as e:
            raise _not_sent(op, e) from None
        await _worker_present(op)
        if time.monotonic() >= deadline:
            raise _timed_out(op, timeout)
        await asyncio.sleep(CONNECT_RETRY_S)


async def _acall_here(op: str, args: dict[str, Any], timeout: float) -> Any:
    """`acall` to this host's worker over its socket (a connection per call)."""
    await _worker_present(op)
    deadline = time.monotonic() + timeout
    reader, writer = await _aconnect(op, timeout, deadline)
    try:
        try:
            writer.write(rpcwire.request(op, args, time.time() + timeout))
            await writer.drain()
        except OSError as e:
            raise _not_sent(op, e) from None
        try:
            reply = await _awaited(rpcwire.read_frame(reader), op, timeout, deadline, watch=True)
        except (asyncio.IncompleteReadError, OSError, rpcwire.FrameError):
            raise _lost(op) from None
    finally:
        writer.close()
    return _reply_value(reply)


async def _awaited(coro: Any, op: str, timeout: float, deadline: float, watch: bool) -> Any:
    """The result of `coro` (its own errors raised as they are), or `_timed_out` once the
    monotonic `deadline` passes; with `watch`, `_worker_gone` is checked every WATCH_S
    seconds meanwhile. The coroutine is cancelled when it did not finish."""
    receiving = asyncio.ensure_future(coro)
    try:
        while not receiving.done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise _timed_out(op, timeout)
            await asyncio.wait({receiving}, timeout=min(WATCH_S, left))
            if watch and not receiving.done():
                _worker_gone(op)
        return receiving.result()
    finally:
        if not receiving.done():
            receiving.cancel()
            await asyncio.gather(receiving, return_exceptions=True)


def _cast_here(op: str, args: dict[str, Any]) -> None:
    """Send a cast on this thread's kept connection (or a new one), not waiting for anything:
    no worker listening is logged, nothing more (see `cast`)."""
    frame = rpcwire.request(op, args, time.time() + DEFAULT_TIMEOUT, cast=True)
    for kept in (getattr(_thread, "conn", None), None):
        _thread.conn = None
        try:
            conn = kept
            if conn is None:
                conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.settimeout(CAST_TIMEOUT_S)  # a stopped worker never holds the caller long
            if kept is None:
                conn.connect(_socket_path())
            conn.sendall(frame)
            _thread.conn = conn
            return
        except OSError as e:
            if conn is not None:
                conn.close()
            if kept is None:
                log.warning("could not send %r to the worker: %s", op, e)
                return


# ---- another host's worker: the channel layer -------------------------------------------------

async def acall(op: str, args: dict[str, Any], timeout: float = DEFAULT_TIMEOUT,
                host: str = "") -> Any:
    """`call` from async code; `host` (default: this one) names the worker, whose liveness
    the caller checked when it is another host's (`call` does). This host's worker is
    called over its socket, another's over the channel layer."""
    if _local(host):
        return await _acall_here(op, args, timeout)
    layer = get_channel_layer()
    # a plain channel name, not a process-local "prefix!..." one: channels_redis receives all
    # of a process's local channels through one lock and buffer bound to one event loop, while
    # rpc.call's async_to_sync may run this coroutine in another loop than the websocket
    # consumers' hint receivers. With a dashboard page open, replies were lost and calls
    # failed after 30 s (test_dashboard: ..._while_a_page_is_open)
    reply_to = f"dockerweb.reply.{uuid.uuid4().hex}"
    await _send(op, args, reply_to, timeout, host)
    # one BZPOPMIN (containers/channellayer.py), where the layer has it
    receiving = getattr(layer, "receive_reply", layer.receive)(reply_to)
    try:
        reply = await _awaited(receiving, op, timeout, time.monotonic() + timeout, watch=False)
    except LAYER_ERRORS as e:
        raise _unreachable(e, LOST) from None
    return _reply_value(reply)


def call(op: str, *, rpc_timeout: float = DEFAULT_TIMEOUT, rpc_host: str = "", **args: Any) -> Any:
    """Run `op` in the worker and return its result, or raise its typed error (Unavailable
    when no worker runs, none answers within `rpc_timeout` seconds or the answer is lost;
    Unreachable when Redis refuses, for another host's worker). It goes to the worker of the
    container's host (`target`; or `rpc_host`, the host of the container record the caller
    holds: no query): this host's over its Unix socket from the calling thread (no event
    loop), another's over the channel layer; a host that is down is Unavailable at once,
    "host B is down". Call it from a thread, never from an event loop."""
    host = rpc_host or target(args)
    if _local(host):
        return _call_here(op, args, rpc_timeout)
    if (why := hosts.down_reason(host)) is not None:
        raise Unavailable(f"cannot {op}: {why}")
    return async_to_sync(acall)(op, args, rpc_timeout, host)


def cast(op: str, **args: Any) -> None:
    """Tell the worker `op` without waiting for it (nothing is lost when no worker runs: what
    a cast asks for, the worker's reconcile does anyway)."""
    host = target(args)
    if _local(host):
        _cast_here(op, args)
        return
    try:
        async_to_sync(_send)(op, args, None, DEFAULT_TIMEOUT, host)
    except Exception:  # noqa: BLE001 - a hint only; Redis being away must not fail the caller
        log.warning("could not send %r to the worker", op)


async def alayer_problem() -> str | None:
    """Why Redis cannot be used now (None: it answers a PING within PING_TIMEOUT)."""
    layer = get_channel_layer()
    if not hasattr(layer, "connection"):  # not the Redis layer: nothing to be down
        return None
    try:
        await asyncio.wait_for(layer.connection(0).ping(), PING_TIMEOUT)
    except TimeoutError:
        return f"Redis did not answer a PING within {PING_TIMEOUT:.0f}s"
    except LAYER_ERRORS as e:
        log.warning("Redis unreachable: %s", e)
        return "Redis (the channel layer to the worker) is unreachable"
    return None


def layer_problem() -> str | None:
    """`alayer_problem` for synchronous callers."""
    return async_to_sync(alayer_problem)()


def problems() -> dict[str, str]:
    """What is down, by part ("redis", "worker"), with the reason: for /api/info/ and the
    Docker API's info (never waits longer than PING_TIMEOUT)."""
    down = {}
    if (why := layer_problem()) is not None:
        down["redis"] = why
    if (why := heartbeat.problem()) is not None:
        down["worker"] = why
    return down
