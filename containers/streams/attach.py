"""/ws/containers/{ref}/attach/ and /ws/exec/{id}/: the attach protocol (relay.py) for
a container's main process and for an exec.

Container: attach works before start (waits for the supervisor, then takes the
scrollback), on a running container, and by several clients at once; a client leaving
never stops the container. Exec: the first socket to an exec that was created but not
started starts it (Docker's exec start with attach); one that already ended is replayed
from its output log.
"""

from __future__ import annotations

from containers import execs, hosts, lookup
from containers.api import params
from containers.engine.errors import Conflict, NotFound
from containers.link import container_target, exec_target, last_run_records
from containers.models import Container
from containers.runtime import engine
from containers.streams.base import in_thread
from containers.streams.relay import AttachStream


class ContainerAttachConsumer(AttachStream):
    async def stream(self) -> None:
        ref, verb = self.url_arg("ref"), "WS containers/<ref>/attach"
        try:
            c = hosts.here(await in_thread(lookup.container)(ref, self.user))
        except NotFound:
            await self.audit(verb, ref, 404)
            raise
        if c.spec.get("open_stdin"):  # a session that can type into the container
            await self.audit(verb, c.id, 101)
        self.tty = bool(c.spec.get("tty"))

        async def gone() -> bool:
            return not await in_thread(Container.objects.filter(pk=c.id).exists)()

        async def running() -> bool:
            return (await in_thread(engine().status)(c.id)).kind == "running"

        await self.follow(container_target(c.id), stdin=bool(c.spec.get("open_stdin")),
                          scrollback=params.boolean(self.query, "scrollback", True),
                          gone=gone, running=running)


class ExecAttachConsumer(AttachStream):
    async def stream(self) -> None:
        eid, verb = self.url_arg("exec_id"), "WS exec/<exec_id>"
        try:
            await in_thread(lookup.exec_container)(eid, self.user)
        except NotFound:
            await self.audit(verb, eid, 404)
            raise
        await self.audit(verb, eid, 101)
        info = await in_thread(execs.inspect)(eid)
        self.tty = info.config.tty
        target = await in_thread(exec_target)(eid)
        if not info.started and info.exit_code is None:
            try:
                await in_thread(execs.start)(eid)
            except Conflict:
                pass  # another client started it a moment ago
        done = target.exit_doc()
        if done is not None:  # it ended before this socket came
            await self.replay(await in_thread(last_run_records)(target))
            return await self.finish(done)

        async def gone() -> bool:
            return not await in_thread(execs.exists)(eid)

        async def running() -> bool:
            return (await in_thread(execs.inspect)(eid)).running

        await self.follow(target, stdin=info.config.stdin, scrollback=True, gone=gone,
                          running=running)
