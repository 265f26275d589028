"""The worker: executes lifecycle commands and watches every supervisor.

- `answer_here` turns a call into its reply on a thread, the same for both transports:
  this host's API servers call over the worker's Unix socket (containers/rpcserver.py: its call
  threads call it directly), other hosts' over the channel layer, whose
  EngineConsumer receives `engine.call` messages on this host's engine channel. Channels
  feeds one consumer instance sequentially, so each call runs as its own task (`answer`:
  in a pool thread, the lifecycle service is synchronous) and slow calls (stop with a
  timeout) block nothing.
- Watcher holds a pidfd per running supervisor in the event loop; when one becomes
  readable the exit is recorded. It reconciles at boot and every few seconds as a net.
- Restarter applies restart policies; stathistory.run samples this host's running
  containers into the stats history.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.consumer import AsyncConsumer
from django.conf import settings
from django.db import close_old_connections

from containers import events, execs, lifecycle, nameservice, networks, restarts, stathistory
from containers.asyncstream import in_thread
from containers.engine.errors import EngineError
from containers.engine.run import procs
from containers.models import Container, Network
from containers.rpc import LAYER_ERRORS
from containers.runrecord import reply as record_reply

log = logging.getLogger("dockerweb.worker")


def _container_dirs() -> list[str]:
    """Ids of the containers with a directory on this host (records may be gone already)."""
    from containers.runtime import engine

    try:
        return os.listdir(engine().layout.containers)
    except FileNotFoundError:
        return []


def _result(value: Any) -> Any:
    if isinstance(value, Container):  # the record as the call left it (runrecord)
        return record_reply(value)
    if isinstance(value, Network):
        return {"id": value.nid, "name": value.name}
    return value


OPS = {
    "start": lambda a: lifecycle.start_by_user(a["ref"]),
    "update": lambda a: lifecycle.update(a["ref"], a["changes"]),
    "stop": lambda a: lifecycle.stop(a["ref"], a.get("timeout"), a.get("signal")),
    "kill": lambda a: lifecycle.kill(a["ref"], a.get("signal")),
    "restart": lambda a: lifecycle.restart(a["ref"], a.get("timeout")),
    "remove": lambda a: lifecycle.remove(a["ref"], bool(a.get("force")), bool(a.get("volumes"))),
    "pause": lambda a: lifecycle.pause(a["ref"], True),
    "unpause": lambda a: lifecycle.pause(a["ref"], False),
    "ping": lambda a: {"host": settings.DOCKERWEB_HOST, "pid": os.getpid()},
    "network_create": lambda a: networks.create(a["name"], subnet=a.get("subnet") or "",
                                                gateway=a.get("gateway") or "", labels=a.get("labels"),
                                                owner_id=a.get("owner_id")),
    "network_remove": lambda a: networks.remove(a["id"]),
    "network_prune": lambda a: networks.prune(a["ids"]),
    "network_connect": lambda a: networks.connect(a["id"], a["container"], a.get("aliases") or []),
    "network_disconnect": lambda a: networks.disconnect(a["id"], a["container"], bool(a.get("force"))),
}
# ops that need the event loop's Watcher, not a thread
LOOP_OPS = {"watch_exec"}


EXIT_THREADS = 8  # threads recording exits at once


class Watcher:
    """Watches supervisors by pidfd; one per worker process. A container's exit is recorded
    on a thread of its own pool, straight from the loop (no task, no thread hop back: the
    `wait` of a quick container waits for it)."""

    instance: Watcher | None = None

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.watched: dict[tuple[str, int | None], int] = {}  # (container id or exec:<id>, pid) -> pidfd
        self.exits = ThreadPoolExecutor(EXIT_THREADS, thread_name_prefix="exit")

    def watch(self, cid: str, pid: int | None, started: int | None) -> None:
        """Record the exit of supervisor `pid` of `cid` (idempotent; a restart adds the new
        supervisor). In the loop."""
        self._when_gone((cid, pid), pid, started, lambda: self.exits.submit(self.record, cid, pid))

    def watch_exec(self, cid: str, eid: str, pid: int, started: int) -> None:
        """Report the end of exec `eid` (exec_die) when its supervisor `pid` exits. In the loop."""
        self._when_gone((f"exec:{eid}", pid), pid, started,
                        lambda: self.loop.create_task(self.report_exec(cid, eid)))

    def _when_gone(self, key: tuple[str, int | None], pid: int | None, started: int | None,
                   then: Callable[[], Any]) -> None:
        """Call `then()` in the loop once process `pid` (started at `started`) is gone: at
        once if it is already, else when its pidfd becomes readable. Once per `key`."""
        if not pid or key in self.watched:
            return
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            then()
            return
        if not procs.alive(pid, started):  # gone, or the pid now names another process
            os.close(fd)
            then()
            return
        self.watched[key] = fd
        self.loop.add_reader(fd, self._gone, key, then)

    def _gone(self, key: tuple[str, int | None], then: Callable[[], Any]) -> None:
        fd = self.watched.pop(key, None)
        if fd is not None:
            self.loop.remove_reader(fd)
            os.close(fd)
        then()

    async def report_exec(self, cid: str, eid: str) -> None:
        for _ in range(50):  # the supervisor writes exit.json just before it exits
            if await in_thread(execs.report_end)(cid, eid):
                return
            await asyncio.sleep(0.02)

    @staticmethod
    def record(cid: str, pid: int | None) -> None:
        """Record the exit of supervisor `pid` of `cid` (on an exit thread), then wake the
        Restarter when it scheduled a restart."""
        scheduled = True  # unknown when the recording failed: look
        try:
            close_old_connections()  # a broken or expired database connection is made anew
            c = lifecycle.record_exit(cid, pid)
            scheduled = c is not None and c.restart_at is not None
        except Exception:
            log.exception("recording the exit of %s failed", cid[:12])
        if scheduled and Restarter.instance is not None:
            Restarter.instance.poke()  # the exit scheduled a restart: start it when due

    async def reconcile(self, boot: bool = False) -> None:
        running = await in_thread(lifecycle.reconcile)(boot)
        rows = await in_thread(
            lambda: list(Container.objects.filter(pk__in=running)
                         .values_list("id", "supervisor_pid", "supervisor_start"))
        )()
        for cid, pid, started in rows:
            self.watch(cid, pid, started)
        try:  # execs whose end no watcher saw (the worker was away)
            await in_thread(execs.report_ends)(await in_thread(_container_dirs)())
        except Exception:
            log.exception("reporting exec ends failed")

    async def run(self) -> None:
        interval = settings.DOCKERWEB_RECONCILE_INTERVAL
        Restarter.instance = Restarter()
        self.loop.create_task(Restarter.instance.run())  # after the boot reconcile
        self.loop.create_task(stathistory.run())  # the last hour of stats (issue 15)
        while True:
            try:
                await self.reconcile()
                if nameservice.Service.instance is not None:
                    await nameservice.Service.instance.sync()  # a bind that failed is retried
                await in_thread(events.prune)(settings.DOCKERWEB_EVENTS_MAX_AGE,
                                              settings.DOCKERWEB_EVENTS_MAX_COUNT)
            except Exception:
                log.exception("reconcile failed")
            await asyncio.sleep(interval)


class Restarter:
    """Restarts the containers whose restart policy says so once their back-off is over.
    The schedule lives in the database (containers/restarts.py), so it survives the worker;
    this is a loop of small steps: `tick` starts each due restart as its own task and says
    how long to sleep (until the next one is due, at most POLL_S: restarts scheduled by
    another path are found by then), `poke` wakes it after an exit."""

    POLL_S = 1.0
    MIN_SLEEP_S = 0.02
    instance: Restarter | None = None

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self.busy: set[str] = set()  # ids whose restart task runs

    def poke(self) -> None:
        """Wake the loop now (callable from any thread)."""
        self.loop.call_soon_threadsafe(self.wake.set)

    async def tick(self) -> float:
        """Start every due restart; the seconds until the next one (at most POLL_S)."""
        for cid, at in await in_thread(restarts.due)():
            if cid not in self.busy:
                self.busy.add(cid)
                self.loop.create_task(self.restart(cid, at))
        left = await in_thread(restarts.next_due_in)()
        return self.POLL_S if left is None else min(self.POLL_S, max(left, self.MIN_SLEEP_S))

    async def restart(self, cid: str, at: Any) -> None:
        """Claim and start `cid` (lifecycle.restart_by_policy), then watch its supervisor."""
        try:
            c = await in_thread(lifecycle.restart_by_policy)(cid, at)
            if c is not None and Watcher.instance is not None:
                Watcher.instance.watch(c.id, c.supervisor_pid, c.supervisor_start)
        except EngineError as e:  # recorded as a failed start by lifecycle.start
            log.warning("restart of %s by its policy failed: %s", cid[:12], e.message)
        except Exception:
            log.exception("restart of %s by its policy failed", cid[:12])
        finally:
            self.busy.discard(cid)
            self.poke()

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, or until poked."""
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
        except TimeoutError:
            pass
        self.wake.clear()

    async def run(self) -> None:
        try:
            lost = await in_thread(restarts.reschedule_lost)()
            if lost:
                log.info("restarting %d container(s) whose restart was lost", len(lost))
        except Exception:
            log.exception("rescheduling lost restarts failed")
        while True:
            try:
                delay = await self.tick()
            except Exception:
                log.exception("restart loop failed")
                delay = self.POLL_S
            await self.sleep(delay)


