"""Trash: directories that disappear at once and are deleted off the caller's path.

`discard(path, tmp)` renames `path` into `tmp` (same filesystem: one atomic rename, so the
directory is gone for everyone at once) and leaves the deletion to one background thread per
process. A removal therefore never waits for the unlinks of a container's files (63 ms of a
removal's 160 ms on a loaded host, more with a large upper dir). The thread deletes every
`removed-*` entry of `tmp`, so what a crashed process left half-deleted goes with the next
removal. The thread is started once per process and then waits for work; woken from
idle, it lets the removal that woke it finish first (SETTLE_S). A container's
directory discarded with a `spare_dir` is made a spare there instead when it can be
(fs/spares.py: its inodes are kept for the next container), else deleted. Plain Python,
no Django.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time

from . import spares

PREFIX = "removed-"
RECYCLE = "recycle-"  # a container directory: made a spare if it can be, else deleted
_cond = threading.Condition()
_pending: set[str] = set()  # tmp dirs with trash to delete
_busy = False  # the thread is deleting
_thread: threading.Thread | None = None
_spares: dict[str, str] = {}  # tmp dir -> the spare dir of what was discarded into it
# an idle thread handed work first lets the removal that handed it finish: its Python work
# (recycling a spare: ~40 system calls, ~1 ms of CPU) would take the GIL from the removal's
# commit and reply, on the removal's path
SETTLE_S = 0.02


def discard(path: str, tmp: str, spare_dir: str = "") -> None:
    """Make directory `path` disappear now and delete it soon (or, with `spare_dir`, make it
    a spare there: a container's directory). Nothing there: no-op. When the rename is
    refused (another filesystem), it is deleted in place, as before."""
    prefix = RECYCLE if spare_dir else PREFIX
    try:
        os.makedirs(tmp, mode=0o700, exist_ok=True)
        if spare_dir:
            with _cond:
                _spares[tmp] = spare_dir
        os.rename(path, os.path.join(tmp, f"{prefix}{os.path.basename(path)}-{secrets.token_hex(4)}"))
    except FileNotFoundError:
        return
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return
    _kick(tmp)


def _kick(tmp: str) -> None:
    """Hand `tmp` to the process's trash thread, started on first use and then kept (it
    waits for work): starting a thread per removal cost a thread start and a wait for the
    scheduler on the removal's path (issue 13)."""
    global _thread
    with _cond:
        _pending.add(tmp)
        if _thread is None or not _thread.is_alive():  # first use, or a forked child
            _thread = threading.Thread(target=_empty, name="trash", daemon=True)
            _thread.start()
        _cond.notify()


def _empty() -> None:
    """Delete the trash of every pending tmp dir; wait for more when none is pending."""
    global _busy
    while True:
        with _cond:
            idle = not _pending
            while not _pending:
                _busy = False
                _cond.wait()
            _busy = True
        if idle:
            time.sleep(SETTLE_S)  # the removal that woke us finishes first
        with _cond:
            tmp = _pending.pop()
            spare_dir = _spares.get(tmp, "")
        try:
            names = [n for n in os.listdir(tmp) if n.startswith((PREFIX, RECYCLE))]
        except OSError:
            continue
        for name in names:
            path = os.path.join(tmp, name)
            if name.startswith(RECYCLE) and spare_dir and spares.recycle(path, spare_dir):
                continue
            shutil.rmtree(path, ignore_errors=True)


def pending() -> bool:
    """True while there is trash to delete or the thread is deleting (for tests)."""
    with _cond:
        return _busy or bool(_pending)
