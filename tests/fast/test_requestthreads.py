"""dockerweb/requestthreads.py: a burst's request threads wait for the next burst for
LINGER_S seconds (up to `linger` of them), then end down to `idle`, each closing its own
database connections on its own thread."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import sync_to_async

from dockerweb import requestthreads
from dockerweb.requestthreads import RequestThreads


class _Connections:
    """Stands in for django.db.connections in the module: records on which thread
    close_all ran."""

    def __init__(self):
        self.closed_on: list[threading.Thread] = []

    def close_all(self) -> None:
        self.closed_on.append(threading.current_thread())


def _app(seen: list[threading.Thread], gate: asyncio.Event):
    """An HTTP app whose sync part (on the request's thread) records that thread, then
    waits for `gate`: all requests of a burst are in flight at once."""

    def sync_part() -> None:
        seen.append(threading.current_thread())

    async def app(scope, receive, send) -> None:
        await sync_to_async(sync_part, thread_sensitive=True)()
        await gate.wait()

    return app


async def _burst(pool: RequestThreads, n: int, seen: list[threading.Thread]) -> None:
    gate = asyncio.Event()
    pool.app = _app(seen, gate)
    tasks = [asyncio.create_task(pool({"type": "http"}, None, None)) for _ in range(n)]
    while len(seen) < n:
        await asyncio.sleep(0.005)
    gate.set()
    await asyncio.gather(*tasks)


def test_a_burst_keeps_its_threads_for_the_next_then_ends_them(monkeypatch):
    fake = _Connections()
    monkeypatch.setattr(requestthreads, "connections", fake)

    async def scenario() -> None:
        pool = RequestThreads(None, idle=4, linger=32, linger_s=0.3)
        pool._configured = True  # its CONN_MAX_AGE set-up is Django's (not faked here)
        first: list[threading.Thread] = []
        await _burst(pool, 40, first)
        assert len(set(first)) == 40  # one thread per request in flight
        assert pool.waiting == 32  # beyond `linger`: ended at once, on their own threads
        await asyncio.sleep(0.05)
        assert len(fake.closed_on) == 8 and set(fake.closed_on) <= set(first)

        second: list[threading.Thread] = []
        await _burst(pool, 30, second)  # within LINGER_S: the same threads, no new one
        assert set(second) <= set(first)
        assert pool.waiting == 32

        await asyncio.sleep(0.6)  # LINGER_S passed: back to `idle`, the last used kept
        assert pool.waiting == 4
        kept = {ex._threads.copy().pop() for ex, _ in pool._free}
        assert kept <= set(second)
        assert len(fake.closed_on) == 36 and not kept & set(fake.closed_on)
        ended = set(first) - kept
        await asyncio.sleep(0.1)
        assert not any(t.is_alive() for t in ended)  # their threads are gone

        third: list[threading.Thread] = []
        await _burst(pool, 2, third)  # a small load below `idle` leaves no timer behind
        assert set(third) <= kept and pool._trim_at is None

    asyncio.run(scenario())
