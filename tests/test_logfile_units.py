"""engine/run/logfile.py and engine/logconfig.py without a stack: block reads, binary search,
reading and following across rotated files (renamed here as the supervisor does)."""

from __future__ import annotations

import json
import os

import pytest

from containers.engine import logconfig
from containers.engine.errors import InvalidArgument
from containers.engine.run import logfile


def _line(i: int, stream: str = "stdout") -> bytes:
    s, f = divmod(i, 1000)
    t = f"2026-01-01T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{f:03d}000000Z"
    return (json.dumps({"log": f"{i}\n", "stream": stream, "time": t}) + "\n").encode()


def _nums(records) -> list[int]:
    return [int(r.data) for r in records]


def _rotate(path: str, keep: int) -> None:
    """What the supervisor does: .N-2 -> .N-1, ..., path -> .1."""
    for n in range(keep - 2, 0, -1):
        if os.path.exists(f"{path}.{n}"):
            os.rename(f"{path}.{n}", f"{path}.{n + 1}")
    os.rename(path, path + ".1")


def _write(path: str, numbers) -> None:
    with open(path, "ab") as f:
        f.write(b"".join(_line(i, "stderr" if i % 3 == 0 else "stdout") for i in numbers))


def test_read_tail_since_until_across_rotated_files(tmp_path):
    path = str(tmp_path / "container.log")
    for k in range(4):  # 4 files of 30,000 records (several blocks each)
        _write(path, range(k * 30_000, (k + 1) * 30_000))
        if k < 3:
            _rotate(path, 5)
    assert logfile.log_files(path) == [path + ".3", path + ".2", path + ".1", path]
    q = logfile.LogQuery
    assert _nums(r for b in logfile.batches(path, q()) for r in b) == list(range(120_000))
    assert _nums(logfile.read(path, q(tail=5))[0]) == list(range(119_995, 120_000))
    assert _nums(logfile.read(path, q(tail=40_000))[0]) == list(range(80_000, 120_000))
    assert _nums(logfile.read(path, q(tail=10, stderr=False))[0]) == [
        i for i in range(119_985, 120_000) if i % 3][-10:]
    since = logfile.parse_time(json.loads(_line(45_678))["time"])
    until = logfile.parse_time("2026-01-01T00:01:01Z")
    assert _nums(logfile.read(path, q(since=since, until=until))[0]) == list(range(45_678, 61_001))
    assert _nums(logfile.read(path, q(since=since, until=until, tail=3))[0]) == [60_998, 60_999, 61_000]
    assert logfile.read(path, q(since=until + 10_000))[0] == []
    assert logfile.read(path, q(tail=0))[0] == []


def test_follower_follows_across_several_rotations_between_polls(tmp_path):
    path = str(tmp_path / "container.log")
    _write(path, range(100))
    f = logfile.Follower(path, logfile.LogQuery(tail=10))
    got = _nums(r for b in f.existing() for r in b)
    assert got == list(range(90, 100))
    n = 100
    for burst in range(12):
        for _ in range(burst % 3 + 1):  # one to three rotations between two polls
            _write(path, range(n, n + 50))
            n += 50
            _rotate(path, 5)
        _write(path, range(n, n + 7))
        n += 7
        while True:
            records, read = f.poll()
            got += _nums(records)
            if not read:
                break
    f.close()
    assert got == list(range(90, n))


def test_follower_of_a_removed_log_keeps_what_it_holds(tmp_path):
    path = str(tmp_path / "container.log")
    _write(path, range(10))
    f = logfile.Follower(path, logfile.LogQuery())
    os.unlink(path)
    assert _nums(r for b in f.existing() for r in b) == list(range(10))
    assert f.poll() == ([], False) and not f.pending()
    f.close()


@pytest.mark.parametrize(("text", "size"), [("10", 10), ("512k", 512 * 1024), ("1m", 1 << 20),
                                            ("1.5M", 3 << 19), ("2g", 2 << 30), ("10mb", 10 << 20),
                                            ("-1", 0)])
def test_sizes(text, size):
    assert logconfig.parse_size(text) == size


@pytest.mark.parametrize("opts", [{"max-size": "0"}, {"max-size": "1t"}, {"max-size": ""},
                                  {"max-file": "0"}, {"max-file": "-2"}, {"max-file": "2.5"},
                                  {"compress": "true"}, ["max-size"]])
def test_bad_options(opts):
    with pytest.raises(InvalidArgument):
        logconfig.validate_opts(opts)


def test_limits_default_and_override():
    default = logconfig.LogLimits(100 << 20, 5)
    assert logconfig.limits({}, default) == default
    assert logconfig.limits({"max-file": "2"}, default) == logconfig.LogLimits(100 << 20, 2)
    assert logconfig.limits({"max-size": "-1"}, default).max_size == 0
