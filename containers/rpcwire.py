"""The framing of the worker's Unix socket (containers/rpcserver.py, containers/rpc.py): pure
logic and the frame reads: `read_frame` on an asyncio stream (async callers), `recv_frame` on
a blocking socket (the worker's connection threads); no Django.

A frame is a 4-byte big-endian length, then that many bytes of msgpack. A request is
`{"op", "args", "deadline"}` (deadline: time.time() after which the worker drops it) plus
`"cast": true` when no reply is wanted; a reply is `{"ok": true, "result": ...}` or
`{"ok": false, "error": {"kind", "message"}}`. Frames follow each other on one connection,
one reply per request that wants one, in order.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import msgpack

HEADER = struct.Struct(">I")
MAX_FRAME = 16 * 1024 * 1024  # bytes of one message; more is a broken or hostile peer


class FrameError(ValueError):
    """A frame that cannot be read: too long, or not a msgpack map."""


def encode(message: dict[str, Any]) -> bytes:
    """`message` as one frame (header + body)."""
    body = msgpack.packb(message, use_bin_type=True)
    if len(body) > MAX_FRAME:
        raise FrameError(f"message of {len(body)} bytes, more than {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


def length(header: bytes) -> int:
    """The body length a frame header announces (FrameError beyond MAX_FRAME)."""
    (n,) = HEADER.unpack(header)
    if n > MAX_FRAME:
        raise FrameError(f"frame of {n} bytes announced, more than {MAX_FRAME}")
    return n


def decode(body: bytes) -> dict[str, Any]:
    """The message of a frame body (FrameError when it is not a msgpack map)."""
    try:
        message = msgpack.unpackb(body, raw=False)
    except (ValueError, msgpack.UnpackException) as e:
        raise FrameError(f"unreadable frame: {e}") from None
    if not isinstance(message, dict):
        raise FrameError("a frame must hold a map")
    return message


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    """The next message on `reader` (IncompleteReadError at its end, FrameError when
    unreadable)."""
    header = await reader.readexactly(HEADER.size)
    return decode(await reader.readexactly(length(header)))


def recv_frame(sock: socket.socket) -> dict[str, Any] | None:
    """The next message on the blocking socket `sock` (None at its end, also when it ends
    mid-frame; FrameError when unreadable)."""
    header = _recv_exactly(sock, HEADER.size)
    body = None if header is None else _recv_exactly(sock, length(header))
    return None if body is None else decode(body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    """`n` bytes from `sock`; None when the peer closed first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def request(op: str, args: dict[str, Any], deadline: float, cast: bool = False) -> bytes:
    """The frame of a call (or of a cast: no reply)."""
    message: dict[str, Any] = {"op": op, "args": args, "deadline": deadline}
    if cast:
        message["cast"] = True
    return encode(message)


def socket_path(run_dir: str) -> str:
    """The worker's socket in the state root's run directory."""
    return f"{run_dir}/worker.sock"
