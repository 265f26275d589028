"""100 containers created and started through the REST API at once (one client thread each:
create, then start), until all of them run; the rate is containers per second. Goal
(issue 13): >= 40/s. Also prints the same burst through bare `lxc-execute` as the floor.

    python bench/bench_burst.py [--count 100] [--network bridge|none]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from client import lean
from common import stack

from containers.engine.fs import rootfs
from containers.engine.image.store import ImageStore
from containers.engine.layout import Layout

LXC_EXECUTE = shutil.which("lxc-execute") or "lxc-execute"
LXC_STOP = shutil.which("lxc-stop") or "lxc-stop"
# the bare floor: a minimal config (no confinement, no network), as bench_lifecycle's bare
BARE_CONFIG = """lxc.uts.name = bare
lxc.rootfs.path = dir:{rootfs}
lxc.mount.auto = proc:mixed sys:ro
lxc.autodev = 1
lxc.net.0.type = empty
lxc.log.file = {log}
lxc.log.level = ERROR
"""


def burst(s, count: int, network: str, client=None) -> tuple[float, list[str]]:
    """Seconds until `count` containers created and started at once all run; their ids.
    The requests go through `client` (a bench/client.LeanClient; default: the stack's
    `requests` session), one kept-alive connection per client thread."""
    client = client or s

    def one(_: int) -> str:
        body = {"image": "busybox", "cmd": ["sleep", "1000"], "network_mode": network}
        cid = client.api("POST", "/api/containers/", json=body).json()["id"]
        r = client.api("POST", f"/api/containers/{cid}/start/", timeout=120)
        assert r.status_code == 200 and r.json()["state"]["status"] == "running", r.text
        return cid

    if client is s:  # requests' default pool keeps 10 connections
        s.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=count))
    with ThreadPoolExecutor(count) as pool:
        t0 = time.perf_counter()
        ids = list(pool.map(one, range(count)))
        took = time.perf_counter() - t0
    return took, ids


def bare_burst(root: str, count: int) -> float:
    """Seconds until `count` bare containers, each an overlay mount + `lxc-execute` of
    `sleep` (one thread each, all at once), all run; "runs" = its command wrote a file in
    its upper directory. Then stops and unmounts them all (not timed)."""
    layout = Layout(root)
    store = ImageStore(layout)
    img = store.get(next(f[:-5] for f in os.listdir(layout.images) if f.endswith(".json")))
    lowers = store.lower_dirs(img)
    procs: dict[int, subprocess.Popen] = {}

    def one(i: int) -> None:
        d = os.path.join(root, "bare-burst", str(i))
        upper, work, merged = (os.path.join(d, x) for x in ("upper", "work", "merged"))
        rootfs.mount_overlay(lowers, upper, work, merged)
        cfg = os.path.join(d, "config")
        with open(cfg, "w") as f:
            f.write(BARE_CONFIG.format(rootfs=merged, log=os.path.join(d, "lxc.log")))
        procs[i] = subprocess.Popen(
            [LXC_EXECUTE, "-n", f"dwbburst-{os.getpid()}-{i}", "-P", layout.lxc, "-f", cfg, "--",
             "/bin/sh", "-c", ": > /running; exec sleep 1000"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        marker = os.path.join(upper, "running")
        while not os.path.exists(marker):
            if procs[i].poll() is not None:
                raise RuntimeError(f"bare container {i} exited with {procs[i].returncode}")
            time.sleep(0.001)

    os.makedirs(layout.lxc, exist_ok=True)
    try:
        with ThreadPoolExecutor(count) as pool:
            t0 = time.perf_counter()
            list(pool.map(one, range(count)))
            took = time.perf_counter() - t0
    finally:
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: subprocess.run(
                [LXC_STOP, "-k", "-n", f"dwbburst-{os.getpid()}-{i}", "-P", layout.lxc],
                capture_output=True), list(procs)))
        for p in procs.values():
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for i in range(count):
            rootfs.unmount(os.path.join(root, "bare-burst", str(i), "merged"))
        shutil.rmtree(os.path.join(root, "bare-burst"), ignore_errors=True)
    return took


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_busy() -> tuple[float, float]:
    """(busy, stolen) CPU seconds of the whole host so far (/proc/stat): busy is every
    state but idle, iowait and steal; stolen is the time the hypervisor gave this VM's
    CPUs to others (on this host it decides most of the noise between two bursts)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
    return (user + nice + system + irq + softirq) / hz, steal / hz


