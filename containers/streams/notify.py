"""Wake-up hints for /ws/events/ consumers through the channel layer.

The events themselves are read from the database (durable, sequenced); a hint only tells
the consumers to look now instead of at their next periodic check. A lost hint (Redis
down, a full channel) therefore costs latency, never an event.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

EVENTS_GROUP = "dockerweb.events"
log = logging.getLogger("dockerweb.streams")


def announce_event(seq: int) -> None:
    """Tell every events consumer that event `seq` was committed (best effort)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(EVENTS_GROUP, {"type": "events.new", "seq": seq})
    except Exception as e:  # noqa: BLE001 - a hint must never fail the caller
        log.debug("event hint %s not sent: %s", seq, e)
