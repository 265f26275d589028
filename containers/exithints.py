"""Exit hints: the channel-layer message that wakes `wait` (REST and Docker API, every
condition) when a container's exit or removal is recorded.

Every change a wait condition looks at commits together with, or before, an event: `die`
(an exit, a failed start, a death, an unreadable exit status) or `destroy` (a removal), plus
the one state change without an event, a start refused before anything ran, which calls
`announce` itself. `events.emit` announces after the commit of each `die` and `destroy` to the
group of that one container (`group(cid)`), so a waiter is woken by the exit itself: no
polling, and no hint to anyone else.

A hint only says "look now": the waiter re-reads the records (`lifecycle.wait_check`), so a
lost hint (Redis away) costs latency, never a wrong answer. For that case a waiter looks
again every RECHECK_S seconds of silence; that is the net, not the path that answers.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from channels.layers import get_channel_layer

from containers.streams.notify import post

GROUP_PREFIX = "dockerweb.exit."
RECHECK_S = 5.0  # a waiter's look without a hint: only matters when a hint was lost
log = logging.getLogger("dockerweb.exithints")


def group(cid: str) -> str:
    """The channel-layer group of the waiters of container `cid` (a valid group name:
    ids are 64 hex digits)."""
    return GROUP_PREFIX + cid


def announce(cid: str) -> None:
    """Wake the waiters of container `cid` (best effort, never raises, never waits on Redis:
    see notify.post)."""
    if get_channel_layer() is not None:
        post(_send, cid)


async def _send(cid: str) -> None:
    try:
        await get_channel_layer().group_send(group(cid), {"type": "container.exit", "id": cid})
    except Exception as e:  # noqa: BLE001 - a lost hint costs latency only
        log.debug("exit hint for %s not sent: %s", cid[:12], e)


class Listener:
    """`async with Listener(cid) as hints: ... await hints.next(timeout)`: membership of the
    container's group for the life of one wait. Join before the first look at the records,
    so an exit recorded between that look and the first `next` still wakes it."""

    def __init__(self, cid: str):
        self.cid = cid
        self.layer = get_channel_layer()
        self.channel: str | None = None

    async def __aenter__(self) -> Listener:
        if self.layer is not None:
            try:
                self.channel = await self.layer.new_channel("dockerweb.wait.")
                await self.layer.group_add(group(self.cid), self.channel)
            except Exception as e:  # noqa: BLE001 - Redis away: the re-check net only
                log.debug("no exit hints for %s: %s", self.cid[:12], e)
                self.channel = None
        return self

    async def next(self, timeout: float) -> bool:
        """Block until a hint arrives (True) or `timeout` seconds pass (False)."""
        if self.channel is None:
            await asyncio.sleep(timeout)  # no hints to wait for (Redis away): the net
            return False
        try:
            await asyncio.wait_for(self.layer.receive(self.channel), timeout)
            return True
        except TimeoutError:
            return False
        except Exception as e:  # noqa: BLE001 - Redis went away meanwhile
            log.debug("exit hints for %s lost: %s", self.cid[:12], e)
            self.channel = None
            return False

    async def __aexit__(self, kind: type[BaseException] | None, err: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.channel is not None:
            try:
                await self.layer.group_discard(group(self.cid), self.channel)
            except Exception as e:  # noqa: BLE001 - the membership expires anyway
                log.debug("leaving the exit hints of %s failed: %s", self.cid[:12], e)
