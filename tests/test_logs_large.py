"""Logs at scale (issue 12, points 6 and 7), on the real stack.

Reading: a 1 GB container.log (tail / since / until through the real web server) and a
200 MB one (tail and in full through the real docker CLI), each written straight into a
stopped container's directory: the
serving process's peak RSS growth (VmHWM after a reset, /proc/PID/clear_refs) stays under
64 MB and the time is bounded. Rotation: max-size / max-file from `docker run --log-opt`,
files bounded, the last lines kept in order with no gap, a follow across rotations loses
and repeats nothing; bad options are a 400.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

LOG_MB = 200
HUGE_LOG_MB = 1000  # the "1 GB log read with tail under an RSS bound"
RSS_BOUND_KB = 64 * 1024
T0 = "2026-01-01T00:00:00.000000000Z"


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M).group(1))


class PeakRss:
    """The growth of a process's peak RSS over a block (VmHWM reset at the start)."""

    def __init__(self, pid: int):
        self.pid = pid

    def __enter__(self) -> PeakRss:
        with open(f"/proc/{self.pid}/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
        self.base = _status_kb(self.pid, "VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        self.growth_kb = _status_kb(self.pid, "VmHWM") - self.base


def _line(i: int, time_: str, stream: str = "stdout") -> bytes:
    return (json.dumps({"log": f"line {i}\n", "stream": stream, "time": time_}) + "\n").encode()


def write_big_log(path: str, mb: int) -> tuple[int, list[bytes]]:
    """A log of `mb` MB: the same block over and over (time T0), then ten numbered lines at
    00:00:01 ... 00:00:10. Returns (records, the last ten log texts)."""
    block = b"".join(_line(i, T0, "stderr" if i % 7 == 0 else "stdout") for i in range(800))
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while n * len(block) < mb * 1_000_000:
            os.write(fd, block)
            n += 1
        last = [_line(1_000_000 + k, f"2026-01-01T00:00:{k:02d}.000000000Z") for k in range(1, 11)]
        os.write(fd, b"".join(last))
    finally:
        os.close(fd)
    return n * 800 + 10, [f"line {1_000_000 + k}\n".encode() for k in range(1, 11)]


def _stopped_with_log(api, mb: int):
    c = api.run(cmd=["true"])
    api.wait(c["id"])
    path = os.path.join(api.root, "containers", c["id"], "container.log")
    count, last = write_big_log(path, mb)
    return c["id"], count, last, path


@pytest.fixture
def big(api):
    """A stopped container whose log is a 200 MB file."""
    made = _stopped_with_log(api, LOG_MB)
    yield made
    os.unlink(made[3])


@pytest.fixture
def huge(api):
    """A stopped container whose log is a 1 GB file."""
    made = _stopped_with_log(api, HUGE_LOG_MB)
    yield made
    os.unlink(made[3])


def test_rest_tail_since_until_of_a_1gb_log_have_bounded_memory_and_time(api, huge):
    cid, _, last, _ = huge
    web = api.procs["web"].pid
    with PeakRss(web) as peak:
        t = time.monotonic()
        assert api.logs(cid, tail=10) == b"".join(last)
        assert api.logs(cid, since="2026-01-01T00:00:05Z") == b"".join(last[4:])
        window = api.logs(cid, since="2026-01-01T00:00:03Z", until="2026-01-01T00:00:04Z")
        assert window == b"".join(last[2:4])
        assert api.logs(cid, tail=3, stdout=1, stderr=0) == b"".join(last[-3:])
        elapsed = time.monotonic() - t
    assert peak.growth_kb < RSS_BOUND_KB, f"web peak RSS grew {peak.growth_kb} kB"
    assert elapsed < 5, f"tail/since/until of a {HUGE_LOG_MB} MB log took {elapsed:.1f} s"


def test_docker_logs_of_a_big_log_streams_with_bounded_memory(api, cli, big):
    cid, count, last, path = big
    dockerapi = api.procs["dockerapi"].pid
    with PeakRss(dockerapi) as peak:
        t = time.monotonic()
        p = cli("logs", "--tail", "10", cid)
        assert p.stdout == b"".join(last)
        tail_s = time.monotonic() - t
        out = cli("logs", cid, timeout=300)
        elapsed = time.monotonic() - t
    assert peak.growth_kb < RSS_BOUND_KB, f"dockerapi peak RSS grew {peak.growth_kb} kB"
    assert tail_s < 5, f"docker logs --tail 10 took {tail_s:.1f} s"
    assert out.stdout.endswith(b"".join(last))
    lines = out.stdout.count(b"\n") + out.stderr.count(b"\n")
    assert lines == count, (lines, count)
    assert elapsed < 120, f"docker logs of {LOG_MB} MB took {elapsed:.1f} s"


def _files(root: str, cid: str) -> dict[str, int]:
    d = os.path.join(root, "containers", cid)
    return {n: os.path.getsize(os.path.join(d, n)) for n in os.listdir(d) if n.startswith("container.log")}


def _numbers(text: bytes) -> list[int]:
    return [int(x) for x in text.split()]


def test_rotation_bounds_the_files_and_keeps_the_last_lines_in_order(api, cli, dpy):
    n = 60_000  # ~5 MB of log records
    cid = cli("run", "-d", "--log-opt", "max-size=1m", "--log-opt", "max-file=3", "busybox",
              "seq", "1", str(n)).stdout.decode().strip()
    assert cli("wait", cid).stdout.strip() == b"0"
    files = _files(api.root, cid)
    assert set(files) == {"container.log", "container.log.1", "container.log.2"}, files
    assert all(size <= 1024 * 1024 for size in files.values()), files
    kept = _numbers(cli("logs", cid).stdout)
    assert kept == list(range(kept[0], n + 1)) and len(kept) > 20_000, (kept[:3], kept[-3:], len(kept))
    assert _numbers(api.logs(cid)) == kept
    assert _numbers(dpy.containers.get(cid).attach(stdout=True, stderr=True, logs=True)) == kept
    assert _numbers(cli("logs", "--tail", "5", cid).stdout) == list(range(n - 4, n + 1))
    assert _numbers(api.logs(cid, tail=25_000)) == list(range(n - 24_999, n + 1))  # across files
    log_config = json.loads(cli("inspect", cid).stdout)[0]["HostConfig"]["LogConfig"]
    assert log_config == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "3"}}


