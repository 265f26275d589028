"""A read(n) file over an iterator of byte chunks: for consumers that want a file (tarfile,
a registry upload) of data made lazily (a layer tar built as it is read)."""

from __future__ import annotations

from collections.abc import Iterator


class ChunkFile:
    """`read(n)` over `chunks`; b"" once they are used up. Holds at most one chunk plus n."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._buf = chunks, b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out
