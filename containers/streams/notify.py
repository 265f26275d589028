"""Wake-up hints for /ws/events/ consumers through the channel layer.

The events themselves are read from the database (durable, sequenced); a hint only tells
the consumers to look now instead of at their next periodic check. A lost hint (Redis
down, a full channel) therefore costs latency, never an event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

EVENTS_GROUP = "dockerweb.events"
log = logging.getLogger("dockerweb.streams")


def announce_event(seq: int) -> None:
    """Tell every events consumer that event `seq` was committed (best effort)."""
    if get_channel_layer() is not None:
        post(_send_event, seq)


async def _send_event(seq: int) -> None:
    try:
        await get_channel_layer().group_send(EVENTS_GROUP, {"type": "events.new", "seq": seq})
    except Exception as e:  # noqa: BLE001 - a hint must never fail the caller
        log.debug("event hint %s not sent: %s", seq, e)


def post(send: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Send a hint, `await send(*args)` (which must catch its own errors), from synchronous
    code without waiting for it: from a thread that sync_to_async started (the worker's and
    the API servers' calls) it is handed to that event loop and not awaited, so no state
    change waits on Redis; elsewhere (a management command) it is sent at once."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running():
        try:
            asyncio.run_coroutine_threadsafe(send(*args), loop)
            return
        except RuntimeError:  # the loop is closing: send it here
            pass
    try:
        async_to_sync(send)(*args)
    except Exception as e:  # noqa: BLE001 - a hint must never fail the caller
        log.debug("hint not sent: %s", e)