def containers_cpu(s) -> float:
    """CPU seconds used so far under the stack's cgroup parent (containers and LXC's
    monitors: lxc-execute's side of the work; the supervisors run outside it)."""
    path = f"/sys/fs/cgroup/cpuacct/{s.env['DOCKERWEB_CGROUP_PARENT']}/cpuacct.usage"
    try:
        with open(path) as f:
            return int(f.read()) / 1e9
    except OSError:
        return 0.0


def remove_all(s, ids: list[str]) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda cid: s.api("DELETE", f"/api/containers/{cid}/?force=1", timeout=120), ids))


def own_cpu() -> float:
    """CPU seconds of this process (the client's side of the burst) so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measured(s, count: int, network: str, client) -> dict[str, float]:
    """One burst of `count`, then their removal: its rate, the host's busy CPU ms per
    container, the share of the CPUs' time the hypervisor stole (%), and each process's
    CPU ms per container (the stack's processes, the
    containers with LXC's monitors under the stack's cgroup parent, and this client)."""
    procs = {n: p.pid for n, p in s.procs.items()}
    before = {n: cpu_seconds(pid) for n, pid in procs.items()}
    busy0, stolen0 = host_busy()
    lxc0, me0 = containers_cpu(s), own_cpu()
    took, ids = burst(s, count, network, client)
    busy1, stolen1 = host_busy()
    row = {"rate": count / took, "host busy": (busy1 - busy0) * 1000 / count,
           "stolen": (stolen1 - stolen0) / (took * (os.cpu_count() or 1)) * 100,
           "containers+LXC": (containers_cpu(s) - lxc0) * 1000 / count,
           "client": (own_cpu() - me0) * 1000 / count}
    row |= {n: (cpu_seconds(pid) - before[n]) * 1000 / count for n, pid in procs.items()}
    remove_all(s, ids)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--network", default="bridge", choices=("bridge", "none"))
    ap.add_argument("--client", default="lean", choices=("lean", "requests"),
                    help="the API's client: http.client kept alive (bench/client.py) or requests")
    ap.add_argument("--rounds", type=int, default=1, help="bursts one after another")
    a = ap.parse_args()
    with stack() as s:
        client = lean(s) if a.client == "lean" else None
        took, ids = burst(s, 5, a.network, client)  # warm-up
        remove_all(s, ids)
        rows = [measured(s, a.count, a.network, client) for _ in range(a.rounds)]
        bare_burst(s.root, 5)  # warm-up
        bare0, bare_stolen0 = host_busy()
        bare_took = bare_burst(s.root, a.count)
        bare1, bare_stolen1 = host_busy()
    print(f"{a.count} containers created+started at once through REST, network {a.network}, "
          f"client {a.client}, {a.rounds} burst(s) one after another")
    print("  rate /s (goal >= 40): " + ", ".join(f"{r['rate']:.1f}" for r in rows)
          + f"; median {statistics.median(r['rate'] for r in rows):.1f}")
    print("  host CPU busy, ms per container: "
          + ", ".join(f"{r['host busy']:.1f}" for r in rows) + f" ({os.cpu_count()} cores)")
    print("  CPU time stolen by the hypervisor, %: " + ", ".join(f"{r['stolen']:.0f}" for r in rows))
    for name in sorted(k for k in rows[0] if k not in ("rate", "host busy", "stolen")):
        print(f"  CPU {name:14s} " + ", ".join(f"{r[name]:5.1f}" for r in rows) + " ms per container")
    print("the same burst through bare lxc-execute (overlay mount + lxc-execute of sleep, "
          "no network, minimal config):")
    print(f"  rate {a.count / bare_took:.1f} /s; host CPU busy "
          f"{(bare1 - bare0) * 1000 / a.count:.1f} ms per container; stolen "
          f"{(bare_stolen1 - bare_stolen0) / (bare_took * (os.cpu_count() or 1)) * 100:.0f} %")


if __name__ == "__main__":
    main()
