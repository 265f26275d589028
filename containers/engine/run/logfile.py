"""Read the supervisor's log records (Docker json-file style, one JSON object per line).

Records are {"log": str, "stream": "stdout"|"stderr", "time": RFC3339Nano}; undecodable
output bytes are kept as surrogate escapes, so `record_bytes` returns exactly what the
container wrote.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
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


def parse_line(line: bytes) -> Record | None:
    """One JSON line as a Record; None for a line that is not one (a torn last line is
    completed on the next read)."""
    try:
        doc = json.loads(line)
        return Record(doc["stream"], doc["time"], doc["log"].encode("utf-8", "surrogateescape"))
    except (ValueError, KeyError, AttributeError):
        return None


def parse_lines(lines: Iterable[bytes], query: LogQuery) -> list[Record]:
    """The records of `lines` that `query` accepts (its `tail` is not applied)."""
    return [r for r in map(parse_line, lines) if r and query.accepts(r)]


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
    recs = (r for r in map(parse_line, data[:end].splitlines()) if r and query.accepts(r))
    if query.tail is not None:
        out = list(deque(recs, maxlen=query.tail)) if query.tail > 0 else []
    else:
        out = list(recs)
    return out, end


class Follower:
    """A log file followed from the moment this object is made.

    The file is opened here, by the caller, not at the first read: a container removed
    right afterwards (docker-py's run(remove=True) removes it before it reads the stream)
    still yields every line it wrote. A file that does not exist yet (not started) is
    opened at the first read that finds it. `existing()` first (it honours `tail`), then
    `poll()` or `pending()` + `read_lines()` for what is written later; `close()` at the end.
    """

    def __init__(self, path: str, query: LogQuery):
        self.path, self.query = path, query
        self.live = LogQuery(query.stdout, query.stderr, None, query.since, query.until)
        self._buf = b""  # a torn last line, completed by a later read
        try:
            self._f: BinaryIO | None = open(path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            self._f = None

    def _file(self) -> BinaryIO | None:
        if self._f is None:
            try:
                self._f = open(self.path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                pass
        return self._f

    def existing(self) -> list[Record]:
        """The records written so far that `query` selects (with its tail)."""
        data = self._f.read() if self._f else b""
        records, end = _select(data, self.query)
        self._buf = data[end:]
        return records

    def pending(self) -> bool:
        """Whether the file holds bytes not read yet (one fstat, no read)."""
        f = self._file()
        return f is not None and os.fstat(f.fileno()).st_size > f.tell()

    def read_lines(self) -> tuple[list[bytes], bool]:
        """The complete lines written since the last read, and whether anything was read."""
        f = self._file()
        chunk = f.read() if f else b""
        *lines, self._buf = (self._buf + chunk).split(b"\n")
        return lines, bool(chunk)

    def poll(self) -> tuple[list[Record], bool]:
        """The new records `query` accepts, and whether anything was read (non-blocking)."""
        lines, got = self.read_lines()
        return parse_lines(lines, self.live), got

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def follow(path: str, query: LogQuery, done: Callable[[], bool],
           poll_s: float = 0.05) -> Iterator[Record]:
    """Yield matching records, then new ones as they are written, until `done()` is true
    and the file holds nothing more (the supervisor writes exit.json after the last line).
    The file is opened by this call (see Follower)."""
    return _follow(Follower(path, query), done, poll_s)


def _follow(follower: Follower, done: Callable[[], bool], poll_s: float) -> Iterator[Record]:
    try:
        yield from follower.existing()
        while True:
            finished = done()  # check before reading so no line written before exit is missed
            records, got = follower.poll()
            yield from records
            if finished and not got:
                return
            if not got:
                time.sleep(poll_s)
    finally:
        follower.close()
