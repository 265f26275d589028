"""procs.alive: one read of /proc/PID/stat decides it (same process, not a zombie)."""

from __future__ import annotations

import os
import subprocess
import time

from containers.engine.run import procs


def test_alive_is_the_same_running_process():
    me = os.getpid()
    started = procs.start_time(me)
    assert procs.alive(me, started)
    assert not procs.alive(me, started + 1) and not procs.alive(me, None) and not procs.alive(None, started)
    assert not procs.alive(2 ** 22 + 12345, started)  # beyond pid_max: no such process


def test_a_zombie_is_not_alive():
    child = subprocess.Popen(["true"])
    started = procs.start_time(child.pid)
    deadline = time.monotonic() + 5
    while not procs.is_zombie(child.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert procs.is_zombie(child.pid) and not procs.alive(child.pid, started)
    finally:
        child.wait()
