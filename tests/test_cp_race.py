"""docker cp against a container that swaps a directory with a symlink (CVE-2018-15664).

A static helper inside a real busybox container loops renameat2(RENAME_EXCHANGE) between
the directory /w/dir and the symlink /w/link (to "/", or to a path that exists only on the
host), while the test PUTs a tar into /w/dir and GETs a file below it through the Docker
API. Every path must be resolved inside the container's root: no file may land on the
host, and no GET may return a host file.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import time
import uuid

import docker.errors
import pytest
import requests

ROUNDS = 200
SWAPPER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#define RENAME_EXCHANGE (1 << 1)
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    for (;;)
        if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) != 0) {
            perror("renameat2");
            return 1;
        }
}
"""


@pytest.fixture(scope="module")
def swapper(tmp_path_factory) -> bytes:
    d = tmp_path_factory.mktemp("swapper")
    (d / "swap.c").write_text(SWAPPER)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(d / "swap"), str(d / "swap.c")], check=True,
                   capture_output=True, timeout=60)
    return (d / "swap").read_bytes()


def _tar(*members: tuple[str, str, bytes | str]) -> bytes:
    """(name, kind "dir"|"file"|"exe"|"sym", data or link target) members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, str(data)
                t.addfile(ti)
            else:
                assert isinstance(data, bytes)
                ti.size, ti.mode = len(data), 0o755 if kind == "exe" else 0o644
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _member(raw: bytes) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        for m in t:
            if m.isreg():
                f = t.extractfile(m)
                return f.read() if f else None
    return None


def _race(api, dpy, swapper: bytes, link_target: str, get_path: str,
          put_name: str) -> tuple[list[bytes], list[str]]:
    """Run the swapper and ROUNDS PUTs and GETs: (the contents every GET returned, the
    server errors met)."""
    c = api.create(image="busybox", cmd=["/w/swap", "/w/dir", "/w/link"])
    cid = c["id"]
    setup = _tar(("w", "dir", b""), ("w/swap", "exe", swapper), ("w/dir", "dir", b""),
                 ("w/dir/etc", "dir", b""), ("w/dir/etc/hostname", "file", b"container-dir\n"),
                 ("w/dir/secret", "file", b"container-dir\n"), ("w/link", "sym", link_target))
    assert dpy.api.put_archive(cid, "/", setup)
    r = api.api("POST", f"/api/containers/{cid}/start/")
    assert r.status_code == 200, r.text
    payload = _tar((put_name, "file", b"written by docker cp\n"))
    got: list[bytes] = []
    errors: list[str] = []
    deadline = time.monotonic() + 60
    for _ in range(ROUNDS):
        assert time.monotonic() < deadline, "cp requests too slow"
        try:
            dpy.api.put_archive(cid, "/w/dir", payload)
        except docker.errors.APIError as e:  # 400: /w/dir was the link to a host-only path
            if e.status_code not in (400, 404):
                errors.append(f"PUT: {e.status_code}")
        try:
            stream, _ = dpy.api.get_archive(cid, get_path)
            data = _member(b"".join(stream))
            if data is not None:
                got.append(data)
        except docker.errors.APIError as e:  # 404: the path is absent at that moment
            if e.status_code != 404:
                errors.append(f"GET: {e.status_code}")
        except requests.RequestException as e:  # the stream broke off
            errors.append(f"GET: {e}")
    assert api.inspect(cid)["state"]["status"] == "running", api.logs(cid)  # the swapper kept swapping
    api.api("DELETE", f"/api/containers/{cid}/?force=1")
    return got, errors


def test_cp_race_with_link_to_root(api, dpy, swapper):
    """/w/link -> "/": the old code wrote into the host's / and read the host's /etc/hostname."""
    put_name = f"dw-cp-race-{uuid.uuid4().hex[:8]}"
    with open("/etc/hostname", "rb") as f:
        host_hostname = f.read()
    try:
        got, errors = _race(api, dpy, swapper, "/", "/w/dir/etc/hostname", put_name)
        landed = os.path.lexists(f"/{put_name}")
    finally:
        if os.path.lexists(f"/{put_name}"):
            os.unlink(f"/{put_name}")
    assert not landed, f"docker cp wrote /{put_name} on the host"
    assert got, "no GET succeeded"
    assert host_hostname not in got, "docker cp returned the host's /etc/hostname"
    assert not errors


def test_cp_race_with_link_to_a_host_path(api, dpy, swapper, tmp_path):
    """/w/link -> a directory that exists only on the host, holding a secret."""
    host_dir = tmp_path / "hostside"
    host_dir.mkdir()
    (host_dir / "secret").write_bytes(b"HOST SECRET\n")
    put_name = f"dw-cp-race-{uuid.uuid4().hex[:8]}"
    got, errors = _race(api, dpy, swapper, str(host_dir), "/w/dir/secret", put_name)
    assert not (host_dir / put_name).exists(), "docker cp wrote into a host directory"
    assert sorted(os.listdir(host_dir)) == ["secret"]
    assert got, "no GET succeeded"
    assert b"HOST SECRET\n" not in got, "docker cp returned a host file"
    assert not errors
