"""The leak check of a test run: what the run left on the host after its stack stopped.
Called by the session finalizer (tests/conftest.py), so any subset of the tests is checked."""

from __future__ import annotations

import os
import subprocess
import time

from containers.engine.fs import rootfs
from containers.engine.net import bridge, portmap
from containers.engine.run import cgroups


def _procs_mentioning(text: str) -> list[str]:
    # -ww: whole command lines (without it ps cuts them at 80 columns, before a long path)
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if text in line and "pytest" not in line]


def _veths_on(bridge_name: str) -> list[str]:
    ports = subprocess.run(["ip", "-o", "link", "show", "master", bridge_name], capture_output=True,
                           text=True).stdout.strip()
    return [ln.split(":")[1].strip() for ln in ports.splitlines() if ln]


def _veths_left(bridge_name: str, grace_s: float = 5.0) -> list[str]:
    """The veths still on the bridge after `grace_s`: a container's end leaves its pair to
    the kernel, which deletes it with the container's namespace, in the background (tens of
    milliseconds); one still there after the grace is a leak."""
    deadline = time.monotonic() + grace_s
    while (left := _veths_on(bridge_name)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def on_host(state_root: str, cgroup_parent: str, bridge_name: str, nft_table: str,
            network_prefix: str = "") -> list[str]:
    """What the run's containers left: mounts, cgroups, processes, state directories, veths
    on the run's bridge, nft rules; and what its user networks left (bridges named
    `network_prefix`..., their nft rules). Call it after the stack stopped, before any sweep."""
    problems = [f"mount {m}" for m in rootfs.mounts_under(state_root)]
    problems += [f"cgroup {c}" for c in cgroups.leftovers(cgroup_parent)]
    problems += [f"process {p}" for p in _procs_mentioning(state_root)]
    for kind in ("containers", "lxc", "runtime"):
        d = os.path.join(state_root, kind)
        if os.path.isdir(d):
            problems += [f"{kind.rstrip('s')} dir {name}" for name in os.listdir(d)]
    problems += [f"veth on {bridge_name}: {name}" for name in _veths_left(bridge_name)]
    problems += [f"nft rules of container {cid}" for cid in portmap.owners(nft_table)]
    if network_prefix:
        problems += [f"bridge of a user network: {b}" for b in bridge.named(network_prefix)]
    problems += [f"nft rules of user network {b}" for b in sorted(portmap.networks(nft_table))]
    return problems


def network_left(bridge_name: str, nft_table: str) -> list[str]:
    """What the run's network removal could not remove: call it after removing them."""
    problems = []
    if bridge.exists(bridge_name):
        problems.append(f"bridge {bridge_name} could not be removed")
    if subprocess.run(["nft", "list", "table", "ip", nft_table], capture_output=True).returncode == 0:
        problems.append(f"nft table {nft_table} could not be removed")
    return problems