PACED = ("sleep 1; j=0; while [ $j -lt 40 ]; do seq $((j*500)) $((j*500+499)); "
         "usleep 20000; j=$((j+1)); done")  # 20,000 lines in 40 bursts, ~1.6 MB of log


def test_follow_across_rotations_loses_and_repeats_nothing(api, cli):
    """docker logs -f while the supervisor rotates every ~1,200 lines (a writer faster than
    the reader by more than max-file files loses lines, as with Docker: hence the pace)."""
    cid = cli("run", "-d", "--log-opt", "max-size=100k", "--log-opt", "max-file=5", "busybox",
              "sh", "-c", PACED).stdout.decode().strip()
    followed = cli("logs", "-f", cid, timeout=120)
    assert _numbers(followed.stdout) == list(range(20_000))
    assert len(_files(api.root, cid)) == 5  # it did rotate, more than once


def test_rest_follow_across_rotations(api):
    c = api.run(cmd=["sh", "-c", PACED], log_opts={"max-size": "200k", "max-file": "4"})
    r = api.api("GET", f"/api/containers/{c['id']}/logs/", params={"follow": 1}, timeout=120)
    assert _numbers(r.content) == list(range(20_000))
    assert len(_files(api.root, c["id"])) == 4
    assert api.inspect(c["id"])["config"]["log_opts"] == {"max-size": "200k", "max-file": "4"}


@pytest.mark.parametrize("opts", [["--log-opt", "max-size=abc"], ["--log-opt", "max-file=0"],
                                  ["--log-opt", "max-size=1m", "--log-opt", "max-file=x"],
                                  ["--log-opt", "mode=non-blocking"], ["--log-driver", "syslog"]])
def test_bad_log_options_are_refused(cli, opts):
    p = cli("create", *opts, "busybox", "true", check=False)
    assert p.returncode != 0 and b"500" not in p.stderr, p.stderr
    assert re.search(rb"max-size|max-file|log option|log driver", p.stderr), p.stderr


def test_bad_log_opts_are_a_400_in_rest(api):
    for opts in ({"max-size": "-5"}, {"max-file": "1001"}, {"max-size": "1t"}, {"compress": "true"}):
        r = api.api("POST", "/api/containers/", json={"image": "busybox", "log_opts": opts})
        assert r.status_code == 400, (opts, r.status_code, r.text)
