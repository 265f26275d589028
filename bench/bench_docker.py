"""`docker run --rm busybox true` through dockerweb's Docker socket, against the same
through the native REST API (create+start+wait+remove) and bare `lxc-execute`, same run."""

from __future__ import annotations

import subprocess
import time

from bench_lifecycle import api as native_api
from bench_lifecycle import bare
from common import docker_cli, median_ms, p90_ms, stack

N = 20


def main() -> None:
    with stack() as s:
        docker, env = docker_cli(s)

        def cli_run() -> float:
            t0 = time.perf_counter()
            subprocess.run([docker, "run", "--rm", "busybox", "true"], env=env, check=True)
            return time.perf_counter() - t0

        for _ in range(3):
            cli_run()
        cli = [cli_run() for _ in range(N)]
        native = native_api(s, N)["total"]
        only, _ = bare(s.root, N)
    rows = [("docker run --rm busybox true (CLI)", cli), ("native REST create+start+wait+rm", native),
            ("bare lxc-execute", only)]
    print(f"{'what':40s} {'median ms':>10s} {'p90 ms':>8s}")
    for name, xs in rows:
        print(f"{name:40s} {median_ms(xs):10.1f} {p90_ms(xs):8.1f}")
    print(f"ratio docker CLI / native REST: {median_ms(cli) / median_ms(native):.2f}x")
    print(f"ratio docker CLI / bare lxc-execute: {median_ms(cli) / median_ms(only):.2f}x")


if __name__ == "__main__":
    main()
