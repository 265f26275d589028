"""`manage.py runworker`: Channels' worker on the engine channel, plus the exit watcher."""

from __future__ import annotations

import asyncio
import logging

from channels.management.commands.runworker import Command as ChannelsRunworker
from channels.worker import Worker
from django.conf import settings
from django.core.management.base import CommandError

from containers.worker import Watcher
from dockerweb import instancelock

log = logging.getLogger("dockerweb.worker")


class EngineWorker(Worker):
    async def handle(self) -> None:
        Watcher.instance = watcher = Watcher()
        await watcher.reconcile(boot=True)  # adopt what runs before taking commands
        log.info("worker ready on %s (host %s)", self.channels, settings.DOCKERWEB_HOST)
        task = asyncio.ensure_future(watcher.run())
        try:
            await super().handle()
        finally:
            task.cancel()


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
        options["channels"] = options.get("channels") or [settings.DOCKERWEB_ENGINE_CHANNEL]
        return super().handle(*args, **options)
