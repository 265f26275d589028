"""Supervisor start-up: launch to "started" on the status fd, without LXC (issue 13).

What `supervision.spawn` waits for at each container start and exec, minus LXC's own time:
the supervisor runs in exec mode around `/bin/sleep` (no cgroup, no hook, no lxc), so the
figure is its own start-up (read the spec, double fork, fork/exec the child, state.json,
log, attach socket, report). Baselines in the same run, through the same `spawn`:
- a no-op C program that only writes "started" on the fd (the floor: fork/exec + the pipe);
- `python3 -I -S -c` doing the same (the floor of any Python supervisor);
- the former Python supervisor (exec_supervisor.py from git, OLD_REV) when git has it.

Goal: the supervisor's start <= 3 ms. Wall time on a shared, loaded machine is mostly
waiting for a CPU: the CPU columns (the processes' own run time) do not depend on the load,
and `nice -n -20 python bench/bench_supervisor_start.py` approximates a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import marshal
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

from common import REPO, median_ms, p90_ms

from containers.engine.run import supervision
from containers.engine.run.exec import ExecPaths

OLD_REV = "9b98699"  # the last commit with the Python supervisors
NOOP_C = r"""#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) { (void)argc; return write(atoi(argv[2]), "started\n", 8) != 8; }
"""
NOOP_PY = "import os, sys; os.write(int(sys.argv[2]), b'started\\n')"


def timed(argv_of, directory: str, n: int, after=None) -> tuple[list[float], list[float]]:
    """(wall, CPU) seconds of n launches of argv_of(directory, fd) up to its first word on
    fd. CPU: the launched process (wait4's rusage) plus, for a supervisor, the one that
    stays (its schedstat run time when it said "started"): what the start costs whatever
    else the machine runs."""
    wall, cpu = [], []
    for _ in range(n):
        r, w = os.pipe()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv_of(directory, w), pass_fds=(w,), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        os.close(w)
        word = os.read(r, 64)
        wall.append(time.perf_counter() - t0)
        stays = _run_time(directory) if after else 0.0
        os.close(r)
        _, _, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0
        cpu.append(usage.ru_utime + usage.ru_stime + stays)
        assert word.startswith(b"started"), word
        if after:
            after(directory)
    return wall, cpu


def _run_time(directory: str) -> float:
    """CPU seconds of the supervisor named in directory/state.json so far."""
    with open(ExecPaths(directory).state) as f:
        pid = json.load(f)["supervisor_pid"]
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def exec_dir(root: str, name: str) -> ExecPaths:
    p = ExecPaths(os.path.join(root, name))
    os.makedirs(p.dir)
    spec = supervision.SupervisorSpec.exec(p, ["/bin/sleep", "1000"], tty=False, open_stdin=True,
                                           console_size=[])
    with open(p.spec, "wb") as f:
        f.write(spec.to_bytes())
    return p


def stop(directory: str) -> None:
    """End the run just started: kill its child, wait for exit.json, clear the files."""
    p = ExecPaths(directory)
    with open(p.state) as f:
        state = json.load(f)
    fd = os.pidfd_open(state["supervisor_pid"])
    os.kill(state["pid"], signal.SIGKILL)
    select.select([fd], [], [], 10)  # the supervisor is gone (its last fsyncs done)
    os.close(fd)
    for name in (p.exit, p.state, p.log):
        os.unlink(name)


def old_supervisor(root: str) -> str | None:
    """exec_supervisor.py and its modules from OLD_REV, or None without git history."""
    d = os.path.join(root, "old")
    os.makedirs(d)
    for name in ("supervisor.py", "exec_supervisor.py", "frames.py"):
        got = subprocess.run(["git", "-C", REPO, "show", f"{OLD_REV}:containers/engine/run/{name}"],
                             capture_output=True)
        if got.returncode != 0:
            return None
        with open(os.path.join(d, name), "wb") as f:
            f.write(got.stdout)
    return os.path.join(d, "exec_supervisor.py")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200)
    n = ap.parse_args().n
    root = tempfile.mkdtemp(prefix="dwb-supstart-")
    try:
        program = supervision.program(os.path.join(root, "lib"))
        noop = os.path.join(root, "noop")
        with open(noop + ".c", "w") as f:
            f.write(NOOP_C)
        subprocess.run(["gcc", *supervision.CFLAGS, "-o", noop, noop + ".c"], check=True)
        c_dir = exec_dir(root, "c").dir
        python = ["/usr/bin/python3", "-I", "-S"]
        rows = {
            "no-op C program": timed(lambda d, w: [noop, d, str(w)], root, n),
            "C supervisor": timed(lambda d, w: [program, d, str(w)], c_dir, n, stop),
            "python3 -I -S no-op": timed(lambda d, w: [*python, "-c", NOOP_PY, d, str(w)], root, n),
        }
        old = old_supervisor(root)
        if old:
            p = exec_dir(root, "py")
            spec = supervision.SupervisorSpec.from_bytes(open(p.spec, "rb").read())
            fields = {k: v for k, v in spec.__dict__.items() if k != "mode"}
            fields["hook_fifo"] = ""  # the old supervisor's field (the start hook it served is gone)
            with open(p.spec, "wb") as f:
                marshal.dump(fields, f)
            rows["Python supervisor (old)"] = timed(lambda d, w: [*python, old, d, str(w)], p.dir, n, stop)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    floor = median_ms(rows["no-op C program"][0])
    cpu_floor = median_ms(rows["no-op C program"][1])
    load = os.getloadavg()[0]
    print(f"supervisor start: launch -> 'started' on the status fd, {n} runs (ms; load {load:.1f})")
    print(f"{'':26s} {'median':>7s} {'p90':>7s} {'own cost':>9s} {'CPU':>7s} {'own CPU':>8s}")
    for name, (wall, cpu) in rows.items():
        med, cpu_med = median_ms(wall), median_ms(cpu)
        print(f"{name:26s} {med:7.2f} {p90_ms(wall):7.2f} {med - floor:9.2f} "
              f"{cpu_med:7.2f} {cpu_med - cpu_floor:8.2f}")
    if "Python supervisor (old)" in rows:
        for i, what in ((0, "wall"), (1, "CPU")):
            base = median_ms(rows["no-op C program"][i])
            ours = median_ms(rows["C supervisor"][i]) - base
            theirs = median_ms(rows["Python supervisor (old)"][i]) - base
            print(f"own cost ({what}): C {ours:.2f} ms vs Python {theirs:.2f} ms "
                  f"(ratio {theirs / max(ours, 1e-3):.1f}x)")


if __name__ == "__main__":
    main()
