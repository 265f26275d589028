"""containers/channellayer.py against a real redis-server of its own: its one-script send,
group_send and reply read keep channels_redis's behaviour (delivery to plain and
process-local channels, groups, capacity, expiry), and messages cross between it and
channels_redis's own layer both ways."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest
from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

from containers.channellayer import RedisLayer


@pytest.fixture
def redis_url(tmp_path):
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(sock),
                             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.02)
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(10)


def _layers(url: str, **config) -> tuple[RedisLayer, RedisChannelLayer]:
    hosts = [{"address": url}]
    return RedisLayer(hosts=hosts, **config), RedisChannelLayer(hosts=hosts, **config)


def test_send_receive_and_groups_match_channels_redis(redis_url):
    async def main():
        ours, theirs = _layers(redis_url)
        try:
            # plain channels, both directions
            await ours.send("work.a", {"type": "x", "n": 1})
            assert await theirs.receive("work.a") == {"type": "x", "n": 1}
            await theirs.send("work.b", {"type": "x", "n": 2})
            assert await ours.receive("work.b") == {"type": "x", "n": 2}
            # a reply: one read
            await theirs.send("reply.1", {"type": "r", "ok": True})
            assert await ours.receive_reply("reply.1") == {"type": "r", "ok": True}
            waiting = asyncio.ensure_future(ours.receive_reply("reply.2"))
            await asyncio.sleep(0.05)
            await ours.send("reply.2", {"type": "r", "n": 3})
            assert await asyncio.wait_for(waiting, 5) == {"type": "r", "n": 3}
            # process-local channels
            local = await theirs.new_channel()
            await ours.send(local, {"type": "l"})
            assert await theirs.receive(local) == {"type": "l"}
            # groups: ours sends to members added by either, nothing to an empty group
            await ours.group_send("empty", {"type": "g"})
            mine, other = await ours.new_channel(), await theirs.new_channel()
            await ours.group_add("g1", mine)
            await theirs.group_add("g1", other)
            await theirs.group_add("g1", "plain.member")
            await ours.group_send("g1", {"type": "g", "n": 4})
            assert await ours.receive(mine) == {"type": "g", "n": 4}
            assert await theirs.receive(other) == {"type": "g", "n": 4}
            assert await theirs.receive("plain.member") == {"type": "g", "n": 4}
            await theirs.group_send("g1", {"type": "g", "n": 5})
            assert await ours.receive(mine) == {"type": "g", "n": 5}
            assert await theirs.receive(other) == {"type": "g", "n": 5}
            assert await ours.receive("plain.member") == {"type": "g", "n": 5}
            await ours.group_discard("g1", mine)
            await ours.group_send("g1", {"type": "g", "n": 6})
            assert await theirs.receive(other) == {"type": "g", "n": 6}
            await ours.send(mine, {"type": "after"})  # nothing else was queued for it
            assert await ours.receive(mine) == {"type": "after"}
        finally:
            await ours.flush()
            await ours.close_pools()
            await theirs.close_pools()

    asyncio.run(main())


def test_capacity_and_expiry(redis_url):
    async def main():
        ours, theirs = _layers(redis_url, capacity=2, expiry=1)
        try:
            await ours.send("full.a", {"type": "m", "n": 1})
            await ours.send("full.a", {"type": "m", "n": 2})
            with pytest.raises(ChannelFull):
                await ours.send("full.a", {"type": "m", "n": 3})
            # a group member that is full is skipped, the others get it
            await ours.group_add("g2", "full.a")
            await ours.group_add("g2", "free.b")
            await ours.group_send("g2", {"type": "g"})
            assert await theirs.receive("free.b") == {"type": "g"}
            assert [(await theirs.receive("full.a"))["n"] for _ in range(2)] == [1, 2]
            # expired messages are dropped by the next send, as channels_redis does
            await ours.send("old.c", {"type": "m", "n": 1})
            await ours.send("old.c", {"type": "m", "n": 2})
            await asyncio.sleep(2.1)
            await ours.send("old.c", {"type": "m", "n": 3})
            assert (await theirs.receive("old.c"))["n"] == 3
        finally:
            await ours.flush()
            await ours.close_pools()
            await theirs.close_pools()

    asyncio.run(main())
