"""create + start + wait + remove of `true` through the REST API, against bare
`lxc-execute` of the same busybox rootfs, measured in the same run.

Goal (lifecycle issue): API <= 1.5x bare. Prints medians, p90 and the ratios, plus where
the API time goes (each of the four requests).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

from common import median_ms, p90_ms, stack

from containers.engine.fs import rootfs
from containers.engine.image.store import ImageStore
from containers.engine.layout import Layout

BARE_CONFIG = """lxc.uts.name = bench
lxc.rootfs.path = dir:{rootfs}
lxc.mount.auto = proc:mixed sys:ro
lxc.autodev = 1
lxc.net.0.type = empty
lxc.log.file = {log}
lxc.log.level = ERROR
"""


def bare(root: str, n: int) -> tuple[list[float], list[float]]:
    """(lxc-execute only, overlay mount + lxc-execute + umount) durations."""
    layout = Layout(root)
    img = ImageStore(layout).get(_busybox_id(layout))
    d = os.path.join(root, "bare")
    upper, work, merged = (os.path.join(d, x) for x in ("upper", "work", "merged"))
    cfg = os.path.join(d, "config")
    os.makedirs(d, exist_ok=True)
    with open(cfg, "w") as f:
        f.write(BARE_CONFIG.format(rootfs=merged, log=os.path.join(d, "lxc.log")))
    lowers = ImageStore(layout).lower_dirs(img)
    argv = ["lxc-execute", "-n", "dwbench-bare", "-P", layout.lxc, "-f", cfg, "--", "/bin/true"]
    only, full = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        rootfs.mount_overlay(lowers, upper, work, merged)
        t1 = time.perf_counter()
        subprocess.run(argv, check=True)
        t2 = time.perf_counter()
        rootfs.unmount(merged)
        t3 = time.perf_counter()
        only.append(t2 - t1)
        full.append(t3 - t0)
    return only, full


def _busybox_id(layout: Layout) -> str:
    return next(f[:-5] for f in os.listdir(layout.images) if f.endswith(".json"))


def api(s, n: int) -> dict[str, list[float]]:
    steps: dict[str, list[float]] = {k: [] for k in ("create", "start", "wait", "remove", "total")}
    for _ in range(n):
        t0 = time.perf_counter()
        r = s.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["true"]})
        cid = r.json()["id"]
        t1 = time.perf_counter()
        assert s.api("POST", f"/api/containers/{cid}/start/").status_code == 200
        t2 = time.perf_counter()
        assert s.api("POST", f"/api/containers/{cid}/wait/").json()["exit_code"] == 0
        t3 = time.perf_counter()
        assert s.api("DELETE", f"/api/containers/{cid}/").status_code == 204
        t4 = time.perf_counter()
        for k, a, b in (("create", t0, t1), ("start", t1, t2), ("wait", t2, t3),
                        ("remove", t3, t4), ("total", t0, t4)):
            steps[k].append(b - a)
    return steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=30)
    n = ap.parse_args().iterations
    with stack() as s:
        api(s, 3)
        bare(s.root, 3)  # warm-up
        steps = api(s, n)
        only, full = bare(s.root, n)
    print(f"lifecycle of `true`, {n} iterations each, same run")
    print(f"{'what':48s} {'median ms':>10s} {'p90 ms':>8s}")
    rows = [("bare lxc-execute", only), ("bare overlay mount + lxc-execute + umount", full),
            ("API create+start+wait+remove", steps["total"])]
    rows += [(f"  API {k}", steps[k]) for k in ("create", "start", "wait", "remove")]
    for name, xs in rows:
        print(f"{name:48s} {median_ms(xs):10.1f} {p90_ms(xs):8.1f}")
    print(f"ratio API / bare lxc-execute:          {median_ms(steps['total']) / median_ms(only):.2f}x")
    print(f"ratio API / bare mount+execute+umount: {median_ms(steps['total']) / median_ms(full):.2f}x"
          "  (goal <= 1.5x)")


if __name__ == "__main__":
    main()
