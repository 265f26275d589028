"""dockerweb.sqlite: a transaction waiting for another of the same process begins as soon as
that one ends, not after SQLite's busy handler's next sleep; the writer lock is given back
however a transaction ends. Real SQLite files, real threads (no Django test database: its
in-memory shared cache locks differently)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ALIAS = "writertest"


@contextmanager
def _database(path: str, engine: str) -> Iterator[None]:
    """Alias ALIAS of django.db.connections: the SQLite file `path` through `engine`, with
    the project's transaction mode."""
    from django.db import connections

    connections.settings[ALIAS] = connections.configure_settings({
        "default": connections.settings["default"],
        ALIAS: {"ENGINE": engine, "NAME": path, "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000;",
            "transaction_mode": "IMMEDIATE"}},
    })[ALIAS]
    try:
        yield
    finally:
        if hasattr(connections._connections, ALIAS):
            connections[ALIAS].close()
            delattr(connections._connections, ALIAS)
        del connections.settings[ALIAS]


def _late_begin(hold_s: float) -> float:
    """Seconds between the end of one thread's transaction (held `hold_s`) and the start of
    another's that asked for it meanwhile."""
    from django.db import connections, transaction

    committed = threading.Event()
    holding = threading.Event()
    out: dict[str, float] = {}

    def first() -> None:
        conn = connections[ALIAS]
        with transaction.atomic(using=ALIAS):
            conn.cursor().execute("INSERT INTO t VALUES (1)")
            holding.set()
            time.sleep(hold_s)
            out["end"] = time.monotonic()
        committed.set()
        conn.close()

    def second() -> None:
        conn = connections[ALIAS]
        holding.wait()
        with transaction.atomic(using=ALIAS):
            out["begun"] = time.monotonic()
            conn.cursor().execute("INSERT INTO t VALUES (2)")
        conn.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out["begun"] - out["end"]


@pytest.fixture
def db_file(tmp_path, django_db_blocker):
    import sqlite3

    path = str(tmp_path / "w.sqlite3")
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE t (v INTEGER)")
    with django_db_blocker.unblock():  # a database of its own, not the test database
        yield path


def test_a_waiting_transaction_begins_when_the_other_ends(db_file):
    # SQLite's busy handler tries at 1, 3, 8, 18, 33, 53, 78, 103, 128, 153, 178, 228 ms:
    # a lock given back at 185 ms is found at 228 ms (Django's own backend: ~40 ms late)
    with _database(db_file, "dockerweb.sqlite"):
        late = _late_begin(0.185)
    assert late < 0.015, f"began {late * 1000:.1f} ms after the other transaction ended"


def test_the_writer_lock_is_given_back_after_a_rollback_and_a_close(db_file):
    from django.db import connections, transaction

    from dockerweb.sqlite import base

    lock = base._writer(db_file)
    with _database(db_file, "dockerweb.sqlite"):
        conn = connections[ALIAS]
        with pytest.raises(RuntimeError):
            with transaction.atomic(using=ALIAS):
                assert lock.locked()
                raise RuntimeError("rolled back")
        assert not lock.locked()
        conn.set_autocommit(False)
        conn.cursor().execute("SELECT 1")
        conn.in_atomic_block = False
        conn._start_transaction_under_autocommit()  # as Atomic begins one
        assert lock.locked()
        conn.close()  # a broken connection, closed inside its transaction
        assert not lock.locked()
