"""The attach framing between a supervisor and its clients, and Docker's stream framing.

The supervisor (supervisor.c) speaks the same framing (its F_* kinds are these, in order;
tests/test_frames.py checks it).

Attach framing, both ways: 1-byte type + 4-byte big-endian length + payload.
  client -> supervisor: HELLO (JSON {"stdin": bool, "scrollback": bool, "mark_live": bool}),
                        STDIN bytes, CLOSE_STDIN, RESIZE (">HH" rows, cols)
  supervisor -> client: STDOUT bytes, STDERR bytes, EXIT (JSON of exit.json), and LIVE (empty)
                        once after the scrollback when the HELLO asked for "mark_live": what
                        came before it is history, what follows is live output

Docker's multiplexed stream ([stream, 0, 0, 0, length uint32 BE] + data) numbers its
streams as we number STDIN, STDOUT and STDERR (0, 1, 2).
"""

import struct

FRAME = struct.Struct(">BI")
STDIN, STDOUT, STDERR, EXIT, CLOSE_STDIN, RESIZE, HELLO, LIVE = range(8)
STREAM_NAMES = {STDOUT: "stdout", STDERR: "stderr"}
WINDOW_SIZE = struct.Struct(">HH")  # the RESIZE payload: rows, cols
DOCKER_FRAME = struct.Struct(">BxxxI")


def pack(kind: int, payload: bytes = b"") -> bytes:
    """One attach frame."""
    return FRAME.pack(kind, len(payload)) + payload


def split(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete frames at the start of `buf` as (kind, payload), and the rest (an
    incomplete frame, to be completed by the next read)."""
    frames = []
    pos, end, head = 0, len(buf), FRAME.size
    while end - pos >= head:
        kind, length = FRAME.unpack_from(buf, pos)
        if end - pos - head < length:
            break
        frames.append((kind, buf[pos + head:pos + head + length]))
        pos += head + length
    return frames, buf[pos:]


def docker_mux(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed-stream frame of `data` on `stream` (STDOUT or STDERR)."""
    return DOCKER_FRAME.pack(stream, len(data)) + data
