"""Supervisor start-up: launch to "started" on the status fd, without LXC (issue 13).

What `supervision.spawn` waits for at each container start and exec, minus LXC's own time:
the supervisor runs in exec mode around `/bin/sleep` (no cgroup, no hook, no lxc), so the
figure is its own start-up (read the spec, double fork, fork/exec the child, state.json,
log, attach socket, report). Baselines in the same run, through the same `spawn`:
- a no-op C program that only writes "started" on the fd (the floor: fork/exec + the pipe);
- the same with the supervisor's two forks (into the background, and the child): the floor
  of any supervisor that keeps this contract (on a loaded machine, mostly scheduling);
- `python3 -I -S -c` doing the same (the floor of any Python supervisor);
- the former Python supervisor (exec_supervisor.py from git, OLD_REV) when git has it.

Goal: the supervisor's own cost (median minus the no-op C program) <= 3 ms.
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
int main(int argc, char **argv)
{
	(void)argc;
#ifdef FORKS
	if (fork())
		return 0;
	if (fork() == 0)
		_exit(0); /* the child the supervisor would run */
#endif
	return write(atoi(argv[2]), "started\n", 8) != 8;
}
"""
NOOP_PY = "import os, sys; os.write(int(sys.argv[2]), b'started\\n')"


def timed(argv_of, directory: str, n: int, after=None) -> list[float]:
    """Durations of n launches of argv_of(directory, fd) up to its first word on fd."""
    out = []
    for _ in range(n):
        r, w = os.pipe()
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv_of(directory, w), pass_fds=(w,), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        os.close(w)
        word = os.read(r, 64)
        out.append(time.perf_counter() - t0)
        os.close(r)
        proc.wait()
        assert word.startswith(b"started"), word
        if after:
            after(directory)
    return out


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
        for flags, out in (((), noop), (("-DFORKS",), noop + "-forks")):
            subprocess.run(["gcc", *supervision.CFLAGS, *flags, "-o", out, noop + ".c"], check=True)
        c_dir = exec_dir(root, "c").dir
        python = ["/usr/bin/python3", "-I", "-S"]
        rows = {
            "no-op C program": timed(lambda d, w: [noop, d, str(w)], root, n),
            "no-op C, 2 forks": timed(lambda d, w: [noop + "-forks", d, str(w)], root, n),
            "C supervisor": timed(lambda d, w: [program, d, str(w)], c_dir, n, stop),
            "python3 -I -S no-op": timed(lambda d, w: [*python, "-c", NOOP_PY, d, str(w)], root, n),
        }
        old = old_supervisor(root)
        if old:
            p = exec_dir(root, "py")
            spec = supervision.SupervisorSpec.from_bytes(open(p.spec, "rb").read())
            fields = {k: v for k, v in spec.__dict__.items() if k != "mode"}
            with open(p.spec, "wb") as f:
                marshal.dump(fields, f)
            rows["Python supervisor (old)"] = timed(lambda d, w: [*python, old, d, str(w)], p.dir, n, stop)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    floor = median_ms(rows["no-op C program"])
    print(f"supervisor start: launch -> 'started' on the status fd, {n} runs (ms)")
    print(f"{'':26s} {'median':>7s} {'p90':>7s} {'own cost':>9s}")
    for name, samples in rows.items():
        med = median_ms(samples)
        print(f"{name:26s} {med:7.2f} {p90_ms(samples):7.2f} {med - floor:9.2f}")
    ours = median_ms(rows["C supervisor"]) - floor
    if "Python supervisor (old)" in rows:
        theirs = median_ms(rows["Python supervisor (old)"]) - floor
        print(f"own cost: C {ours:.2f} ms vs Python {theirs:.2f} ms (ratio {theirs / max(ours, 1e-3):.1f}x)")


if __name__ == "__main__":
    main()
