"""Read the supervisor's log records (Docker json-file style, one JSON object per line).

Records are {"log": str, "stream": "stdout"|"stderr", "time": RFC3339Nano}; undecodable
output bytes are kept as surrogate escapes, so `record_bytes` returns exactly what the
container wrote.

A log is `container.log` and, once the supervisor rotated it (max-size/max-file),
`container.log.1` (the previous one) ... `container.log.N-1` (the oldest). Reading is
streamed in blocks of BLOCK bytes, whatever the size of the files: memory stays bounded by a
block and one batch of records. Lines are in time order (one writer, one clock), so
`since`/`until` are found by binary search on the timestamps and `tail` by reading blocks
backwards from the end; no line before the start is parsed.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import BinaryIO, NamedTuple

BLOCK = 64 * 1024  # bytes read at once, forwards or backwards
MAX_ROTATED = 1000  # container.log.N beyond this is not a log file of ours


class Record(NamedTuple):
    stream: str
    time: str
    data: bytes


class LogQuery(NamedTuple):
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

    def streams_ok(self, stream: str) -> bool:
        return self.stdout if stream == "stdout" else self.stderr if stream == "stderr" else True


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
    except (ValueError, KeyError, AttributeError, TypeError):
        return None


def parse_lines(lines: Iterable[bytes], query: LogQuery) -> list[Record]:
    """The records of `lines` that `query` accepts (its `tail` is not applied)."""
    return [r for r in map(parse_line, lines) if r and query.accepts(r)]


def _parse_block(lines: list[bytes], query: LogQuery) -> list[Record]:
    """The records of `lines` of the wanted streams (no time filter): one json.loads of the
    whole block, line by line only when some line is not a record."""
    lines = [ln for ln in lines if ln]
    try:
        docs = json.loads(b"[" + b",".join(lines) + b"]")
        recs = [Record(d["stream"], d["time"], d["log"].encode("utf-8", "surrogateescape")) for d in docs]
    except (ValueError, KeyError, AttributeError, TypeError):
        recs = [r for r in map(parse_line, lines) if r]
    if query.stdout and query.stderr:
        return recs
    return [r for r in recs if query.streams_ok(r.stream)]


# ---- the files of a log ------------------------------------------------------------------
def log_files(path: str) -> list[str]:
    """The files of the log at `path`, oldest first: path.N-1 ... path.1, path (those that
    exist; a missing number is skipped, as during a rotation's renames)."""
    directory, base = os.path.split(path)
    pattern = re.compile(re.escape(base) + r"\.([1-9][0-9]{0,3})")
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        return []
    rotated = sorted((int(m.group(1)) for m in map(pattern.fullmatch, names) if m), reverse=True)
    files = [f"{path}.{n}" for n in rotated if n <= MAX_ROTATED]
    return files + [path] if base in names else files


class _Part(NamedTuple):
    """One open file of a log and the byte range of it to read."""

    f: BinaryIO
    start: int
    end: int  # after the last complete line when the range was fixed


def _complete_end(f: BinaryIO, size: int) -> int:
    """The offset after the last newline at or before `size`."""
    pos = size
    while pos > 0:
        n = min(BLOCK, pos)
        f.seek(pos - n)
        data = f.read(n)
        i = data.rfind(b"\n")
        if i >= 0:
            return pos - n + i + 1
        pos -= n
    return 0


def _line_at(f: BinaryIO, pos: int, end: int) -> bytes:
    """The line starting at `pos` (without its newline), read up to `end`."""
    f.seek(pos)
    out = b""
    while pos + len(out) < end:
        data = f.read(min(BLOCK, end - pos - len(out)))
        if not data:
            break
        i = data.find(b"\n")
        if i >= 0:
            return out + data[:i]
        out += data
    return out


def _next_line_start(f: BinaryIO, pos: int, end: int) -> int:
    """The first line start at or after `pos` (`end` when none before it)."""
    if pos == 0:
        return 0
    base = pos - 1
    f.seek(base)
    while base < end:
        data = f.read(BLOCK)
        if not data:
            return end
        i = data.find(b"\n")
        if i >= 0:
            return min(base + i + 1, end)
        base += len(data)
    return end


def _time_of(line: bytes) -> float | None:
    rec = parse_line(line)
    if rec is None:
        return None
    try:
        return parse_time(rec.time)
    except ValueError:
        return None


def _bisect(f: BinaryIO, lo: int, hi: int, before: Callable[[float], bool]) -> int:
    """The first line start in [lo, hi) whose time is not `before` (hi when none); lines
    are in time order. A line that is no record counts as before."""
    while hi - lo > BLOCK:
        s = _next_line_start(f, (lo + hi) // 2, hi)
        if s >= hi:
            break
        line = _line_at(f, s, hi)
        t = _time_of(line)
        if t is None or before(t):
            lo = s + len(line) + 1
        else:
            hi = s
    pos = lo  # a short range: line by line
    while pos < hi:
        line = _line_at(f, pos, hi)
        t = _time_of(line)
        if t is not None and not before(t):
            return pos
        pos += len(line) + 1
    return hi


def _backwards(f: BinaryIO, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of the complete lines of [start, end), last first."""
    pos, rest = end, b""
    while pos > start:
        n = min(BLOCK, pos - start)
        pos -= n
        f.seek(pos)
        data = f.read(n) + rest
        lines = data.split(b"\n")
        rest = lines[0]  # may continue in the block before
        offset = pos + len(data)
        for line in reversed(lines[1:]):
            offset -= len(line) + 1
            if line:
                yield offset + 1, line
        if len(rest) > 16 * BLOCK:  # no record is this long: give up on this piece
            rest = b""
    if rest:
        yield start, rest


def _tail_start(parts: list[_Part], query: LogQuery) -> list[_Part]:
    """`parts` cut to the last `query.tail` records of the wanted streams."""
    want = query.tail or 0
    if want <= 0:
        return []
    for i in range(len(parts) - 1, -1, -1):
        p = parts[i]
        for offset, line in _backwards(p.f, p.start, p.end):
            rec = parse_line(line)
            if rec is not None and query.streams_ok(rec.stream):
                want -= 1
                if want == 0:
                    return [p._replace(start=offset)] + parts[i + 1:]
    return parts


def _forwards(parts: list[_Part], query: LogQuery) -> Iterator[list[Record]]:
    """Batches of the records of `parts`, one block's worth at a time."""
    for p in parts:
        pos = p.start
        p.f.seek(pos)
        rest = b""
        while pos < p.end:
            data = p.f.read(min(BLOCK, p.end - pos))
            if not data:
                break
            pos += len(data)
            data = rest + data
            cut = data.rfind(b"\n") + 1
            if not cut:
                rest = data
                continue
            rest = data[cut:]
            batch = _parse_block(data[:cut - 1].split(b"\n"), query)
            if batch:
                yield batch
        if rest:
            batch = _parse_block([rest], query)
            if batch:
                yield batch


def _ranges(files: list[BinaryIO], query: LogQuery, last_end: int | None = None) -> list[_Part]:
    """The parts of `files` (oldest first) that hold the records `query` selects: since and
    until by binary search, then the tail from the end. `last_end` fixes the end of the last
    file (the follower's offset), else it is its size now."""
    parts = []
    for i, f in enumerate(files):
        size = last_end if last_end is not None and i == len(files) - 1 else os.fstat(f.fileno()).st_size
        end = _complete_end(f, size) if size else 0
        start = 0
        if query.since is not None:
            start = _bisect(f, 0, end, query.since.__gt__)  # t < since
        if query.until is not None:
            end = _bisect(f, start, end, query.until.__ge__)  # t <= until
        if start < end:
            parts.append(_Part(f, start, end))
    if query.tail is not None:
        parts = _tail_start(parts, query)
    return parts


def _open_all(paths: list[str]) -> list[BinaryIO]:
    out = []
    for p in paths:
        try:
            out.append(open(p, "rb"))  # noqa: SIM115 - closed by the caller
        except FileNotFoundError:  # rotated away meanwhile
            pass
    return out


def batches(path: str, query: LogQuery) -> Iterator[list[Record]]:
    """The records `query` selects from the log at `path` and its rotated files, in order,
    in batches of about a block each (memory: one block, whatever the log's size)."""
    files = _open_all(log_files(path))
    try:
        yield from _forwards(_ranges(files, query), query)
    finally:
        for f in files:
            f.close()


def read(path: str, query: LogQuery) -> tuple[list[Record], int]:
    """Records matching `query` (all in one list: for small selections) and the size of the
    current file's complete lines."""
    out = [r for batch in batches(path, query) for r in batch]
    try:
        with open(path, "rb") as f:
            end = _complete_end(f, os.fstat(f.fileno()).st_size)
    except FileNotFoundError:
        end = 0
    return out, end


class Follower:
    """A log followed from the moment this object is made, across rotations.

    The current file is opened here, by the caller, not at the first read: a container
    removed right afterwards (docker-py's run(remove=True) removes it before it reads the
    stream) still yields every line it wrote. A file that does not exist yet (not started)
    is opened at the first read that finds it. `existing()` first (batches; it honours
    `tail`, `since` and `until`), then `poll()` or `pending()` + `read_lines()` for what is
    written later; `close()` at the end.

    Rotation: the supervisor renames container.log to container.log.1 (and so on) before a
    write that would exceed max-size, then writes a new container.log. When the file held
    here is no longer the one at `path`, it is read to its end (nothing more is written to
    it), then the files written after it are read in order: no line lost or repeated.
    """

    def __init__(self, path: str, query: LogQuery):
        self.path, self.query = path, query
        self.live = LogQuery(query.stdout, query.stderr, None, query.since, query.until)
        self._buf = b""  # a torn last line, completed by a later read
        self._rotated = _open_all(log_files(path)[:-1]) if os.path.exists(path) else []
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

    def existing(self) -> Iterator[list[Record]]:
        """Batches of the records written so far that `query` selects (with its tail); the
        follow goes on after the last complete line."""
        files = self._rotated + ([self._f] if self._f else [])
        if not files:
            return
        end = os.fstat(self._f.fileno()).st_size if self._f else None
        try:
            if self._f is None:
                parts = _ranges(files, self.query)
            else:
                end = _complete_end(self._f, end or 0)
                parts = _ranges(files, self.query, last_end=end)
            yield from _forwards(parts, self.query)
        finally:
            for f in self._rotated:
                f.close()
            self._rotated = []
            if self._f is not None:
                self._f.seek(end or 0)

    def skip_existing(self) -> None:
        """Follow on from the end of what is written now (instead of `existing()`)."""
        for f in self._rotated:
            f.close()
        self._rotated = []
        if self._f is not None:
            self._f.seek(os.fstat(self._f.fileno()).st_size)

    def pending(self) -> bool:
        """Whether the file holds bytes not read yet, or was rotated (no read)."""
        f = self._file()
        if f is None:
            return False
        return os.fstat(f.fileno()).st_size > f.tell() or self._successor() is not None

    def _successor(self) -> str | None:
        """The file written after the one held here, when that one was rotated away."""
        f = self._f
        if f is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:  # removed: nothing more comes
            return None
        mine = os.fstat(f.fileno())
        if (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev):
            return None
        files = log_files(self.path)
        for i, name in enumerate(files[:-1]):
            try:
                s = os.stat(name)
            except FileNotFoundError:
                continue
            if (s.st_ino, s.st_dev) == (mine.st_ino, mine.st_dev):
                return files[i + 1]
        return files[0] if files else None  # ours is gone (rotated out): the oldest left

    def read_lines(self) -> tuple[list[bytes], bool]:
        """The complete lines written since the last read (at most about a block more than
        was there at the call), and whether anything was read. Moves on to the next file
        once the one held here was rotated and read to its end."""
        f = self._file()
        if f is None:
            return [], False
        chunk = f.read(4 * BLOCK)
        if chunk:
            return self._split(chunk), True
        nxt = self._successor()
        if nxt is None:
            return [], False
        try:
            new = open(nxt, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            return [], False
        lines = self._split(f.read())  # the old file is complete once renamed
        if self._buf:  # a torn last line (a crash) stays a line of its own
            lines.append(self._buf)
            self._buf = b""
        f.close()
        self._f = new
        return lines, True

    def _split(self, chunk: bytes) -> list[bytes]:
        *lines, self._buf = (self._buf + chunk).split(b"\n")
        return lines

    def poll(self) -> tuple[list[Record], bool]:
        """The new records `query` accepts, and whether anything was read (non-blocking)."""
        lines, got = self.read_lines()
        return parse_lines(lines, self.live), got

    def close(self) -> None:
        for f in self._rotated:
            f.close()
        self._rotated = []
        if self._f is not None:
            self._f.close()
            self._f = None


def follow(path: str, query: LogQuery, done: Callable[[], bool],
           poll_s: float = 0.05) -> Iterator[Record]:
    """Matching records one by one (see follow_batches)."""
    return (r for batch in follow_batches(path, query, done, poll_s) for r in batch)


def follow_batches(path: str, query: LogQuery, done: Callable[[], bool],
                   poll_s: float = 0.05) -> Iterator[list[Record]]:
    """Batches of matching records, then new ones as they are written, until `done()` is
    true and the file holds nothing more (the supervisor writes exit.json after the last
    line). The file is opened by this call (see Follower)."""
    return _follow(Follower(path, query), done, poll_s)


def _follow(follower: Follower, done: Callable[[], bool], poll_s: float) -> Iterator[list[Record]]:
    try:
        yield from follower.existing()
        while True:
            finished = done()  # check before reading so no line written before exit is missed
            records, got = follower.poll()
            if records:
                yield records
            if finished and not got:
                return
            if not got:
                time.sleep(poll_s)
    finally:
        follower.close()
