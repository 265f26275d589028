"""`make run`'s launcher (bin/run): Ctrl-C stops Redis, worker, Docker API and web server cleanly;
running containers survive and are re-adopted by the next start."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time

import requests

from containers.engine.fs import runroot
from containers.engine.run import procs
from tests.conftest import STATE_ROOT
from tests.stack import PY, REPO, free_port
from tests.waiting import until

ROOT = os.path.join(STATE_ROOT, "runscript")


def _env(port: int) -> dict[str, str]:
    return {**os.environ, "DOCKERWEB_STATE_ROOT": ROOT, "DOCKERWEB_BIND": f"127.0.0.1:{port}",
            "DJANGO_SETTINGS_MODULE": "dockerweb.settings"}


def _start(env: dict[str, str]) -> subprocess.Popen:
    log = open(os.path.join(ROOT, "bin-run.log"), "ab")
    # a new process group, like a shell's foreground job: Ctrl-C signals the whole group
    return subprocess.Popen(["bin/run"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, process_group=0)


def _wait_up(s: requests.Session, base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if s.get(base + "/api/info/", timeout=2).json().get("worker"):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(open(os.path.join(ROOT, "bin-run.log")).read()[-3000:])


def _ctrl_c(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(20) is not None


def _programs() -> list[int]:
    """The pids of supervisord's running programs."""
    out = subprocess.run([f"{REPO}/.venv/bin/supervisorctl", "-c", f"{ROOT}/run/supervisord.conf", "status"],
                         capture_output=True, text=True, timeout=20).stdout
    return [int(p) for p in re.findall(r"RUNNING\s+pid (\d+)", out)]


def test_ctrl_c_stops_services_and_containers_survive():
    os.makedirs(ROOT, exist_ok=True)
    port = free_port()
    env = _env(port)
    subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    out = subprocess.run([PY, "manage.py", "setup"], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout
    assert "password:" in out and "API token:" in out
    token = out.split("API token:")[1].split()[0]
    again = subprocess.run([PY, "manage.py", "setup"], cwd=REPO, env=env, check=True,
                           capture_output=True, text=True).stdout
    assert "password" not in again  # shown once only
    s = requests.Session()
    s.headers["Authorization"] = f"Token {token}"
    base = f"http://127.0.0.1:{port}"

    proc = _start(env)
    cid = None
    try:
        _wait_up(s, base)
        for path, mode in (("", 0o700), ("run", 0o700), ("redis", 0o700), ("run/redis.conf", 0o600),
                           ("run/redis.log", 0o600), ("run/redis.sock", 0o700), ("db.sqlite3", 0o600)):
            assert stat.S_IMODE(os.stat(os.path.join(ROOT, path)).st_mode) == mode, path  # root's only
        body = {"image": "busybox", "cmd": ["sleep", "1000"]}
        cid = s.post(base + "/api/containers/", json=body).json()["id"]
        assert s.post(f"{base}/api/containers/{cid}/start/").status_code == 200
        programs = _programs()
        assert len(programs) == 4  # redis, worker, dockerapi, web under supervisord
        _ctrl_c(proc)
        until(lambda: not any(procs.start_time(p) is not None for p in programs), timeout=20)  # they end too
        with open(os.path.join(ROOT, "runtime", cid, "state.json")) as f:
            sup = json.load(f)["supervisor_pid"]
        os.kill(sup, 0)  # the container's supervisor still runs

        proc = _start(env)
        _wait_up(s, base)
        assert s.get(f"{base}/api/containers/{cid}/").json()["state"]["status"] == "running"
        r = s.post(f"{base}/api/containers/{cid}/stop/")
        assert r.status_code == 200 and r.json()["state"]["exit_code"] == 143
        assert s.delete(f"{base}/api/containers/{cid}/").status_code == 204
        cid = None
    finally:
        if cid and proc.poll() is None:
            s.delete(f"{base}/api/containers/{cid}/?force=1")
        if proc.poll() is None:
            _ctrl_c(proc)
        runroot.release(os.path.join(ROOT, "runtime"))  # the worker's tmpfs outlives it
