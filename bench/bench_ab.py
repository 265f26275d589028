"""Two checkouts side by side: a stack run from another checkout (A, e.g. main before a
change: `git worktree add /tmp/a main` or `git archive main | tar -x -C /tmp/a`, with the
same .venv linked in) and one from this checkout (B), both up at once, REST lifecycles of
`true` alternating A, B, B, A, ... (the machine is shared: both see the same load). Prints
the median per request step, the difference, and the CPU per lifecycle of web, worker and
Redis. With --bursts K, then K bursts per stack of --count containers created and started
at once (bench_burst.py's), alternating the same way (each removed before the next): the
median rate and the CPU per container. Supervisor and images are each stack's own.

    python bench/bench_ab.py /tmp/a [--rounds 80] [--network none|bridge] [--bursts 3 --count 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
from contextlib import ExitStack

from bench_burst import burst, remove_all
from bench_lifecycle import STEPS, api, cpu_ms
from client import lean
from common import REPO, stack

PROCS = ("web", "worker", "redis")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("other", help="the other checkout (A)")
    ap.add_argument("--rounds", type=int, default=80)
    ap.add_argument("--network", default="none", choices=("none", "bridge"))
    ap.add_argument("--bursts", type=int, default=0)
    ap.add_argument("--count", type=int, default=100)
    args = ap.parse_args()
    with ExitStack() as es:
        stacks = {"A": es.enter_context(stack(os.path.abspath(args.other))),
                  "B": es.enter_context(stack(REPO))}
        pids = {n: {p: s.procs[p].pid for p in PROCS} for n, s in stacks.items()}
        clients = {n: lean(s) for n, s in stacks.items()}  # bench/client.py
        for c in clients.values():
            api(c, 5, args.network)  # warm-up
        steps: dict[str, dict[str, list[float]]] = {n: {k: [] for k in STEPS} for n in stacks}
        before = {n: cpu_ms(pids[n]) for n in stacks}
        for i in range(args.rounds):
            for n in ("A", "B") if i % 2 == 0 else ("B", "A"):
                for k, v in api(clients[n], 1, args.network).items():
                    steps[n][k] += v
        after = {n: cpu_ms(pids[n]) for n in stacks}
        rates: dict[str, list[float]] = {n: [] for n in stacks}
        burst_cpu: dict[str, dict[str, float]] = {n: dict.fromkeys(PROCS, 0.0) for n in stacks}
        for i in range(args.bursts):
            for n in ("A", "B") if i % 2 == 0 else ("B", "A"):
                c0 = cpu_ms(pids[n])
                took, ids = burst(stacks[n], args.count, args.network, clients[n])
                c1 = cpu_ms(pids[n])
                remove_all(stacks[n], ids)
                rates[n].append(args.count / took)
                for p in PROCS:
                    burst_cpu[n][p] += (c1[p] - c0[p]) / args.count / args.bursts
    print(f"A = {os.path.abspath(args.other)}, B = {REPO}; {args.rounds} lifecycles each, "
          f"network {args.network}, alternating; load average {os.getloadavg()[0]:.2f}")
    print(f"{'step':8s} {'A ms':>8s} {'B ms':>8s} {'B - A':>8s}")
    for k in STEPS:
        a, b = (statistics.median(steps[n][k]) * 1000 for n in ("A", "B"))
        print(f"{k:8s} {a:8.1f} {b:8.1f} {b - a:+8.1f}")
    for p in PROCS:
        a, b = ((after[n][p] - before[n][p]) / args.rounds for n in ("A", "B"))
        print(f"CPU {p:6s} {a:6.1f} {b:6.1f} {b - a:+6.1f} ms per lifecycle")
    if args.bursts:
        print(f"{args.bursts} bursts each of {args.count} created+started at once, alternating")
        print(f"rate     A {' '.join(f'{r:.1f}' for r in rates['A'])} /s, median "
              f"{statistics.median(rates['A']):.1f}; B {' '.join(f'{r:.1f}' for r in rates['B'])} /s, "
              f"median {statistics.median(rates['B']):.1f}")
        for p in PROCS:
            a, b = burst_cpu["A"][p], burst_cpu["B"][p]
            print(f"CPU {p:6s} {a:6.1f} {b:6.1f} {b - a:+6.1f} ms per container")


if __name__ == "__main__":
    main()
