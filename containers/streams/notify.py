"""Wake-up hints for /ws/events/ consumers through the channel layer.

The events themselves are read from the database (durable, sequenced); a hint only tells
the consumers to look now instead of at their next periodic check. A lost hint (Redis
down, a full channel) therefore costs latency, never an event.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer

EVENTS_GROUP = "dockerweb.events"
log = logging.getLogger("dockerweb.streams")


_home_loop: asyncio.AbstractEventLoop | None = None  # use_loop's

COALESCE_S = 1.0  # a queued hint older than this is not counted on (its send was lost)
_queued_at: float | None = None  # when a hint not yet begun to be sent was queued
_queued_lock = threading.Lock()


def announce_event(seq: int) -> None:
    """Tell every events consumer that event `seq` was committed (best effort).

    Coalesced: while a hint queued earlier has not begun to be sent, no other is queued.
    That one still wakes every consumer after this commit (a consumer reads every event
    after its own cursor from the database; the hint's seq is only informative), so a
    burst of events costs one group send per loop turn, not one each (each is several
    Redis round trips in the sender's event loop; issue 13). A queued hint that has not
    begun within COALESCE_S is taken as lost and no longer counted on."""
    global _queued_at
    if get_channel_layer() is None:
        return
    now = time.monotonic()
    with _queued_lock:
        if _queued_at is not None and now - _queued_at < COALESCE_S:
            return
        _queued_at = now
    post(_send_event, seq)


async def _send_event(seq: int) -> None:
    global _queued_at
    with _queued_lock:
        _queued_at = None  # from here on, an event committed now needs a hint of its own
    try:
        await get_channel_layer().group_send(EVENTS_GROUP, {"type": "events.new", "seq": seq})
    except Exception as e:  # noqa: BLE001 - a hint must never fail the caller
        log.debug("event hint %s not sent: %s", seq, e)


def use_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Hand the hints of this process's own threads (not started by sync_to_async: the
    worker's socket call threads and exit threads) to `loop`, its event loop."""
    global _home_loop
    _home_loop = loop


def post(send: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Send a hint, `await send(*args)` (which must catch its own errors), from synchronous
    code without waiting for it: from a thread that sync_to_async started (the worker's and
    the API servers' calls) it is handed to that event loop, from the process's own threads
    to the loop given to use_loop, and not awaited, so no state change waits on Redis;
    elsewhere (a management command) it is sent at once."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None) or _home_loop
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
