"""The C supervisor (engine/run/supervisor.c) through the real binary, in exec mode around
ordinary host commands (no LXC needed): the log records, a refused spec, its memory, the
attach socket, the compile."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import pytest

from containers.engine.errors import InvalidArgument
from containers.engine.run import client, frames, logfile, procs, supervision
from containers.engine.run.exec import ExecPaths


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> str:
    return supervision.program(str(tmp_path_factory.mktemp("lib")))


def _start(program: str, d, argv: list[str], **kw) -> ExecPaths:
    p = ExecPaths(str(d))
    os.makedirs(p.dir, exist_ok=True)
    spec = supervision.SupervisorSpec.exec(p, argv, tty=kw.pop("tty", False),
                                           open_stdin=kw.pop("open_stdin", False), console_size=[])
    if kw:
        spec = supervision.SupervisorSpec(**{**spec.__dict__, **kw})
    with open(p.spec, "wb") as f:
        f.write(spec.to_bytes())
    assert supervision.spawn(program, p.dir, p.supervisor_log, 10) == "started"
    return p


def _exit(p: ExecPaths, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while not os.path.exists(p.exit):
        assert time.monotonic() < deadline, "no exit.json"
        time.sleep(0.01)
    with open(p.exit) as f:
        return json.load(f)


def _records(path: str) -> list[logfile.Record]:
    out = []
    for name in logfile.log_files(path):
        with open(name, "rb") as f:
            out += logfile.parse_lines(f.read().splitlines(), logfile.LogQuery())
    return out


def test_log_round_trip_of_random_bytes(program, tmp_path):
    """Random bytes (invalid UTF-8, NULs, control characters, lines far over 16 KiB, valid
    multi-byte characters) on stdout and stderr are read back by logfile.py exactly; every
    record is what Python's json.dumps writes for it, and no record without a newline is
    longer than MAX_RECORD."""
    rnd = random.Random(13)
    parts = [rnd.randbytes(rnd.choice([1, 100, 5000, 40000])) for _ in range(40)]
    parts += ["héllo wörld 😀 \u2028\n".encode(), b"\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf\x00\x7f\n",
              b"a" * 50000 + b"\n", b"\r\n\t\"\\", b"x" * 16384, b"tail without newline"]
    rnd.shuffle(parts)
    out, err = b"".join(parts), b"".join(reversed(parts))
    (tmp_path / "out").write_bytes(out)
    (tmp_path / "err").write_bytes(err)
    script = f"cat {tmp_path}/out & cat {tmp_path}/err >&2; wait"
    p = _start(program, tmp_path / "x", ["/bin/sh", "-c", script])
    assert _exit(p)["exit_code"] == 0
    with open(p.log, "rb") as f:
        lines = f.read().splitlines()
    recs = [logfile.parse_line(ln) for ln in lines]
    assert all(recs)
    assert b"".join(r.data for r in recs if r.stream == "stdout") == out
    assert b"".join(r.data for r in recs if r.stream == "stderr") == err
    for line, rec in zip(lines, recs, strict=True):
        text = rec.data.decode("utf-8", "surrogateescape")
        assert json.dumps({"log": text, "stream": rec.stream, "time": rec.time}).encode() == line
        assert rec.data.endswith(b"\n") or len(rec.data) <= 16384
        assert len(rec.time) == 30 and rec.time.endswith("Z")
    assert not os.path.exists(p.attach)


def test_log_rotation_as_docker_json_file(program, tmp_path):
    """max-size 4 KiB, max-file 3: container.log, .1, .2, each under the limit, in order."""
    script = "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done"
    p = _start(program, tmp_path / "x", ["/bin/sh", "-c", script], log_max_size=4096, log_max_file=3)
    assert _exit(p)["exit_code"] == 0
    files = logfile.log_files(p.log)
    assert [os.path.basename(f) for f in files] == ["output.log.2", "output.log.1", "output.log"]
    assert all(os.path.getsize(f) <= 4096 for f in files)
    data = b"".join(r.data for r in _records(p.log))
    everything = b"".join(b"line%d\n" % i for i in range(300))
    assert everything.endswith(data) and data.startswith(b"line") and data.count(b"\n") > 100


@pytest.mark.parametrize("mangle, why", [
    (lambda raw: b"\xfa\x04marshal\0of a dict\0", "bad magic"),
    (lambda raw: raw[:-1], "NUL-terminated"),
    (lambda raw: raw + b"nonsense\0x\0", "unknown key"),
    (lambda raw: raw + b"tty\x001\0", "given twice"),
    (lambda raw: raw.replace(b"\0log_max_file\x001\0", b"\0log_max_file\x000\0"), "log_max_file"),
    (lambda raw: raw.replace(b"\0mode\0exec\0", b"\0mode\0container\0"), "container spec needs"),
    (lambda raw: raw.replace(b"\0open_stdin\x000\0", b"\0open_stdin\0no\0"), "open_stdin"),
    (lambda raw: raw + b"cgroup_limit\0/sys/fs/cgroup/x\0pids.max\0", "without a value"),
    (lambda raw: raw + b"host_veth\0dw0,eth0\0", "bad host_veth"),  # the library's separator
    (lambda raw: raw + b"host_veth\0a-name-of-16-chars\0", "bad host_veth"),
    (lambda raw: raw + b"".join(b"host_veth\0v%d\0" % i for i in range(17)), "bad host_veth"),
    (lambda raw: raw + b"host_veth\0dwabc\0", "exec spec has container-only fields"),
])
def test_a_malformed_spec_is_refused(program, tmp_path, mangle, why):
    """The binary refuses (exit.json with the reason, "failed", nothing started) what the
    Python reader refuses too."""
    p = ExecPaths(str(tmp_path))
    good = supervision.SupervisorSpec.exec(p, ["/bin/touch", str(tmp_path / "ran")], tty=False,
                                           open_stdin=False, console_size=[]).to_bytes()
    raw = mangle(good)
    with pytest.raises(InvalidArgument):
        supervision.SupervisorSpec.from_bytes(raw)
    with open(p.spec, "wb") as f:
        f.write(raw)
    assert supervision.spawn(program, p.dir, p.supervisor_log, 10) == "failed"
    doc = supervision.read_exit(p)
    assert doc["error"].startswith("malformed supervisor spec") and why in doc["error"], doc
    assert doc["started"] is False and doc["exit_code"] == 255
    assert not os.path.exists(tmp_path / "ran") and not os.path.exists(p.state)


def test_a_set_up_failure_is_the_exit_error_and_nothing_runs(program, tmp_path):
    """Container mode, a cgroup limit that cannot be written (here: a plain directory, no
    such file): "failed", exit.json names the file and the reason, the command never ran."""
    from containers.engine.layout import Layout

    paths = Layout(str(tmp_path)).container_to_start("c" * 64)
    cg = str(tmp_path / "notacgroup")
    spec = supervision.SupervisorSpec.container(
        paths, ["/bin/touch", str(tmp_path / "ran")], tty=False, open_stdin=False, stdin_once=False,
        console_size=[], memory_cgroup=cg, cgroup_limits=[(cg, "pids.max", 5)], cgroup_dirs=[cg],
        preload=str(tmp_path / "never-loaded.so"))
    with open(paths.spec, "wb") as f:
        f.write(spec.to_bytes())
    assert supervision.spawn(program, paths.dir, paths.supervisor_log, 10) == "failed"
    doc = supervision.read_exit(paths)
    assert doc["error"] == f"cannot write 5 to {cg}/pids.max: No such file or directory", doc
    assert doc["started"] is False and not os.path.exists(tmp_path / "ran")
    assert not os.path.exists(cg)  # its cgroup directories are removed as after a run


def test_one_idle_supervisor_is_under_one_mib_pss(program, tmp_path):
    p = _start(program, tmp_path / "x", ["/bin/sleep", "1000"], open_stdin=True)
    with open(p.state) as f:
        state = json.load(f)
    try:
        with client.AttachClient(p.attach, stdin=True, scrollback=True, timeout=5) as c:
            c.write(b"some input\n")  # the stdin path and a client were used once
        rss, pss = procs.rss_pss_kib(state["supervisor_pid"])
        assert 0 < pss < 1024, (rss, pss)
    finally:
        os.kill(state["pid"], signal.SIGKILL)
    assert _exit(p)["exit_code"] == 137


def test_attach_scrollback_stdin_once_and_exit_frame(program, tmp_path):
    """A HELLO with scrollback gets the output so far, then live output; the client that
    sent input and leaves closes stdin (stdin_once), so `cat` ends; then EXIT."""
    p = _start(program, tmp_path / "x", ["/bin/sh", "-c", "echo before; cat; echo after"], open_stdin=True)
    deadline = time.monotonic() + 10
    while b"before" not in open(p.log, "rb").read():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    watcher = client.AttachClient(p.attach, scrollback=False, timeout=10)
    with client.AttachClient(p.attach, stdin=True, scrollback=True, timeout=10) as c:
        c.write(b"x" * (3 << 20))  # more than the pipe takes: POLLOUT, not a stall
        got = b""
        for kind, data in c.frames():
            got += data if kind == frames.STDOUT else b""
            if len(got) >= len(b"before\n") + (3 << 20):
                break
    with watcher:
        kinds = [k for k, _ in watcher.frames()]
    assert got == b"before\n" + b"x" * (3 << 20)
    assert kinds[-1] == frames.EXIT and _exit(p)["exit_code"] == 0
    assert b"".join(r.data for r in _records(p.log)).endswith(b"after\n")


def test_source_compiles_without_warnings(tmp_path):
    argv = ["gcc", *supervision.CFLAGS, "-Werror", "-o", str(tmp_path / "s"), supervision.SOURCE]
    out = subprocess.run(argv, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


FAKE_LXC_EXECUTE = r"""
import os, socket, struct, sys, time
sock = socket.socket(fileno=int(os.environ["DOCKERWEB_STARTED_FD"]))
pid = os.fork()
if pid == 0:  # the container's init: "started" (the kernel names it), its output, its end
    sock.send(b"\x01")
    sock.close()
    sys.stdout.write("the command's output\n")
    sys.stdout.flush()
    os._exit(3)
