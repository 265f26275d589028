"""supervision.await_cleanup: a start or removal waits for the last run's cleaner (which
holds an exclusive flock on exit.json while it unmounts the rootfs: supervisor.c)."""

from __future__ import annotations

import fcntl
import os
import threading
import time

import pytest

from containers.engine.errors import Conflict
from containers.engine.run import supervision


def test_no_exit_file_and_an_unlocked_one_return_at_once(tmp_path):
    supervision.await_cleanup(str(tmp_path / "exit.json"))  # a first start: none yet
    (tmp_path / "exit.json").write_text("{}")
    t0 = time.monotonic()
    supervision.await_cleanup(str(tmp_path / "exit.json"))
    assert time.monotonic() - t0 < 0.1


def test_it_waits_while_a_cleaner_holds_the_lock_and_says_why_after_the_timeout(tmp_path):
    path = tmp_path / "exit.json"
    path.write_text("{}")
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a cleaner at work
    ended = threading.Timer(0.3, os.close, (fd,))  # the cleaner ends
    try:
        with pytest.raises(Conflict, match="still being cleaned up"):
            supervision.await_cleanup(str(path), timeout=0.2)
        ended.start()
        t0 = time.monotonic()
        supervision.await_cleanup(str(path), timeout=5)
        assert 0.2 < time.monotonic() - t0 < 3
    finally:
        if not ended.is_alive() and not ended.finished.is_set():
            os.close(fd)  # never handed to the timer
        ended.join()
