"""The attach framing (engine/run/frames.py), shared by the supervisor and its clients."""

from __future__ import annotations

import os
import re

from containers.engine.run import frames

ENGINE = os.path.dirname(os.path.abspath(frames.__file__))  # engine/run: the supervisors' dir


def test_split_keeps_an_incomplete_frame_for_the_next_read():
    data = (frames.pack(frames.STDIN, b"abc") + frames.pack(frames.CLOSE_STDIN)
            + frames.pack(frames.HELLO, b"{}"))
    for cut in range(len(data) + 1):
        got, rest = frames.split(data[:cut])
        more, rest = frames.split(rest + data[cut:])
        assert rest == b""
        assert got + more == [(frames.STDIN, b"abc"), (frames.CLOSE_STDIN, b""), (frames.HELLO, b"{}")]


def test_docker_mux_numbers_streams_as_docker():
    assert frames.docker_mux(frames.STDOUT, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert frames.docker_mux(frames.STDERR, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"


def test_the_supervisor_numbers_frames_as_frames_py():
    """supervisor.c speaks this framing: its frame kinds are frames.py's, in order, and its
    header is frames.FRAME (1-byte kind, 4-byte big-endian length)."""
    with open(os.path.join(ENGINE, "supervisor.c")) as f:
        source = f.read()
    kinds = re.search(r"enum \{ (F_STDIN[^}]*) \};", source).group(1).split(", ")
    assert [k.removeprefix("F_") for k in kinds] == ["STDIN", "STDOUT", "STDERR", "EXIT", "CLOSE_STDIN",
                                                     "RESIZE", "HELLO", "LIVE"]
    assert [getattr(frames, k.removeprefix("F_")) for k in kinds] == list(range(8))
    assert frames.FRAME.size == 5 and frames.pack(frames.STDOUT, b"x") == b"\x01\x00\x00\x00\x01x"
