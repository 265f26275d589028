"""Log service: the one reader of container and exec logs under REST, the websockets and
the Docker API (over engine/run/logfile.py, which parses the supervisor's JSON-lines files).

`query` turns request parameters into a LogQuery (Docker's defaults differ: no stream
unless asked, since=0 means none); `batches` reads or follows a container's log (rotated
files included) in batches of records; `chunks` renders them into byte chunks of about
CHUNK bytes (what crosses asyncstream's queue: one record at a time cost a thread switch
per ~85-byte line); `exec_records` follows an exec's output; `follow_batches` follows
from asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping

from containers.api import params
from containers.engine import logconfig
from containers.engine.errors import InvalidArgument, NotSupported
from containers.engine.run import logfile as enginelogs
from containers.engine.run.logfile import Follower, LogQuery, Record, parse_lines
from containers.runtime import engine

POLL_S = 0.1  # follow_batches' poll of the file
PARSE_IN_THREAD = 100  # lines: a larger batch is parsed off the event loop
CHUNK = 64 * 1024  # bytes of rendered records handed on at once
EXISTING_BATCH = 5000  # records: follow_batches joins the existing ones up to this many


def query(q: Mapping[str, str], *, docker: bool = False) -> LogQuery:
    """The LogQuery of request parameters stdout, stderr, tail, since, until. Native API:
    both streams unless told otherwise. Docker: neither unless asked (InvalidArgument when
    none is), since/until 0 mean no bound."""
    if not docker:
        return LogQuery(stdout=params.boolean(q, "stdout", True), stderr=params.boolean(q, "stderr", True),
                        tail=params.tail(q), since=params.timestamp(q, "since"),
                        until=params.timestamp(q, "until"))
    out = LogQuery(stdout=params.boolean(q, "stdout", False), stderr=params.boolean(q, "stderr", False),
                   tail=params.tail(q), since=params.timestamp(q, "since") or None,
                   until=params.timestamp(q, "until") or None)
    if not (out.stdout or out.stderr):
        raise InvalidArgument("You must choose at least one stream")
    return out


def readable(spec: dict) -> None:
    """NotSupported (501, Docker's message) for a container whose log driver keeps nothing."""
    if spec.get("log_driver") == logconfig.NONE:
        raise NotSupported("configured logging driver does not support reading")


def batches(cid: str, query: LogQuery, follow: bool) -> Iterator[list[Record]]:
    """The container's records `query` selects, in batches (memory: a batch, whatever the
    log's size); with `follow`, then the new ones until it stops running (the file is
    opened by this call: see engine.run.logfile.Follower)."""
    path = engine().paths(cid).log
    if follow:
        return enginelogs.follow_batches(path, query, lambda: engine().status(cid).kind != "running")
    return enginelogs.batches(path, query)


def records(cid: str, query: LogQuery, follow: bool) -> Iterator[Record]:
    """The records of `batches`, one by one."""
    return (r for batch in batches(cid, query, follow) for r in batch)


def chunks(batches: Iterable[list[Record]], render: Callable[[Record], bytes]) -> Iterator[bytes]:
    """The rendered records of `batches`, joined into chunks of about CHUNK bytes; a batch's
    remainder goes out with it (a followed line is not held back)."""
    for batch in batches:
        parts: list[bytes] = []
        size = 0
        for data in map(render, batch):
            parts.append(data)
            size += len(data)
            if size >= CHUNK:
                yield b"".join(parts)
                parts, size = [], 0
        if parts:
            yield b"".join(parts)


def exec_records(eid: str) -> Iterator[Record]:
    """An exec's output as it comes, until the exec ends."""
    from containers import execs

    return enginelogs.follow(execs.paths(eid).log, LogQuery(), lambda: not execs.inspect(eid).running)


def follow_batches(path: str, query: LogQuery, done: Callable[[], Awaitable[bool]]
                   ) -> AsyncIterator[list[Record]]:
    """Batches of matching records: the existing ones (honouring `tail`), then new ones as
    they are written, until `done()` is true and the file holds nothing more. The file is
    opened by this call, as `records` does; the poll keeps to the event loop and reads in a
    thread only when there is something to read."""
    return _batches(Follower(path, query), done)


async def _batches(follower: Follower, done: Callable[[], Awaitable[bool]]) -> AsyncIterator[list[Record]]:
    try:
        existing = follower.existing()
        held: list[Record] = []
        while batch := await asyncio.to_thread(next, existing, None):
            held += batch
            if len(held) >= EXISTING_BATCH:
                yield held
                held = []
        if held:
            yield held
        while True:
            finished = await done()  # before reading, so no line written before the exit is missed
            lines, got = await asyncio.to_thread(follower.read_lines) if follower.pending() else ([], False)
            if lines:
                batch = (await asyncio.to_thread(parse_lines, lines, follower.live)
                         if len(lines) > PARSE_IN_THREAD else parse_lines(lines, follower.live))
                if batch:
                    yield batch
            if not got:  # nothing more written: the end once done, else poll again
                if finished:
                    return
                await asyncio.sleep(POLL_S)
    finally:
        follower.close()