def answer_here(message: dict[str, Any], loop: asyncio.AbstractEventLoop) -> dict[str, Any] | None:
    """The reply to call `message` ({"op", "args", "deadline"}), on the calling thread (a
    thread of the worker's, never its event loop `loop`): {"ok": True, "result": ...} or
    {"ok": False, "error": {"kind", "message"}}. None when the call expired while the worker
    was away (dropped: a worker that comes back never replays stale commands). LOOP_OPS are
    handed to `loop` (result None); a Container result's supervisor is handed to the
    Watcher in `loop` to watch (it records an exit that came first: Watcher.watch); an
    unexpected exception is an engine_error that never echoes what the caller sent beyond
    200 characters of the exception's text."""
    op, args = message.get("op"), message.get("args") or {}
    if not isinstance(message.get("deadline"), (int, float)) or message["deadline"] < time.time():
        log.warning("dropping expired %s call", op)
        return None
    try:
        if op in LOOP_OPS:
            if Watcher.instance is not None:
                loop.call_soon_threadsafe(Watcher.instance.watch_exec, args["cid"], args["eid"],
                                          args["pid"], args["started"])
            return {"ok": True, "result": None}
        if op not in OPS:
            raise EngineError(f"unknown operation {str(op)[:100]!r}")
        result = OPS[op](args)
        if isinstance(result, Container) and Watcher.instance is not None:
            loop.call_soon_threadsafe(Watcher.instance.watch, result.id, result.supervisor_pid,
                                      result.supervisor_start)
        return {"ok": True, "result": _result(result)}
    except EngineError as e:
        return {"ok": False, "error": {"kind": e.kind, "message": e.message}}
    except Exception as e:  # noqa: BLE001 - the caller must get an answer
        log.exception("%s failed", op)
        text = str(e)[:200]  # never an unbounded echo of what the caller sent
        return {"ok": False, "error": {"kind": "engine_error", "message": f"{op} failed: {text}"}}


async def answer(message: dict[str, Any]) -> dict[str, Any] | None:
    """`answer_here` from the event loop, in a pool thread: the channel layer's calls
    (EngineConsumer). The Unix socket's connections have threads of their own
    (containers/rpcserver.py) and call `answer_here` directly."""
    return await in_thread(answer_here)(message, asyncio.get_running_loop())


class EngineConsumer(AsyncConsumer):
    """Calls from the channel layer: other hosts' API servers' (issue 16; this host's own
    come over the Unix socket)."""

    async def engine_call(self, message: dict[str, Any]) -> None:
        asyncio.get_running_loop().create_task(self.handle_call(message))

    async def handle_call(self, message: dict[str, Any]) -> None:
        reply = await answer(message)
        if reply is not None and message.get("reply_to"):
            try:
                await self.channel_layer.send(message["reply_to"], {"type": "engine.reply", **reply})
            except LAYER_ERRORS as e:  # Redis went away: the caller sees that itself (503)
                log.warning("reply to %s lost: Redis unreachable (%s)", message.get("op"), e)
