"""One instance per state root: advisory locks under <state>/run/ (plain Python, no Django).

Each lock is a file `<state>/run/<name>.lock` (0600) locked with flock(LOCK_EX | LOCK_NB) by
the process that owns it, for its whole life; the kernel drops the lock when that process
dies (kill -9 included), so a stale file never blocks a start. The holder writes what a
refused starter shows into the file: `{"pid": N, "url": "..."}`.

Locks: `dockerweb` (bin/run, i.e. supervisord after exec), `worker`, `dockerapi` (the one of
the default docker.sock; a Docker API on another socket locks `<socket>.lock`), `redis`.
"""

from __future__ import annotations

import fcntl
import json
import os

COMPONENTS = ("worker", "dockerapi", "redis")


class AlreadyRunning(Exception):
    """The lock is held by another live process; `info` is what it wrote (may be {})."""

    def __init__(self, name: str, info: dict):
        self.name = name
        self.info = info
        super().__init__(describe(name, info))


def path(state_root: str, name: str) -> str:
    return os.path.join(state_root, "run", f"{name}.lock")


def describe(name: str, info: dict) -> str:
    """The refusal message: 'dockerweb is already running (pid N, URL)'."""
    parts = [f"pid {info['pid']}" if info.get("pid") else "pid unknown"]
    if info.get("url"):
        parts.append(str(info["url"]))
    what = "dockerweb" if name == "dockerweb" else f"dockerweb's {name}"
    return f"{what} is already running ({', '.join(parts)})"


def _read(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        info = json.loads(data) if data.strip() else {}
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def acquire(lockfile: str, name: str, url: str = "", pid: int | None = None) -> int:
    """Take the lock `lockfile` (usually `path(state_root, name)`) for this process and write
    pid/url into it (its directory is made 0700 if missing).

    Returns the locked fd (keep it open: closing it releases the lock; it is close-on-exec
    unless the caller makes it inheritable). Raises AlreadyRunning, touching nothing, when
    another process holds it."""
    os.makedirs(os.path.dirname(lockfile), mode=0o700, exist_ok=True)
    fd = os.open(lockfile, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info = _read(fd)
        os.close(fd)
        raise AlreadyRunning(name, info) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": pid or os.getpid(), "url": url}).encode() + b"\n", 0)
    return fd


def holder(state_root: str, name: str) -> dict | None:
    """What the live holder of lock `name` wrote ({} if nothing yet), or None if it is free.
    Never creates the run directory; a lock file it opens is left as it was."""
    try:
        fd = os.open(path(state_root, name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        return None
    finally:
        os.close(fd)


def running(state_root: str, names: tuple[str, ...] = ("dockerweb", *COMPONENTS)
            ) -> tuple[str, dict] | None:
    """The first held lock of this state root among `names` (default: the stack's, then each
    component's) as (name, what its holder wrote), or None."""
    for name in names:
        info = holder(state_root, name)
        if info is not None:
            return name, info
    return None
