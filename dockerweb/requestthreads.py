"""Request threads for the API servers: each HTTP request's synchronous code runs on a
thread of a pool that is reused across requests, and that thread keeps its database
connection.

Django's ASGI handler runs the synchronous part of each request (sync middleware, views,
signal receivers) on a thread of its own that it starts for the request and ends after it
(asgiref's per-request ThreadSensitiveContext); a thread-local database connection died
with it, so every request paid a thread start, a connect and the SQLite PRAGMAs.
`RequestThreads` wraps the HTTP app: a request takes an idle one-thread executor (or makes
one), runs under `ThreadSensitiveContext(executor=...)` (Django's own context then nests in
it), and gives the executor back. A request still has its thread to itself while it runs:
a view blocking on the worker blocks only its own request.

How many wait between requests: `idle` (IDLE) always; up to `linger` (LINGER) for
`linger_s` (LINGER_S) seconds after their last request. A burst of N concurrent requests
makes up to N executors; a later burst within LINGER_S finds them with their threads and
SQLite connections made (a new one costs a thread start, Django's connect and the
PRAGMAs, and its first statements read the schema and pages into an empty page cache:
~1 ms of CPU each, measured in bursts of 100: bench/bench_burst.py). One given back
beyond `linger`, or left unused for `linger_s` beyond the first `idle`, closes its
thread's database connections and ends (the most recently used are kept, the longest
unused end first), so a burst leaves at most `idle` threads and connections behind once
LINGER_S passed.

Connections are kept `CONN_MAX_AGE` seconds (`KEEP_CONNECTIONS_S`, set for this process
at its first HTTP request: the worker imports this app too and sets its own; Django's
request_started/finished receivers close older or broken ones, on the request's thread).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.db import connections

KEEP_CONNECTIONS_S = 600
IDLE = 16
LINGER = 128
LINGER_S = 30.0


class RequestThreads:
    """ASGI middleware: HTTP requests' thread-sensitive code on pooled threads (see module)."""

    def __init__(self, app: Any, idle: int = IDLE, conn_max_age: int = KEEP_CONNECTIONS_S,
                 linger: int = LINGER, linger_s: float = LINGER_S):
        self.app = app
        self.idle = idle
        self.linger = max(linger, idle)
        self.linger_s = linger_s
        self.conn_max_age = conn_max_age
        self._free: list[tuple[ThreadPoolExecutor, float]] = []  # (executor, given back at), oldest first
        self._trim_at: asyncio.TimerHandle | None = None
        self._configured = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._configured:
            for alias in connections:
                connections.settings[alias]["CONN_MAX_AGE"] = self.conn_max_age
            self._configured = True
        executor = self._free.pop()[0] if self._free else ThreadPoolExecutor(1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            self._give_back(executor)

    @property
    def waiting(self) -> int:
        """How many executors wait for a request."""
        return len(self._free)

    def _give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self._free) >= self.linger:
            _end(executor)
            return
        self._free.append((executor, time.monotonic()))
        if len(self._free) > self.idle and self._trim_at is None:
            self._trim_at = asyncio.get_running_loop().call_later(self.linger_s, self._trim)

    def _trim(self) -> None:
        """End the executors beyond `idle` unused for `linger_s`; come back for the rest."""
        self._trim_at = None
        expired = time.monotonic() - self.linger_s
        while len(self._free) > self.idle and self._free[0][1] <= expired:
            _end(self._free.pop(0)[0])
        if len(self._free) > self.idle:
            delay = max(self._free[0][1] - expired, 0.0)
            self._trim_at = asyncio.get_running_loop().call_later(delay, self._trim)


def _end(executor: ThreadPoolExecutor) -> None:
    """Close the executor's thread's database connections (on that thread) and end it."""
    executor.submit(connections.close_all)
    executor.shutdown(wait=False)
