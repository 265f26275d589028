"""Long operations (pull, push) as Docker's stream of JSON progress lines.

`start(work)` runs `work(emit)` in a thread of its own and blocks until the work's first
message or its end. An engine error before any message is raised right there, so the view
answers with a real 4xx/5xx (as Docker does for an unknown image); afterwards the response is
already 200, so a later error ends the stream as Docker's {"errorDetail", "error"} line.
The returned async iterator yields each message as one JSON line as it comes (through
asyncstream). The work runs to its end even when the client goes away (a pull is not left
half-stored).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from django.db import connections

from containers import asyncstream
from containers.engine.errors import EngineError

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], None]
_END = object()


KEEPALIVE_S = 1.0
STARTED: dict[str, Any] = {}  # emit(STARTED): answer 200 now, send nothing (a quiet build)


def start(work: Callable[[Emit], Any], cancel: threading.Event | None = None) -> AsyncIterator[bytes]:
    """Run `work(emit)`; raise its EngineError if it fails before emitting; else the lines.
    `cancel` is set when the client goes away (work that can stop early watches it)."""
    q: queue.Queue[Any] = queue.Queue()
    thread = threading.Thread(target=_run, args=(work, q), name="jsonprogress", daemon=True)
    thread.start()
    first = q.get()
    if isinstance(first, EngineError):
        raise first
    return asyncstream.stream(_lines(first, q, cancel))


def _run(work: Callable[[Emit], Any], q: queue.Queue[Any]) -> None:
    try:
        work(q.put)
    except EngineError as e:
        q.put(e)
    except Exception as e:  # noqa: BLE001 - reported to the client, logged here
        log.exception("progress work failed")
        q.put(EngineError(f"internal error: {e.__class__.__name__}: {e}"))
    finally:
        connections.close_all()  # this thread's database connections
        q.put(_END)


def _lines(first: Any, q: queue.Queue[Any], cancel: threading.Event | None = None) -> Iterator[bytes]:
    """The JSON lines. With `cancel`, a silence of KEEPALIVE_S sends a bare newline (JSON
    decoders skip whitespace between values): writing is how a departed client is noticed."""
    msg = first
    try:
        while msg is not _END:
            if isinstance(msg, EngineError):
                msg = {"errorDetail": {"message": msg.message}, "error": msg.message}
            if msg is not STARTED:
                yield json.dumps(msg).encode() + b"\n"
            msg = _next(q, cancel)
            while msg is None:
                yield b"\n"
                msg = _next(q, cancel)
    finally:
        if cancel is not None and msg is not _END:  # the client left before the end
            cancel.set()


def _next(q: queue.Queue[Any], cancel: threading.Event | None) -> Any:
    """The next message; None after KEEPALIVE_S of silence when `cancel` is watched."""
    if cancel is None:
        return q.get()
    try:
        return q.get(timeout=KEEPALIVE_S)
    except queue.Empty:
        return None
