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

Paced requests (`paced(scope)` true: the REST API's container creates and starts,
`creates_and_starts`) wait for one of `pace` (PACE) turns before they take a thread, and
hold it until they are answered, a start through its call to the worker: in a burst of 100
the web, the worker and LXC then work on at most PACE of them at once, as when a client
sends at most 16 at once (+18 % in the tenth session's runs). The threads of 100 requests at
once took turns at the GIL (~130 context switches per container). Measured (bridge bursts
of 100, 8 each, alternating, bench/bench_ab.py): web CPU per container -2.1 ms, worker -1.3
ms, median rate 34.7 -> 37.8/s. Turns given back while a request waits for the worker did not
help (tenth session): the worker and LXC still took 100 at once. A turn is waited for at
most `pace_wait_s` (PACE_WAIT_S) seconds, then the request goes on without one, so starts
stuck on a worker that does not answer hold the others up by that much at most (with 1 s
the gain was lost: a turn in a burst of 100 can take longer than that).

Connections are kept `CONN_MAX_AGE` seconds (`KEEP_CONNECTIONS_S`, set for this process
at its first HTTP request: the worker imports this app too and sets its own; Django's
request_started/finished receivers close older or broken ones, on the request's thread).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.db import connections

KEEP_CONNECTIONS_S = 600
IDLE = 16
LINGER = 128
LINGER_S = 30.0
PACE = 16
PACE_WAIT_S = 10.0


class RequestThreads:
    """ASGI middleware: HTTP requests' thread-sensitive code on pooled threads (see module)."""

    def __init__(self, app: Any, idle: int = IDLE, conn_max_age: int = KEEP_CONNECTIONS_S,
                 linger: int = LINGER, linger_s: float = LINGER_S,
                 paced: Callable[[dict[str, Any]], bool] | None = None, pace: int = PACE,
                 pace_wait_s: float = PACE_WAIT_S):
        self.app = app
        self.paced = paced
        self.pace_wait_s = pace_wait_s
        self._turns = asyncio.Semaphore(pace)
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
        turn = self.paced is not None and self.paced(scope) and await self._take_turn()
        try:
            await self._run(scope, receive, send)
        finally:
            if turn:
                self._turns.release()

    async def _take_turn(self) -> bool:
        """Wait for a turn, at most `pace_wait_s` seconds; whether one was taken."""
        try:
            return await asyncio.wait_for(self._turns.acquire(), self.pace_wait_s)
        except TimeoutError:
            return False

    async def _run(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The request on a pooled thread's executor (taken, then given back)."""
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


def creates_and_starts(scope: dict[str, Any]) -> bool:
    """The REST API's container creates and starts (POST /api/containers/ and
    /api/containers/<ref>/start/): the web server's paced requests."""
    path = scope.get("path", "")
    return scope.get("method") == "POST" and path.startswith("/api/containers/") and (
        path == "/api/containers/" or (path.endswith("/start/") and path.count("/") == 5))


def _end(executor: ThreadPoolExecutor) -> None:
    """Close the executor's thread's database connections (on that thread) and end it."""
    executor.submit(connections.close_all)
    executor.shutdown(wait=False)
