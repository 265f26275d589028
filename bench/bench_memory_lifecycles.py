"""Memory of the servers across container lifecycles: RSS and PSS of web, worker and
dockerapi before and after 1,000 create/start/wait/remove lifecycles of `true`.

Half go through the REST API (web), half through the Docker API (dockerapi, with
docker-py); the worker serves them all. A warm-up (default 200) fills caches and pools
first; then a sample every 250 lifecycles. Goal (issue 12): flat, i.e. the growth over the
measured lifecycles is small and does not keep rising from sample to sample.
"""

from __future__ import annotations

import argparse
import time

import docker
from common import stack

from containers.engine.run import procs

SERVERS = ("web", "worker", "dockerapi")


def sample(s) -> dict[str, tuple[int, int]]:
    return {name: procs.rss_pss_kib(s.procs[name].pid) for name in SERVERS}


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


def mib(kib: int) -> str:
    return f"{kib / 1024:7.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--every", type=int, default=250)
    a = ap.parse_args()
    rows: list[tuple[int, float, dict[str, tuple[int, int]]]] = []
    with stack() as s:
        client = docker.DockerClient(base_url=f"unix://{s.docker_sock}", timeout=60)
        try:
            rows.append((0, 0.0, sample(s)))
            lifecycles(s, client, a.warmup)
            rows.append((a.warmup, 0.0, sample(s)))
            done, t0 = 0, time.perf_counter()
            while done < a.iterations:
                step = min(a.every, a.iterations - done)
                lifecycles(s, client, step)
                done += step
                rows.append((a.warmup + done, time.perf_counter() - t0, sample(s)))
        finally:
            client.close()
    print(f"RSS / PSS (MiB) of the servers; {a.warmup} warm-up lifecycles, then {a.iterations} "
          "(half REST, half Docker API)")
    print(f"{'lifecycles':>10s} {'s':>6s} " + " ".join(f"{n + ' RSS':>13s} {n + ' PSS':>13s}"
                                                     for n in SERVERS))
    for n, secs, m in rows:
        print(f"{n:10d} {secs:6.0f} " + " ".join(f"{mib(m[k][0]):>13s} {mib(m[k][1]):>13s}"
                                                 for k in SERVERS))
    base, last = rows[1][2], rows[-1][2]
    for k in SERVERS:
        growth = (last[k][0] - base[k][0]) / 1024
        per = growth * 1024 / a.iterations
        print(f"{k:10s} RSS growth after warm-up: {growth:+.1f} MiB ({per:+.2f} KiB per lifecycle)")


if __name__ == "__main__":
    main()
