"""Docker protocol fidelity (issue 14): exec/attach streams with and without a tty, import
with `changes`, images/load's JSON stream and in-band errors, run of a failing command with
(auto) remove. Real docker CLI, docker-py and raw sockets against the Docker socket."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import tarfile
import time

import docker
import pytest
from docker.utils.socket import frames_iter

from tests.waiting import until

QUIET_WINDOW_S = 0.6  # how long "it goes on running" is watched for (a negative check)


class _Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status_code, self.headers, self.content = status, headers, body
        self.text = body.decode()

    def json(self):
        return json.loads(self.content)


def _http(sockpath: str, method: str, path: str, params=(), data: bytes = b"") -> _Response:
    """One plain HTTP request on the Docker socket (query params as a list of pairs)."""
    import http.client
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection("localhost", timeout=60)
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.settimeout(60)
    conn.sock.connect(sockpath)
    items = list(params.items()) if isinstance(params, dict) else list(params)
    conn.request(method, path + ("?" + urlencode(items) if items else ""), body=data,
                 headers={"Content-Type": "application/x-tar"})
    r = conn.getresponse()
    out = _Response(r.status, r.headers, r.read())
    conn.close()
    return out


def _sock(raw):
    """The plain socket under docker-py's raw response socket (for sendall/shutdown)."""
    return getattr(raw, "_sock", raw)


def _read_all(raw, tty: bool, timeout: float = 20) -> bytes:
    sock = _sock(raw)
    sock.settimeout(timeout)
    return b"".join(data for _, data in frames_iter(raw, tty))


