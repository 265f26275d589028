"""Web -> worker commands over the channel layer, with a reply channel per call.

A call carries a deadline; the worker drops calls that expired while it was away, so a
worker that comes back never replays stale commands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from containers.engine.errors import Unavailable, from_kind

DEFAULT_TIMEOUT = 30.0


async def _send(op: str, args: dict[str, Any], reply_to: str | None, timeout: float) -> None:
    await get_channel_layer().send(settings.DOCKERWEB_ENGINE_CHANNEL, {
        "type": "engine.call", "op": op, "args": args, "reply_to": reply_to,
        "deadline": time.time() + timeout,
    })


async def acall(op: str, args: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> Any:
    layer = get_channel_layer()
    reply_to = await layer.new_channel("dockerweb.reply.")
    await _send(op, args, reply_to, timeout)
    try:
        reply = await asyncio.wait_for(layer.receive(reply_to), timeout)
    except TimeoutError:
        raise Unavailable(f"the worker did not answer {op!r} within {timeout:.0f}s") from None
    if reply.get("ok"):
        return reply.get("result")
    raise from_kind(reply["error"]["kind"], reply["error"]["message"])


def call(op: str, *, rpc_timeout: float = DEFAULT_TIMEOUT, **args: Any) -> Any:
    """Run `op` in the worker and return its result, or raise its typed error
    (Unavailable when no worker answers within `rpc_timeout` seconds)."""
    return async_to_sync(acall)(op, args, rpc_timeout)


def cast(op: str, **args: Any) -> None:
    """Tell the worker `op` without waiting for it (nothing is lost when no worker runs: what
    a cast asks for, the worker's reconcile does anyway)."""
    try:
        async_to_sync(_send)(op, args, None, DEFAULT_TIMEOUT)
    except Exception:  # noqa: BLE001 - a hint only; Redis being away must not fail the caller
        logging.getLogger(__name__).warning("could not send %r to the worker", op)
