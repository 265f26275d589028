"""/ws/containers/{ref}/stats/: resource usage pushed once a second.

Frames are JSON text: {"type": "stats", ...engine.run.stats document with cpu.percent} while
the container runs, and one {"type": "stopped"} each time it stops; the socket stays
open across restarts and closes (4404) when the container is removed.
"""

from __future__ import annotations

import asyncio

from containers import hosts, lookup
from containers.engine.errors import NotFound
from containers.engine.run import stats
from containers.models import Container
from containers.runtime import engine
from containers.streams.base import StreamConsumer, in_thread

INTERVAL_S = 1.0
EXISTS_EVERY = 5


class StatsConsumer(StreamConsumer):
    async def stream(self) -> None:
        c = hosts.here(await in_thread(lookup.container)(self.url_arg("ref"), self.user))
        parent = engine().config.cgroup_parent
        previous: stats.Sample | None = None
        was_running = None
        tick = 0
        while True:
            sample = stats.read(parent, c.id)
            if sample is not None:
                await self.send_json({"type": "stats", **sample.to_dict(previous)})
            elif was_running is not False:
                await self.send_json({"type": "stopped"})
            was_running, previous = sample is not None, sample
            tick += 1
            if tick % EXISTS_EVERY == 0 and not await in_thread(
                    Container.objects.filter(pk=c.id).exists)():
                raise NotFound(f"No such container: {c.id}")
            await asyncio.sleep(INTERVAL_S)
