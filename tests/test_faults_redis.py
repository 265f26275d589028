"""Faults of the channel layer and the worker, on real processes (issue 12, points 3-5):
Redis killed with -9 while containers run and exit (this host's commands do not need it: they
go over the worker's socket); the worker killed before a `docker run --rm`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time

import pytest
import requests

from containers.rpc import RESTART_GRACE_S
from tests.waiting import until
from tests.wsclient import connect, run

FAST_S = 2.0  # what "answers at once" means here (the RPC timeout is 30 s)


def _all_up(api) -> bool:
    r = api.api("GET", "/api/info/", timeout=10)
    return r.status_code == 200 and not r.json().get("down") and r.json().get("worker") is not None


@pytest.fixture
def redis_killed(api):
    """Kill -9 Redis; afterwards (also after a failure) restart it and wait, bounded, until
    the worker answers again."""
    sock = os.path.join(api.root, "run", "redis.sock")

    def kill() -> None:
        api.kill("redis", signal.SIGKILL)
        assert os.path.exists(sock)  # kill -9 leaves the socket file: connections are refused

    yield kill
    if "redis" not in api.procs:
        api.start_redis()
    until(lambda: _all_up(api), timeout=30, ignore=(requests.RequestException, ValueError))


def _timed(fn):
    t = time.monotonic()
    value = fn()
    return value, time.monotonic() - t


def test_worker_survives_redis_restart_and_records_every_exit(api, dpy, redis_killed):
    worker = api.procs["worker"]
    worker_log = os.path.join(api.root, "worker.log")
    log_from = os.path.getsize(worker_log)
    codes = {}
    for i in range(6):  # exit 0.5..3 s from now, most while Redis is down
        c = api.run(cmd=["sh", "-c", f"echo line{i}; sleep {0.5 * (i + 1)}; exit {10 + i}"])
        codes[c["id"]] = 10 + i
    idle = api.create(cmd=["true"])
    held = api.create(cmd=["sleep", "30"])
    redis_killed()

    # this host's commands go over the worker's socket, not Redis: they work while it is down
    r, took = _timed(lambda: api.api("POST", f"/api/containers/{held['id']}/start/", timeout=30))
    assert r.status_code == 200 and r.json()["state"]["status"] == "running", r.text[:300]
    assert took < FAST_S, took
    r, took = _timed(lambda: api.api("POST", f"/api/containers/{held['id']}/stop/?timeout=1",
                                     timeout=30))
    assert r.status_code == 200 and r.json()["state"]["status"] == "exited", r.text[:300]
    dpy.api.start(idle["id"])  # the Docker API too
    assert dpy.api.wait(idle["id"], timeout=30)["StatusCode"] == 0
    info, took = _timed(lambda: api.api("GET", "/api/info/").json())
    assert "redis" in info["down"] and "worker" not in info["down"] and took < FAST_S, info
    assert any(w.startswith("redis is down") for w in dpy.info()["Warnings"])
    # what needs no Redis keeps working: records and logs
    assert api.inspect(held["id"])["state"]["status"] == "exited"

    # every exit is recorded while Redis is down: the watcher needs the database only
    def recorded() -> bool:
        return all(api.inspect(cid)["state"]["status"] == "exited" for cid in codes)

    until(recorded, timeout=30)
    assert worker.poll() is None  # the worker outlived Redis

    api.start_redis()
    until(lambda: _all_up(api), timeout=30, ignore=(requests.RequestException, ValueError))
    assert api.procs["worker"] is worker and worker.poll() is None  # same process, same pid
    for cid, code in codes.items():
        assert api.inspect(cid)["state"]["exit_code"] == code
        assert api.logs(cid).decode().startswith("line")
        dies = api.api("GET", f"/api/events/?container={cid}").json()
        assert [e["action"] for e in dies].count("die") == 1  # once each, none duplicated
    # and it takes commands again, on both APIs
    c = api.run(cmd=["sh", "-c", "exit 7"])
    assert api.wait(c["id"])["exit_code"] == 7
    dpy.api.start(idle["id"])
    assert dpy.api.wait(idle["id"], timeout=30)["StatusCode"] == 0

    def worker_log_since() -> str:
        with open(worker_log) as f:
            f.seek(log_from)
            return f.read()

    # said once a PING answers (no command comes through Redis on one host)
    log = until(lambda: "Redis is back" in worker_log_since() and worker_log_since(), timeout=15)
    assert "Redis unreachable" in log
    assert "Traceback" not in log, log[-3000:]


def test_worker_down_run_rm_returns_125_and_leaves_nothing(api, cli):
    api.kill("worker", signal.SIGKILL)
    try:
        before = {c["id"] for c in api.api("GET", "/api/containers/?all=1").json()}
        t = time.monotonic()
        p = cli("run", "--rm", "busybox", "true", check=False, timeout=25)
        took = time.monotonic() - t
        assert p.returncode == 125, (p.returncode, p.stderr)
        assert b"worker" in p.stderr and took < RESTART_GRACE_S + 10, (p.stderr, took)
        info = api.api("GET", "/api/info/", timeout=10).json()
        assert "worker" in info["down"] and "redis" not in info["down"], info
        # the REST API too: a failed start of an auto-remove container removes it
        c = api.create(cmd=["true"], auto_remove=True)
        r, took = _timed(lambda: api.api("POST", f"/api/containers/{c['id']}/start/", timeout=30))
        assert r.status_code == 503 and took < RESTART_GRACE_S + FAST_S
        assert "worker" in r.json()["message"]
        assert api.api("GET", f"/api/containers/{c['id']}/").status_code == 404
        after = {c["id"] for c in api.api("GET", "/api/containers/?all=1").json()}
        assert after == before  # no container left behind
        # a container without auto-remove stays, created
        keep = api.create(cmd=["true"])
        r = api.api("POST", f"/api/containers/{keep['id']}/start/", timeout=30)
        assert r.status_code == 503 and api.inspect(keep["id"])["state"]["status"] == "created"
    finally:
        api.start_worker()


def test_refused_start_run_rm_returns_125(api, cli):
    """A start the worker refuses before anything runs (the host port is taken) removes the
    auto-remove container too: the CLI's wait for the removal ends."""
    before = {c["id"] for c in api.api("GET", "/api/containers/?all=1").json()}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        p = cli("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true", check=False,
                timeout=25)
    assert p.returncode == 125 and b"already allocated" in p.stderr, (p.returncode, p.stderr)
    assert {c["id"] for c in api.api("GET", "/api/containers/?all=1").json()} == before


