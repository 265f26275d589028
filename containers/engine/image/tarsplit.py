"""Exact layer tars again, without keeping them (the idea of Docker's tar-split).

A layer is stored extracted, but its diff_id is the sha256 of the tar it came from, and a
save or a push must hand out those very bytes. While a layer is extracted, `Recorder` keeps
every byte of the tar stream except the content of the regular files written to disk (so
headers, padding and whatever the extraction skipped); `assemble` later puts the original
stream back together from those records and the layer's files.

Metadata directory (one per layer):
  split.gz   records: b"R" + u64 length + bytes          (raw tar bytes)
                      b"F" + u64 index + u64 size + u32 len + path   (a file's content)
  info.json  {"tar_size": N, "stash": {"index": "name"}}
  stash/     hard links to files the same archive later overwrote or removed
The layer directory must not change afterwards (it is a read-only lower layer): `assemble`
checks sizes, and the caller checks the digest.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from collections.abc import Iterator

from ..errors import EngineError, shown
from ..fs import beneath
from ..layout import DIR_MODE, private

CHUNK = 1 << 20
_U64 = struct.Struct(">Q")
_FILE = struct.Struct(">QQI")


class Recorder:
    """Receives the uncompressed tar stream (`feed`) and the position of each member
    (`member`, before its content is read); writes the records into `meta_dir`.

    Contract with the extractor: every byte of the stream is fed in order; `member` is
    called for each member once the header is parsed, with `rel` set only when the member's
    data is written verbatim to `rel` below `root`; `removing` is called before anything
    below `root` is unlinked or replaced; `finish` after the last byte was fed."""

    def __init__(self, meta_dir: str, root: str):
        self.meta_dir, self.root = meta_dir, root
        os.makedirs(meta_dir, mode=DIR_MODE, exist_ok=True)
        split = os.path.join(meta_dir, "split.gz")
        os.close(private(split, os.O_WRONLY | os.O_CREAT))  # gzip.open keeps its mode: 0600
        self._out = gzip.open(split, "wb", compresslevel=1)
        self._pos = 0  # absolute offset of the next byte fed
        self._pending = bytearray()  # fed bytes not yet classified, starting at _pend_at
        self._pend_at = 0
        self._skip_to = 0  # bytes below: file content, dropped
        self._raw_to = 0  # bytes below: raw, written at once
        self._raw = bytearray()  # raw bytes not yet written as a record
        self._refs: dict[str, int] = {}  # rel path -> index of its file record
        self._new: tuple[str, int] | None = None  # the current member's, once its path is cleared
        self._stash: dict[int, str] = {}
        self._count = 0

    def feed(self, data: bytes) -> None:
        start = self._pos
        self._pos += len(data)
        if start < self._skip_to:
            cut = min(len(data), self._skip_to - start)
            data = data[cut:]
            start += cut
        if data:
            if not self._pending:
                self._pend_at = start
            self._pending += data
            self._flush(self._raw_to)

    def member(self, offset_data: int, end: int, rel: str | None, size: int) -> None:
        """A member whose data is [offset_data, end) (padding included); with `rel`, its
        first `size` bytes are the content of file `rel`."""
        self._settle()
        self._flush(offset_data)
        if rel is not None:
            drop = min(len(self._pending), size)
            del self._pending[:drop]
            self._pend_at += drop
            self._skip_to = offset_data + size
            self._write_raw()
            path = os.fsencode(rel)
            self._out.write(b"F" + _FILE.pack(self._count, size, len(path)) + path)
            self._new = (rel, self._count)  # whatever is at `rel` now goes first
            self._count += 1
        self._raw_to = end
        self._flush(end)

    def removing(self, rel: str, is_dir: bool) -> None:
        """`rel` (a tree when `is_dir`) is about to go: keep the recorded files in it."""
        if is_dir:
            prefix = rel + "/"
            names = [k for k in self._refs if k.startswith(prefix)]
        else:
            names = [rel] if rel in self._refs else []
        for name in names:
            index = self._refs.pop(name)
            os.makedirs(os.path.join(self.meta_dir, "stash"), mode=DIR_MODE, exist_ok=True)
            os.link(os.path.join(self.root, name), os.path.join(self.meta_dir, "stash", str(index)),
                    follow_symlinks=False)
            self._stash[index] = str(index)

    def _settle(self) -> None:
        if self._new is not None:
            self._refs[self._new[0]] = self._new[1]
            self._new = None

    def finish(self) -> None:
        self._settle()
        self._flush(self._pos)
        self._write_raw()
        self._out.close()
        info = {"tar_size": self._pos, "stash": {str(k): v for k, v in self._stash.items()}}
        with open(os.path.join(self.meta_dir, "info.json"), "w", opener=private) as f:
            json.dump(info, f)

    def abort(self) -> None:
        self._out.close()

    def _flush(self, upto: int) -> None:
        n = min(len(self._pending), upto - self._pend_at)
        if n > 0:
            self._raw += self._pending[:n]
            del self._pending[:n]
            self._pend_at += n
            if len(self._raw) >= CHUNK:
                self._write_raw()

    def _write_raw(self) -> None:
        if self._raw:
            self._out.write(b"R" + _U64.pack(len(self._raw)))
            self._out.write(self._raw)
            self._raw.clear()


def info(meta_dir: str) -> dict | None:
    """The layer's info.json, or None when the layer has no records."""
    try:
        with open(os.path.join(meta_dir, "info.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def assemble(meta_dir: str, root: str) -> Iterator[bytes]:
    """The original tar stream of the layer extracted in `root`, in chunks.

    Raises EngineError when a file of the layer is missing or shorter than recorded."""
    meta = info(meta_dir)
    if meta is None:
        raise EngineError(f"no tar-split records in {meta_dir}")
    stash = meta.get("stash") or {}
    root_fd = beneath.open_root(root)
    try:
        with gzip.open(os.path.join(meta_dir, "split.gz"), "rb") as f:
            while kind := f.read(1):
                if kind == b"R":
                    (n,) = _U64.unpack(_read(f, 8))
                    while n:
                        chunk = _read(f, min(n, CHUNK))
                        n -= len(chunk)
                        yield chunk
                elif kind == b"F":
                    index, size, plen = _FILE.unpack(_read(f, _FILE.size))
                    rel = os.fsdecode(_read(f, plen))
                    yield from _content(root_fd, meta_dir, stash.get(str(index)), rel, size)
                else:
                    raise EngineError(f"corrupt tar-split records in {meta_dir}")
    finally:
        os.close(root_fd)


def _read(f, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EngineError("truncated tar-split records")
    return data


def _content(root_fd: int, meta_dir: str, stashed: str | None, rel: str, size: int) -> Iterator[bytes]:
    try:
        if stashed is not None:
            fd = os.open(os.path.join(meta_dir, "stash", stashed), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        else:
            fd = beneath.open_file(root_fd, rel)
    except (OSError, EngineError) as e:
        raise EngineError(f"layer file {shown(rel)} is gone: {e}") from None
    with os.fdopen(fd, "rb", buffering=0) as src:
        left = size
        while left:
            chunk = src.read(min(left, CHUNK))
            if not chunk:
                raise EngineError(f"layer file {shown(rel)} is shorter than recorded")
            left -= len(chunk)
            yield chunk
