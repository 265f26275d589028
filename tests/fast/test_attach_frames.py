"""containers/dockerapi/attach.py's reading of a supervisor's frames, with a stand-in link
(pure logic): when the frames reached the client, and when the log must be replayed."""

from __future__ import annotations

import asyncio

from containers.dockerapi.attach import Attach
from containers.engine.run.frames import EXIT, STDERR, STDOUT


class _Link:
    """A supervisor link that hands out `frames`, then the connection's end (None)."""

    def __init__(self, frames: list[tuple[int, bytes]]):
        self.frames = list(frames)

    async def read_frame(self) -> tuple[int, bytes] | None:
        return self.frames.pop(0) if self.frames else None


class _Stream:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    async def write(self, data: bytes) -> None:
        self.written.append(data)


def _pump(frames: list[tuple[int, bytes]]) -> tuple[str, list[bytes]]:
    async def run() -> tuple[str, list[bytes]]:
        session = object.__new__(Attach)  # only what pump_frames reads
        session.done, session.stream, session.multiplexed = asyncio.Event(), _Stream(), False
        session.want = {"stdin": False, STDOUT: True, STDERR: True}
        return await session.pump_frames(_Link(frames)), session.stream.written

    return asyncio.run(run())


def test_an_exit_before_any_output_means_the_log_is_replayed():
    """A supervisor that ends before it read the attach's HELLO sends the exit without the
    scrollback: the output came before the attach connected, so only the log has it (2-3
    `docker run`s in 400, 4 at once, lost their output this way: eleventh session)."""
    assert _pump([(EXIT, b'{"exit_code": 0}')]) == ("lost", [])
    assert _pump([]) == ("lost", [])  # the connection ended first


def test_output_then_exit_is_complete():
    assert _pump([(STDOUT, b"s\n"), (STDERR, b"e\n"), (EXIT, b"{}")]) == ("exit", [b"s\n", b"e\n"])
    assert _pump([(STDOUT, b"s\n")]) == ("exit", [b"s\n"])  # then the end: what came is all
