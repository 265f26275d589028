"""containers.asyncstream: a blocking iterator served to the event loop chunk by chunk, with
bounded read-ahead, errors passed on, and the iterator closed when the client leaves."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from containers import asyncstream

QUIET_WINDOW_S = 0.3  # the time an unbounded producer is given to overrun (a negative check)


def test_chunks_arrive_as_they_are_made():
    gate = threading.Event()

    def slow():
        yield b"first"
        gate.wait(5)
        yield b"second"

    async def run():
        it = asyncstream.stream(slow())
        t0 = time.monotonic()
        assert await it.__anext__() == b"first"  # before the second exists
        assert time.monotonic() - t0 < 2
        gate.set()
        assert [c async for c in it] == [b"second"]

    asyncio.run(run())


def test_read_ahead_is_bounded_and_the_iterator_is_closed_when_the_client_leaves():
    made = []
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                made.append(n)
                yield b"x" * 10
                n += 1
        finally:
            closed.set()

    async def run():
        it = asyncstream.stream(endless(), depth=4)
        assert (await it.__anext__()).startswith(b"x")
        await asyncio.sleep(QUIET_WINDOW_S)
        assert len(made) <= 4 + 2 + 1  # queue depth, one in hand, one being put
        await it.aclose()  # the client went away

    asyncio.run(run())
    assert closed.wait(3)


def test_waiting_chunks_are_sent_together_and_errors_pass_through():
    def failing():
        yield from (b"a", b"b", b"c")
        raise OSError("disk gone")

    async def run():
        got = []
        with pytest.raises(OSError, match="disk gone"):
            async for c in asyncstream.stream(failing()):
                got.append(c)
        return b"".join(got)

    assert asyncio.run(run()) == b"abc"
