"""A lean HTTP client for the benches: one kept-alive `http.client` connection per thread,
JSON in and out, nothing else.

Why not `requests` (the tests' client, `Stack.api`): measured on this host, `requests`
spends ~0.9-1.1 ms of the client's own CPU per request against ~0.2 ms for `http.client`
(bench/bench_client.py prints both), and in a burst its 100 threads ran on the same two
cores as the stack (3.5-4.3 ms of CPU per container). The benches measure the server, as a
Go client (the docker CLI) would see it; `--client requests` in bench_lifecycle and
bench_burst keeps the old figure available.
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any


class Reply:
    """A response: `status_code`, `content` (bytes), `json()`, `text`, as `requests` names
    them (the benches' code reads both kinds)."""

    def __init__(self, status: int, content: bytes):
        self.status_code = status
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class LeanClient:
    """`api(method, path, json=None, timeout=60) -> Reply` against `base` with `headers`
    (e.g. the stack's token) on this thread's own kept-alive connection; a kept connection
    the server closed is opened again (a fresh one's failure is raised)."""

    def __init__(self, base: str, headers: dict[str, str]):
        url = urllib.parse.urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.headers = dict(headers)
        self._local = threading.local()

    def _conn(self, timeout: float) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def api(self, method: str, path: str, json: Any = None, timeout: float = 60) -> Reply:
        body = None if json is None else _dumps(json)
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        while True:
            conn = self._conn(timeout)
            kept = conn.sock is not None  # a kept connection the server may have closed
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                return Reply(r.status, r.read())
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self._local.conn = None
                if not kept:
                    raise


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def lean(s) -> LeanClient:
    """A LeanClient aimed at stack `s` with its token."""
    return LeanClient(s.base, {"Authorization": s.session.headers["Authorization"]})
