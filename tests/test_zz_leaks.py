"""Runs last: shut the stack down and fail if the run left anything on the host."""

import os
import subprocess

from containers.engine import bridge, cgroups, portmap, rootfs
from tests.conftest import BRIDGE, NFT_TABLE, STATE_ROOT, remove_network, stop_stack


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
    ports = subprocess.run(["ip", "-o", "link", "show", "master", BRIDGE], capture_output=True,
                           text=True).stdout.strip()
    problems += [f"veth on {BRIDGE}: {line.split(':')[1].strip()}" for line in ports.splitlines() if line]
    problems += [f"nft rules of container {cid}" for cid in portmap.owners(NFT_TABLE)]
    remove_network()
    if bridge.exists(BRIDGE):
        problems.append(f"bridge {BRIDGE} could not be removed")
    if subprocess.run(["nft", "list", "table", "ip", NFT_TABLE], capture_output=True).returncode == 0:
        problems.append(f"nft table {NFT_TABLE} could not be removed")
    assert not problems, "leaked:\n" + "\n".join(problems)
