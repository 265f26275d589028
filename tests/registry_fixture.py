"""A real local registry for tests and benches: Debian's docker-registry (distribution 2.8).

`RegistryServer()` writes <tmp>/config.yml (filesystem storage under <tmp>/storage, http on
127.0.0.1:<free port>, optionally htpasswd basic auth) and runs `docker-registry serve` on it;
stop() kills it and removes the temp dir. `TokenProxy(upstream)` puts the bearer-token flow in
front of a registry. Pytest fixtures: `registry` (anonymous) and `auth_registry` (htpasswd
with a bcrypt hash made by `htpasswd -B`; skipped without it). Everything listens on
127.0.0.1 only. Apt packages: docker-registry skopeo apache2-utils.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import requests

REGISTRY_BIN = "/usr/bin/docker-registry"
POLICY = '{"default":[{"type":"insecureAcceptAnything"}]}'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegistryServer:
    """One docker-registry process on 127.0.0.1 with its own config, storage and skopeo policy."""

    def __init__(self, root: str | None = None, htpasswd: tuple[str, str] | None = None,
                 relative_urls: bool = False):
        self.own_root = root is None
        self.root = root or tempfile.mkdtemp(prefix="dockerweb-registry-")
        self.storage = os.path.join(self.root, "storage")
        self.policy = os.path.join(self.root, "policy.json")
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.addr}"
        self.htpasswd = htpasswd
        self.relative_urls = relative_urls
        self.proc: subprocess.Popen | None = None

    def start(self) -> RegistryServer:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        os.makedirs(self.storage, exist_ok=True)
        with open(self.policy, "w") as f:
            f.write(POLICY)
        auth = ""
        if self.htpasswd:
            line = subprocess.run(["htpasswd", "-Bbn", *self.htpasswd], capture_output=True, text=True,
                                  check=True).stdout.strip()
            path = os.path.join(self.root, "htpasswd")
            with open(path, "w") as f:
                f.write(line + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {path}\n"
        config = os.path.join(self.root, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
                    f"http:\n  addr: {self.addr}\n  relativeurls: {str(self.relative_urls).lower()}\n"
                    f"{auth}")
        with open(os.path.join(self.root, "registry.log"), "wb") as log:
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", config], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start: {self.read_log()}")
            time.sleep(0.05)

    def read_log(self) -> str:
        try:
            with open(os.path.join(self.root, "registry.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def blob_path(self, digest: str) -> str:
        """The file holding blob `digest` in the registry's filesystem storage."""
        hexid = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker/registry/v2/blobs/sha256", hexid[:2], hexid, "data")

    def skopeo(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run skopeo with a policy accepting anything (pass --*-tls-verify=false yourself)."""
        cmd = ["skopeo", "--policy", self.policy, *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed: {res.stderr}")
        return res

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
        if self.own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TokenProxy:
    """A bearer-token front for a registry on 127.0.0.1: GET /token gives TOKEN for `user`'s
    basic credentials (recording each query in `token_requests`); /v2/... without that token
    answers 401 `Bearer realm=.../token,service="test-svc"`, with it is passed to `upstream`
    (Location headers rewritten to point back here)."""

    TOKEN = "tok-123"

    def __init__(self, upstream: str, user: tuple[str, str] = ("alice", "s3cret")):
        self.token_requests: list[dict[str, list[str]]] = []
        good = "Basic " + base64.b64encode(":".join(user).encode()).decode()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/token"):
                    proxy.token_requests.append(parse_qs(urlparse(self.path).query))
                    if self.headers.get("Authorization") != good:
                        return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad creds"}]}')
                    return self._send(200, b'{"token": "%s"}' % proxy.TOKEN.encode())
                if self.headers.get("Authorization") != f"Bearer {proxy.TOKEN}":
                    challenge = f'Bearer realm="http://{proxy.addr}/token",service="test-svc"'
                    return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication '
                                           b'required"}]}', {"WWW-Authenticate": challenge})
                fwd = {k: v for k, v in self.headers.items()
                       if k.lower() in ("accept", "content-type", "content-range")}
                r = requests.request(self.command, upstream + self.path, data=body, headers=fwd,
                                     allow_redirects=False, timeout=60)
                keep = {k: v.replace(upstream, f"http://{proxy.addr}") for k, v in r.headers.items()
                        if k.lower() in ("content-type", "docker-content-digest", "location", "range",
                                         "docker-upload-uuid")}
                self._send(r.status_code, r.content, keep,
                           length=r.headers.get("Content-Length") if self.command == "HEAD" else None)

            def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None,
                      length: str | None = None) -> None:
                self.send_response(code)
                headers = {"Content-Type": "application/json", **(headers or {})}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", length or str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def __enter__(self) -> TokenProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _need_registry() -> None:
    if not os.path.exists(REGISTRY_BIN) or not shutil.which("skopeo"):
        pytest.skip("needs the apt packages docker-registry and skopeo")


@pytest.fixture(scope="module")
def registry():
    _need_registry()
    with RegistryServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def auth_registry():
    """htpasswd basic auth (user alice, password s3cret) and relative Location URLs."""
    _need_registry()
    if not shutil.which("htpasswd"):
        pytest.skip("needs htpasswd (apt package apache2-utils) for a bcrypt htpasswd file")
    with RegistryServer(htpasswd=("alice", "s3cret"), relative_urls=True) as srv:
        yield srv
