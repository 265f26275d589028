"""wait woken by the exit itself (issue 13), on the real stack, and 100 containers created
and started at once, all correct.

Waits of every condition, REST and Docker API, begun before the exit, answer well within
exithints.RECHECK_S of it: only the exit hint can have woken them (the re-check net would
take RECHECK_S). A wait begun after the exit answers at once.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from containers.exithints import RECHECK_S

WOKEN_S = RECHECK_S - 2  # answered after the exit within this: woken by the hint


def _finished(api, cid: str) -> float:
    """The container's exit time (the supervisor's clock, unix seconds)."""
    text = api.inspect(cid)["state"]["finished_at"]
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_rest_and_docker_waits_are_woken_by_the_exit(api, dpy):
    c = api.create(cmd=["sh", "-c", "sleep 2; exit 3"])
    cid = c["id"]
    rest = {cond: f"/api/containers/{cid}/wait/?condition={cond}&timeout=60"
            for cond in ("not-running", "next-exit", "removed")}
    with ThreadPoolExecutor(6) as pool:
        def rest_wait(cond: str) -> tuple[dict, float]:
            r = api.api("POST", rest[cond], timeout=70)
            assert r.status_code == 200, r.text
            return r.json(), time.time()

        def docker_wait(cond: str) -> tuple[dict, float]:
            return dpy.api.wait(cid, timeout=70, condition=cond), time.time()

        kinds = (("rest", rest_wait), ("docker", docker_wait))
        waits = {(kind, cond): pool.submit(fn, cond) for kind, fn in kinds
                 for cond in ("next-exit", "removed")}
        time.sleep(0.5)  # blocked before the start (next-exit counts from there)
        assert api.api("POST", f"/api/containers/{cid}/start/").status_code == 200
        # not-running of a created container is satisfied at once (Docker's): wait once it runs
        waits |= {(kind, "not-running"): pool.submit(fn, "not-running") for kind, fn in kinds}
        for cond in ("not-running", "next-exit"):
            body, at = waits[("rest", cond)].result(timeout=60)
            assert body["exit_code"] == 3, body
            assert at - _finished(api, cid) < WOKEN_S, (cond, at - _finished(api, cid))
            body, at = waits[("docker", cond)].result(timeout=60)
            assert body["StatusCode"] == 3, body
            assert at - _finished(api, cid) < WOKEN_S, (cond, at - _finished(api, cid))
        assert not waits[("rest", "removed")].done() and not waits[("docker", "removed")].done()
        t = time.time()
        assert api.api("DELETE", f"/api/containers/{cid}/").status_code == 204
        body, at = waits[("rest", "removed")].result(timeout=60)
        assert body == {"exit_code": 3, "removed": True} and at - t < WOKEN_S, (body, at - t)
        body, at = waits[("docker", "removed")].result(timeout=60)
        assert body["StatusCode"] == 3 and at - t < WOKEN_S, (body, at - t)


def test_a_wait_after_the_exit_answers_at_once(api, dpy):
    c = api.run(cmd=["sh", "-c", "exit 5"])
    api.wait(c["id"])
    t = time.monotonic()
    assert api.wait(c["id"])["exit_code"] == 5
    assert dpy.api.wait(c["id"], timeout=30)["StatusCode"] == 5
    assert time.monotonic() - t < WOKEN_S


def test_run_rm_through_the_cli_is_woken_by_the_removal(api, cli):
    t = time.monotonic()
    p = cli("run", "--rm", "busybox", "sh", "-c", "exit 7", check=False)
    assert p.returncode == 7, p.stderr
    assert time.monotonic() - t < WOKEN_S


def test_hundred_containers_created_and_started_at_once(api):
    """All 100 run, each with its own name and address; every start answered 200."""
    def one(i: int) -> dict:
        r = api.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["sleep", "300"]},
                    timeout=120)
        assert r.status_code == 201, r.text
        r = api.api("POST", f"/api/containers/{r.json()['id']}/start/", timeout=120)
        assert r.status_code == 200, r.text
        return r.json()

    with ThreadPoolExecutor(100) as pool:
        started = list(pool.map(one, range(100)))
    seen = [api.inspect(c["id"]) for c in started]
    assert all(c["state"]["status"] == "running" for c in seen)
    assert len({c["name"] for c in seen}) == 100
    ips = [c["network_settings"]["ip"] for c in seen]
    assert all(ips) and len(set(ips)) == 100, ips
    assert len({c["state"]["pid"] for c in seen}) == 100
    with ThreadPoolExecutor(16) as pool:
        gone = list(pool.map(lambda c: api.api("DELETE", f"/api/containers/{c['id']}/?force=1",
                                               timeout=120).status_code, seen))
    assert gone == [204] * 100



def _redis(api):
    import redis

    return redis.Redis(unix_socket_path=os.path.join(api.root, "run", "redis.sock"))


def test_a_blocked_wait_joins_no_redis_group_only_its_process_subscription(api):
    """A REST wait that blocks joins its process's exit hints in memory: while it waits,
    Redis holds no group of its container (the channel-layer group of a waiter until the
    eighth session) and the web's one subscription to the exit hints is there."""
    from containers import exithints

    c = api.run(cmd=["sleep", "2"])
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(api.wait, c["id"])
        time.sleep(0.8)  # blocked by now
        r = _redis(api)
        try:
            assert r.keys(f"*{c['id']}*") == []  # no group, no channel of this wait's
            assert not waiting.done()
            (_, subscribers), = r.pubsub_numsub(exithints.channel())
            assert subscribers >= 1
        finally:
            r.close()
        assert waiting.result(timeout=30)["exit_code"] == 0
