"""/ws/containers/{ref}/logs/?follow=&tail=&stdout=&stderr=&since=&until=: logs, live.

The same records and query parameters as GET /api/containers/{ref}/logs/. Frames are JSON
text: {"type": "logs", "records": [{"stream", "time", "log"}, ...]} in batches (100,000
lines arrive in a few dozen frames), then {"type": "end"} and a normal close once all is
sent (without follow) or the container stopped (with follow=1).
"""

from __future__ import annotations

from containers import hosts, logs, lookup
from containers.api import params
from containers.runtime import engine
from containers.streams.base import CLOSE_NORMAL, StreamConsumer, in_thread

FRAME_RECORDS = 5000


class LogsConsumer(StreamConsumer):
    async def stream(self) -> None:
        c = hosts.here(await in_thread(lookup.container)(self.url_arg("ref"), self.user))
        query = logs.query(self.query)
        following = params.boolean(self.query, "follow", False)
        path = engine().paths(c.id).log

        async def done() -> bool:
            return not following or (await in_thread(engine().status)(c.id)).kind != "running"

        async for batch in logs.follow_batches(path, query, done):
            for i in range(0, len(batch), FRAME_RECORDS):
                await self.send_json({"type": "logs", "records": [
                    {"stream": r.stream, "time": r.time, "log": r.data.decode("utf-8", "replace")}
                    for r in batch[i:i + FRAME_RECORDS]]})
        await self.send_json({"type": "end"})
        await self.close(code=CLOSE_NORMAL)
