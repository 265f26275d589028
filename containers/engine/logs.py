"""Read the supervisor's log records (Docker json-file style, one JSON object per line).

Records are {"log": str, "stream": "stdout"|"stderr", "time": RFC3339Nano}; undecodable
output bytes are kept as surrogate escapes, so `record_bytes` returns exactly what the
container wrote.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO


@dataclass(frozen=True)
class Record:
    stream: str
    time: str
    data: bytes


@dataclass(frozen=True)
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    tail: int | None = None  # None = all
    since: float | None = None  # unix seconds
    until: float | None = None

    def accepts(self, rec: Record) -> bool:
        if rec.stream == "stdout" and not self.stdout:
            return False
        if rec.stream == "stderr" and not self.stderr:
            return False
        if self.since is not None or self.until is not None:
            t = parse_time(rec.time)
            if self.since is not None and t < self.since:
                return False
            if self.until is not None and t > self.until:
                return False
        return True


def parse_time(text: str) -> float:
    """RFC3339(Nano) 'Z' timestamp -> unix seconds (float)."""
    base, _, frac = text.rstrip("Z").partition(".")
    dt = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


def _parse(line: bytes) -> Record | None:
    try:
        doc = json.loads(line)
        return Record(doc["stream"], doc["time"], doc["log"].encode("utf-8", "surrogateescape"))
    except (ValueError, KeyError, AttributeError):
        return None  # a torn last line is completed on the next read


def read(path: str, query: LogQuery) -> tuple[list[Record], int]:
    """Records matching `query` and the file offset after the last complete line."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return [], 0
    return _select(data, query)


def _select(data: bytes, query: LogQuery) -> tuple[list[Record], int]:
    end = data.rfind(b"\n") + 1
    recs = (r for r in map(_parse, data[:end].splitlines()) if r and query.accepts(r))
    if query.tail is not None:
        out = list(deque(recs, maxlen=query.tail)) if query.tail > 0 else []
    else:
        out = list(recs)
    return out, end


def follow(path: str, query: LogQuery, done: Callable[[], bool],
           poll_s: float = 0.05) -> Iterator[Record]:
    """Yield matching records, then new ones as they are written, until `done()` is true
    and the file holds nothing more (the supervisor writes exit.json after the last line).

    The file is opened here, by the caller, not at the first iteration: a container removed
    right afterwards (docker-py's run(remove=True) removes it before it reads the stream)
    still yields every line it wrote."""
    try:
        f: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - closed by the generator
    except FileNotFoundError:
        f = None  # not started yet: opened once it exists
    return _follow(f, path, query, done, poll_s)


def _follow(f: BinaryIO | None, path: str, query: LogQuery, done: Callable[[], bool],
            poll_s: float) -> Iterator[Record]:
    try:
        data = f.read() if f else b""
        records, end = _select(data, query)
        yield from records
        live = LogQuery(query.stdout, query.stderr, None, query.since, query.until)
        buf = data[end:]  # a torn last line, completed by the next read
        while True:
            finished = done()  # check before reading so no line written before exit is missed
            if f is None:
                try:
                    f = open(path, "rb")  # noqa: SIM115
                except FileNotFoundError:
                    pass
            chunk = f.read() if f else b""
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                rec = _parse(line)
                if rec and live.accepts(rec):
                    yield rec
            if finished and not chunk:
                return
            if not chunk:
                time.sleep(poll_s)
    finally:
        if f is not None:
            f.close()
