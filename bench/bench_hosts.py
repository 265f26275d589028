"""Many hosts (issue 16) on this one machine: two simulated hosts on one PostgreSQL and one
Redis (tests/multihost.py). Both share this machine's cores, so two hosts cannot be faster
than one here: the figures show what placement and routing cost, not what a second machine
would add.

1. Creates + starts per second, N containers at once through host A's API: host A alone
   (B drained: no placements) vs both hosts (placement spreads them).
2. Placement overhead per create: the REST create latency (median of 100, sequential) with
   two hosts registered vs A alone (B drained). `make run` (one host, SQLite) places with one
   small query and no other host: see bench_lifecycle.py for its figures.
3. Cross-host attach throughput: a container printing 256 MiB read through host A's
   websocket, on host A (local) vs on host B (relayed by A to B's web server). Goal: relayed
   within 20 % of local.

Run: .venv/bin/python bench/bench_hosts.py [-n 20] (as root).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import secrets
import statistics
import tempfile
import time

import websockets
from common import REPO  # noqa: F401 - puts the repo on sys.path

from tests import multihost
from tests.postgres import postgres_cluster
from tests.stack import Stack

MIB = 1 << 20
PRODUCER = ("head -c 67108864 /dev/zero | tr '\\0' a > /tmp/a; "
            "for i in 1 2 3 4; do cat /tmp/a; done")


def creates_and_starts(a: Stack, n: int, prefix: str) -> float:
    """N containers created and started at once through A (threads): containers per second."""
    def one(i: int) -> None:
        c = a.create(name=f"{prefix}-{i}", cmd=["sleep", "1000"])
        r = a.api("POST", f"/api/containers/{c['id']}/start/")
        assert r.status_code == 200, r.text

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        list(pool.map(one, range(n)))
    return n / (time.perf_counter() - t0)


def create_latency(a: Stack, n: int = 100) -> float:
    """Median REST create latency in ms (the containers are removed after)."""
    times, made = [], []
    for i in range(n):
        t0 = time.perf_counter()
        made.append(a.create(name=f"lat-{secrets.token_hex(3)}-{i}")["id"])
        times.append((time.perf_counter() - t0) * 1000)
    for cid in made:
        a.api("DELETE", f"/api/containers/{cid}/?force=1")
    return statistics.median(times)


async def attach_rate(a: Stack, host: str) -> float:
    """MB/s of a websocket attach through A to a container on `host`."""
    c = a.create(cmd=["sh", "-c", PRODUCER], host=host)
    url = f"ws://127.0.0.1:{a.port}/ws/containers/{c['id']}/attach/"
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {a.token}"},
                                  compression=None, max_size=None) as ws:
        await asyncio.to_thread(a.api, "POST", f"/api/containers/{c['id']}/start/")
        total, first = 0, None
        async for msg in ws:
            if isinstance(msg, bytes):
                first = first or time.perf_counter()
                total += len(msg) - 1
        took = time.perf_counter() - first
    a.api("DELETE", f"/api/containers/{c['id']}/?force=1")
    return total / took / 1e6


def drain(a: Stack, host: str, on: bool) -> None:
    assert a.api("POST", f"/api/hosts/{host}/drain/", json={"draining": on}).status_code == 200


def remove_all(a: Stack) -> None:
    for c in a.api("GET", "/api/containers/?all=1").json():
        a.api("DELETE", f"/api/containers/{c['id']}/?force=1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    run = secrets.token_hex(3)
    with postgres_cluster() as url, tempfile.TemporaryDirectory(prefix=f"dwb-{run}-", dir="/tmp") as root, \
            multihost.two_hosts(root, run, url) as (a, b):
        ha, hb = a.env["DOCKERWEB_HOST"], b.env["DOCKERWEB_HOST"]
        drain(a, hb, True)
        one = creates_and_starts(a, args.n, "one")
        lat_one = create_latency(a)
        remove_all(a)
        drain(a, hb, False)
        two = creates_and_starts(a, args.n, "two")
        lat_two = create_latency(a)
        remove_all(a)
        local = asyncio.run(attach_rate(a, ha))
        relayed = asyncio.run(attach_rate(a, hb))
    print(f"creates+starts, {args.n} at once through host A (PostgreSQL, 2 shared cores):")
    print(f"  host A alone: {one:6.1f}/s   both hosts: {two:6.1f}/s   ratio {two / one:.2f}")
    print(f"create latency (median of 100): A alone {lat_one:.1f} ms, two hosts {lat_two:.1f} ms "
          f"(placement overhead {lat_two - lat_one:+.1f} ms)")
    print(f"websocket attach through A: local {local:.0f} MB/s, container on B (relayed) "
          f"{relayed:.0f} MB/s, ratio {relayed / local:.2f} (goal >= 0.80)")


if __name__ == "__main__":
    main()
