"""Shared bench helpers: a real stack in a fresh state root, timing, clean-up."""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import sys
import tempfile
from contextlib import contextmanager

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from containers.engine import cgroups, rootfs  # noqa: E402
from tests.stack import Stack  # noqa: E402


@contextmanager
def stack():
    """A running dockerweb (Redis, worker, web, Docker API) in its own root; cleaned after."""
    run = secrets.token_hex(3)
    root = tempfile.mkdtemp(prefix=f"dwb-{run}-", dir="/tmp")
    parent = f"dwbench-{run}"
    s = Stack(root, env={"DOCKERWEB_CGROUP_PARENT": parent})
    try:
        yield s.start()
    finally:
        s.shutdown()
        for mp in reversed(rootfs.mounts_under(root)):
            rootfs.unmount(mp)
        cgroups.remove_parent(parent)
        shutil.rmtree(root, ignore_errors=True)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p90_ms(samples: list[float]) -> float:
    return sorted(samples)[int(0.9 * (len(samples) - 1))] * 1000
