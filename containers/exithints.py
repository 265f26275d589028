"""Exit hints: the message that wakes `wait` (REST and Docker API, every condition) when a
container's exit or removal is recorded.

Every change a wait condition looks at commits together with, or before, an event: `die`
(an exit, a failed start, a death, an unreadable exit status) or `destroy` (a removal), plus
the one state change without an event, a start refused before anything ran, which calls
`announce` itself. `events.emit` announces after the commit of each `die` and `destroy`:
one Redis PUBLISH of the container's id on CHANNEL, whoever waits.

Each process that waits holds one subscription to CHANNEL, in a thread of its own (`Hub`),
and wakes its own waiters of the container named, so a wait costs no Redis round trip: it
joins its process's hub (a set in memory) before its first look at the records, and looks
again only when a hint for its container comes. (Until the eighth session each wait joined
a channel-layer group of its container and received on a channel of its own: five Redis
round trips and ~5 ms of the web's CPU per wait that blocked.)

A hint only says "look now": the waiter re-reads the records (`lifecycle.wait_check`), so a
lost hint (Redis away, a subscription not yet made) costs latency, never a wrong answer.
When the hub (re)subscribes it wakes every waiter of its process, for the hints sent while
it was not subscribed; and a waiter looks again after RECHECK_S seconds of silence: that is
the net, not the path that answers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from channels.layers import get_channel_layer

from containers.streams.notify import post

RECHECK_S = 5.0  # a waiter's look without a hint: only matters when a hint was lost
RETRY_S = (0.05, 2.0)  # the hub's reconnection back-off: first, longest
log = logging.getLogger("dockerweb.exithints")


def channel() -> str:
    """The Redis pub/sub channel of exit hints: under the channel layer's prefix, so that two
    installations sharing a Redis with different prefixes do not wake each other."""
    from django.conf import settings

    config = settings.CHANNEL_LAYERS.get("default", {}).get("CONFIG", {})
    return f"{config.get('prefix', 'asgi')}:dockerweb.exit"


def announce(cid: str) -> None:
    """Wake the waiters of container `cid`, in every process (best effort, never raises,
    never waits on Redis: see notify.post)."""
    if get_channel_layer() is not None:
        post(_send, cid)


async def _send(cid: str) -> None:
    layer = get_channel_layer()
    try:
        await layer.publish(channel(), cid)
    except Exception as e:  # noqa: BLE001 - a lost hint costs latency only
        log.debug("exit hint for %s not sent: %s", cid[:12], e)


class Waiter:
    """One wait's membership of its process's hub (see Hub.join). `wake` may be called from
    any thread; a synchronous waiter blocks in `next`, an asynchronous one in `next_async`
    (its loop is the one it joined from)."""

    def __init__(self, cid: str, loop: asyncio.AbstractEventLoop | None):
        self.cid = cid
        self.loop = loop
        self.flag = threading.Event()
        self.woken = asyncio.Event() if loop is not None else None

    def wake(self) -> None:
        self.flag.set()
        if self.loop is not None and self.woken is not None:
            try:
                self.loop.call_soon_threadsafe(self.woken.set)
            except RuntimeError:  # its loop is closed: nobody waits any more
                pass

    def next(self, timeout: float) -> bool:
        """Block until a hint for this container comes (True) or `timeout` s pass (False)."""
        got = self.flag.wait(timeout)
        self.flag.clear()
        return got

    async def next_async(self, timeout: float) -> bool:
        """`next` for a waiter in an event loop."""
        assert self.woken is not None, "joined without a loop"
        try:
            await asyncio.wait_for(self.woken.wait(), timeout)
        except TimeoutError:
            return False
        self.woken.clear()
        self.flag.clear()
        return True


class Hub:
    """The exit hints of one process: waiters by container id, woken by the messages of one
    Redis subscription that a daemon thread keeps (`run`; it reconnects with a back-off, and
    wakes every waiter once subscribed). `Hub.instance()` starts it on first use."""

    _instance: Hub | None = None
    _instance_lock = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiters: dict[str, set[Waiter]] = {}
        self.subscribed = threading.Event()  # tests and diagnostics: a subscription is up

    @classmethod
    def instance(cls) -> Hub:
        """This process's hub, its subscription thread started on first use."""
        with cls._instance_lock:
            if cls._instance is None:
                hub = cls()
                threading.Thread(target=hub.run, args=(_redis_url(), channel()),
                                 name="dockerweb-exit-hints", daemon=True).start()
                cls._instance = hub
            return cls._instance

    def join(self, cid: str, loop: asyncio.AbstractEventLoop | None = None) -> Waiter:
        """A waiter of container `cid`, woken by each hint for it from now on (join before the
        first look at the records: an exit recorded after that look then wakes it)."""
        waiter = Waiter(cid, loop)
        with self.lock:
            self.waiters.setdefault(cid, set()).add(waiter)
        return waiter

    def leave(self, waiter: Waiter) -> None:
        with self.lock:
            mine = self.waiters.get(waiter.cid)
            if mine is not None:
                mine.discard(waiter)
                if not mine:
                    del self.waiters[waiter.cid]

    def deliver(self, cid: str) -> None:
        """A hint for `cid` came: wake its waiters in this process."""
        with self.lock:
            woken = list(self.waiters.get(cid, ()))
        for waiter in woken:
            waiter.wake()

    def deliver_all(self) -> None:
        """Wake every waiter (hints may have been sent while no subscription was up)."""
        with self.lock:
            woken = [w for mine in self.waiters.values() for w in mine]
        for waiter in woken:
            waiter.wake()

    def run(self, url: str, name: str) -> None:
        """Hold the subscription to channel `name` of Redis `url`: forever, in its thread."""
        import redis

        delay = RETRY_S[0]
        while True:
            client = redis.Redis.from_url(url, socket_timeout=None)
            try:
                pubsub = client.pubsub()
                pubsub.subscribe(name)
                for message in pubsub.listen():
                    self._on_message(message)
                    delay = RETRY_S[0]
            except Exception as e:  # noqa: BLE001 - Redis away: waiters fall back on the net
                log.debug("exit hints: subscription lost: %s", e)
            finally:
                self.subscribed.clear()
                try:
                    client.close()
                except Exception:  # noqa: BLE001
                    pass
            time.sleep(delay)
            delay = min(delay * 2, RETRY_S[1])

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            self.subscribed.set()
            self.deliver_all()  # for the hints sent before this subscription
        elif kind == "message":
            data = message.get("data")
            if isinstance(data, bytes):
                self.deliver(data.decode("ascii", "replace"))


