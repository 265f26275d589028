"""Log service: the one reader of container and exec logs under REST, the websockets and
the Docker API (over engine/run/logfile.py, which parses the supervisor's JSON-lines files).

`query` turns request parameters into a LogQuery (Docker's defaults differ: no stream
unless asked, since=0 means none); `records` reads or follows a container's log;
`exec_records` follows an exec's output; `follow_batches` follows from asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping

from containers.api import params
from containers.engine.errors import InvalidArgument
from containers.engine.run import logfile as enginelogs
from containers.engine.run.logfile import Follower, LogQuery, Record, parse_lines
from containers.runtime import engine

POLL_S = 0.1  # follow_batches' poll of the file
PARSE_IN_THREAD = 100  # lines: a larger batch is parsed off the event loop


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


def records(cid: str, query: LogQuery, follow: bool) -> Iterator[Record]:
    """The container's records `query` selects; with `follow`, then the new ones until it
    stops running (the file is opened by this call: see engine.run.logfile.Follower)."""
    path = engine().paths(cid).log
    if follow:
        return enginelogs.follow(path, query, lambda: engine().status(cid).kind != "running")
    return iter(enginelogs.read(path, query)[0])


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
        existing = await asyncio.to_thread(follower.existing)
        if existing:
            yield existing
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
