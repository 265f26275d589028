"""exec on the live stack: REST and the websocket, with and without a tty."""

from __future__ import annotations

import json
import os
import signal

from containers.engine.layout import Layout
from containers.engine.run.exec import ExecPaths
from tests.waiting import until
from tests.wsclient import collect, connect, controls, output, read_until, run


def _create(api, cid, **body):
    r = api.api("POST", f"/api/containers/{cid}/exec/", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_exec_inherits_env_user_and_workdir_and_has_its_own_exit_code(api):
    c = api.run(cmd=["sleep", "1000"], env=["GREETING=hi"], working_dir="/srv", user="nobody")
    script = "echo $GREETING $EXTRA $HOME; pwd; id -u; echo oops >&2; exit 4"
    eid = _create(api, c["id"], cmd=["sh", "-c", script], env=["EXTRA=more"])
    info = api.api("GET", f"/api/exec/{eid}/").json()
    assert info["started"] is False and info["running"] is False and info["container_id"] == c["id"]
    r = api.api("POST", f"/api/exec/{eid}/start/", json={})
    assert r.status_code == 200 and r.content == b"hi more /home\n/srv\n65534\noops\n"
    info = api.api("GET", f"/api/exec/{eid}/").json()
    assert info["exit_code"] == 4 and info["running"] is False and info["finished_at"]
    # its own user and working dir; the container goes on running
    eid = _create(api, c["id"], cmd=["sh", "-c", "id -u; pwd"], user="root", working_dir="/tmp")
    assert api.api("POST", f"/api/exec/{eid}/start/", json={}).content == b"0\n/tmp\n"
    assert api.inspect(c["id"])["state"]["status"] == "running"
    assert api.logs(c["id"]) == b""  # execs leave nothing (no LXC noise) in the container's output
    actions = [e["action"] for e in api.api("GET", f"/api/events/?container={c['id']}").json()]
    assert actions.count("exec_create") == 2 and actions.count("exec_start") == 2

    def dies():
        evs = api.api("GET", f"/api/events/?container={c['id']}").json()
        return [e["attributes"]["exitCode"] for e in evs if e["action"] == "exec_die"]

    # each end reported once, promptly (the worker watches the exec's supervisor)
    assert sorted(until(lambda: len(dies()) == 2 and dies(), timeout=5)) == ["0", "4"]


def test_exec_errors(api):
    c = api.create(cmd=["sleep", "1000"])
    r = api.api("POST", f"/api/containers/{c['id']}/exec/", json={"cmd": ["true"]})
    assert r.status_code == 409  # not running
    api.api("POST", f"/api/containers/{c['id']}/start/")
    for bad in ({}, {"cmd": []}, {"cmd": ["true"], "env": ["NO EQUALS"]}, {"cmd": ["true"], "user": "a b"},
                {"cmd": ["true"], "working_dir": "rel"}, {"cmd": ["true"], "console_size": [1]}):
        assert api.api("POST", f"/api/containers/{c['id']}/exec/", json=bad).status_code == 400, bad
    assert api.api("GET", "/api/exec/" + "f" * 64 + "/").status_code == 404
    assert api.api("GET", "/api/exec/../../etc/").status_code == 404
    eid = _create(api, c["id"], cmd=["no-such-command"])
    assert api.api("POST", f"/api/exec/{eid}/start/", json={"detach": True}).status_code == 200
    info = until(lambda: (i := api.api("GET", f"/api/exec/{eid}/").json())["exit_code"] is not None and i)
    assert info["exit_code"] == 127 and "no-such-command" in info["error"]
    assert api.api("POST", f"/api/exec/{eid}/start/", json={}).status_code == 409  # starts once


def test_exec_tty_over_websocket_with_resize(api):
    c = api.run(cmd=["sleep", "1000"])
    eid = _create(api, c["id"], cmd=["sh"], tty=True, stdin=True, console_size=[30, 90])

    async def main():
        async with connect(api, f"/ws/exec/{eid}/") as ws:  # the first socket starts it
            await ws.send(b"stty size; tty\r")
            seen = await read_until(ws, b"/dev/pts/")
            assert b"30 90" in seen
            # resize and input are ordered frames on one socket: no pause needed between them
            await ws.send(json.dumps({"type": "resize", "rows": 45, "cols": 120}))
            await ws.send(b"stty size; exit 6\r")
            msgs, code = await collect(ws)
        assert b"45 120" in output(msgs, tty=True)
        assert controls(msgs)[-1]["exit_code"] == 6 and code == 1000

    run(main())
    assert api.api("GET", f"/api/exec/{eid}/").json()["exit_code"] == 6


def test_exec_tty_output_is_what_a_terminal_shows(api):
    """One line discipline's worth of "\r\n" (the container's pty), as `docker exec -t`."""
    c = api.run(cmd=["sleep", "1000"])
    eid = _create(api, c["id"], cmd=["sh", "-c", "[ -t 1 ] && echo tty; printf 'a\\nb\\r\\n'"], tty=True)
    out = api.api("POST", f"/api/exec/{eid}/start/", json={}).content
    assert out == b"tty\r\na\r\nb\r\r\n"


def test_exec_stdin_without_tty_is_binary_exact(api):
    c = api.run(cmd=["sleep", "1000"])
    eid = _create(api, c["id"], cmd=["cat"], stdin=True)
    data = bytes(range(256)) * 1024

    async def main():
        async with connect(api, f"/ws/exec/{eid}/") as ws:
            await ws.send(data)
            await ws.send(json.dumps({"type": "close_stdin"}))
            return await collect(ws)

    msgs, code = run(main())
    assert output(msgs) == data and controls(msgs)[-1]["exit_code"] == 0


def test_a_finished_exec_is_replayed_to_a_late_socket(api):
    c = api.run(cmd=["sleep", "1000"])
    eid = _create(api, c["id"], cmd=["sh", "-c", "echo done; echo err >&2; exit 2"])
    api.api("POST", f"/api/exec/{eid}/start/", json={"detach": True})
    until(lambda: api.api("GET", f"/api/exec/{eid}/").json()["exit_code"] is not None)

    async def main():
        async with connect(api, f"/ws/exec/{eid}/") as ws:
            return await collect(ws)

    msgs, code = run(main())
    assert [m for m in msgs if isinstance(m, bytes)] == [b"\x01done\n", b"\x02err\n"]
    assert controls(msgs)[-1]["exit_code"] == 2 and code == 1000


def test_exec_survives_the_web_server_and_ends_with_the_container(api):
    c = api.run(cmd=["sleep", "1000"])
    quick = _create(api, c["id"], cmd=["sh", "-c", "sleep 1.5; exit 5"])
    slow = _create(api, c["id"], cmd=["sleep", "1000"])
    for eid in (quick, slow):
        assert api.api("POST", f"/api/exec/{eid}/start/", json={"detach": True}).json()["running"]
    api.kill("web", signal.SIGKILL)
    quick_exit = ExecPaths(os.path.join(Layout(api.root).container(c["id"]).dir, "exec", quick)).exit
    until(lambda: os.path.exists(quick_exit))  # the quick exec ends while no web server runs
    api.start_web()
    assert api.api("GET", f"/api/exec/{quick}/").json()["exit_code"] == 5
    assert api.api("GET", f"/api/exec/{slow}/").json()["running"] is True
    r = api.api("POST", f"/api/exec/{slow}/resize/?h=10&w=20")
    assert r.status_code == 200
    api.api("POST", f"/api/containers/{c['id']}/stop/?timeout=1")
    info = until(lambda: (i := api.api("GET", f"/api/exec/{slow}/").json())["running"] is False and i)
    assert info["exit_code"] is not None


def test_an_exec_output_log_rotates_with_its_container_limits(api):
    c = api.run(cmd=["sleep", "1000"], log_opts={"max-size": "100k", "max-file": "2"})
    script = "i=0; while [ $i -lt 30000 ]; do echo line $i; i=$((i+1)); done"  # ~320 kB
    eid = _create(api, c["id"], cmd=["sh", "-c", script])
    api.api("POST", f"/api/exec/{eid}/start/", json={"detach": True})
    until(lambda: api.api("GET", f"/api/exec/{eid}/").json()["exit_code"] is not None)
    d = os.path.join(Layout(api.root).container(c["id"]).dir, "exec", eid)
    logs = {n: os.path.getsize(os.path.join(d, n)) for n in os.listdir(d) if n.startswith("output.log")}
    assert set(logs) == {"output.log", "output.log.1"}, logs
    assert all(size <= 100 * 1024 for size in logs.values()), logs
    with open(os.path.join(d, "output.log"), "rb") as f:
        assert json.loads(f.read().splitlines()[-1])["log"] == "line 29999\n"
    api.api("DELETE", f"/api/containers/{c['id']}/?force=1")
