"""This host's API servers call the worker over its Unix socket (containers/rpcserver.py),
on the real stack: calls work on both APIs, a killed worker is a 503 within the restart
grace, a restarted worker takes calls on its new socket (the servers' kept connections to
the old one are replaced), a worker killed during a call is a 503 saying the answer is lost,
and commands work while Redis is down."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time

import requests

from containers.rpc import RESTART_GRACE_S
from tests.waiting import until

FAST_S = 2.0
ERRORS = (requests.RequestException, ValueError)


def _sock(api) -> str:
    return os.path.join(api.root, "run", "worker.sock")


def _all_up(api) -> bool:
    r = api.api("GET", "/api/info/", timeout=10)
    return r.status_code == 200 and not r.json().get("down") and r.json().get("worker") is not None


def test_calls_go_over_the_private_socket(api, dpy):
    st = os.stat(_sock(api))
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    info = api.api("GET", "/api/info/").json()
    assert info["worker"]["pid"] == api.procs["worker"].pid  # the ping op, over the socket
    c = api.run(cmd=["sh", "-c", "exit 3"])
    assert api.wait(c["id"])["exit_code"] == 3
    assert api.api("DELETE", f"/api/containers/{c['id']}/").status_code == 204
    d = dpy.containers.run("busybox", ["sh", "-c", "exit 5"], detach=True)
    assert d.wait(timeout=30)["StatusCode"] == 5
    d.remove()


def test_worker_killed_then_restarted(api, dpy):
    idle = api.create(cmd=["true"])
    old = os.stat(_sock(api)).st_ino
    api.kill("worker", signal.SIGKILL)
    try:
        assert os.path.exists(_sock(api))  # kill -9 leaves the socket: connections are refused
        t = time.monotonic()
        r = api.api("POST", f"/api/containers/{idle['id']}/start/", timeout=30)
        took = time.monotonic() - t
        assert r.status_code == 503 and "worker" in r.json()["message"], r.text
        assert RESTART_GRACE_S - 0.5 <= took < RESTART_GRACE_S + FAST_S, took
    finally:
        api.start_worker()
    assert os.stat(_sock(api)).st_ino != old  # a new socket, put in place atomically
    # every request thread's kept connection to the dead worker is replaced; a few rounds
    # reach several of the servers' threads
    for _ in range(6):
        c = api.run(cmd=["true"])
        assert api.wait(c["id"])["exit_code"] == 0
    dpy.api.start(idle["id"])
    assert dpy.api.wait(idle["id"], timeout=30)["StatusCode"] == 0


def test_worker_killed_during_a_call_says_the_answer_is_lost(api):
    c = api.run(cmd=["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    got: dict = {}

    def stop() -> None:
        t = time.monotonic()
        got["r"] = api.api("POST", f"/api/containers/{c['id']}/stop/?timeout=20", timeout=60)
        got["took"] = time.monotonic() - t

    caller = threading.Thread(target=stop)
    caller.start()
    # the worker took the stop and waits for the container (which ignores SIGTERM)
    until(lambda: api.inspect(c["id"])["state"]["status"] == "stopping", timeout=20)
    time.sleep(0.2)
    api.kill("worker", signal.SIGKILL)
    killed = time.monotonic()
    try:
        caller.join(30)
        r = got["r"]
        assert r.status_code == 503 and "answer is lost" in r.json()["message"], (r.text, got)
        assert time.monotonic() - killed < FAST_S
    finally:
        api.start_worker()
    assert api.api("DELETE", f"/api/containers/{c['id']}/?force=1").status_code == 204


def _worker_log_since(api, offset: int) -> str:
    with open(os.path.join(api.root, "worker.log")) as f:
        f.seek(offset)
        return f.read()


def test_commands_work_while_redis_is_down(api, dpy):
    log_from = os.path.getsize(os.path.join(api.root, "worker.log"))
    api.kill("redis", signal.SIGKILL)
    try:
        c = api.create(cmd=["sh", "-c", "sleep 30"])
        r = api.api("POST", f"/api/containers/{c['id']}/start/", timeout=30)
        assert r.status_code == 200 and r.json()["state"]["status"] == "running", r.text
        r = api.api("POST", f"/api/containers/{c['id']}/stop/?timeout=1", timeout=30)
        assert r.status_code in (200, 204), r.text
        d = dpy.containers.create("busybox", ["sh", "-c", "exit 6"])
        d.start()
        assert d.wait(timeout=30)["StatusCode"] == 6
        d.remove()
        assert "redis" in api.api("GET", "/api/info/").json()["down"]
    finally:
        api.start_redis()
        until(lambda: _all_up(api), timeout=30, ignore=ERRORS)
        # the worker's channel listener back too (it PINGs with back-off up to 5 s): the
        # next test starts from a settled stack
        until(lambda: "Redis is back" in _worker_log_since(api, log_from), timeout=15)


# a stdlib-only client run as an unprivileged host user: sends the frame on stdin, prints
# what came back ("refused: <errno name>", "closed" or "reply")
AS_USER = r"""
import errno, socket, sys
frame = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("refused:", errno.errorcode.get(e.errno, e.errno)); sys.exit()
s.settimeout(10)
try:
    s.sendall(frame)
    print("reply" if s.recv(4) else "closed")
except OSError:  # dropped at once: the frame could not even be sent
    print("closed")
"""


def _as_nobody(path: str, frame: bytes) -> str:
    import subprocess

    out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "/usr/bin/python3", "-c", AS_USER, path], input=frame,
                         capture_output=True, timeout=30, cwd="/")
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return out.stdout.decode().strip()


def test_an_unprivileged_host_user_cannot_command_the_worker(api):
    """As uid 65534: the socket cannot be reached (root's 0700 run directory, the socket's
    0600); and with both opened up on purpose, the worker still drops a caller that is not
    root (SO_PEERCRED) without running its command."""
    from containers import rpcwire

    c = api.create(cmd=["true"])
    frame = rpcwire.request("remove", {"ref": c["id"], "force": True}, time.time() + 30)
    assert _as_nobody(_sock(api), frame).startswith("refused: EACCES")
    run_dir = os.path.dirname(_sock(api))
    modes = {p: stat.S_IMODE(os.stat(p).st_mode) for p in (api.root, run_dir, _sock(api))}
    try:
        for p in modes:
            os.chmod(p, 0o777 if p == _sock(api) else 0o711)
        assert _as_nobody(_sock(api), frame) == "closed"
    finally:
        for p, mode in modes.items():
            os.chmod(p, mode)
    assert api.api("GET", f"/api/containers/{c['id']}/").status_code == 200  # not removed
