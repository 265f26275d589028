"""The worker's heartbeat: `<state>/run/worker.json`, readable without Redis.

The worker writes its pid, process start time and host into the file when it starts and
touches it (mtime) every BEAT_S seconds from its event loop, also while Redis is down. API
processes on the same state root read it to tell, at once and without the channel layer,
whether a worker runs (its pid names the same process) and is responsive (the mtime is
younger than STALE_S): a call to a dead worker fails at once instead of after the RPC
timeout, and `/api/info/` says which part is down.
"""

from __future__ import annotations

import json
import os
import socket
import time

from django.conf import settings

from containers.engine.layout import private
from containers.engine.run import procs

BEAT_S = 2.0
STALE_S = 10.0
FILE_NAME = "worker.json"


def path() -> str:
    return os.path.join(settings.RUN_DIR, FILE_NAME)


def begin() -> None:
    """Announce this process as the worker (atomic: tmp + rename, 0600)."""
    pid = os.getpid()
    doc = {"pid": pid, "started": procs.start_time(pid), "host": socket.gethostname()}
    os.makedirs(settings.RUN_DIR, mode=0o700, exist_ok=True)
    tmp = f"{path()}.{pid}.tmp"
    with open(tmp, "w", opener=private) as f:
        json.dump(doc, f)
    os.replace(tmp, path())


def beat() -> None:
    """Say this worker is alive now (re-announces it when the file went away)."""
    try:
        os.utime(path())
    except FileNotFoundError:
        begin()


def end() -> None:
    """Withdraw this worker's heartbeat (only its own: a newer worker may have replaced it)."""
    try:
        with open(path()) as f:
            if json.load(f).get("pid") == os.getpid():
                os.unlink(path())
    except (OSError, ValueError):
        pass


def problem() -> str | None:
    """Why no worker can answer now (None: one runs and beat within STALE_S seconds)."""
    try:
        with open(path()) as f:
            doc = json.load(f)
            age = time.time() - os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        return "no worker is running (no heartbeat)"
    except (OSError, ValueError) as e:
        return f"the worker's heartbeat is unreadable: {e}"
    pid = doc.get("pid")
    here = doc.get("host") == socket.gethostname()  # a pid names a process on its host only
    if here and not procs.alive(pid, doc.get("started")):
        return f"the worker (pid {pid}) is not running"
    if age > STALE_S:
        return f"the worker (pid {pid}) has not beaten for {age:.0f}s"
    return None
