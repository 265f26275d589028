"""The channel layer (settings.CHANNEL_LAYERS): channels_redis's, with fewer Redis round
trips on the paths every container command takes.

- `send` is one round trip: channels_redis makes four (drop expired messages, count,
  add, set the expiry); here one Lua script does the same four steps, atomically, with
  the same keys, message format, capacity (ChannelFull) and expiry. Every send of every
  process takes it: the web's and Docker API's commands, the worker's replies.
- `group_send` is one round trip when the group has no member (the usual case of the
  events and exit-hint groups: a hint per event nobody listens to) and two otherwise:
  channels_redis makes two and four (drop stale members, list them; drop expired
  messages, add), here a script lists the live members and a second one drops expired
  messages and adds, with channels_redis's message per key, capacity check and expiry.
- `receive_reply` reads the one message of a reply channel (containers/rpc.py) with one
  BZPOPMIN. channels_redis's receive costs four (a clean-up script, the pop, a copy into
  a backup queue and its removal afterwards), which keep a message safe when its
  receiver is cancelled after the pop; a reply's only receiver is the caller that made the
  channel, and a caller that gave up does not want its reply any more.
- `publish` is a plain Redis PUBLISH, for the exit hints (containers/exithints.py).
Everything else (groups, process-local channels, receive) is channels_redis's own.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

# KEYS[1] channel key; ARGV: expired-before score, capacity, score, message, expiry seconds
SEND_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

# KEYS[1] group key; ARGV[1] stale-before score. The live members' channel names.
MEMBERS_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
# KEYS: channel keys; ARGV: a message per key, a capacity per key, expired-before score,
# score, expiry seconds. The number of channels over capacity (not sent to).
GROUP_SEND_SCRIPT = """
local n = #KEYS
local over = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, ARGV[2 * n + 1])
    if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], ARGV[2 * n + 2], ARGV[i])
        redis.call('EXPIRE', KEYS[i], ARGV[2 * n + 3])
    else
        over = over + 1
    end
end
return over
"""
log = logging.getLogger(__name__)


class RedisLayer(RedisChannelLayer):
    """channels_redis's RedisChannelLayer with a one-round-trip send and `receive_reply`."""

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send `message` onto a (general or process-local) channel: channels_redis's send
        (same key, format and checks) in one Lua script."""
        assert isinstance(message, dict), "message is not a dict"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        assert "__asgi_channel__" not in message
        target = channel
        if "!" in channel:  # process-local: the full name travels in the message
            message = {**message, "__asgi_channel__": channel}
            target = self.non_local_name(channel)
            index = self.consistent_hash(channel)
        else:
            index = next(self._send_index_generator)
        now = time.time()
        sent = await self.connection(index).eval(
            SEND_SCRIPT, 1, self.prefix + target, int(now) - int(self.expiry),
            self.get_capacity(channel), repr(now), self.serialize(message), int(self.expiry))
        if not sent:
            raise ChannelFull()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send `message` to every channel of `group` (see the module docstring)."""
        assert self.require_valid_group_name(group), "Group name not valid"
        now = time.time()
        members = await self.connection(self.consistent_hash(group)).eval(
            MEMBERS_SCRIPT, 1, self._group_key(group), int(now) - self.group_expiry)
        if not members:
            return
        names = [m.decode("utf8") for m in members]
        by_connection, messages, capacities = self._map_channel_keys_to_connection(names, message)
        for index, keys in by_connection.items():
            over = await self.connection(index).eval(
                GROUP_SEND_SCRIPT, len(keys), *keys, *(messages[k] for k in keys),
                *(capacities[k] for k in keys), int(now) - int(self.expiry), repr(now),
                int(self.expiry))
            if over:
                log.info("%s of %s channels over capacity in group %s", over, len(names), group)

    async def publish(self, channel: str, data: str) -> None:
        """PUBLISH `data` on the Redis pub/sub channel `channel` (exit hints: one round trip
        to every subscribed process, containers/exithints.py)."""
        await self.connection(0).publish(channel, data)

    async def receive_reply(self, channel: str) -> dict[str, Any]:
        """The next message of plain channel `channel`, which only this caller reads: one
        BZPOPMIN (repeated every brpop_timeout s while nothing comes), no backup queue."""
        assert "!" not in channel and self.require_valid_channel_name(channel, receive=True)
        key = self.prefix + channel
        while True:
            got = await self.connection(next(self._receive_index_generator)).bzpopmin(
                key, timeout=self.brpop_timeout)
            if got is not None:
                return self.deserialize(got[1])
