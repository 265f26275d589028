"""Web -> worker commands over the channel layer, with a reply channel per call.

A call carries a deadline; the worker drops calls that expired while it was away, so a
worker that comes back never replays stale commands.

Faults are answered at once where they can be known: Redis refusing or closing the
connection is `Unreachable` (503) as soon as redis-py sees it, and a worker whose heartbeat
(containers/heartbeat.py) says it is not running is `Unavailable` (503) before anything is
sent (once RESTART_GRACE_S seconds passed without a live heartbeat: a restarted worker is
waited for), or while the reply is awaited (checked every WATCH_S seconds), instead of after
the whole RPC timeout.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from typing import Any

import redis.exceptions
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from containers import heartbeat, hosts
from containers.engine.errors import Unavailable, Unreachable, from_kind

DEFAULT_TIMEOUT = 30.0
WATCH_S = 0.5
RESTART_GRACE_S = 3.0
PING_TIMEOUT = 1.0
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
    and its first beat comes before its boot reconcile)."""
    deadline = time.monotonic() + RESTART_GRACE_S
    while heartbeat.problem() is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    _worker_gone(op)


async def acall(op: str, args: dict[str, Any], timeout: float = DEFAULT_TIMEOUT,
                host: str = "") -> Any:
    """`call` from async code; `host` (default: this one) names the worker, whose liveness
    the caller checked when it is another host's (`call` does)."""
    local = not host or host == settings.DOCKERWEB_HOST
    if local:
        await _worker_present(op)
    layer = get_channel_layer()
    # a plain channel name, not a process-local "prefix!..." one: channels_redis receives all
    # of a process's local channels through one lock and buffer bound to one event loop, while
    # rpc.call's async_to_sync (nested under the audit middleware) may run this coroutine in
    # another loop than the websocket consumers' hint receivers. With a dashboard page open,
    # replies were lost and calls failed after 30 s (test_dashboard: ..._while_a_page_is_open)
    reply_to = f"dockerweb.reply.{uuid.uuid4().hex}"
    await _send(op, args, reply_to, timeout, host or settings.DOCKERWEB_HOST)
    # one BZPOPMIN (containers/channellayer.py), where the layer has it
    receiving = asyncio.ensure_future(getattr(layer, "receive_reply", layer.receive)(reply_to))
    deadline = time.monotonic() + timeout
    try:
        while not receiving.done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise Unavailable(f"the worker did not answer {op!r} within {timeout:.0f}s")
            await asyncio.wait({receiving}, timeout=min(WATCH_S, left))
            if not receiving.done() and local:
                _worker_gone(op)
        try:
            reply = receiving.result()
        except LAYER_ERRORS as e:
            raise _unreachable(e, LOST) from None
    finally:
        if not receiving.done():
            receiving.cancel()
            await asyncio.gather(receiving, return_exceptions=True)
    if reply.get("ok"):
        return reply.get("result")
    raise from_kind(reply["error"]["kind"], reply["error"]["message"])


def call(op: str, *, rpc_timeout: float = DEFAULT_TIMEOUT, rpc_host: str = "", **args: Any) -> Any:
    """Run `op` in the worker and return its result, or raise its typed error
    (Unreachable when Redis refuses, Unavailable when no worker runs or none answers within
    `rpc_timeout` seconds). It goes to the worker of the container's host (`target`; or
    `rpc_host`, the host of the container record the caller holds: no query); a host that
    is down is Unavailable at once, "host B is down"."""
    host = rpc_host or target(args)
    if (why := hosts.down_reason(host)) is not None:
        raise Unavailable(f"cannot {op}: {why}")
    return async_to_sync(acall)(op, args, rpc_timeout, host)


def cast(op: str, **args: Any) -> None:
    """Tell the worker `op` without waiting for it (nothing is lost when no worker runs: what
    a cast asks for, the worker's reconcile does anyway)."""
    try:
        async_to_sync(_send)(op, args, None, DEFAULT_TIMEOUT, target(args))
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
