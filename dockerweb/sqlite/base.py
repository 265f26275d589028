"""Django's SQLite backend with one writer at a time per process, queued in Python.

Every transaction here is `BEGIN IMMEDIATE` (settings): it takes SQLite's write lock at its
start. A second writer meets SQLITE_BUSY and SQLite's busy handler sleeps 1, 2, 5, 10, 15,
20, 25, ... 100 ms between its tries, so a lock given back after 0.3 ms is found only after
the sleep: in a burst of 100 creates and starts, the web's request threads slept ~0.5 s in
all that way, and the worker's engine threads as long (perf trace of clock_nanosleep, issue
13). Here a transaction first takes the process's writer lock (a
`threading.Lock`, handed on as soon as it is released), so only writers of different
processes (web, worker) still meet SQLite's busy handler. A writer that waits longer than
WRITER_WAIT_S goes ahead without it (SQLite's own lock and busy timeout still guard the
data): a transaction that waits on another thread cannot deadlock on this lock.
"""

from __future__ import annotations

import functools
import threading

from django.db.backends.sqlite3 import base

WRITER_WAIT_S = 5.0
_writers: dict[str, threading.Lock] = {}  # database file -> its writer lock
_writers_lock = threading.Lock()


def _writer(name: str) -> threading.Lock:
    with _writers_lock:
        return _writers.setdefault(name, threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    """sqlite3's wrapper; a transaction holds the process's writer lock of its file."""

    _holds_writer = False

    @functools.cached_property
    def _writer_lock(self) -> threading.Lock:
        """The writer lock of this connection's file (looked up once per wrapper)."""
        return _writer(str(self.settings_dict["NAME"]))

    def _start_transaction_under_autocommit(self) -> None:
        self._holds_writer = self._writer_lock.acquire(timeout=WRITER_WAIT_S)
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer()
            raise

    def _release_writer(self) -> None:
        if self._holds_writer:
            self._holds_writer = False
            self._writer_lock.release()

    def _commit(self) -> None:
        try:
            return super()._commit()
        finally:
            self._release_writer()

    def _rollback(self) -> None:
        try:
            return super()._rollback()
        finally:
            self._release_writer()

    def _close(self) -> None:
        try:
            return super()._close()
        finally:
            self._release_writer()
