"""The attach framing (engine/run/frames.py), shared by the supervisor and its clients."""

from __future__ import annotations

import os
import subprocess

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


def test_supervisor_scripts_import_frames_without_heavy_modules():
    """Run as `python3 -I -S script.py` the supervisors find frames.py next to them, and
    start-up imports neither json nor socket (they are imported after the launch)."""
    for script in ("supervisor.py", "exec_supervisor.py"):
        path = os.path.join(ENGINE, script)
        probe = ("import sys\n"
                 f"g = {{'__name__': 'probe', '__file__': {path!r}, '__package__': None}}\n"
                 f"exec(compile(open({path!r}).read(), {path!r}, 'exec'), g)\n"
                 "assert sys.modules['frames'].STDOUT == 1\n"
                 "print(sorted({'json', 'socket', 'enum'} & set(sys.modules)))\n")
        out = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", probe],
                             capture_output=True, text=True, check=True, cwd="/")
        assert out.stdout.strip() == "[]", out.stdout
