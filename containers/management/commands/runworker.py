"""`manage.py runworker`: the worker's Unix socket (containers/rpcserver.py: this host's
calls) and Channels' worker on the engine channel (other hosts' calls), plus the exit watcher.

The worker outlives Redis, and this host's calls do not need it: a refused or closed
connection makes the engine-channel listener wait (back-off from BACKOFF_MIN to BACKOFF_MAX
seconds, logged when it starts, every LOG_EVERY_S seconds meanwhile and when Redis is back)
and listen again, while the socket, the pidfd watcher, the periodic reconcile and the
heartbeat keep running in the same event loop (exits are recorded in the database, which
does not need Redis)."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from channels.management.commands.runworker import Command as ChannelsRunworker
from channels.worker import Worker
from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections

from containers import heartbeat, hosts, nameservice, rpcserver
from containers.asyncstream import in_thread
from containers.engine.errors import EngineError
from containers.rpc import LAYER_ERRORS
from containers.runtime import engine
from containers.streams import notify
from containers.worker import Watcher
from dockerweb import instancelock, malloc

log = logging.getLogger("dockerweb.worker")
BACKOFF_MIN = 0.1
BACKOFF_MAX = 5.0
LOG_EVERY_S = 60.0


async def beat_forever() -> None:
    """Touch the heartbeat every heartbeat.BEAT_S seconds and refresh this host's row every
    DOCKERWEB_HOST_BEAT_S seconds (a failure is logged, never fatal)."""
    next_row = 0.0
    while True:
        try:
            heartbeat.beat()
        except OSError as e:
            log.warning("heartbeat not written: %s", e)
        if time.monotonic() >= next_row:
            next_row = time.monotonic() + settings.DOCKERWEB_HOST_BEAT_S
            try:
                await in_thread(hosts.beat)()
            except Exception as e:  # noqa: BLE001 - the database away must not stop the worker
                log.warning("host row not refreshed: %s", e)
        await asyncio.sleep(min(heartbeat.BEAT_S, settings.DOCKERWEB_HOST_BEAT_S))


# threads of the loop's blocking work (asyncio's default executor: other hosts' calls over
# the channel layer, the reconcile, restarts, exec ends; asyncio's own default, cpu + 4 = 6
# here, let a burst of starts queue behind six supervisors' start-up). This host's socket
# calls have their own threads (rpcserver.CALLS_AT_ONCE), exits theirs (worker.EXIT_THREADS).
ENGINE_THREADS = 32
# seconds an engine thread keeps its database connection (the pool's threads live as long as
# the worker; a new SQLite connection with its PRAGMAs costs ~2.5 ms per call on a loaded
# host). The API servers keep theirs too: their request threads are pooled
# (dockerweb/requestthreads.py).
WORKER_CONN_MAX_AGE = 600


class EngineWorker(Worker):
    async def handle(self) -> None:
        for alias in connections:
            connections.settings[alias]["CONN_MAX_AGE"] = WORKER_CONN_MAX_AGE
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(ENGINE_THREADS, thread_name_prefix="engine"))
        # the worker's own threads (socket call threads, exit recorders) hand it their hints
        notify.use_loop(asyncio.get_running_loop())
        heartbeat.begin()
        malloc.start()  # flat RSS over many lifecycles (issue 12)
        not_tmpfs = await in_thread(engine().mount_runtime)()  # before adopting what runs
        if not_tmpfs:
            log.warning("the containers' runtime files stay on the disk: %s", not_tmpfs)
        try:  # before the first start, which would otherwise wait for the compiler
            await in_thread(engine().build_programs)()
        except EngineError as e:  # each start reports it (and tries again)
            log.error("%s", e.message)
        except Exception:  # noqa: BLE001 - never fatal: the starts try again and say why
            log.exception("building the supervisor at boot failed")
        await in_thread(hosts.register)()  # before the first command: placements may choose it
        beating = asyncio.ensure_future(beat_forever())
        Watcher.instance = watcher = Watcher()
        try:
            await watcher.reconcile(boot=True)  # adopt what runs before taking commands
            nameservice.Service.instance = names = nameservice.Service()
            await names.sync()  # the user networks' DNS (their bridges were restored at boot)
            listener = rpcserver.Listener()
            await listener.start()  # this host's API servers' calls, without Redis
            log.info("worker ready on %s and %s (host %s)", rpcserver.path(), self.channels,
                     settings.DOCKERWEB_HOST)
            task = asyncio.ensure_future(watcher.run())
            try:
                await super().handle()
            finally:
                task.cancel()
                listener.close()
                names.close()
        finally:
            beating.cancel()
            heartbeat.end()

    async def listener(self, channel: str) -> None:
        """Channels' listener, which survives Redis going away and coming back."""
        while True:
            message = await self.receive(channel)
            if not message.get("type", None):
                log.warning("dropping a message with no type on %s", channel)
                continue
            scope = {"type": "channel", "channel": channel}
            instance_queue = self.get_or_create_application_instance(channel, scope)
            await instance_queue.put(message)

    async def receive(self, channel: str) -> dict:
        """The next message on `channel`, however long Redis is away (bounded back-off). Redis
        coming back is logged when a PING answers (this host's commands do not come through
        Redis: no message may come for long)."""
        delay, down_since, logged = BACKOFF_MIN, None, 0.0
        while True:
            try:
                if down_since is not None:
                    await self._ping()
                    log.info("Redis is back after %.1fs; taking commands again",
                             time.monotonic() - down_since)
                    delay, down_since = BACKOFF_MIN, None
                return await self.channel_layer.receive(channel)
            except LAYER_ERRORS as e:
                now = time.monotonic()
                if down_since is None:
                    down_since, logged = now, now
                    log.warning("Redis unreachable (%s); listening again with back-off up to "
                                "%.0fs, containers stay watched", e, BACKOFF_MAX)
                elif now - logged >= LOG_EVERY_S:
                    logged = now
                    log.warning("Redis still unreachable after %.0fs: %s", now - down_since, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    async def _ping(self) -> None:
        """A PING to the layer's Redis (nothing for a layer without a connection)."""
        connection = getattr(self.channel_layer, "connection", None)
        if connection is not None:
            await connection(0).ping()


class Command(ChannelsRunworker):
    help = "Run the dockerweb worker (engine commands + supervisor watcher)."
    worker_class = EngineWorker

    def add_arguments(self, parser):
        super().add_arguments(parser)
        for action in parser._actions:
            if action.dest == "channels":
                action.nargs = "*"
                action.default = None

    def handle(self, *args, **options):
        # one worker per state root (held until this process ends; never replaced)
        try:
            self.lock = instancelock.acquire(instancelock.path(settings.STATE_ROOT, "worker"),
                                             "worker")
        except instancelock.AlreadyRunning as e:
            raise CommandError(str(e)) from None
        options["channels"] = options.get("channels") or [hosts.channel(settings.DOCKERWEB_HOST)]
        return super().handle(*args, **options)
