"""/ws/events/?since=<seq>: the durable event stream, live.

On connect: every event after `since` (all of them from since=0; without `since` only new
ones), then each new event as it is committed, in order, one JSON text frame per event
(the REST serializer's shape). New events are noticed through a channel-layer hint
(notify.py) and, as a safety net, a check every CHECK_S seconds.
"""

from __future__ import annotations

import asyncio

from containers import events
from containers.api import params
from containers.api.serializers import EventSerializer
from containers.streams.base import StreamConsumer, in_thread
from containers.streams.notify import EVENTS_GROUP

CHECK_S = 2.0
BATCH = 500


def _after(seq: int, container: str, user) -> list[dict]:
    """The next events `user` sees (their own objects' unless staff)."""
    filters = {"actor_id": container} if container else {}
    return EventSerializer(events.between(seq, limit=BATCH, user=user, **filters), many=True).data


class EventsConsumer(StreamConsumer):
    channel_layer_alias = "default"

    async def stream(self) -> None:
        self.wake = asyncio.Event()
        await self.channel_layer.group_add(EVENTS_GROUP, self.channel_name)
        since = params.integer(self.query, "since", None, 0)
        container = self.query.get("container", "")
        seq = await in_thread(events.latest_seq)() if since is None else since
        while True:
            self.wake.clear()
            batch = await in_thread(_after)(seq, container, self.user)
            for doc in batch:
                await self.send_json(doc)
                seq = doc["seq"]
            if len(batch) == BATCH:
                continue
            try:
                await asyncio.wait_for(self.wake.wait(), CHECK_S)
            except TimeoutError:
                pass

    async def events_new(self, message: dict) -> None:
        self.wake.set()

    async def disconnect(self, code: int) -> None:
        await super().disconnect(code)
        if getattr(self, "channel_layer", None) is not None:
            await self.channel_layer.group_discard(EVENTS_GROUP, self.channel_name)
