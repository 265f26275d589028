"""Real users for the ownership, audit and token tests: made with `manage.py issuetoken`
(Django ORM, hashed token), each with its own API session; removed afterwards. Plus a
Docker API TCP listener on the test stack (tokens are only checked over TCP)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field

import requests
import websockets

from tests.stack import PY, REPO, Stack, free_port


@dataclass
class User:
    stack: Stack
    name: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)

    def api(self, method: str, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        return self.session.request(method, self.stack.base + path, **kw)

    def ws(self, path: str):
        return websockets.connect(f"ws://127.0.0.1:{self.stack.port}{path}", compression=None,
                                  additional_headers={"Authorization": f"Token {self.token}"},
                                  open_timeout=20, max_size=None)


def new_user(stack: Stack, staff: bool = False) -> User:
    name = f"u{uuid.uuid4().hex[:10]}"
    out = stack.manage("issuetoken", name, "--create", *(["--staff"] if staff else []))
    token = re.search(r"API token: (\w+)", out).group(1)
    user = User(stack, name, token)
    user.session.headers["Authorization"] = f"Token {token}"
    return user


def remove_users(stack: Stack, *users: User) -> None:
    names = [u.name for u in users]
    stack.manage("shell", "-c", "from django.contrib.auth.models import User; "
                 f"User.objects.filter(username__in={names!r}).delete()")


@contextlib.contextmanager
def docker_tcp(stack: Stack):
    """A second Docker API server with a TCP listener; yields its base URL."""
    port = free_port()
    sock = f"{stack.root}/run/docker-tcp-{port}.sock"
    proc = subprocess.Popen([PY, "manage.py", "rundockerapi", "--socket", sock, "--tcp", f"127.0.0.1:{port}"],
                            cwd=REPO, env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(base + "/_ping", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "docker tcp listener did not come up"
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


async def close_code(ws, timeout: float = 20.0) -> int | None:
    """Read until the server closes the socket; its close code."""
    import asyncio

    deadline = time.monotonic() + timeout
    try:
        while True:
            await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic()))
    except websockets.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else None
