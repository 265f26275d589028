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


def _paced_app(gate: asyncio.Event, running: list[int], peaks: list[int]):
    """An HTTP app whose paced requests (scope "paced") count themselves in `running`
    (`peaks`: the count as each one began), then wait for `gate`."""

    async def app(scope, receive, send) -> None:
        await sync_to_async(lambda: None, thread_sensitive=True)()
        if scope["paced"]:
            running[0] += 1
            peaks.append(running[0])
            await gate.wait()
            running[0] -= 1

    return app


def _request(pool: RequestThreads, paced: bool):
    return pool({"type": "http", "paced": paced}, None, None)


def test_paced_requests_take_turns_and_a_turn_is_waited_for_at_most_pace_wait_s(monkeypatch):
    """At most `pace` paced requests run at once, each holding its turn until answered;
    other requests are not held up; a turn not come within pace_wait_s is gone without."""
    monkeypatch.setattr(requestthreads, "connections", _Connections())

    async def scenario() -> None:
        gate, running, peaks = asyncio.Event(), [0], []
        pool = RequestThreads(_paced_app(gate, running, peaks), paced=lambda scope: scope["paced"],
                              pace=2, pace_wait_s=5)
        pool._configured = True
        tasks = [asyncio.create_task(_request(pool, True)) for _ in range(6)]
        await asyncio.sleep(0.1)
        assert running[0] == 2  # four wait for a turn
        await asyncio.wait_for(_request(pool, False), 1)  # not paced: not held up
        gate.set()
        await asyncio.gather(*tasks)
        assert max(peaks) == 2 and len(peaks) == 6  # in turns, all answered
        assert pool._turns._value == 2  # every turn given back

        gate, running, peaks = asyncio.Event(), [0], []
        pool.app, pool.pace_wait_s = _paced_app(gate, running, peaks), 0.3
        tasks = [asyncio.create_task(_request(pool, True)) for _ in range(5)]
        await asyncio.sleep(0.1)
        assert running[0] == 2
        await asyncio.sleep(0.35)  # past pace_wait_s: the other three went on without a turn
        assert running[0] == 5
        gate.set()
        await asyncio.gather(*tasks)
        assert pool._turns._value == 2  # only the turns taken were given back

    asyncio.run(scenario())


def test_the_web_paces_rest_creates_and_starts_only():
    def scope(method, path):
        return {"type": "http", "method": method, "path": path}

    paced = requestthreads.creates_and_starts
    assert paced(scope("POST", "/api/containers/"))
    assert paced(scope("POST", "/api/containers/abc/start/"))
    assert not paced(scope("GET", "/api/containers/"))
    assert not paced(scope("POST", "/api/containers/abc/stop/"))
    assert not paced(scope("POST", "/api/containers/abc/restart/"))
    assert not paced(scope("POST", "/api/exec/abc/start/"))  # an exec's start
    assert not paced(scope("POST", "/api/containers/abc/x/start/"))
    assert not paced(scope("POST", "/v1.41/containers/abc/start"))  # the Docker API's own server
