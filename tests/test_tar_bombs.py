"""Tar header bombs: a few hundred bytes of bzip2 whose header claims a 512 MiB GNU long
name or pax record, sent to image import, image load and docker cp (PUT archive) through the
real servers. Each must be a 400 with a short message, and the server's peak memory must
stay put (Python's tarfile alone would read the whole claimed header into memory)."""

from __future__ import annotations

import bz2
import io
import tarfile

import docker.errors
import pytest

BOMB = 512 << 20
CHUNK = 1 << 20
GROWTH = 100 << 20  # bytes of peak RSS a server may gain from one bomb


def _header(name: str, kind: bytes, size: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size = kind, size
    return ti.tobuf(tarfile.USTAR_FORMAT)


def _bz2(*parts: bytes | tuple[bytes, int]) -> bytes:
    """bzip2 of the parts; (byte, n) is n copies of that byte, compressed as they come."""
    c = bz2.BZ2Compressor(9)
    out = []
    for p in parts:
        if isinstance(p, tuple):
            fill, n = p
            block = fill * CHUNK
            while n > 0:
                out.append(c.compress(block[:min(n, CHUNK)]))
                n -= CHUNK
        else:
            out.append(c.compress(p))
    out.append(c.flush())
    return b"".join(out)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 512)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    data = b"x"
    gnu = _bz2(_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, BOMB), (b"A", BOMB),
               _header("f", tarfile.REGTYPE, len(data)), data, _pad(len(data)), b"\0" * 1024)
    # one pax record "<len> path=AAAA...\n" of BOMB bytes
    value = BOMB - len(f"{BOMB} path=\n")
    pax = _bz2(_header("././@PaxHeader", tarfile.XHDTYPE, BOMB), f"{BOMB} path=".encode(), (b"A", value),
               b"\n", _header("f", tarfile.REGTYPE, len(data)), data, _pad(len(data)), b"\0" * 1024)
    assert len(gnu) < 2048 and len(pax) < 2048
    return {"gnu-longname": gnu, "pax-record": pax}


def _peak(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _short(message: str) -> None:
    assert len(message) < 300, message[:300]
    assert "A" * 200 not in message


@pytest.mark.parametrize("kind", ["gnu-longname", "pax-record"])
@pytest.mark.parametrize("endpoint", ["import", "load"])
def test_bomb_to_image_endpoints(api, bombs, kind, endpoint):
    pid = api.procs["web"].pid
    before = _peak(pid)
    path = "/api/images/import/?repo=bomb&tag=x" if endpoint == "import" else "/api/images/load/"
    r = api.api("POST", path, data=bombs[kind], headers={"Content-Type": "application/x-tar"}, timeout=120)
    grown = _peak(pid) - before
    assert grown < GROWTH, f"web server peak RSS grew by {grown >> 20} MiB"
    assert r.status_code == 400, r.text[:300]
    _short(r.json()["message"])


@pytest.mark.parametrize("kind", ["gnu-longname", "pax-record"])
def test_bomb_to_docker_cp(api, dpy, bombs, kind):
    pid = api.procs["dockerapi"].pid
    c = api.create(image="busybox", cmd=["true"])
    before = _peak(pid)
    with pytest.raises(docker.errors.APIError) as err:
        dpy.api.put_archive(c["id"], "/tmp", bombs[kind])
    grown = _peak(pid) - before
    assert grown < GROWTH, f"Docker API server peak RSS grew by {grown >> 20} MiB"
    assert err.value.status_code == 400, str(err.value)[:300]
    _short(str(err.value.explanation))


def _pax_tar(pax: dict[str, str], chain: int = 1) -> bytes:
    """A plain tar: `chain` pax headers (the last with `pax`), then a one-byte file."""
    out = io.BytesIO()
    for i in range(chain):
        records = pax if i == chain - 1 else {"comment": "c"}
        body = b""
        for k, v in records.items():
            rec = f" {k}={v}\n".encode()
            n = len(rec) + len(str(len(rec)))
            n = len(rec) + len(str(n))
            body += str(n).encode() + rec
        out.write(_header("././@PaxHeader", tarfile.XHDTYPE, len(body)) + body + _pad(len(body)))
    out.write(_header("f", tarfile.REGTYPE, 1) + b"x" + _pad(1) + b"\0" * 1024)
    return out.getvalue()


def test_big_xattr_and_long_chains_refused_small_ones_kept(api):
    big = _pax_tar({"SCHILY.xattr.user.big": "v" * (1 << 20)})
    r = api.api("POST", "/api/images/import/?repo=bomb&tag=x", data=big)
    assert r.status_code == 400 and "at most 1048576" in r.json()["message"], r.text[:300]
    _short(r.json()["message"])
    r = api.api("POST", "/api/images/import/?repo=bomb&tag=x", data=_pax_tar({}, chain=40))
    assert r.status_code == 400 and "extended headers" in r.json()["message"], r.text[:300]
    ok = _pax_tar({"SCHILY.xattr.user.small": "v" * 1000, "path": "/".join(["n" * 100] * 3)})
    r = api.api("POST", "/api/images/import/?repo=bomb&tag=small", data=ok)
    assert r.status_code == 201, r.text[:300]
    assert api.api("DELETE", "/api/images/bomb:small/").status_code == 200
