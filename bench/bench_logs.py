"""`docker logs` of a 200 MB log (issue 12): dockerweb through the real docker CLI over our
Docker socket, against `cat` of the same files in the same run, and against the issue's
figures (dockerd 8.2 s, podman 6.7 s, dockerweb before the fix 188 s and 2.0 GB RSS).

The log is made by a real container (`yes | head -n N`: ~2.6 million records of "y\\n", the
supervisor's JSON lines) with --log-opt max-size=1g so it stays one file. Measured: the
wall time of `docker logs` (stdout to /dev/null), of `docker logs --tail 10`, of REST
GET /logs/?tail=10, and each server's peak RSS growth (VmHWM reset through
/proc/PID/clear_refs before, read after). Goal: <= 1.2x dockerd's time (~10 s) and <= 64 MB
of peak RSS growth in any server.

Run: .venv/bin/python bench/bench_logs.py (as root; `make bench` runs every bench).
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from common import docker_cli, stack

TARGET_MB = 200
RECORD = 76  # bytes of one {"log": "y\n", ...} record
DOCKERD_S, PODMAN_S, BEFORE_S = 8.2, 6.7, 188.0
GOAL_S, GOAL_RSS_MB = 1.2 * DOCKERD_S, 64


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M).group(1))


def reset_peaks(pids: dict[str, int]) -> dict[str, int]:
    for pid in pids.values():
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    return {k: status_kb(p, "VmRSS") for k, p in pids.items()}


def growth_mb(pids: dict[str, int], base: dict[str, int]) -> dict[str, float]:
    return {k: (status_kb(p, "VmHWM") - base[k]) / 1024 for k, p in pids.items()}


def timed(fn) -> float:
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def main() -> None:
    with stack() as s:
        docker, env = docker_cli(s)

        def cli(*args: str, out=subprocess.PIPE) -> subprocess.CompletedProcess:
            return subprocess.run([docker, *args], env=env, check=True, stdout=out, timeout=1800)

        lines = TARGET_MB * 1_000_000 // RECORD
        t = time.monotonic()
        cid = cli("run", "-d", "--log-opt", "max-size=1g", "busybox", "sh", "-c",
                  f"yes | head -n {lines}").stdout.decode().strip()
        cli("wait", cid)
        write_s = time.monotonic() - t
        files = [os.path.join(s.root, "containers", cid, n)
                 for n in sorted(os.listdir(os.path.join(s.root, "containers", cid)))
                 if n.startswith("container.log")]
        size = sum(os.path.getsize(f) for f in files)
        cat_s = timed(lambda: subprocess.run(["cat", *files], stdout=subprocess.DEVNULL, check=True))
        pids = {k: s.procs[k].pid for k in ("web", "dockerapi", "worker")}
        base = reset_peaks(pids)
        logs_s = timed(lambda: cli("logs", cid, out=subprocess.DEVNULL))
        full_rss = growth_mb(pids, base)
        base = reset_peaks(pids)
        tail_s = timed(lambda: cli("logs", "--tail", "10", cid))
        rest_tail_s = timed(lambda: s.api("GET", f"/api/containers/{cid}/logs/", params={"tail": 10}))
        rest_full_s = timed(lambda: s.api("GET", f"/api/containers/{cid}/logs/"))
        tail_rss = growth_mb(pids, base)
    print(f"docker logs of a {size / 1e6:.0f} MB log ({lines:,} records; written by the container "
          f"in {write_s:.1f} s)")
    print(f"{'cat of the file':36s} {cat_s:8.2f} s")
    print(f"{'docker logs (dockerweb, real CLI)':36s} {logs_s:8.2f} s   {logs_s / cat_s:6.1f}x cat")
    print(f"{'  issue figures: dockerd / podman':36s} {DOCKERD_S:8.2f} s / {PODMAN_S:.1f} s; "
          f"before the fix {BEFORE_S:.0f} s")
    print(f"ratio dockerweb / dockerd: {logs_s / DOCKERD_S:.2f}x (goal <= 1.2x, {GOAL_S:.1f} s); "
          f"speed-up over before: {BEFORE_S / logs_s:.0f}x")
    print(f"{'docker logs --tail 10':36s} {tail_s:8.2f} s")
    print(f"{'REST GET logs/?tail=10':36s} {rest_tail_s:8.2f} s")
    print(f"{'REST GET logs/ (all, text)':36s} {rest_full_s:8.2f} s")
    print("peak RSS growth (MB) during docker logs:  "
          + ", ".join(f"{k} {v:.1f}" for k, v in full_rss.items()))
    print("peak RSS growth (MB) during tails + REST: "
          + ", ".join(f"{k} {v:.1f}" for k, v in tail_rss.items()))
    worst = max(*full_rss.values(), *tail_rss.values())
    print(f"goal: time {'met' if logs_s <= GOAL_S else 'NOT met'}, "
          f"RSS {'met' if worst <= GOAL_RSS_MB else 'NOT met'} (worst {worst:.1f} MB, goal <= {GOAL_RSS_MB})")


if __name__ == "__main__":
    main()
