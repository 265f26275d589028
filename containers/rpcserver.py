"""The worker's Unix socket, `<state>/run/worker.sock`: this host's API servers' calls
(containers/rpc.py), without Redis.

One task per connection reads frames (containers/rpcwire.py) in sequence and writes each
call's reply (containers/worker.answer, the same as the channel layer's) before reading the
next; connections run concurrently. A cast (`"cast": true`) gets no reply; an expired call
gets an `unavailable` error (its caller has given up: the worker never runs it). A frame
that cannot be read closes the connection.

The socket is 0600 in the 0700 run directory, and a peer must run as the worker's user
or as root (SO_PEERCRED). It is bound under a temporary name and renamed into place, so a caller sees
either the previous (stale: refused) socket or the new one, never a half-made one; the
instance lock (dockerweb/instancelock.py) makes this worker the only one on its state root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from typing import Any

from django.conf import settings

from containers import rpcwire
from containers.worker import answer

log = logging.getLogger("dockerweb.worker")


def path() -> str:
    return rpcwire.socket_path(settings.RUN_DIR)


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _expired(message: dict[str, Any]) -> dict[str, Any]:
    what = str(message.get("op"))[:100]
    return {"ok": False, "error": {"kind": "unavailable",
                                   "message": f"{what} expired before the worker took it"}}


def _frame(message: dict[str, Any], reply: dict[str, Any] | None) -> bytes:
    """The reply frame (an engine_error when the result cannot be sent: too large, or a
    type msgpack does not know)."""
    try:
        return rpcwire.encode(reply if reply is not None else _expired(message))
    except (rpcwire.FrameError, TypeError, ValueError) as e:
        log.error("the reply to %s cannot be sent: %s", message.get("op"), e)
        what = str(message.get("op"))[:100]
        return rpcwire.encode({"ok": False, "error": {
            "kind": "engine_error", "message": f"{what} failed: its result cannot be sent"}})


async def _serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer the calls of one connection, in order, until the peer closes it."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None and _peer_uid(sock) not in (os.geteuid(), 0):
            log.warning("refused a worker socket connection of another user")
            return
        while True:
            try:
                message = await rpcwire.read_frame(reader)
            except asyncio.IncompleteReadError:
                return  # the caller closed (or gave up mid-frame: nothing was taken)
            except rpcwire.FrameError as e:
                log.warning("closing a worker socket connection: %s", e)
                return
            reply = await answer(message)
            if message.get("cast"):
                continue
            writer.write(_frame(message, reply))
            await writer.drain()
    except ConnectionError:
        pass  # the caller went away (timed out): its answer has nobody to go to
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


class Listener:
    """The socket server of one worker: `start` after the boot reconcile, `close` at exit."""

    def __init__(self) -> None:
        self.server: asyncio.AbstractServer | None = None
        self.inode = 0

    async def start(self) -> None:
        """Listen on `path()` (replacing a stale socket atomically) and serve calls."""
        final = path()
        os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
        tmp = f"{final}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(tmp)
            os.chmod(tmp, 0o600)
            sock.listen(512)
            self.server = await asyncio.start_unix_server(_serve_connection, sock=sock)
            self.inode = os.stat(tmp).st_ino
            os.replace(tmp, final)
        except BaseException:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def close(self) -> None:
        """Stop listening; remove the socket when it is still this worker's (callers are then
        told at once that no worker listens)."""
        if self.server is not None:
            self.server.close()
        with contextlib.suppress(OSError):
            if os.stat(path()).st_ino == self.inode:
                os.unlink(path())