def test_worker_not_answering_run_rm_returns_125(api, cli):
    """A worker that runs but does not answer (stopped): its heartbeat goes stale, the start
    fails before the 30 s RPC timeout, and `docker run --rm` still returns 125."""
    from containers.heartbeat import STALE_S

    worker = api.procs["worker"]
    before = {c["id"] for c in api.api("GET", "/api/containers/?all=1").json()}
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        t = time.monotonic()
        p = cli("run", "--rm", "busybox", "true", check=False, timeout=40)
        took = time.monotonic() - t
        assert p.returncode == 125 and b"has not beaten" in p.stderr, (p.returncode, p.stderr)
        assert took < STALE_S + 5, took
        assert {c["id"] for c in api.api("GET", "/api/containers/?all=1").json()} == before
    finally:
        os.kill(worker.pid, signal.SIGCONT)
    until(lambda: _all_up(api), timeout=30, ignore=(requests.RequestException, ValueError))
    # the start queued while it was stopped finds no container: nothing runs, nothing is left
    c = api.run(cmd=["sh", "-c", "exit 4"])
    assert api.wait(c["id"])["exit_code"] == 4
    after = {done["id"] for done in api.api("GET", "/api/containers/?all=1").json()}
    assert after == before | {c["id"]}


def test_events_socket_survives_redis_restart(api, redis_killed):
    """/ws/events/ keeps streaming from the database while Redis is away and takes hints
    again once it is back (a hint lost meanwhile costs at most CHECK_S of latency)."""

    async def next_of(ws, cid: str, action: str) -> dict:
        while True:
            ev = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if ev["actor_id"] == cid and ev["action"] == action:
                return ev

    async def main():
        async with connect(api, "/ws/events/") as ws:
            redis_killed()
            c1 = await asyncio.to_thread(api.create, cmd=["true"])  # no Redis needed
            await next_of(ws, c1["id"], "create")
            await asyncio.to_thread(api.start_redis)
            await asyncio.to_thread(until, lambda: _all_up(api), 30, 0.05,
                                    (requests.RequestException, ValueError))
            c2 = await asyncio.to_thread(api.run, cmd=["true"])
            await next_of(ws, c2["id"], "die")

    run(main())


def test_heartbeat_is_the_workers(api):
    """run/worker.json names the live worker's pid; a worker stopped cleanly withdraws it."""
    with open(os.path.join(api.root, "run", "worker.json")) as f:
        doc = json.load(f)
    assert doc["pid"] == api.procs["worker"].pid
    assert time.time() - os.stat(os.path.join(api.root, "run", "worker.json")).st_mtime < 10
