"""Many hosts (issue 16) on this one machine: two simulated hosts (worker + web + Docker API
each, with their own host name, state root, bridge, subnet, nft table and cgroup parent) on
one PostgreSQL and one Redis.

Placement spreads and honours pins; every command reaches the worker of the container's host
only (each container is killed with a signal its shell turns into a distinct exit code: a
wrong worker cannot find the container's supervisor and could not produce that code); a host
whose worker is killed shows `down`, its containers keep running and show `unknown`, commands
for them are a 503 at once while the other host works on; its worker back, all is reconciled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tests import multihost
from tests.conftest import STATE_ROOT
from tests.settings import RUN_ID
from tests.stack import Stack
from tests.waiting import until
from tests.wsclient import collect, connect, controls, output, run

TRAP = 'trap "exit $CODE" USR1; while :; do sleep 0.1; done'


@pytest.fixture
def two_hosts(postgres_url):
    with multihost.two_hosts(STATE_ROOT, RUN_ID, postgres_url) as pair:
        yield pair


def _hosts(s: Stack) -> dict[str, dict]:
    return {h["name"]: h for h in s.api("GET", "/api/hosts/").json()}


def test_two_hosts_place_route_and_survive_a_dead_worker(two_hosts):
    a, b = two_hosts
    ha, hb = a.env["DOCKERWEB_HOST"], b.env["DOCKERWEB_HOST"]
    hosts = _hosts(a)
    assert {hosts[ha]["status"], hosts[hb]["status"]} == {"up"} and hosts[hb]["cpus"] == os.cpu_count()

    # 20 containers through host A's API: 4 pinned to B, 2 pinned to A, 14 replicas placed
    made = []
    for i in range(20):
        body = {"cmd": ["sh", "-c", TRAP], "env": [f"CODE={10 + i}"], "name": f"rep-{i}"}
        if i < 4:
            body["host"] = hb
        elif i < 6:
            body["host"] = ha
        made.append(a.create(**body))
    assert all(c["host"] == hb for c in made[:4]) and all(c["host"] == ha for c in made[4:6])
    placed = [c["host"] for c in made[6:]]
    assert placed.count(ha) >= 4 and placed.count(hb) >= 4, placed  # spread, not all on one
    for c in made:
        r = a.api("POST", f"/api/containers/{c['id']}/start/")
        assert r.status_code == 200, r.text
    subnets = {c["host"]: a.inspect(c["id"])["network_settings"]["gateway"] for c in made}
    assert subnets[ha] != subnets[hb]  # each host its own bridge and subnet
    # kill each (through either host's API): the distinct code proves the right worker acted
    for i, c in enumerate(made[:10]):
        via = a if i % 2 else b
        r = via.api("POST", f"/api/containers/{c['id']}/kill/?signal=USR1")
        assert r.status_code == 200, r.text
        assert via.wait(c["id"])["exit_code"] == 10 + i
    for i, c in enumerate(made[:10]):
        st = a.inspect(c["id"])
        assert (st["host"], st["state"]["status"], st["state"]["exit_code"]) == (c["host"], "exited", 10 + i)

    # host B's worker dies: its containers keep running; B is down; commands 503 at once
    on_b = [c for c in made[10:] if c["host"] == hb]
    on_a = [c for c in made[10:] if c["host"] == ha]
    assert on_b and on_a
    b.kill("worker", signal.SIGKILL)
    until(lambda: _hosts(a)[hb]["status"] == "down", timeout=15)
    assert a.inspect(on_b[0]["id"])["state"]["status"] == "unknown"
    t = time.monotonic()
    r = a.api("POST", f"/api/containers/{on_b[0]['id']}/stop/")
    assert r.status_code == 503 and f"host {hb} is down" in r.json()["message"], r.text
    assert time.monotonic() - t < 2
    first_a = on_a.pop(0)
    assert a.api("POST", f"/api/containers/{first_a['id']}/kill/?signal=USR1").status_code == 200
    assert a.wait(first_a["id"])["exit_code"] == 10 + made.index(first_a)
    assert b.api("GET", "/api/info/").status_code == 200  # B's web still serves

    # B's worker back: reconciled, nothing lost; its containers still answer to their codes
    b.restart("worker")
    until(lambda: _hosts(a)[hb]["status"] == "up", timeout=15)
    for c in on_b + on_a:
        assert a.inspect(c["id"])["state"]["status"] == "running"
        assert a.api("POST", f"/api/containers/{c['id']}/kill/?signal=USR1").status_code == 200
        assert a.wait(c["id"])["exit_code"] == 10 + made.index(c)


def test_hosts_api_drain_pin_and_remove(two_hosts):
    a, b = two_hosts
    ha, hb = a.env["DOCKERWEB_HOST"], b.env["DOCKERWEB_HOST"]
    assert a.api("POST", f"/api/hosts/{hb}/drain/", json={}).json()["draining"] is True
    for i in range(4):
        assert a.create(name=f"d-{i}")["host"] == ha  # a drained host gets no placements
    r = a.api("POST", "/api/containers/", json={"image": "busybox", "host": hb})
    assert r.status_code == 409 and "draining" in r.json()["message"], r.text
    r = a.api("POST", "/api/containers/", json={"image": "busybox", "host": "nowhere"})
    assert r.status_code == 400 and "No such host" in r.json()["message"], r.text
    assert a.api("DELETE", f"/api/hosts/{hb}/").status_code == 409  # up: stop its worker first
    a.api("POST", f"/api/hosts/{hb}/drain/", json={"draining": False})
    info = a.api("GET", "/api/info/").json()
    assert info is not None
    labels = [lab for lab in _docker_info(a)["Labels"] if lab.startswith("com.dockerweb.host.")]
    assert sorted(lab.split("=")[0] for lab in labels) == sorted(f"com.dockerweb.host.{h}" for h in (ha, hb))
    # the relay signature on B's Docker API over TCP: valid -> the system; forged, stale,
    # or for another path -> 401 (signed here with the hosts' shared secret)
    import hashlib
    import hmac

    import requests

    def sig(when: int, target: str) -> str:
        mac = hmac.new(multihost.SECRET.encode(), f"{when}\nGET\n{target}".encode(), hashlib.sha256)
        return f"{when}:{mac.hexdigest()}"

    base, path, now = f"http://{b.env['DOCKERWEB_DOCKER_TCP']}", "/containers/json?all=1", int(time.time())
    for value, code in ((sig(now, path), 200), (f"{now}:{'0' * 64}", 401), (sig(now - 120, path), 401),
                        (sig(now, "/info"), 401), ("", 401)):
        r = requests.get(base + path, headers={"X-Dockerweb-Relay": value} if value else {}, timeout=10)
        assert r.status_code == code, (value, r.status_code, r.text)


def test_streams_of_a_container_on_b_through_host_a(two_hosts):
    """Logs, top, exec and the attach websocket of a container on B through A's web server;
    `docker logs -f`, `docker exec` and `docker attach` through A's Docker socket: relayed
    to B, the same bytes as B itself serves."""
    a, b = two_hosts
    hb = b.env["DOCKERWEB_HOST"]
    c = a.run(cmd=["sh", "-c", "echo on-b; sleep 1000"], host=hb)
    until(lambda: b.logs(c["id"]) == b"on-b\n")
    assert a.logs(c["id"]) == b"on-b\n"
    assert a.api("GET", f"/api/containers/{c['id']}/top/").status_code == 200
    stats = a.api("GET", f"/api/containers/{c['id']}/stats/")
    assert stats.status_code == 200 and stats.json()["memory"], stats.text  # B's cgroups, via B
    # the kept hour: B's worker samples its containers into the shared database (PostgreSQL),
    # and A serves it without a relay
    hist = until(lambda: len(s := a.api("GET", f"/api/containers/{c['id']}/stats/history/").json()["samples"])
                 >= 2 and s, timeout=30)
    assert hist[-1]["cpu"]["percent"] is not None and hist[-1]["memory"]["working_set"] > 0, hist
    r = a.api("POST", f"/api/containers/{c['id']}/exec/", json={"cmd": ["hostname"]})
    assert r.status_code == 201, r.text
    out = a.api("POST", f"/api/exec/{r.json()['id']}/start/", json={})
    assert out.status_code == 200 and out.content == f"{c['hostname']}\n".encode(), out.content

    cat = a.run(cmd=["cat"], open_stdin=True, host=hb)
    data = bytes(range(256)) * 1024

    async def attach():
        async with connect(a, f"/ws/containers/{cat['id']}/attach/") as ws:
            await ws.send(data)
            await ws.send(json.dumps({"type": "close_stdin"}))
            return await collect(ws)

    msgs, _ = run(attach())
    assert output(msgs) == data and controls(msgs)[-1]["exit_code"] == 0

    docker = shutil.which("docker")
    env = {**os.environ, "DOCKER_HOST": f"unix://{a.docker_sock}", "DOCKER_CONFIG": f"{a.root}/.docker"}
    p = subprocess.run([docker, "exec", c["id"], "sh", "-c", "echo exec-on-b; exit 3"], env=env,
                       capture_output=True, timeout=60)
    assert (p.returncode, p.stdout) == (3, b"exec-on-b\n"), p.stderr
    p = subprocess.run([docker, "logs", c["id"]], env=env, capture_output=True, timeout=60)
    assert p.stdout == b"on-b\n", p.stderr
    f = a.run(cmd=["sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.3; done; exit 4"], host=hb)
    p = subprocess.run([docker, "logs", "-f", f["id"]], env=env, capture_output=True, timeout=60)
    assert p.stdout == b"n1\nn2\nn3\n", p.stderr
    g = a.create(cmd=["sh", "-c", "read x; echo got-$x; exit 5"], open_stdin=True, stdin_once=True, host=hb)
    p = subprocess.run([docker, "start", "-ai", g["id"]], env=env, input=b"hello\n", capture_output=True,
                       timeout=60)
    assert (p.returncode, p.stdout) == (5, b"got-hello\n"), p.stderr


def _docker_info(s: Stack) -> dict:
    import docker

    client = docker.DockerClient(base_url=f"unix://{s.docker_sock}", timeout=30)
    try:
        return client.info()
    finally:
        client.close()


def test_an_image_only_on_a_is_copied_to_b_for_a_container_placed_there(two_hosts):
    a, b = two_hosts
    ha, hb = a.env["DOCKERWEB_HOST"], b.env["DOCKERWEB_HOST"]
    src = a.run(cmd=["sh", "-c", "echo marker-from-a > /m"], host=ha)
    a.wait(src["id"])
    r = a.api("POST", f"/api/containers/{src['id']}/commit/", json={"repo": "hostcopy", "tag": "1"})
    assert r.status_code == 201, r.text
    image_id = r.json()["id"]
    assert not os.path.exists(os.path.join(b.root, "images", f"{image_id}.json"))
    c = a.run(image="hostcopy:1", cmd=["cat", "/m"], host=hb)  # B's worker copies it from A first
    assert a.wait(c["id"])["exit_code"] == 0
    assert a.logs(c["id"]) == b"marker-from-a\n"