def _raw_request(path: str, sockpath: str, body: bytes = b"", upgrade: bool = True) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(sockpath)
    head = (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n")
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    s.sendall(head.encode() + b"\r\n" + body)
    return s


def _read_head(s: socket.socket) -> tuple[bytes, bytes]:
    """(the response head, the bytes already read after it)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def _read_to_eof(s: socket.socket, rest: bytes = b"") -> bytes:
    out = bytearray(rest)
    while chunk := s.recv(65536):
        out += chunk
    return bytes(out)


def _demux(data: bytes) -> list[tuple[int, bytes]]:
    frames = []
    while data:
        assert len(data) >= 8 and data[1:4] == b"\0\0\0", data[:16]
        n = int.from_bytes(data[4:8], "big")
        frames.append((data[0], data[8:8 + n]))
        data = data[8 + n:]
    return frames


# ---- exec ---------------------------------------------------------------------------------

def test_dpy_exec_run_tty_is_raw_and_exact(dpy):
    c = dpy.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        code, out = c.exec_run(["printf", "abcdefghijklmnop"], tty=True)
        assert (code, out) == (0, b"abcdefghijklmnop")
        code, out = c.exec_run(["sh", "-c", "echo one; echo two >&2"], tty=True)
        assert (code, out) == (0, b"one\r\ntwo\r\n")  # what a terminal writes, as docker
        code, out = c.exec_run(["sh", "-c", "echo one; echo two >&2"], demux=True)
        assert (code, out) == (0, (b"one\n", b"two\n"))
        # the start body's Tty decides the framing the client reads, as dockerd
        eid = dpy.api.exec_create(c.id, ["printf", "abcdefghij"], tty=True)["Id"]
        assert dpy.api.exec_start(eid) == b"abcdefghij"  # read as multiplexed frames
        eid = dpy.api.exec_create(c.id, ["sh", "-c", "printf out; printf err >&2"])["Id"]
        assert dpy.api.exec_start(eid, tty=True) == b"out"  # raw; dockerd passes no stderr then
        eid = dpy.api.exec_create(c.id, ["true"], tty=True)["Id"]
        info = dpy.api.exec_inspect(eid)
        assert info["ProcessConfig"]["tty"] is True and info["ProcessConfig"]["entrypoint"] == "true"
        plain = dpy.api.exec_create(c.id, ["true"])["Id"]
        assert dpy.api.exec_inspect(plain)["ProcessConfig"]["tty"] is False
    finally:
        c.remove(force=True)


def test_dpy_exec_socket_frames_tty_and_not(dpy):
    c = dpy.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        raw = c.exec_run(["sh", "-c", "echo out; echo err >&2"], socket=True).output
        data = _read_all(raw, tty=False)
        raw.close()
        assert data in (b"out\nerr\n", b"err\nout\n")
        raw = c.exec_run(["sh", "-c", "echo out; echo err >&2"], socket=True).output
        sock = _sock(raw)
        sock.settimeout(20)
        frames = _demux(_read_to_eof(sock))
        raw.close()
        assert sorted(frames) == [(1, b"out\n"), (2, b"err\n")]
        # tty + stdin: an interactive cat through the hijacked socket
        raw = c.exec_run(["cat"], socket=True, stdin=True, tty=True).output
        sock = _sock(raw)
        sock.settimeout(20)
        sock.sendall(b"hello\n")
        got = bytearray()
        until(lambda: got.extend(sock.recv(4096)) or b"hello\r\nhello\r\n" in got)
        sock.sendall(b"\x04")  # ^D on the terminal: cat ends
        got += _read_to_eof(sock)
        raw.close()
        assert bytes(got).startswith(b"hello\r\nhello\r\n")
    finally:
        c.remove(force=True)


def test_exec_start_raw_socket_first_frames(api, dpy):
    """The exact first bytes of a hijacked exec start: 101, the stream type, then frames."""
    c = dpy.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        for tty in (False, True):
            eid = dpy.api.exec_create(c.id, ["printf", "12345678rest"], tty=tty)["Id"]
            s = _raw_request(f"/v1.45/exec/{eid}/start", api.docker_sock,
                             json.dumps({"Detach": False, "Tty": tty}).encode())
            head, rest = _read_head(s)
            lines = head.decode().split("\r\n")
            assert lines[0] == "HTTP/1.1 101 UPGRADED"
            kind = "raw-stream" if tty else "multiplexed-stream"
            assert f"Content-Type: application/vnd.docker.{kind}" in lines
            assert "Upgrade: tcp" in lines and "Connection: Upgrade" in lines
            out = _read_to_eof(s, rest)
            s.close()
            assert out == (b"12345678rest" if tty else b"\x01\0\0\0\0\0\0\x0c12345678rest")
            assert dpy.api.exec_inspect(eid)["ExitCode"] == 0
        # a second start: 101, then the failure as a message in the stream (as dockerd)
        s = _raw_request(f"/v1.45/exec/{eid}/start", api.docker_sock, b'{"Tty": true}')
        head, rest = _read_head(s)
        assert head.startswith(b"HTTP/1.1 101") and _read_to_eof(s, rest).endswith(b"\r\n")
        s.close()
        s = _raw_request("/v1.45/exec/nope/start", api.docker_sock, b"{}")
        assert _read_head(s)[0].startswith(b"HTTP/1.1 404")
        s.close()
    finally:
        c.remove(force=True)


def test_exec_start_without_upgrade_streams_raw(api, dpy):
    """Docker also answers a non-upgraded, non-detached start: 200 and the output (frames
    unless Tty), which an HTTP client reads as the body."""
    c = dpy.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        eid = dpy.api.exec_create(c.id, ["sh", "-c", "echo plain; echo err >&2"])["Id"]
        r = _http(api.docker_sock, "POST", f"/exec/{eid}/start", data=b'{"Detach": false}')
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/vnd.docker.raw-stream"
        assert sorted(_demux(r.content)) == [(1, b"plain\n"), (2, b"err\n")]
        eid = dpy.api.exec_create(c.id, ["echo", "detached"])["Id"]
        r = _http(api.docker_sock, "POST", f"/exec/{eid}/start", data=b'{"Detach": true}')
        assert (r.status_code, r.content) == (200, b"")
        until(lambda: dpy.api.exec_inspect(eid)["ExitCode"] == 0)
    finally:
        c.remove(force=True)


def test_exec_detach_keys(api, dpy):
    """DetachKeys of the exec (tty): the sequence ends the stream, the process goes on."""
    c = dpy.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        eid = dpy.api.exec_create(c.id, ["cat"], stdin=True, tty=True, detach_keys="ctrl-x")["Id"]
        s = _raw_request(f"/exec/{eid}/start", api.docker_sock, b'{"Tty": true}')
        head, rest = _read_head(s)
        assert head.startswith(b"HTTP/1.1 101")
        s.sendall(b"abc\n")
        got = bytearray(rest)
        until(lambda: got.extend(s.recv(4096)) or b"abc\r\nabc\r\n" in got)
        s.sendall(b"\x18")
        _read_to_eof(s)  # the server ends the stream
        s.close()
        time.sleep(QUIET_WINDOW_S)  # a negative check: the detached cat must not end
        assert dpy.api.exec_inspect(eid)["Running"] is True
        assert dpy.api.exec_inspect(eid)["DetachKeys"] == "ctrl-x"
    finally:
        c.remove(force=True)


def test_cli_exec_tty_output(cli):
    cli("run", "-d", "--name", "ptx1", "busybox", "sleep", "1000")
    try:
        # -t without a terminal on our side: the CLI still asks for a tty; output is raw
        p = cli("exec", "-t", "ptx1", "printf", "abcdefghij", check=False)
        assert p.stdout == b"abcdefghij", p
        assert cli("exec", "ptx1", "printf", "abcdefghij").stdout == b"abcdefghij"
    finally:
        cli("rm", "-f", "ptx1")


# ---- attach -------------------------------------------------------------------------------

def test_dpy_attach_socket_frames(dpy):
    for tty in (False, True):
        c = dpy.containers.create("busybox", ["sh", "-c", "read l; echo got:$l; echo err >&2"],
                                  stdin_open=True, tty=tty)
        try:
            raw = c.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            sock = _sock(raw)
            sock.settimeout(20)
            c.start()
            sock.sendall(b"x\n")
            data = _read_to_eof(sock)
            raw.close()
            if tty:
                assert data == b"x\r\ngot:x\r\nerr\r\n"
            else:
                assert _demux(data) == [(1, b"got:x\n"), (2, b"err\n")]
            assert c.wait(timeout=20)["StatusCode"] == 0
        finally:
            c.remove(force=True)


def test_dpy_attach_stream_generator(dpy):
    c = dpy.containers.create("busybox", ["sh", "-c", "sleep 0.3; echo a; echo b >&2; sleep 0.2; echo c"])
    try:
        gen = c.attach(stream=True, stdout=True, stderr=True)
        c.start()
        assert b"".join(gen) == b"a\nb\nc\n"
        c.wait(timeout=20)
        # exited: logs without stream (a stream would wait for the next start, as dockerd)
        assert c.attach(logs=True, stream=False, demux=True) == (b"a\nc\n", b"b\n")
    finally:
        c.remove(force=True)


def test_attach_detach_keys_tty(api, dpy):
    c = dpy.containers.run("busybox", ["cat"], detach=True, stdin_open=True, tty=True)
    try:
        s = _raw_request(f"/v1.45/containers/{c.id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,b",
                         api.docker_sock)
        head, rest = _read_head(s)
        assert head.startswith(b"HTTP/1.1 101") and b"raw-stream" in head
        s.sendall(b"hi\n")
        got = bytearray(rest)
        until(lambda: got.extend(s.recv(4096)) or b"hi\r\nhi\r\n" in got)
        s.sendall(b"\x01b")
        _read_to_eof(s)
        s.close()
        time.sleep(QUIET_WINDOW_S)  # a negative check: cat (StdinOnce off) must go on
        c.reload()
        assert c.status == "running"
        s = _raw_request(f"/containers/{c.id}/attach?stream=1&stdin=1&detachKeys=ctrl-foo", api.docker_sock)
        head, rest = _read_head(s)
        s.close()
        assert head.startswith(b"HTTP/1.1 400") and b"ctrl-foo" in rest
        with pytest.raises(docker.errors.APIError) as e:
            dpy.api.exec_create(c.id, ["true"], detach_keys="ctrl-foo")
        assert e.value.status_code == 400
    finally:
        c.remove(force=True)


# ---- import with changes ------------------------------------------------------------------

def _rootfs_tar(tmp_path) -> bytes:
    src = tmp_path / "rootfs"
    (src / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", src / "bin" / "busybox")
    for name in ("sh", "echo", "env", "id", "pwd", "cat"):
        (src / "bin" / name).symlink_to("busybox")
    (src / "etc").mkdir()
    (src / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
    (src / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (src / "srv").mkdir()
    tarball = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(src), "-cf", str(tarball), "."], check=True)
    return tarball.read_bytes()


def test_cli_import_with_changes(cli, tmp_path):
    tar = tmp_path / "r.tar"
    tar.write_bytes(_rootfs_tar(tmp_path))
    cli("import", "-c", 'CMD ["echo","hi"]', "-c", "ENV A=B C=d", "-c", "WORKDIR /srv",
        "-c", "USER nobody", "-c", "EXPOSE 80/tcp 53/udp", "-c", 'LABEL a=b "c d"="e f"',
        "-c", "VOLUME /data", "-c", "ENTRYPOINT []", str(tar), "chg:1")
    try:
        assert cli("run", "--rm", "chg:1").stdout == b"hi\n"
        cfg = json.loads(cli("image", "inspect", "chg:1").stdout)[0]["Config"]
        assert cfg["Cmd"] == ["echo", "hi"] and cfg["WorkingDir"] == "/srv" and cfg["User"] == "nobody"
        assert {"A=B", "C=d"} <= set(cfg["Env"])
        assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
        assert cfg["Labels"] == {"a": "b", "c d": "e f"}
        assert cfg["Volumes"] == {"/data": {}}
        out = cli("run", "--rm", "chg:1", "sh", "-c", "echo $A$C; id -u; pwd").stdout
        assert out == b"Bd\n65534\n/srv\n"
        bad = cli("import", "-c", "ONBUILD RUN x", str(tar), "chg:2", check=False)
        assert bad.returncode != 0 and b"ONBUILD" in bad.stderr
        bad = cli("import", "-c", "RUN echo", str(tar), "chg:2", check=False)
        assert bad.returncode != 0 and b"RUN" in bad.stderr
        assert cli("image", "inspect", "chg:2", check=False).returncode != 0
    finally:
        cli("rmi", "chg:1")


def test_dpy_import_changes_shell_form_and_errors(api, dpy, tmp_path):
    data = _rootfs_tar(tmp_path)
    changes = ["CMD echo shell $A", "ENV A=from-env", "ENTRYPOINT []", "LABEL k=v"]
    params = [("fromSrc", "-"), ("repo", "chg2"), ("tag", "1")] + [("changes", ch) for ch in changes]
    r = _http(api.docker_sock, "POST", "/v1.45/images/create", params=params, data=data)
    assert r.status_code == 200, r.text
    try:
        cfg = dpy.images.get("chg2:1").attrs["Config"]
        assert cfg["Cmd"] == ["/bin/sh", "-c", "echo shell $A"] and cfg["Labels"] == {"k": "v"}
        assert dpy.containers.run("chg2:1", remove=True) == b"shell from-env\n"
        bads = (("FROM x", "FROM"), ("ENV", "ENV"), ("EXPOSE 99999", "port"), ("LABEL novalue", "LABEL"),
                ("ENV A=${B", "}"), ("HEALTHCHECK x", "HEALTHCHECK"), ("ONBUILD RUN x", "ONBUILD"))
        for bad, word in bads:
            r = _http(api.docker_sock, "POST", "/v1.45/images/create",
                           params=[("fromSrc", "-"), ("repo", "chg3"), ("changes", bad)], data=data)
            assert r.status_code == 400, (bad, r.status_code, r.text)
            assert word in r.json()["message"], r.text
        assert "chg3:latest" not in {t for i in dpy.images.list() for t in i.tags}
        # the REST import takes the same changes
        r = api.api("POST", "/api/images/import/", params=[("repo", "chg4"), ("changes", "USER nobody"),
                                                           ("changes", "EXPOSE 80")], data=data)
        assert r.status_code == 201, r.text
        assert dpy.images.get("chg4:latest").attrs["Config"]["User"] == "nobody"
        r = api.api("POST", "/api/images/import/", params=[("repo", "chg5"), ("changes", "RUN x")], data=data)
        assert r.status_code == 400 and "RUN" in r.json()["message"], r.text
        dpy.images.remove("chg4:latest")
    finally:
        dpy.images.remove("chg2:1")


# ---- load ---------------------------------------------------------------------------------

def test_load_stream_and_errors(api, dpy, cli, tmp_path):
    saved = b"".join(dpy.images.get("busybox").save(named=True))
    r = _http(api.docker_sock, "POST", "/v1.45/images/load", data=saved)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    assert {"stream": "Loaded image: busybox:latest\n"} in lines
    r = _http(api.docker_sock, "POST", "/v1.45/images/load", params={"quiet": "1"}, data=saved)
    lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    assert lines == [{"stream": "Loaded image: busybox:latest\n"}]
    assert [i.tags for i in dpy.images.load(saved)] == [["busybox:latest"]]
    # corrupt: HTTP 200 with the error in band; the clients raise it
    r = _http(api.docker_sock, "POST", "/v1.45/images/load", data=b"this is not a tar" * 100)
    assert r.status_code == 200
    last = json.loads(r.text.splitlines()[-1])
    assert last["error"] and last["errorDetail"]["message"] == last["error"]
    with pytest.raises(docker.errors.ImageLoadError) as e:
        dpy.images.load(b"this is not a tar" * 100)
    assert str(e.value) == last["error"]
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as t:
        info = tarfile.TarInfo("manifest.json")
        payload = b'[{"Config": "nope.json", "RepoTags": ["x:1"], "Layers": []}]'
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    p = cli("load", "-i", str(bad), check=False)
    assert p.returncode != 0 and b"nope.json" in p.stderr, p
    p = cli("load", "-i", str(tmp_path / "missing.tar"), check=False)
    assert p.returncode != 0


# ---- run of a failing command --------------------------------------------------------------

def test_dpy_run_failing_remove_raises_container_error(api, dpy):
    before = len(dpy.api.containers(all=True))
    with pytest.raises(docker.errors.ContainerError) as e:
        dpy.containers.run("busybox", "sh -c 'echo oops >&2; exit 3'", remove=True)
    assert e.value.exit_status == 3 and e.value.stderr == b"oops\n"
    assert len(dpy.api.containers(all=True)) == before


def test_dpy_run_failing_auto_remove_raises_container_error(api, dpy):
    before = len(dpy.api.containers(all=True))
    for _ in range(5):
        with pytest.raises(docker.errors.ContainerError) as e:
            dpy.containers.run("busybox", "sh -c 'echo oops >&2; exit 3'", auto_remove=True)
        assert e.value.exit_status == 3
    until(lambda: len(dpy.api.containers(all=True)) == before)
    assert dpy.containers.run("busybox", "echo fine", auto_remove=True) == b"fine\n"


def test_cli_run_rm_failing(cli):
    p = cli("run", "--rm", "busybox", "sh", "-c", "echo bad >&2; exit 3", check=False)
    assert (p.returncode, p.stderr) == (3, b"bad\n")
    assert cli("ps", "-aq").stdout == b""


def test_output_waits_until_the_client_read_the_101(api, dpy):
    """docker-py reads the head through a buffer and loses what came with it (issue 3332):
    output of a running container is held until the client has read the 101, however slow
    the client is to read it."""
    c = dpy.containers.run("busybox", ["sh", "-c", "while true; do echo tick; sleep 0.02; done"], detach=True)
    try:
        s = _raw_request(f"/v1.45/containers/{c.id}/attach?stream=1&stdout=1", api.docker_sock)
        time.sleep(QUIET_WINDOW_S)  # a slow client: output is due meanwhile
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 101") and first.endswith(b"\r\n\r\n"), first
        head = b""
        while len(head) < 8:
            head += s.recv(8 - len(head))
        assert head[:4] == b"\x01\0\0\0" and int.from_bytes(head[4:], "big") == 5  # "tick\n"
        s.close()
        eid = dpy.api.exec_create(c.id, ["sh", "-c", "while true; do echo tock; sleep 0.02; done"])["Id"]
        s = _raw_request(f"/v1.45/exec/{eid}/start", api.docker_sock, b"{}")
        time.sleep(QUIET_WINDOW_S)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 101") and first.endswith(b"\r\n\r\n"), first
        s.close()
    finally:
        c.remove(force=True)
