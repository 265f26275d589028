"""Compressed streams in: gzip, bzip2 or xz told apart by their magic bytes, else plain.

Contract: `decompressed(stream)` reads `stream` once, front to back, and never holds more
than one buffer of it; the stream may be a pipe or a socket (no seek, no tell).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zlib
from typing import BinaryIO

CHUNK = 1 << 20
MAGIC = {"gzip": b"\x1f\x8b\x08", "xz": b"\xfd7zXZ\x00", "zstd": b"\x28\xb5\x2f\xfd"}
BZIP2 = re.compile(rb"BZh[1-9](\x31\x41\x59\x26\x53\x59|\x17\x72\x45\x38\x50\x90)")
HEAD = 512  # a tar header block: "ustar" at 257 means plain, whatever the name starts with

# what a broken compressed stream raises besides OSError (EOFError for a truncated one)
DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, lzma.LZMAError)


def detect(head: bytes) -> str:
    """"gzip", "bzip2", "xz", "zstd" or "" (plain) from the first bytes of a stream."""
    if head[257:262] == b"ustar":
        return ""
    if BZIP2.match(head):
        return "bzip2"
    for name, magic in MAGIC.items():
        if head.startswith(magic):
            return name
    return ""


class _Peeked(io.RawIOBase):
    """`rest` with `head` (bytes already read from it) pushed back in front."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self.head:
            n = min(len(b), len(self.head))
            b[:n], self.head = self.head[:n], self.head[n:]
            return n
        data = self.rest.read(len(b))
        b[:len(data)] = data
        return len(data)


def _read_head(stream: BinaryIO, n: int) -> bytes:
    head = b""
    while len(head) < n:
        more = stream.read(n - len(head))
        if not more:
            break
        head += more
    return head


def decompressed(stream: BinaryIO) -> BinaryIO:
    """The uncompressed view of `stream` (gzip, bzip2, xz or plain), streaming.

    zstd is refused with ValueError (no decompressor in the standard library)."""
    head = _read_head(stream, HEAD)
    raw = io.BufferedReader(_Peeked(head, stream), CHUNK)
    kind = detect(head)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    if kind == "zstd":
        raise ValueError("zstd-compressed archives are not supported")
    return raw  # type: ignore[return-value]
