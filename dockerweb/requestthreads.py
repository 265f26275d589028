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
a view blocking on the worker blocks only its own request. At most `idle` executors wait
between requests; one more than that closes its thread's database connections and ends,
so a burst of N concurrent requests leaves at most `idle` threads and connections behind.

Connections are kept `CONN_MAX_AGE` seconds (`KEEP_CONNECTIONS_S`, set for this process
at its first HTTP request: the worker imports this app too and sets its own; Django's
request_started/finished receivers close older or broken ones, on the request's thread).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.db import connections

KEEP_CONNECTIONS_S = 600
IDLE = 16


class RequestThreads:
    """ASGI middleware: HTTP requests' thread-sensitive code on pooled threads (see module)."""

    def __init__(self, app: Any, idle: int = IDLE, conn_max_age: int = KEEP_CONNECTIONS_S):
        self.app = app
        self.idle = idle
        self.conn_max_age = conn_max_age
        self._free: list[ThreadPoolExecutor] = []
        self._configured = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._configured:
            for alias in connections:
                connections.settings[alias]["CONN_MAX_AGE"] = self.conn_max_age
            self._configured = True
        executor = self._free.pop() if self._free else ThreadPoolExecutor(1, thread_name_prefix="request")
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            self._give_back(executor)

    def _give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self._free) < self.idle:
            self._free.append(executor)
            return
        executor.submit(connections.close_all)  # the thread's own connections
        executor.shutdown(wait=False)
