"""Container cgroups (v1 hierarchies of this host) under a dockerweb parent.

Layout per container, in every mounted v1 controller:
  <parent>/<id>/          ours: limits (memory) and the OOM eventfd live here
  <parent>/<id>/payload/  LXC's container cgroup (lxc.cgroup.dir.container)
  <parent>/<id>.monitor/  LXC's monitor cgroup  (lxc.cgroup.dir.monitor), outside the limit
The supervisor creates <parent>/<id> in the memory controller before start and removes all
of it after exit; `remove` here is the fallback when a supervisor died.
"""

from __future__ import annotations

import os

CGROUP_ROOT = "/sys/fs/cgroup"


_controllers: tuple[str, int, list[str]] | None = None  # (CGROUP_ROOT, its mtime in ns, the list)


def controllers() -> list[str]:
    """Mounted controller directories (v1 hierarchies plus the unified one). Listed again
    only when CGROUP_ROOT's mtime changed (an entry made, removed or replaced there): one
    stat instead of a listing and two stats per entry at each start and removal."""
    global _controllers
    try:
        mtime = os.stat(CGROUP_ROOT).st_mtime_ns
    except FileNotFoundError:
        return []
    cached = _controllers
    if cached is not None and cached[:2] == (CGROUP_ROOT, mtime):
        return list(cached[2])
    try:
        names = sorted(os.listdir(CGROUP_ROOT))
    except FileNotFoundError:
        return []
    found = [
        os.path.join(CGROUP_ROOT, n)
        for n in names
        if os.path.isdir(os.path.join(CGROUP_ROOT, n)) and not os.path.islink(os.path.join(CGROUP_ROOT, n))
    ]
    _controllers = (CGROUP_ROOT, mtime, found)
    return list(found)


def container_dir(parent: str, cid: str, controller: str = "memory") -> str:
    return os.path.join(CGROUP_ROOT, controller, parent, cid)


def container_dirs(parent: str, cid: str) -> list[str]:
    """Every existing cgroup directory that belongs to container `cid`."""
    out = []
    for ctrl in controllers():
        for name in (cid, f"{cid}.monitor"):
            path = os.path.join(ctrl, parent, name)
            if os.path.isdir(path):
                out.append(path)
    return out


def pids(parent: str, cid: str) -> list[int]:
    """Pids in the container's payload cgroup (memory controller)."""
    path = os.path.join(container_dir(parent, cid), "payload", "cgroup.procs")
    try:
        with open(path) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def remove_tree(path: str) -> None:
    """rmdir `path` and its sub-cgroups bottom-up; ignore what is gone or busy."""
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        for d in dirnames:
            try:
                os.rmdir(os.path.join(dirpath, d))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def remove(parent: str, cid: str) -> None:
    """Remove all of the container's cgroups (they must be empty of processes)."""
    for path in container_dirs(parent, cid):
        remove_tree(path)


def remove_parent(parent: str) -> None:
    """Remove the empty dockerweb parent cgroup everywhere (test teardown, uninstall)."""
    for ctrl in controllers():
        path = os.path.join(ctrl, parent)
        if os.path.isdir(path):
            remove_tree(path)


def leftovers(parent: str) -> list[str]:
    """Cgroup directories still present below `parent` (for leak checks)."""
    out = []
    for ctrl in controllers():
        path = os.path.join(ctrl, parent)
        if os.path.isdir(path):
            out.extend(
                os.path.join(path, d) for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))
            )
    return out


def busy(parent: str) -> list[str]:
    """Names of the cgroups directly below `parent` (containers, `<id>.monitor`) in any
    controller whose tree still holds a process, sorted, each once (teardown's refusal)."""
    out = set()
    for path in leftovers(parent):
        for dirpath, _, _ in os.walk(path):
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    if f.read().split():
                        out.add(os.path.basename(path))
                        break
            except OSError:
                pass
    return sorted(out)


def read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def freeze(parent: str, cid: str, frozen: bool) -> None:
    """Freeze or thaw every process of the container (v1 freezer on our per-container
    cgroup, which holds LXC's payload cgroup). Waits until the state is reached."""
    path = os.path.join(CGROUP_ROOT, "freezer", parent, cid, "freezer.state")
    want = "FROZEN" if frozen else "THAWED"
    with open(path, "w") as f:
        f.write(want)
    import time

    for _ in range(500):
        with open(path) as f:
            if f.read().strip() == want:
                return
        time.sleep(0.002)
