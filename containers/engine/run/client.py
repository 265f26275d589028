"""Client for a supervisor's attach socket (framing: frames.py)."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from .frames import CLOSE_STDIN, EXIT, HELLO, RESIZE, STDERR, STDIN, STDOUT, WINDOW_SIZE, pack, split

__all__ = ["AttachClient", "connect_unix", "unix_address", "STDOUT", "STDERR", "EXIT"]
MAX_SUN_PATH = 100


@contextmanager
def unix_address(path: str) -> Iterator[str]:
    """An address to connect() to the Unix socket `path`: `path` itself, or when it is
    longer than sun_path allows, /proc/self/fd/N/<name> through an O_PATH descriptor of its
    directory, held open while the context is."""
    if len(path) <= MAX_SUN_PATH:
        yield path
        return
    dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{dfd}/{os.path.basename(path)}"
    finally:
        os.close(dfd)


def connect_unix(path: str, timeout: float | None = None) -> socket.socket:
    """A socket connected to the Unix socket `path`, even a long one (unix_address)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(timeout)
    try:
        with unix_address(path) as address:
            sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


class AttachClient:
    """One attach session: send stdin/resize/close, iterate output frames."""

    def __init__(self, path: str, stdin: bool = False, scrollback: bool = False,
                 timeout: float | None = None):
        self.sock = connect_unix(path, timeout)
        self._buf = b""
        self._send(HELLO, json.dumps({"stdin": stdin, "scrollback": scrollback}).encode())

    def _send(self, kind: int, payload: bytes = b"") -> None:
        self.sock.sendall(pack(kind, payload))

    def write(self, data: bytes) -> None:
        for i in range(0, len(data), 1 << 20):
            self._send(STDIN, data[i:i + (1 << 20)])

    def close_stdin(self) -> None:
        self._send(CLOSE_STDIN)

    def resize(self, rows: int, cols: int) -> None:
        self._send(RESIZE, WINDOW_SIZE.pack(rows, cols))

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """(kind, payload) until the supervisor closes the connection (iterate once)."""
        while True:
            frames, self._buf = split(self._buf)
            yield from frames
            chunk = self.sock.recv(1 << 18)
            if not chunk:
                return
            self._buf += chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AttachClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
