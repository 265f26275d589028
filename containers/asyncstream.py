"""A blocking iterator of byte chunks served as an async iterator, without buffering it.

Django's ASGI handler turns a synchronous StreamingHttpResponse body into a list before it
sends a byte: a followed log would arrive only when the container exits, and a 2 GB export
would sit in memory. `stream(chunks)` runs the iterator in a thread of its own and hands each
chunk to the event loop as it comes, through a bounded queue (a slow client slows the
producer; memory stays at most `depth` chunks). Chunks waiting together are sent together.
When the client goes away the producer stops at its next chunk and the iterator is closed.
An exception in the iterator ends the response there (the status line is long gone).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.db import connections

_END = object()
GATHER = 1 << 20  # bytes joined into one send at most


def in_thread(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """Run a blocking call (database, files, the engine) in a pool thread, not in the one
    thread Django's sync views share, with fresh database connections (closed before and
    after the call). The one thread wrapper of consumers, the worker and the Docker API."""
    return DatabaseSyncToAsync(fn, thread_sensitive=False)


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def stream(chunks: Iterable[bytes], depth: int = 16) -> AsyncIterator[bytes]:
    """The chunks of `chunks` (read in a thread) as an async iterator."""
    return _stream(iter(chunks), depth)


async def _stream(it: Iterator[bytes], depth: int) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[Any] = asyncio.Queue(maxsize=depth)
    stop = threading.Event()
    threading.Thread(target=_produce, args=(it, q, loop, stop), name="asyncstream", daemon=True).start()
    try:
        while True:
            item = await q.get()
            parts: list[bytes] = []
            size = 0
            while True:
                if item is _END:
                    if parts:
                        yield b"".join(parts)
                    return
                if isinstance(item, _Failed):
                    if parts:
                        yield b"".join(parts)
                    raise item.error
                parts.append(item)
                size += len(item)
                if size >= GATHER or q.empty():
                    break
                item = q.get_nowait()
            yield b"".join(parts) if len(parts) > 1 else parts[0]
    finally:
        stop.set()
        while not q.empty():  # unblock a producer waiting on a full queue
            q.get_nowait()


def _produce(it: Iterator[bytes], q: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop,
             stop: threading.Event) -> None:
    try:
        for chunk in it:
            if not chunk:
                continue
            if not _put(q, loop, stop, chunk):
                return
        _put(q, loop, stop, _END)
    except BaseException as e:  # noqa: BLE001 - handed to the consumer
        _put(q, loop, stop, _Failed(e))
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
        connections.close_all()  # this thread's database connections


def _put(q: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop, stop: threading.Event, item: Any) -> bool:
    """Queue `item` in the loop, waiting while the queue is full; False once the consumer left."""
    try:
        fut = asyncio.run_coroutine_threadsafe(q.put(item), loop)
    except RuntimeError:  # the loop is closed
        return False
    while True:
        try:
            fut.result(timeout=0.25)
            return not stop.is_set()
        except concurrent.futures.TimeoutError:
            if stop.is_set():
                fut.cancel()
                return False
        except concurrent.futures.CancelledError:
            return False
