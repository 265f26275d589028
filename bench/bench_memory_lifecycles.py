"""Memory of the servers across container lifecycles (issue 12): RSS of web, worker and
dockerapi at checkpoints over 1,000+ create/start/wait/remove lifecycles of `true`, with a
verdict per process.

Half go through the REST API (web), half through the Docker API (dockerapi, with
docker-py); the worker serves them all. A warm-up (default 600) first: caches, pools,
executor threads and the allocators' heaps settle over the first ~600 lifecycles (measured:
RSS still rises 1-2 MiB from 200 to 600 in every configuration, then levels where tuned);
then a sample every `--every` lifecycles (default 200) over `--iterations` (default
1,200). The servers run as `tests/stack.py` starts them, i.e. with the allocator settings
of `dockerweb/malloc.py` (the same as `make run` and systemd).

Verdict, per process, over the measured window (after the warm-up):
- slope: least-squares fit of RSS against lifecycles, in KiB per lifecycle;
- tail: RSS growth over the last FLAT_TAIL (600) lifecycles, in KiB;
- **flat** when the tail growth is at most FLAT_TAIL_KIB (1 MiB, i.e. < 1.75 KiB per
  lifecycle on average, well under the 2.6-4.5 KiB measured before) *and* the slope is at
  most FLAT_SLOPE_KIB (0.5 KiB per lifecycle, i.e. < 0.5 MiB per 1,000). RSS moves in steps
  (a new executor thread, a new pymalloc arena, a glibc heap growing by 128 KiB+), so both
  bounds leave room for a step or two but not for a steady climb.
The exit status is 0 when all three are flat, 1 otherwise. It also prints each server's CPU
time (utime + stime) per lifecycle over the measured window, the cost side of any allocator
setting (load-independent, unlike wall time). DOCKERWEB_MALLOC_TUNING=0 in the environment
runs the servers with glibc's defaults and no trimming instead (see dockerweb/malloc.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import docker
from common import stack

from containers.engine.run import procs
from dockerweb import malloc

SERVERS = ("web", "worker", "dockerapi")
FLAT_TAIL = 600
FLAT_TAIL_KIB = 1024
FLAT_SLOPE_KIB = 0.5


def sample(s) -> dict[str, int]:
    """RSS in KiB of each server."""
    return {name: procs.rss_pss_kib(s.procs[name].pid)[0] for name in SERVERS}


def cpu_seconds(s) -> dict[str, float]:
    """CPU time (utime + stime) in seconds of each server so far."""
    out = {}
    for name in SERVERS:
        with open(f"/proc/{s.procs[name].pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def rest_lifecycle(s) -> None:
    cid = s.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["true"]}).json()["id"]
    assert s.api("POST", f"/api/containers/{cid}/start/").status_code == 200
    assert s.api("POST", f"/api/containers/{cid}/wait/").json()["exit_code"] == 0
    assert s.api("DELETE", f"/api/containers/{cid}/").status_code == 204


def docker_lifecycle(client: docker.DockerClient) -> None:
    c = client.containers.create("busybox", ["true"])
    c.start()
    assert c.wait(timeout=60)["StatusCode"] == 0
    c.remove()


def lifecycles(s, client, n: int) -> None:
    for i in range(n):
        rest_lifecycle(s) if i % 2 == 0 else docker_lifecycle(client)


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of (lifecycles, KiB) points: KiB per lifecycle."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def tail_growth(points: list[tuple[int, int]], tail: int) -> tuple[int, int]:
    """(RSS growth in KiB, lifecycles it spans) from the last sample at least `tail`
    lifecycles before the end (or the first) to the end."""
    end_x, end_y = points[-1]
    start = next((p for p in reversed(points) if end_x - p[0] >= tail), points[0])
    return end_y - start[1], end_x - start[0]


def verdict(points: list[tuple[int, int]]) -> tuple[bool, str]:
    """Whether RSS over `points` (after warm-up) is flat (see the module docstring), and
    the line that says so."""
    k = slope(points)
    grew, span = tail_growth(points, FLAT_TAIL)
    flat = grew <= FLAT_TAIL_KIB and k <= FLAT_SLOPE_KIB
    return flat, (f"slope {k:+.2f} KiB/lifecycle, last {span} lifecycles {grew / 1024:+.2f} MiB: "
                  + ("flat" if flat else "NOT flat"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=int, default=600)
    ap.add_argument("--iterations", type=int, default=1200)
    ap.add_argument("--every", type=int, default=200)
    a = ap.parse_args()
    rows: list[tuple[int, float, dict[str, int]]] = []
    with stack() as s:
        client = docker.DockerClient(base_url=f"unix://{s.docker_sock}", timeout=60)
        try:
            rows.append((0, 0.0, sample(s)))
            lifecycles(s, client, a.warmup)
            rows.append((a.warmup, 0.0, sample(s)))
            cpu0 = cpu_seconds(s)
            done, t0 = 0, time.perf_counter()
            while done < a.iterations:
                step = min(a.every, a.iterations - done)
                lifecycles(s, client, step)
                done += step
                rows.append((a.warmup + done, time.perf_counter() - t0, sample(s)))
                print(f"{a.warmup + done} lifecycles: " + ", ".join(
                    f"{k} {v / 1024:.1f}" for k, v in rows[-1][2].items()) + " MiB", flush=True)
            cpu = {k: (v - cpu0[k]) / a.iterations * 1000 for k, v in cpu_seconds(s).items()}
        finally:
            client.close()
    tuning = "default" if malloc.enabled() else "off (DOCKERWEB_MALLOC_TUNING=0)"
    extra = {k: os.environ[k] for k in ("MALLOC_ARENA_MAX", "PYTHONMALLOC", "DOCKERWEB_MALLOC_TRIM_S")
             if k in os.environ}
    print(f"\nRSS (MiB) of the servers; {a.warmup} warm-up lifecycles, then {a.iterations} "
          f"(half REST, half Docker API); allocator tuning {tuning} {extra or ''}; "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'lifecycles':>10s} {'s':>6s} " + " ".join(f"{n:>10s}" for n in SERVERS))
    for n, secs, m in rows:
        print(f"{n:10d} {secs:6.0f} " + " ".join(f"{m[k] / 1024:10.1f}" for k in SERVERS))
    print(f"\nflat: growth over the last {FLAT_TAIL} lifecycles <= {FLAT_TAIL_KIB} KiB and slope "
          f"<= {FLAT_SLOPE_KIB} KiB/lifecycle (after the warm-up)")
    all_flat = True
    for k in SERVERS:
        flat, line = verdict([(n, m[k]) for n, _, m in rows[1:]])
        all_flat &= flat
        print(f"{k:10s} {line}")
    print("CPU ms per lifecycle: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    print("verdict: " + ("all flat" if all_flat else "NOT all flat"))
    return 0 if all_flat else 1


if __name__ == "__main__":
    sys.exit(main())
