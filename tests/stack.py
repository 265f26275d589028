"""A real dockerweb stack for tests and benchmarks: its own Redis (unix socket), the
worker and uvicorn, all under one state root. Nothing is faked."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from containers.engine.fs import runroot
from containers.engine.layout import Layout, private
from dockerweb import malloc

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").exists() else sys.executable


LOW_PORT = 10000  # free_port's range starts here


def free_port() -> int:
    """A free TCP port on 127.0.0.1 below the kernel's ephemeral range: a stack keeps its
    web port across restarts of its web server (tests kill and restart it), and a port of
    the ephemeral range can be taken meanwhile by any outgoing connection on the host (a
    full suite saw "address already in use" at such a restart). Random, tried until one
    binds; the kernel's choice when none does."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral = int(f.read().split()[0])
    for _ in range(200):
        port = random.randrange(LOW_PORT, max(ephemeral, LOW_PORT + 1))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, root: str, env: dict[str, str] | None = None, repo: str | None = None):
        """A stack on state root `root`, run from checkout `repo` (default: this one; a
        bench compares two, bench/bench_ab.py)."""
        self.root = root
        self.repo = Path(repo) if repo else REPO
        # the servers' allocator settings, as make run and systemd start them
        self.env = malloc.server_env({**os.environ, **(env or {}), "DOCKERWEB_STATE_ROOT": root,
                                      "DJANGO_SETTINGS_MODULE": "dockerweb.settings",
                                      "PYTHONUNBUFFERED": "1"})
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env.setdefault("DOCKERWEB_WEB_URL", self.base)  # how other hosts reach it (issue 16)
        self.procs: dict[str, subprocess.Popen] = {}
        self.token = ""
        self.session = requests.Session()

    # ---- processes -------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(os.path.join(self.root, f"{name}.log"), "ab", opener=private)
        proc = subprocess.Popen(argv, cwd=self.repo, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = proc
        return proc

    def manage(self, *args: str) -> str:
        return subprocess.run([PY, "manage.py", *args], cwd=self.repo, env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def start_redis(self) -> None:
        run = os.path.join(self.root, "run")
        os.makedirs(run, mode=0o700, exist_ok=True)
        conf = os.path.join(run, "redis.conf")
        with open(conf, "w", opener=private) as f:
            f.write(f"port 0\nunixsocket {run}/redis.sock\nunixsocketperm 700\ndir {run}\n"
                    'save ""\nappendonly no\n')
        self._spawn("redis", ["redis-server", conf])
        self._wait(lambda: os.path.exists(f"{run}/redis.sock"), "redis")

    def start_worker(self) -> None:
        self._spawn("worker", [PY, "manage.py", "runworker"])
        self._wait(lambda: self.api("GET", "/api/info/").json().get("worker") is not None
                   if "web" in self.procs else self._log_has("worker", "worker ready"), "worker")

    def start_web(self) -> None:
        self._spawn("web", [PY, "-m", "uvicorn", "dockerweb.asgi:application", "--host", "127.0.0.1",
                            "--port", str(self.port), "--no-access-log"])
        self._wait(self._web_up, "web")

    @property
    def docker_sock(self) -> str:
        return os.path.join(self.root, "run", "docker.sock")

    def start_dockerapi(self) -> None:
        self._spawn("dockerapi", [PY, "manage.py", "rundockerapi"])
        self._wait(self._docker_api_up, "docker api")

    def start(self) -> Stack:
        self.start_redis()
        self.manage("migrate", "--noinput", "-v0")
        out = self.manage("setup", "--password", "test-password")
        self.token = re.search(r"API token: (\w+)", out).group(1)
        self.session.headers["Authorization"] = f"Token {self.token}"
        self.start_worker()
        self.start_web()
        self.start_dockerapi()
        return self

    def start_joined(self, token: str) -> Stack:
        """Start this stack as one more host of an installation whose database and Redis run
        already (issue 16; the env names them): this host's store and default image, then
        its worker, web server and Docker API. `token` is an API token of that database."""
        self.manage("setup")
        self.token = token
        self.session.headers["Authorization"] = f"Token {token}"
        self.start_worker()
        self.start_web()
        self.start_dockerapi()
        return self

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, sig) if sig == signal.SIGKILL else proc.send_signal(sig)
            proc.wait(15)

    def shutdown(self) -> None:
        """Force-remove every container, then stop web, worker and redis, then unmount the
        runtime tmpfs the worker mounted (engine/fs/runroot.py)."""
        if "web" in self.procs and "worker" in self.procs:
            try:
                for c in self.api("GET", "/api/containers/?all=1").json():
                    self.api("DELETE", f"/api/containers/{c['id']}/?force=1")
            except requests.RequestException:
                pass
        for name in ("dockerapi", "web", "worker", "redis"):
            self.kill(name, signal.SIGTERM)
        runroot.release(Layout(self.root).runtime)

    # ---- helpers ---------------------------------------------------------------------
    def _log_has(self, name: str, text: str) -> bool:
        try:
            with open(os.path.join(self.root, f"{name}.log")) as f:
                return text in f.read()
        except FileNotFoundError:
            return False

    def _web_up(self) -> bool:
        try:
            return self.session.get(self.base + "/api/info/", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _docker_api_up(self) -> bool:
        """The socket accepts a connection (a killed server leaves its socket file behind)."""
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(self.docker_sock)
                return True
            except OSError:
                return False

    def restart(self, name: str) -> None:
        """Start `name` (redis, worker, web, dockerapi) again after `kill`, and wait until it
        serves."""
        {"redis": self.start_redis, "worker": self.start_worker, "web": self.start_web,
         "dockerapi": self.start_dockerapi}[name]()

    def _wait(self, ok, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ok():
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.05)
        logs = {n: open(os.path.join(self.root, f"{n}.log")).read()[-2000:]
                for n in self.procs if os.path.exists(os.path.join(self.root, f"{n}.log"))}
        raise RuntimeError(f"{what} did not come up: {logs}")

    def api(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        return self.session.request(method, self.base + path, **kw)

    # container shortcuts
    def create(self, **body) -> dict:
        body.setdefault("image", "busybox")
        r = self.api("POST", "/api/containers/", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def run(self, **body) -> dict:
        """create + start; returns the inspect document after start."""
        c = self.create(**body)
        r = self.api("POST", f"/api/containers/{c['id']}/start/")
        assert r.status_code == 200, r.text
        return r.json()

    def wait(self, cid: str, timeout: float = 60) -> dict:
        r = self.api("POST", f"/api/containers/{cid}/wait/?timeout={timeout}", timeout=timeout + 10)
        assert r.status_code == 200, r.text
        return r.json()

    def logs(self, cid: str, **params) -> bytes:
        r = self.api("GET", f"/api/containers/{cid}/logs/", params=params)
        assert r.status_code == 200, r.text
        return r.content

    def inspect(self, cid: str) -> dict:
        r = self.api("GET", f"/api/containers/{cid}/")
        assert r.status_code == 200, r.text
        return r.json()
