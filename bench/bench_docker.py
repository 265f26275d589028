"""`docker run --rm --network none busybox true` through the docker CLI: dockerweb's Docker
socket against a real dockerd and podman (runc) started by the bench on their own state
(bench/peers.py; a missing peer is skipped and said so), plus dockerweb's native REST
(create+start+wait+remove) and bare `lxc-execute`. Rounds are interleaved, same run.
Goal (issue 13): dockerweb <= 0.5x dockerd.

    python bench/bench_docker.py [--iterations 20]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from contextlib import ExitStack

import peers
from bench_lifecycle import api as native_api
from bench_lifecycle import bare
from common import docker_cli, median_ms, p90_ms, stack

RUN = ["run", "--rm", "--network", "none", "busybox", "true"]
# podman's default rlimits (nofile 1048576, nproc = the host's) are refused by runc's init here
# (EPERM: this host's root has no CAP_SYS_RESOURCE); smaller ones that `true` never reaches
PODMAN_LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)  # stderr: shown
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=20)
    n = ap.parse_args().iterations
    with stack() as s, ExitStack() as others:
        docker, env = docker_cli(s)
        runs = {"dockerweb": lambda: timed([docker, *RUN], env)}
        for name, peer, extra in (("dockerd", peers.dockerd, []),
                                  ("podman (runc)", peers.podman, PODMAN_LIMITS)):
            cli = others.enter_context(peer(s))
            if cli is not None:
                runs[name] = lambda cli=cli, extra=extra: timed([*cli, RUN[0], *extra, *RUN[1:]])
        for name, run in list(runs.items()):  # warm-up; a peer that cannot run here is skipped
            try:
                run()
            except subprocess.CalledProcessError as e:
                if name == "dockerweb":
                    raise
                print(f"peer {name} skipped: its `run` failed with exit status {e.returncode}")
                del runs[name]
        samples: dict[str, list[float]] = {k: [] for k in runs}
        samples["native REST create+start+wait+rm"] = []
        samples["bare lxc-execute"] = []
        for _ in range(n):  # interleaved: every peer sees the same machine
            for name, run in runs.items():
                samples[name].append(run())
            samples["native REST create+start+wait+rm"] += native_api(s, 1)["total"]
            samples["bare lxc-execute"] += bare(s.root, 1)[0]
    print(f"docker run --rm --network none busybox true, {n} interleaved rounds")
    print(f"{'what':40s} {'median ms':>10s} {'p90 ms':>8s}")
    for name, xs in samples.items():
        print(f"{name:40s} {median_ms(xs):10.1f} {p90_ms(xs):8.1f}")
    ours = median_ms(samples["dockerweb"])
    for name in runs:
        if name != "dockerweb":
            goal = "  (goal <= 0.5x)" if name == "dockerd" else ""
            print(f"ratio dockerweb / {name}: {ours / median_ms(samples[name]):.2f}x{goal}")
    print(f"ratio dockerweb / bare lxc-execute: {ours / median_ms(samples['bare lxc-execute']):.2f}x")


if __name__ == "__main__":
    main()