def _redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL


class Listener:
    """`with Listener(cid) as hints: ... hints.next(timeout)` from a thread, or
    `async with ... await hints.next_async(timeout)` from an event loop: membership of this
    process's exit hints for one wait. Enter before the first look at the records."""

    def __init__(self, cid: str, hub: Hub | None = None):
        self.cid = cid
        self.hub = hub
        self.waiter: Waiter | None = None

    def _join(self, loop: asyncio.AbstractEventLoop | None) -> Listener:
        hub = self.hub or Hub.instance()
        self.hub = hub
        self.waiter = hub.join(self.cid, loop)
        return self

    def _leave(self) -> None:
        if self.hub is not None and self.waiter is not None:
            self.hub.leave(self.waiter)

    def __enter__(self) -> Listener:
        return self._join(None)

    def __exit__(self, *exc: object) -> None:
        self._leave()

    async def __aenter__(self) -> Listener:
        return self._join(asyncio.get_running_loop())

    async def __aexit__(self, *exc: object) -> None:
        self._leave()

    def next(self, timeout: float) -> bool:
        """Block until a hint arrives (True) or `timeout` seconds pass (False)."""
        assert self.waiter is not None, "not entered"
        return self.waiter.next(timeout)

    async def next_async(self, timeout: float) -> bool:
        assert self.waiter is not None, "not entered"
        return await self.waiter.next_async(timeout)
