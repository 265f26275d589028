"""Following a JSON-lines log file from asyncio (container.log, an exec's output.log).

The file is read from the offset where the last complete line ended; the poll keeps to
the event loop and reads in a thread only when there is something to read.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from containers.engine import logs

POLL_S = 0.1


def _parse(lines: list[bytes], query: logs.LogQuery) -> list[logs.Record]:
    out = []
    for line in lines:
        try:
            doc = json.loads(line)
            rec = logs.Record(doc["stream"], doc["time"], doc["log"].encode("utf-8", "surrogateescape"))
        except (ValueError, KeyError, AttributeError):
            continue
        if query.accepts(rec):
            out.append(rec)
    return out


def _read_from(path: str, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


async def follow(path: str, query: logs.LogQuery, done: Callable[[], Awaitable[bool]]
                 ) -> AsyncIterator[list[logs.Record]]:
    """Batches of matching records: the existing ones (honouring `tail`), then new ones as
    they are written, until `done()` is true and the file holds nothing more."""
    records, offset = await asyncio.to_thread(logs.read, path, query)
    if records:
        yield records
    live = logs.LogQuery(query.stdout, query.stderr, None, query.since, query.until)
    buf = b""
    while True:
        finished = await done()  # before reading, so no line written before the exit is missed
        size = _size(path)
        chunk = await asyncio.to_thread(_read_from, path, offset) if size > offset else b""
        offset += len(chunk)
        buf += chunk
        *lines, buf = buf.split(b"\n")
        if lines:
            batch = await asyncio.to_thread(_parse, lines, live) if len(lines) > 100 else _parse(lines, live)
            if batch:
                yield batch
        if finished and not chunk:
            return
        if not chunk:
            await asyncio.sleep(POLL_S)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
