"""A throwaway PostgreSQL cluster (Debian's postgresql) on a unix socket, for the tests that
run the stack on PostgreSQL (tests/test_postgres.py, tests/test_hosts.py)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest

PG_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _pg(cmd: list[str]) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True)


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A fresh cluster with a database "dockerweb"; yields its URL, removes it after."""
    if not PG_BINS:
        raise RuntimeError("postgresql is not installed: `make deps` installs it")
    bin_dir = PG_BINS[-1]
    base = tempfile.mkdtemp(prefix="dwpg-", dir="/tmp")
    os.chmod(base, 0o755)
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.makedirs(sock)
    shutil.chown(base, "postgres")
    shutil.chown(sock, "postgres")
    try:
        _pg([f"{bin_dir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"])
        _pg([f"{bin_dir}/pg_ctl", "-D", data, "-w", "-l", os.path.join(base, "pg.log"), "-o",
             f"-k {sock} -c listen_addresses=''", "start"])
        _pg([f"{bin_dir}/createdb", "-h", sock, "-U", "postgres", "dockerweb"])
        yield f"postgres://postgres@{quote(sock, safe='')}/dockerweb"
    finally:
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            _pg([f"{bin_dir}/pg_ctl", "-D", data, "-w", "-m", "fast", "stop"])
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url():
    if not PG_BINS:
        pytest.fail("postgresql is not installed: `make deps` installs it")
    with postgres_cluster() as url:
        yield url
