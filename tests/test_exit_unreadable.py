"""A damaged exit.json on a real container (issue 12, point 8): recorded as "exit status
unreadable", the container exited with its log intact, and it can be started again."""

from __future__ import annotations

import os
import signal

from containers.engine.layout import Layout
from containers.engine.run.exec import ExecPaths
from tests.waiting import until


def test_a_corrupt_exit_json_is_recorded_as_unreadable_and_the_log_kept(api):
    c = api.run(cmd=["sh", "-c", "for i in 1 2 3; do echo line$i; done; sleep 1; exit 3"])
    api.kill("worker", signal.SIGKILL)  # nobody records the exit before the file is damaged
    try:
        exit_json = Layout(api.root).container(c["id"]).exit
        until(lambda: os.path.exists(exit_json), timeout=30)
        with open(exit_json, "r+b") as f:
            good = f.read()
            f.seek(0)
            f.truncate()
            f.write(good[: len(good) // 2])  # a partial record
    finally:
        api.start_worker()
    st = until(lambda: (s := api.inspect(c["id"])["state"])["status"] != "running" and s)
    assert st["status"] == "exited" and st["exit_code"] == -1
    assert st["error"].startswith("exit status unreadable: "), st["error"]
    assert "vanished" not in st["error"]
    assert api.logs(c["id"]).decode().split() == ["line1", "line2", "line3"]
    r = api.api("POST", f"/api/containers/{c['id']}/start/")  # a new run replaces the record
    assert r.status_code == 200, r.text
    assert api.wait(c["id"])["exit_code"] == 3
    assert api.api("DELETE", f"/api/containers/{c['id']}/").status_code == 204


def test_a_corrupt_exec_exit_json_says_unreadable_not_vanished(api):
    c = api.run(cmd=["sleep", "60"])
    r = api.api("POST", f"/api/containers/{c['id']}/exec/", json={"cmd": ["sh", "-c", "exit 4"]})
    eid = r.json()["id"]
    assert api.api("POST", f"/api/exec/{eid}/start/", json={}).status_code == 200
    info = until(lambda: (i := api.api("GET", f"/api/exec/{eid}/").json())["exit_code"] is not None and i)
    assert info["exit_code"] == 4
    path = ExecPaths(os.path.join(Layout(api.root).container(c["id"]).dir, "exec", eid)).exit
    with open(path, "wb") as f:
        f.write(b'{"exit_code": 4, "oom')  # a partial record
    info = api.api("GET", f"/api/exec/{eid}/").json()
    assert info["running"] is False and info["exit_code"] is None
    assert info["error"].startswith("exit status unreadable: "), info["error"]
    api.api("DELETE", f"/api/containers/{c['id']}/?force=1")
