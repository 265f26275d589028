"""Runs last: shut the stack down and fail if the run left anything on the host."""

import os
import subprocess

from containers.engine import cgroups, rootfs
from tests.conftest import STATE_ROOT, stop_stack


def _procs_mentioning(text: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if text in line and "pytest" not in line]


def test_nothing_leaked():
    stop_stack()
    problems = []
    problems += [f"mount {m}" for m in rootfs.mounts_under(STATE_ROOT)]
    problems += [f"cgroup {c}" for c in cgroups.leftovers(os.environ["DOCKERWEB_CGROUP_PARENT"])]
    problems += [f"process {p}" for p in _procs_mentioning(STATE_ROOT)]
    containers_dir = os.path.join(STATE_ROOT, "containers")
    if os.path.isdir(containers_dir):
        problems += [f"container dir {d}" for d in os.listdir(containers_dir)]
    lxc_dir = os.path.join(STATE_ROOT, "lxc")
    if os.path.isdir(lxc_dir):
        problems += [f"lxc dir {d}" for d in os.listdir(lxc_dir)]
    assert not problems, "leaked:\n" + "\n".join(problems)