assert sock.recv(16)[:1] == b"\x03"  # the supervisor names the init (MSG_INIT)
_, status = os.waitpid(pid, 0)
sock.send(struct.pack("=bii", 4, pid, status))  # initconfine's MSG_ENDED, then LXC's teardown
time.sleep(0.3)
print("lxc-execute at its teardown", file=sys.stderr, flush=True)
time.sleep(float(sys.argv[1]))
"""


def _fake_container(tmp_path, teardown_s: float):
    """A container's directory and spec whose "lxc-execute" is FAKE_LXC_EXECUTE, taking
    `teardown_s` seconds to tear down, with a cgroup of its own: (paths, cgroup dir)."""
    from containers.engine.layout import Layout
    from containers.engine.run import cgroups

    paths = Layout(str(tmp_path)).container_to_start(os.urandom(32).hex())
    fake = tmp_path / "lxc-execute.py"
    fake.write_text(FAKE_LXC_EXECUTE)
    cg = cgroups.container_dir(os.environ["DOCKERWEB_CGROUP_PARENT"], "fake-" + os.urandom(4).hex())
    spec = supervision.SupervisorSpec.container(
        paths, ["/usr/bin/python3", str(fake), str(teardown_s)], tty=False, open_stdin=False,
        stdin_once=False, console_size=[], memory_cgroup=cg, cgroup_limits=[], cgroup_dirs=[cg],
        preload=str(tmp_path / "no-library.so"))
    with open(paths.spec, "wb") as f:
        f.write(spec.to_bytes())
    return paths, cg


def test_the_exit_is_recorded_at_the_inits_end_and_the_cleaner_waits_for_lxc_execute(program, tmp_path):
    """Container mode with a stand-in for lxc-execute that reports its init's end the way
    initconfine.c does (MSG_ENDED, the init's wait status) and then takes 2 s to tear down:
    exit.json (the init's code, its output in the log) comes at the init's end and the
    supervisor exits, while a cleaner holds exit.json's lock until lxc-execute is gone, then
    removes the cgroups; what lxc-execute writes meanwhile goes to the supervisor log."""
    paths, cg = _fake_container(tmp_path, teardown_s=2)
    t0 = time.monotonic()
    assert supervision.spawn(program, paths.dir, paths.supervisor_log, 10) == "started"
    state = supervision.read_state(paths)
    doc = _exit(paths)
    took = time.monotonic() - t0
    assert doc["exit_code"] == 3 and doc["started"] is True and took < 1.5, (doc, took)
    logged = [r.data for r in _records(paths.log)]  # (and ld.so's word on the missing library)
    assert b"the command's output\n" in logged and not any(b"teardown" in x for x in logged), logged
    deadline = time.monotonic() + 5
    while procs.alive(state.supervisor_pid, state.supervisor_start):
        assert time.monotonic() < deadline, "the supervisor did not exit"
        time.sleep(0.01)
    assert procs.alive(state.lxc_pid, procs.start_time(state.lxc_pid))  # still tearing down
    assert os.path.isdir(cg)
    with pytest.raises(Exception, match="still being cleaned up"):
        supervision.await_cleanup(paths.exit, timeout=0.2)  # the cleaner holds the lock
    supervision.await_cleanup(paths.exit, timeout=10)
    assert time.monotonic() - t0 > 1.9  # only once lxc-execute is gone
    assert not os.path.exists(cg)
    with open(paths.supervisor_log) as f:
        assert "lxc-execute at its teardown" in f.read()


def test_the_exit_is_known_before_it_is_made_durable_and_a_start_waits_for_neither_fsync(program, tmp_path):
    """The supervisor renames exit.json into place without an fsync and exits; its cleaner
    unmounts and removes the cgroups, lets go of exit.json's lock, and only then fsyncs the
    log, exit.json and the directory (seen with strace: which process makes which call, in
    which order). Before, the supervisor fsynced both before the rename, on every waiter's
    path."""
    import re
    import shutil

    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    paths, cg = _fake_container(tmp_path, teardown_s=0)
    trace = tmp_path / "strace.txt"
    traced = tmp_path / "traced-supervisor"
    traced.write_text(f"#!/bin/sh\nexec {strace} -f -qq -o {trace} -e trace=fsync,rename,flock,exit_group"
                      f" -- {program} \"$@\"\n")
    traced.chmod(0o700)
    assert supervision.spawn(str(traced), paths.dir, paths.supervisor_log, 20) == "started"
    assert _exit(paths)["exit_code"] == 3
    supervision.await_cleanup(paths.exit, timeout=10)
    deadline = time.monotonic() + 10
    while "fsync" not in trace.read_text() or trace.read_text().count("exit_group") < 4:
        assert time.monotonic() < deadline, trace.read_text()
        time.sleep(0.05)
    calls = [(int(m[1]), m[2], m[3]) for m in
             re.finditer(r"^(\d+) +(\w+)\((.*?)\)\s+= ", trace.read_text(), re.M)]
    renamer = next(pid for pid, name, args in calls if name == "rename" and "exit.json" in args)
    renamed_at = next(i for i, (pid, name, args) in enumerate(calls) if name == "rename" and pid == renamer)
    assert not [c for c in calls if c[0] == renamer and c[1] == "fsync"], calls  # none by the supervisor
    cleaner_fsyncs = [i for i, (pid, name, _) in enumerate(calls) if name == "fsync"]
    unlocked = [i for i, (pid, name, args) in enumerate(calls) if name == "flock" and "LOCK_UN" in args]
    assert len(cleaner_fsyncs) == 3, calls  # the log (the command wrote), exit.json, its directory
    assert unlocked and renamed_at < unlocked[0] < cleaner_fsyncs[0], calls
    assert not os.path.exists(cg)
