"""What the benches' HTTP client costs: the same requests (GET of a container's inspect
document, and a 404) through `requests` (the tests' session, Stack.api) and through
bench/client.py's kept-alive `http.client`, alternating in rounds: wall time per request,
the client's own CPU and the web server's CPU. The lifecycle and burst benches use the lean
client (their `--client requests` gives the old figure).

    python bench/bench_client.py [--requests 400] [--rounds 2]
"""

from __future__ import annotations

import argparse
import time

from bench_burst import own_cpu
from bench_lifecycle import cpu_ms
from client import lean
from common import stack


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    n = a.requests
    with stack() as s:
        cid = s.create(cmd=["true"], network_mode="none")["id"]
        clients = {"requests": s, "http.client": lean(s)}
        web = {"web": s.procs["web"].pid}
        print(f"{'client':12s} {'request':8s} {'wall ms':>8s} {'client CPU ms':>14s} {'web CPU ms':>11s}")
        for _ in range(a.rounds):
            for path, label in ((f"/api/containers/{cid}/", "inspect"), ("/no-such-page/", "404")):
                for name, c in clients.items():
                    for _ in range(20):
                        c.api("GET", path)  # warm-up
                    w0, me0, t0 = cpu_ms(web)["web"], own_cpu() * 1000, time.perf_counter()
                    for _ in range(n):
                        c.api("GET", path)
                    wall = (time.perf_counter() - t0) * 1000 / n
                    print(f"{name:12s} {label:8s} {wall:8.2f} {(own_cpu() * 1000 - me0) / n:14.2f} "
                          f"{(cpu_ms(web)['web'] - w0) / n:11.2f}")
        s.api("DELETE", f"/api/containers/{cid}/")


if __name__ == "__main__":
    main()
