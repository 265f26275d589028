"""Memory per running container with N (default 100) running: PSS/RSS of the supervisor,
the lxc-execute monitor and LXC's init (what the engine runs for a container), against one
bare `lxc-execute -- sleep` (monitor + init) started by hand in the same run.

Goal (issue 13): <= 1 MiB PSS per container for supervisor + monitor + init (6.31 MiB at 100
with the Python supervisor). PSS shares each page among the processes mapping it, so the
C supervisor's code and libc count once for all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from common import mount_busybox, stack

from containers.engine.fs import rootfs
from containers.engine.run import procs

N = 100


def mib(kib: float) -> str:
    return f"{kib / 1024:6.2f}"


def measure(pids: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {k: procs.rss_pss_kib(p) for k, p in pids.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=N)
    n = ap.parse_args().n
    with stack() as s:
        def run(_: int) -> str:
            return s.run(cmd=["sleep", "1000"])["id"]

        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(run, range(n)))
        time.sleep(1)
        totals = {"supervisor": [0, 0], "lxc monitor": [0, 0], "init": [0, 0], "main (sleep)": [0, 0]}
        for cid in ids:
            with open(os.path.join(s.root, "runtime", cid, "state.json")) as f:
                st = json.load(f)
            kids = procs.children(st["init_pid"])
            pids = {"supervisor": st["supervisor_pid"], "lxc monitor": st["lxc_pid"],
                    "init": st["init_pid"], "main (sleep)": kids[0] if kids else 0}
            for k, (rss, pss) in measure(pids).items():
                totals[k][0] += rss
                totals[k][1] += pss
        bare = bare_baseline(s.root)
        for cid in ids:
            s.api("DELETE", f"/api/containers/{cid}/?force=1")
    print(f"memory with {n} containers running `sleep 1000` (MiB per container, averages)")
    print(f"{'process':16s} {'RSS':>7s} {'PSS':>7s}")
    for k, (rss, pss) in totals.items():
        print(f"{k:16s} {mib(rss / n)} {mib(pss / n)}")
    ours = sum(totals[k][1] for k in ("supervisor", "lxc monitor", "init")) / n
    base = bare["monitor"][1] + bare["init"][1]
    print(f"{'bare lxc monitor':16s} {mib(bare['monitor'][0])} {mib(bare['monitor'][1])}")
    print(f"{'bare init':16s} {mib(bare['init'][0])} {mib(bare['init'][1])}")
    print(f"PSS per container (supervisor + monitor + init): {mib(ours)} MiB (goal <= 1 MiB) vs one "
          f"bare lxc-execute {mib(base)} MiB (ratio {ours / base:.2f}x); "
          f"total for {n}: {ours * n / 1024:.1f} MiB")
    print(f"the supervisor alone: {mib(totals['supervisor'][1] / n)} MiB PSS, "
          f"{totals['supervisor'][1] / n / ours * 100:.0f}% of the container's")


def bare_baseline(root: str) -> dict[str, tuple[int, int]]:
    layout, d, merged = mount_busybox(root, "bare-mem")
    cfg = os.path.join(d, "config")
    with open(cfg, "w") as f:
        f.write(f"lxc.uts.name = bare\nlxc.rootfs.path = dir:{merged}\nlxc.mount.auto = proc:mixed sys:ro\n"
                f"lxc.autodev = 1\nlxc.net.0.type = empty\nlxc.log.file = {d}/lxc.log\n")
    proc = subprocess.Popen(["lxc-execute", "-n", "dwbench-mem", "-P", layout.lxc, "-f", cfg, "--",
                             "sleep", "1000"])
    try:
        time.sleep(1)
        init = procs.children(proc.pid)[0]
        return measure({"monitor": proc.pid, "init": init})
    finally:
        kids = procs.children(procs.children(proc.pid)[0]) if procs.children(proc.pid) else []
        for pid in kids:
            os.kill(pid, 9)
        proc.wait(10)
        rootfs.unmount(merged)


if __name__ == "__main__":
    main()
