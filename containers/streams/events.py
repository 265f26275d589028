"""/ws/events/?since=<seq>: the durable event stream, live.

On connect: every event after `since` (all of them from since=0; without `since` only new
ones), then each new event as it is committed, in order, one JSON text frame per event
(the REST serializer's shape). New events are noticed through a channel-layer hint
(notify.py) and, as a safety net, a check every CHECK_S seconds. The hint listener is the
consumer's own (`hints`), not Channels' (which would end the socket when Redis goes away):
while Redis is away it retries with back-off and joins the group again (a restarted Redis
forgot it), and the socket keeps streaming from the database meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib

from channels.layers import get_channel_layer

from containers import events
from containers.api import params
from containers.api.serializers import EventSerializer
from containers.rpc import LAYER_ERRORS
from containers.streams.base import StreamConsumer, in_thread
from containers.streams.notify import EVENTS_GROUP

CHECK_S = 2.0
BATCH = 500
BACKOFF_MAX = 5.0


def _after(seq: int, container: str, user) -> list[dict]:
    """The next events `user` sees (their own objects' unless staff)."""
    filters = {"actor_id": container} if container else {}
    return EventSerializer(events.between(seq, limit=BATCH, user=user, **filters), many=True).data


class EventsConsumer(StreamConsumer):
    async def stream(self) -> None:
        self.wake = asyncio.Event()
        hints = asyncio.ensure_future(self.hints())
        try:
            await self.follow()
        finally:
            hints.cancel()

    async def follow(self) -> None:
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

    async def hints(self) -> None:
        """Set `wake` on each hint of the events group, however often Redis goes away."""
        layer = get_channel_layer()
        if layer is None:
            return
        name = await layer.new_channel()
        joined, delay = False, 0.1
        try:
            while True:
                try:
                    if not joined:
                        await layer.group_add(EVENTS_GROUP, name)
                        joined, delay = True, 0.1
                    await layer.receive(name)
                    self.wake.set()
                except LAYER_ERRORS:  # hints are lost meanwhile: the CHECK_S poll covers them
                    joined = False
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
        finally:
            with contextlib.suppress(Exception):
                await layer.group_discard(EVENTS_GROUP, name)
