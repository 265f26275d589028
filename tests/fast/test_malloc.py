"""dockerweb.malloc: the servers' allocator settings are the same wherever they are launched
(make run's supervisord, systemd, tests/stack.py), can be turned off, and the trimming
thread runs on glibc (issue 12, flat RSS; docs/worker-memory.md)."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dockerweb import launch, malloc
from tests.stack import Stack

REPO = Path(__file__).resolve().parents[2]
SERVERS = ("web", "worker", "dockerapi")


def test_server_env_adds_env_keeps_the_operators_and_can_be_off():
    assert malloc.server_vars({}) == malloc.ENV
    assert malloc.server_env({"A": "1"}) == {"A": "1", **malloc.ENV}
    name = next(iter(malloc.ENV))
    assert name not in malloc.server_vars({name: "8"})
    assert malloc.server_env({name: "8"})[name] == "8"
    for off in ("0", "off", "false", "no"):
        assert malloc.server_vars({"DOCKERWEB_MALLOC_TUNING": off}) == {}
        assert malloc.trim_interval({"DOCKERWEB_MALLOC_TUNING": off}) == 0


def test_trim_interval():
    assert malloc.trim_interval({}) == malloc.TRIM_S
    assert malloc.trim_interval({"DOCKERWEB_MALLOC_TRIM_S": "2.5"}) == 2.5
    assert malloc.trim_interval({"DOCKERWEB_MALLOC_TRIM_S": "0"}) == 0
    assert malloc.trim_interval({"DOCKERWEB_MALLOC_TRIM_S": "-1"}) == 0


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_trimming_thread_runs_once_per_process():
    code = ("import threading, time\n"
            "from dockerweb import malloc\n"
            "assert malloc.glibc_trim()() in (0, 1)\n"
            "assert malloc.start_trimming(0.01) and malloc.start_trimming(0.01)\n"
            "assert not malloc.start_trimming(0)\n"
            "time.sleep(0.05)\n"
            "print(sum(t.name == 'malloc-trim' for t in threading.enumerate()))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def test_supervisord_gives_the_python_servers_the_variables(monkeypatch):
    for name in (*malloc.ENV, "DOCKERWEB_MALLOC_TUNING"):
        monkeypatch.delenv(name, raising=False)
    conf = launch.supervisord_conf("/nonexistent")
    sections = dict(part.split("]\n", 1) for part in conf.split("[program:")[1:])
    want = "environment=" + ",".join(f'{k}="{v}"' for k, v in malloc.ENV.items())
    for name in SERVERS:
        assert want in sections[name].splitlines()
    assert "environment=" not in sections["redis"]
    monkeypatch.setenv("DOCKERWEB_MALLOC_TUNING", "0")
    assert "environment=" not in launch.supervisord_conf("/nonexistent")


def test_systemd_units_set_the_same_variables():
    for name in SERVERS:
        text = (REPO / "deploy" / "systemd" / f"dockerweb-{name}.service").read_text()
        env = dict(kv.split("=", 1) for line in re.findall(r"^Environment=(.*)$", text, re.M)
                   for kv in line.split())
        assert {k: env.get(k) for k in malloc.ENV} == malloc.ENV, name
    assert "MALLOC" not in (REPO / "deploy" / "systemd" / "dockerweb-redis.service").read_text()


def test_test_stack_starts_the_servers_with_them(monkeypatch, tmp_path):
    for name in (*malloc.ENV, "DOCKERWEB_MALLOC_TUNING"):
        monkeypatch.delenv(name, raising=False)
    env = Stack(str(tmp_path)).env
    assert {k: env[k] for k in malloc.ENV} == malloc.ENV
