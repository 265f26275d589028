"""The web -> worker RPC alone: `rpc.call("ping")` from a Django process on the stack's state
root, called as an API server's request thread calls it (a thread of asgiref's sync_to_async
under a running event loop, so an `async_to_sync` in it hops to that loop), one at a time and
from 8 threads at once. Prints the round trip (median, p90) and the CPU per call of the
caller, the worker and Redis (utime + stime from /proc: the machine is shared).

    python bench/bench_rpc.py [--calls 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time

from common import median_ms, p90_ms, stack

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1000)
    args = ap.parse_args()
    with stack() as s:
        os.environ.update({"DOCKERWEB_STATE_ROOT": s.root, "DJANGO_SETTINGS_MODULE": "dockerweb.settings"})
        for k in ("DOCKERWEB_CGROUP_PARENT", "DOCKERWEB_BRIDGE", "DOCKERWEB_NFT_TABLE", "DOCKERWEB_SUBNET"):
            os.environ[k] = s.env[k]
        import django

        django.setup()
        from asgiref.sync import sync_to_async

        from containers import rpc

        pids = {n: s.procs[n].pid for n in ("worker", "redis")}
        out: dict[str, object] = {}

        def serial() -> None:
            for _ in range(100):  # warm-up: connections, caches
                rpc.call("ping")
            samples = []
            cpu0 = {n: cpu_s(p) for n, p in pids.items()}
            me0 = self_cpu_s()
            for _ in range(args.calls):
                t = time.perf_counter()
                rpc.call("ping")
                samples.append(time.perf_counter() - t)
            out["me"] = (self_cpu_s() - me0) / args.calls
            out["cpu"] = {n: (cpu_s(p) - cpu0[n]) / args.calls for n, p in pids.items()}
            out["samples"] = samples

        n = args.calls

        def share() -> None:
            for _ in range(n // 8):
                rpc.call("ping")

        async def in_threads() -> float:
            await sync_to_async(serial, thread_sensitive=False)()
            t = time.perf_counter()
            await asyncio.gather(*(sync_to_async(share, thread_sensitive=False)() for _ in range(8)))
            return (n // 8 * 8) / (time.perf_counter() - t)

        rate = asyncio.run(in_threads())
        samples = out["samples"]
        cpu = out["cpu"]
        print(f"load: {os.getloadavg()[0]:.2f}")
        print(f"ping round trip, one thread: median {median_ms(samples):.3f} ms, "
              f"p90 {p90_ms(samples):.3f} ms ({n} calls)")
        print(f"CPU per call: caller {out['me'] * 1000:.3f} ms, worker {cpu['worker'] * 1000:.3f} ms, "
              f"redis {cpu['redis'] * 1000:.3f} ms")
        print(f"8 threads at once: {rate:.0f} calls/s")


if __name__ == "__main__":
    main()
