"""Concurrent starts of one container (issue 12, point 9): exactly one 2xx, the rest 304
(already started), never 409, through the REST API and the Docker API."""

from __future__ import annotations

import http.client
import socket
import threading

import pytest

ROUNDS = 40
STARTS = 4  # concurrent starts per round


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


def _docker_start(api, cid: str) -> int:
    conn = _UnixHTTP(api.docker_sock)
    try:
        conn.request("POST", f"/v1.41/containers/{cid}/start")
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def _rest_start(api, cid: str) -> int:
    return api.api("POST", f"/api/containers/{cid}/start/").status_code


def _together(n: int, fn) -> list[int]:
    """Run fn() in n threads released at once; their results."""
    gate = threading.Barrier(n)
    codes: list[int] = []

    def one() -> None:
        gate.wait()
        codes.append(fn())

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return codes


@pytest.mark.parametrize("via, ok", [(_rest_start, 200), (_docker_start, 204)],
                         ids=["rest", "docker"])
def test_concurrent_starts_give_one_success_and_the_rest_not_modified(api, via, ok):
    seen = []
    for _ in range(ROUNDS // 2):
        cid = api.create(image="busybox", cmd=["sleep", "1000"])["id"]
        try:
            codes = _together(STARTS, lambda cid=cid: via(api, cid))
            seen.append(sorted(codes))
            assert api.inspect(cid)["state"]["status"] == "running"
        finally:
            assert api.api("DELETE", f"/api/containers/{cid}/?force=1").status_code == 204
    want = sorted([ok] + [304] * (STARTS - 1))
    assert [c for c in seen if c != want] == [], seen
