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

from containers.engine.fs import rootfs  # noqa: E402
from containers.engine.image.store import ImageStore  # noqa: E402
from containers.engine.layout import Layout  # noqa: E402
from containers.engine.net import bridge, portmap  # noqa: E402
from containers.engine.run import cgroups  # noqa: E402
from tests.stack import Stack  # noqa: E402


@contextmanager
def stack(repo: str | None = None):
    """A running dockerweb (Redis, worker, web, Docker API) in its own root, run from
    checkout `repo` (default: this one); cleaned after."""
    run = secrets.token_hex(3)
    root = tempfile.mkdtemp(prefix=f"dwb-{run}-", dir="/tmp")
    parent, table, br = f"dwbench-{run}", f"dwbench_{run}", f"dwb{run}"
    env = {"DOCKERWEB_CGROUP_PARENT": parent, "DOCKERWEB_BRIDGE": br, "DOCKERWEB_NFT_TABLE": table,
           "DOCKERWEB_SUBNET": f"10.214.{int(run, 16) % 250 + 1}.0/24"}
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        forward = f.read().strip()
    s = Stack(root, env=env, repo=repo)
    try:
        yield s.start()
    finally:
        s.shutdown()
        for mp in reversed(rootfs.mounts_under(root)):
            rootfs.unmount(mp)
        cgroups.remove_parent(parent)
        portmap.remove_table(table)
        bridge.remove(br)
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(forward)
        shutil.rmtree(root, ignore_errors=True)


def docker_cli(s: Stack) -> tuple[str, dict[str, str]]:
    """The docker CLI and an environment aimed at stack `s` (SystemExit when no CLI)."""
    docker = shutil.which("docker")
    if docker is None:
        raise SystemExit("no docker CLI (make test installs Debian's docker.io)")
    env = {**os.environ, "DOCKER_HOST": f"unix://{s.docker_sock}", "DOCKER_CONFIG": f"{s.root}/.docker"}
    return docker, env


def mount_busybox(root: str, name: str) -> tuple[Layout, str, str]:
    """The stack's one image (busybox) mounted as an overlay under <root>/<name>, for bare
    lxc-execute baselines: (layout, that directory, the merged root). Unmounted by stack()."""
    layout = Layout(root)
    store = ImageStore(layout)
    img = store.get(next(f[:-5] for f in os.listdir(layout.images) if f.endswith(".json")))
    d = os.path.join(root, name)
    upper, work, merged = (os.path.join(d, x) for x in ("upper", "work", "merged"))
    os.makedirs(d, exist_ok=True)
    rootfs.mount_overlay(store.lower_dirs(img), upper, work, merged)
    return layout, d, merged


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p90_ms(samples: list[float]) -> float:
    return sorted(samples)[int(0.9 * (len(samples) - 1))] * 1000
