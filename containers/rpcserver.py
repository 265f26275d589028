"""The worker's Unix socket, `<state>/run/worker.sock`: this host's API servers' calls
(containers/rpc.py), without Redis.

Each connection has a thread of its own, which reads frames (containers/rpcwire.py) in
sequence, hands each call to one of CALLS_AT_ONCE call threads (containers/worker.answer_here,
the same as the channel layer's; each keeps its database connection, so the worker holds a
bounded number) and writes its reply before reading the next; connections run concurrently.
The event loop only accepts connections; a call never crosses it (measured on a `ping`: ~0.5
ms of the worker's CPU through an asyncio stream and a pool thread's hop there and back,
0.15-0.28 ms with the connection's thread and a call thread, 0.02-0.06 ms on the
connection's thread alone, which would make a database connection per connection). A cast
(`"cast": true`) gets no reply; an expired call gets an `unavailable` error (its caller has
given up: the worker never runs it). A frame that cannot be read closes the connection.

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
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from containers import rpcwire
from containers.worker import answer_here

log = logging.getLogger("dockerweb.worker")
ACCEPT_PAUSE_S = 0.1  # after a failed accept (EMFILE), before the next
# calls run at once, on the call threads (runworker.ENGINE_THREADS, as the engine's pool
# before): a burst's further calls wait their turn, and the worker holds at most this many
# database connections for them (each thread keeps its own; PostgreSQL's are counted)
CALLS_AT_ONCE = 32
_calls = ThreadPoolExecutor(CALLS_AT_ONCE, thread_name_prefix="call")


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


def _serve_connection(sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
    """Answer the calls of one connection, in order, until the peer closes it (on the
    connection's own thread; `loop` is the worker's event loop)."""
    try:
        if _peer_uid(sock) not in (os.geteuid(), 0):
            log.warning("refused a worker socket connection of another user")
            return
        while True:
            try:
                message = rpcwire.recv_frame(sock)
            except rpcwire.FrameError as e:
                log.warning("closing a worker socket connection: %s", e)
                return
            if message is None:
                return  # the caller closed (or gave up mid-frame: nothing was taken)
            reply = _calls.submit(_call, message, loop).result()
            if not message.get("cast"):
                sock.sendall(_frame(message, reply))
    except OSError:
        pass  # the caller went away (timed out): its answer has nobody to go to
    finally:
        sock.close()


def _call(message: dict[str, Any], loop: asyncio.AbstractEventLoop) -> dict[str, Any] | None:
    """`answer_here` on a call thread, with its kept database connection (made anew when
    broken or expired)."""
    close_old_connections()
    return answer_here(message, loop)


class Listener:
    """The socket server of one worker: `start` after the boot reconcile, `close` at exit.
    The event loop accepts; each connection is served on a thread of its own."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
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
            sock.setblocking(False)
            self.inode = os.stat(tmp).st_ino
            os.replace(tmp, final)
        except BaseException:
            sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self.sock, self.loop = sock, asyncio.get_running_loop()
        self.loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        """Take the waiting connections, each to a thread of its own (in the loop)."""
        while self.sock is not None:
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # out of file descriptors: pause (the callers' connects wait)
                log.warning("accepting a worker socket connection failed: %s", e)
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(ACCEPT_PAUSE_S, self._listen_again)
                return
            conn.setblocking(True)
            threading.Thread(target=_serve_connection, args=(conn, self.loop),
                             name="rpc", daemon=True).start()

    def _listen_again(self) -> None:
        if self.sock is not None:
            self.loop.add_reader(self.sock.fileno(), self._accept)

    def close(self) -> None:
        """Stop listening; remove the socket when it is still this worker's (callers are then
        told at once that no worker listens)."""
        if self.sock is not None and self.loop is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        with contextlib.suppress(OSError):
            if os.stat(path()).st_ino == self.inode:
                os.unlink(path())
