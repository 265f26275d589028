"""Fault injection on real processes (issue 12, Tests): kill -9 of the worker, web, dockerapi or
Redis, each alone, while 30 containers print numbered lines and exit with distinct codes.
Afterwards every container is recorded once, with its own exit code, every line once and in
order, and exactly one `die` event."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.waiting import until

N = 30  # containers per fault
LINES = 40
EXPECTED = "".join(f"line-{i}\n" for i in range(1, LINES + 1))
ERRORS = (requests.RequestException, ValueError)


def _script(code: int) -> list[str]:
    """Wait for SIGUSR1 (so that all 30 print at once, however slowly they were started),
    then print line-1..line-40 over about 5 s and exit with `code`."""
    return ["sh", "-c", "go=; trap 'go=1' USR1; while [ -z \"$go\" ]; do sleep 0.05; done; "
                        f"i=0; while [ $i -lt {LINES} ]; do i=$((i+1)); echo line-$i; "
                        f"sleep 0.12; done; exit {code}"]


def _all_up(api) -> bool:
    r = api.api("GET", "/api/info/", timeout=10)
    return r.status_code == 200 and not r.json().get("down") and r.json().get("worker") is not None


def _status(api, cid: str) -> str:
    return api.inspect(cid)["state"]["status"]


@pytest.mark.parametrize("victim", ["worker", "web", "dockerapi", "redis"])
def test_kill9_during_30_containers_loses_nothing(api, cli, victim):
    codes: dict[str, int] = {}
    for k in range(10, 10 + N):
        c = api.create(cmd=_script(k), name=f"fault-{victim}-{k}")
        codes[c["id"]] = k
    try:
        with ThreadPoolExecutor(4) as pool:
            starts = list(pool.map(
                lambda cid: api.api("POST", f"/api/containers/{cid}/start/"), codes))
        failed = [r.text[:300] for r in starts if r.status_code != 200]
        assert not failed, failed
        with ThreadPoolExecutor(4) as pool:
            go = list(pool.map(
                lambda cid: api.api("POST", f"/api/containers/{cid}/kill/?signal=USR1"), codes))
        assert [r.status_code for r in go] == [200] * N, [r.text[:300] for r in go]
        # the kill comes while all 30 print: each has begun and none has ended
        t = time.monotonic()
        until(lambda: all(api.logs(cid).startswith(b"line-1\n") for cid in codes), timeout=10)
        running = sum(_status(api, cid) == "running" for cid in codes)
        assert running == N, f"only {running} of {N} running at the kill"
        printing = time.monotonic() - t

        api.kill(victim, signal.SIGKILL)
        assert printing < 4, printing  # well within the ~5 s of output
        if victim != "worker":  # while it is away, the lines keep coming
            time.sleep(0.5)
        api.restart(victim)
        until(lambda: _all_up(api), timeout=30, ignore=ERRORS)

        def all_exited() -> bool:
            return all(_status(api, cid) == "exited" for cid in codes)

        until(all_exited, timeout=40, step=0.2, ignore=ERRORS)
        for cid, k in codes.items():
            state = api.inspect(cid)["state"]
            assert (state["status"], state["exit_code"]) == ("exited", k), (cid, k, state)
            assert api.logs(cid).decode() == EXPECTED, (cid, k)
            evs = api.api("GET", f"/api/events/?container={cid}").json()
            dies = [e for e in evs if e["action"] == "die"]
            assert len(dies) == 1, (k, dies)
            assert dies[0]["attributes"]["exitCode"] == str(k), (k, dies)
            assert [e["action"] for e in evs].count("start") == 1, (k, evs)
        for cid in list(codes)[:: N // 5]:  # a few through the Docker API too
            p = cli("logs", cid)
            assert p.stdout.decode() == EXPECTED and p.stderr == b"", (cid, p.stderr)
            p = cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", cid)
            assert p.stdout.decode().split() == ["exited", str(codes[cid])]
    finally:
        if victim not in api.procs:
            api.restart(victim)
            until(lambda: _all_up(api), timeout=30, ignore=ERRORS)
        for cid in codes:
            api.api("DELETE", f"/api/containers/{cid}/?force=1")
    left = {c["id"] for c in api.api("GET", "/api/containers/?all=1").json()} & set(codes)
    assert not left, left


def test_init_library_built_by_many_threads_at_once(tmp_path):
    """The first starts on a fresh state root build the init confinement library, several
    worker threads at once: each builds in its own temporary file (found by the 30 concurrent
    starts above, which failed with "start failed: No such file or directory")."""
    from containers.engine.confine import initconfine

    barrier = threading.Barrier(6)

    def build(_: int) -> str:
        barrier.wait(10)
        return initconfine.library(str(tmp_path))

    with ThreadPoolExecutor(6) as pool:
        paths = set(pool.map(build, range(6)))
    assert len(paths) == 1 and os.path.isfile(paths.pop())
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
