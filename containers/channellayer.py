"""The channel layer (settings.CHANNEL_LAYERS): channels_redis's, with fewer Redis round
trips on the paths every container command takes.

- `send` is one round trip: channels_redis makes four (drop expired messages, count,
  add, set the expiry); here one Lua script does the same four steps, atomically, with
  the same keys, message format, capacity (ChannelFull) and expiry. Every send of every
  process takes it: the web's and Docker API's commands, the worker's replies.
- `receive_reply` reads the one message of a reply channel (containers/rpc.py) with one
  BZPOPMIN. channels_redis's receive costs four (a clean-up script, the pop, a copy into
  a backup queue and its removal afterwards), which keep a message safe when its
  receiver is cancelled after the pop; a reply's only receiver is the caller that made the
  channel, and a caller that gave up does not want its reply any more.
Everything else (groups, process-local channels, receive) is channels_redis's own.
"""

from __future__ import annotations

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
