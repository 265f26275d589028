"""Names, tags, repositories, argv and paths: Docker's grammar matched in full, every length
bounded, and no input leaves a container in a transitional state (issue 10, points 8 and 9).

The grammar is tested as pure functions; the attacks go through the real stack: raw HTTP on
the Docker socket (the docker CLI checks names itself, an attacker does not use it), the REST
API, and the docker CLI to see that the results do not break it."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import tarfile
import time
import urllib.parse

import pytest

from containers.engine import ids, spec
from containers.engine.errors import CommandNotFound, InvalidArgument
from containers.engine.fs.inroot import check_path
from containers.engine.image import reference
from containers.engine.run import command
from containers.engine.spec import ContainerSpec
from tests.conftest import STATE_ROOT
from tests.stack import Stack

# ---- the grammar (pure) -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["busybox", "library/busybox", "localhost/a", "localhost:5000/a/b",
                                  "reg.example.com/a.b/c_d/e__f/g---h", "[::1]:5000/x", "a" * 255,
                                  "a/" * 126 + "abc"])
def test_repository_grammar_accepts(name):
    assert reference.validate_repository(name) == name


@pytest.mark.parametrize("name", ["", "Busybox", "busybox\n", "busybox\r", "busy box", "a" * 256,
                                  "a//b", "/a", "a/", "-a", "a-", "a..b", "a___b", "_a", "é",
                                  "bad_host:5000/a", "reg:port/a", "a/B", "a\x00"])
def test_repository_grammar_refuses(name):
    with pytest.raises(InvalidArgument) as err:
        reference.validate_repository(name)
    assert len(err.value.message) < 250  # quotes a short prefix, never the whole value


@pytest.mark.parametrize("tag", ["1", "latest", "v1.0-rc_1", "_x", "X", "a" * 128])
def test_tag_grammar_accepts(tag):
    assert reference.validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", "1\n", "evil:1\n", ".x", "-x", "a" * 129, "é", "a b", "a/b", "a:b"])
def test_tag_grammar_refuses(tag):
    with pytest.raises(InvalidArgument):
        reference.validate_tag(tag)


def test_digest_grammar():
    good = "sha256:" + "a" * 64
    assert reference.validate_digest(good) == good
    for bad in (good + "\n", good.upper(), "sha256:" + "a" * 63, "sha512:" + "a" * 64):
        with pytest.raises(InvalidArgument):
            reference.validate_digest(bad)


def test_container_name_grammar():
    assert ids.validate_name("/web-1.a_b") == "web-1.a_b"
    assert ids.validate_name("a" * ids.NAME_MAX) == "a" * 255
    for bad in ("trail\n", "a b", "-a", ".a", "", "/", "a" * 256, "é", "a/b", "x" * 100_000 + "\n"):
        with pytest.raises(InvalidArgument) as err:
            ids.validate_name(bad)
        assert len(err.value.message) < 250


def test_no_validation_pattern_accepts_a_trailing_newline():
    """Python's `$` matches before a trailing newline: each pattern must refuse one, whether
    a caller uses match or fullmatch."""
    cases = [(ids.ID_RE, "a" * 64), (ids.NAME_RE, "name"), (spec.ENV_KEY_RE, "KEY"),
             (spec.HOSTNAME_RE, "host"), (spec.USER_RE, "root"), (spec.PORT_RE, "80")]
    for pattern, good in cases:
        assert pattern.match(good) and pattern.fullmatch(good), pattern.pattern
        assert not pattern.match(good + "\n") and not pattern.fullmatch(good + "\n"), pattern.pattern


def test_argv_and_paths_bounded():
    ok = ContainerSpec(image="busybox", cmd=["echo", "x" * spec.ARG_STRLEN_MAX])
    assert ok.validated() is ok
    refused = [
        {"cmd": ["echo", "x" * (1 << 20)]},  # one 1 MB argument: E2BIG
        {"cmd": ["echo"] + ["x" * (100 << 10)] * 11},  # 1.1 MB together
        {"cmd": ["true"], "env": [f"K{i}={'v' * (100 << 10)}" for i in range(11)]},
        {"entrypoint": ["a" * 300]},  # ENAMETOOLONG
        {"entrypoint": ["/a" * 2100]},  # PATH_MAX
        {"working_dir": "/" + "a" * 256},
        {"labels": {"k" * 2000: "v"}},
        {"image": "busybox:" + "a" * 600},
    ]
    for fields in refused:
        with pytest.raises(InvalidArgument) as err:
            ContainerSpec(**{"image": "busybox", **fields}).validated()
        assert len(err.value.message) < 300
    deep = "/" + "/".join(["a" * 200] * 3)  # long, but every component fits
    assert ContainerSpec(image="busybox", entrypoint=[deep], working_dir=deep).validated()
    assert check_path("/" + "a" * 255) and check_path("/x" * 2047)


def test_command_lookup_never_raises_oserror(tmp_path):
    """A name the kernel refuses, or a path through a file, is "not found" (127), not an
    OSError that would fail the start halfway."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_text("")
    os.chmod(tmp_path / "bin" / "tool", 0o755)
    for argv0 in ("a" * 300, "/bin/tool/x", "/" + "a" * 300 + "/x"):
        with pytest.raises(CommandNotFound):
            command.check(str(tmp_path), argv0, "/bin", "/")
    command.check(str(tmp_path), "tool", "/bin:/" + "p" * 4000, "/")


# ---- the real stack -------------------------------------------------------------------------


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=60)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(self.unix_path)


def docker(api, method: str, target: str, body: object = None, raw: bytes | None = None,
           **query: str) -> tuple[int, dict | bytes]:
    """One raw request on the Docker socket; (status, JSON body or bytes)."""
    conn = _UnixConnection(api.docker_sock)
    try:
        url = target + ("?" + urllib.parse.urlencode(query) if query else "")
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/x-tar" if raw is not None else "application/json"}
        conn.request(method, url, body=data, headers=headers)
        resp = conn.getresponse()
        out = resp.read()
        try:
            return resp.status, json.loads(out)
        except ValueError:
            return resp.status, out
    finally:
        conn.close()


def _names(api) -> list[str]:
    return [c["name"] for c in api.api("GET", "/api/containers/?all=1").json()]


def _tags(api) -> list[str]:
    return [t for img in api.api("GET", "/api/images/").json() for t in img["repo_tags"]]


def _rootfs_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    return buf.getvalue()


def test_docker_api_refuses_bad_names(api, cli):
    status, body = docker(api, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]},
                          name="trail\n")
    assert status == 400 and "invalid container name" in body["message"], body
    for bad in ("a" * 256, "x y", "-x", "a" * 5000):
        status, body = docker(api, "POST", "/containers/create", {"Image": "busybox"}, name=bad)
        assert status == 400 and len(str(body)) < 300, (bad[:20], status, str(body)[:500])
    assert not [n for n in _names(api) if n.startswith(("trail", "aaa"))]
    status, body = docker(api, "POST", "/containers/create", {"Image": "busybox"}, name="n" * 255)
    assert status == 201, body
    status, body = docker(api, "POST", f"/containers/{body['Id']}/rename", name="renamed\n")
    assert status == 400, body
    assert "n" * 255 in _names(api) and "renamed\n" not in _names(api)
    out = cli("ps", "-a", "--format", "{{.Names}}").stdout.decode().split("\n")
    assert "n" * 255 in out
    cli("rm", "n" * 255)


def test_rest_refuses_bad_names(api):
    for bad in ("trail\n", "a" * 256, "\ntrail"):
        r = api.api("POST", "/api/containers/", json={"image": "busybox", "name": bad})
        assert r.status_code == 400, r.text
    assert not [n for n in _names(api) if "trail" in n]


def test_docker_api_refuses_bad_repositories_and_tags(api, cli):
    before = sorted(_tags(api))
    cases = [("evil", "1\n"), ("Evil", "1"), ("a" * 300, "1"), ("evil\n", "1"), ("evil", "é"),
             ("evil", "a" * 129)]
    for repo, tag in cases:
        status, body = docker(api, "POST", "/images/busybox/tag", repo=repo, tag=tag)
        assert status == 400, (repo[:20], tag, body)
        assert len(body["message"]) < 250
    tar = _rootfs_tar()
    status, body = docker(api, "POST", "/images/create", raw=tar, fromSrc="-", repo="evil", tag="1\n")
    assert status == 400, body
    status, body = docker(api, "POST", "/images/create", raw=tar, fromSrc="-", repo="Evil:1")
    assert status == 400, body
    status, body = docker(api, "POST", "/images/create", fromImage="busybox", tag="1\n")
    assert status == 400, body
    status, body = docker(api, "POST", "/images/create", fromImage="Busybox")
    assert status == 400, body
    status, body = docker(api, "POST", "/images/busybox/push", tag="1\n")
    assert status == 400, body
    cid = cli("create", "busybox", "true").stdout.decode().strip()
    for repo, tag in (("Upper", "1"), ("evil", "1\n"), ("a" * 300, "")):
        status, body = docker(api, "POST", "/commit", container=cid, repo=repo, tag=tag)
        assert status == 400, (repo[:20], tag, body)
    assert sorted(_tags(api)) == before  # nothing tagged
    assert b"busybox" in cli("images").stdout  # and the CLI still reads the list
    status, _ = docker(api, "POST", "/images/busybox/tag", repo="localhost:5000/ok.repo/x__y", tag="v1.0")
    assert status == 201
    cli("rmi", "localhost:5000/ok.repo/x__y:v1.0")
    cli("rm", cid)


def test_rest_refuses_bad_tags(api):
    before = sorted(_tags(api))
    for repo, tag in (("evil", "1\n"), ("Evil", "1"), ("a" * 300, "1")):
        r = api.api("POST", "/api/images/busybox/tag/", params={"repo": repo, "tag": tag})
        assert r.status_code == 400, r.text
    r = api.api("POST", "/api/images/import/", params={"repo": "evil", "tag": "1\n"}, data=_rootfs_tar())
    assert r.status_code == 400, r.text
    assert sorted(_tags(api)) == before


def _state(api, cid: str) -> str:
    return api.inspect(cid)["state"]["status"]


def _assert_removable(api, cid: str) -> None:
    """Never left in a transitional state: stop answers (no 409) and removal works."""
    assert _state(api, cid) in ("exited", "created"), api.inspect(cid)
    r = api.api("POST", f"/api/containers/{cid}/stop/")
    assert r.status_code in (200, 204, 304), r.text
    r = api.api("DELETE", f"/api/containers/{cid}/?force=1")
    assert r.status_code in (200, 204), r.text


def test_long_entrypoint_and_huge_argument_are_refused_before_start(api):
    for body in ({"entrypoint": ["a" * 300]}, {"cmd": ["echo", "x" * (1 << 20)]},
                 {"entrypoint": ["/bin/echo"], "cmd": ["x" * (100 << 10)] * 11}):
        r = api.api("POST", "/api/containers/", json={"image": "busybox", **body})
        assert r.status_code == 400, r.text[:300]
        assert len(r.json()["message"]) < 300
    status, body = docker(api, "POST", "/containers/create",
                          {"Image": "busybox", "Entrypoint": ["a" * 300]})
    assert status == 400, body
    status, body = docker(api, "POST", "/containers/create",
                          {"Image": "busybox", "Cmd": ["echo", "x" * (1 << 20)]})
    assert status == 400, str(body)[:300]


@pytest.mark.parametrize("fields, code", [
    ({"cmd": ["a" * 300]}, 127),  # argv[0] the kernel refuses (ENAMETOOLONG)
    ({"cmd": ["/bin/busybox/x"]}, 127),  # through a file (ENOTDIR)
    ({"cmd": ["true"], "working_dir": "/bin/busybox/x"}, 128),  # cannot be made
])
def test_failed_start_ends_exited_with_the_error(api, fields, code):
    c = api.create(image="busybox", **fields)
    r = api.api("POST", f"/api/containers/{c['id']}/start/")
    assert 400 <= r.status_code < 600 and r.headers["Content-Type"].startswith("application/json"), r.text
    assert r.status_code != 500 or code == 128, r.text
    state = api.inspect(c["id"])["state"]
    assert state["status"] == "exited" and state["exit_code"] == code and state["error"], state
    _assert_removable(api, c["id"])


def test_image_with_a_huge_command_fails_to_start_cleanly(api):
    """Create cannot see an image's own Cmd: a 1 MB argument there (committed, loaded or
    pulled) fails the start, which ends exited with the error, never stuck in starting."""
    base = api.create(image="busybox", cmd=["true"])
    r = api.api("POST", f"/api/containers/{base['id']}/commit/",
                json={"repo": "bigcmd", "tag": "1", "changes": {"Cmd": ["echo", "x" * (1 << 20)]}})
    assert r.status_code == 201, r.text[:300]
    try:
        c = api.create(image="bigcmd:1")
        r = api.api("POST", f"/api/containers/{c['id']}/start/")
        assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/json"), r.text[:300]
        assert len(r.text) < 500
        state = api.inspect(c["id"])["state"]
        assert state["status"] == "exited" and state["exit_code"] == 128 and state["error"], state
        _assert_removable(api, c["id"])
    finally:
        api.api("DELETE", f"/api/containers/{base['id']}/?force=1")
        api.api("DELETE", "/api/images/bigcmd:1/")


def test_unexpected_host_error_during_start_ends_exited(api):
    """An image whose /etc is a file: writing /etc/hostname fails with an OSError (no typed
    engine error), after the claim. The answer is JSON, the container ends exited with the
    error and can be removed (it was left in starting: stop and rm -f were 409)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("etc")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    r = api.api("POST", "/api/images/import/", params={"repo": "etcfile", "tag": "1"}, data=buf.getvalue())
    assert r.status_code == 201, r.text
    try:
        c = api.create(image="etcfile:1", cmd=["/x"])
        r = api.api("POST", f"/api/containers/{c['id']}/start/")
        assert r.status_code >= 400 and r.headers["Content-Type"].startswith("application/json"), r.text
        state = api.inspect(c["id"])["state"]
        assert state["status"] == "exited" and state["exit_code"] == 128 and state["error"], state
        assert c["id"] not in r.text and len(r.text) < 500  # no host path echoed
        _assert_removable(api, c["id"])
    finally:
        api.api("DELETE", "/api/images/etcfile:1/")


def test_cli_run_with_long_command_is_not_stuck(cli, api):
    p = cli("run", "--name", "longcmd", "busybox", "a" * 300, check=False)
    assert p.returncode == 127, p.stderr
    deadline = time.monotonic() + 10
    while _state(api, "longcmd") == "starting" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _state(api, "longcmd") == "exited"
    assert cli("ps", "-a").returncode == 0
    cli("rm", "-f", "longcmd")
    p = cli("run", "--rm", "--entrypoint", "a" * 300, "busybox", check=False)
    assert p.returncode != 0 and b"component longer than 255" in p.stderr, p.stderr


def test_archive_paths_bounded(api, cli):
    cid = cli("create", "busybox", "true").stdout.decode().strip()
    for path in ("/" + "a" * 300, "/a" * 2100, "/tmp/" + "b" * 256 + "/c"):
        for method in ("GET", "HEAD", "PUT"):
            status, body = docker(api, method, f"/containers/{cid}/archive", path=path,
                                  raw=_rootfs_tar() if method == "PUT" else None)
            assert status == 400, (method, path[:20], status, str(body)[:300])
    status, _ = docker(api, "PUT", f"/containers/{cid}/archive", path="/tmp", raw=_rootfs_tar())
    assert status == 200
    cli("rm", cid)


def test_static_dotdot_is_not_a_500(api):
    for path in ("/static/../", "/static/..%2f", "/static/%2e%2e/settings.py", "/static/../../etc/passwd"):
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
        try:
            conn.request("GET", path)  # http.client sends the path as is (no dot removal)
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
        assert resp.status in (400, 404), (path, resp.status)


def test_longest_valid_values_fit_the_columns_on_postgresql(postgres_url):
    """PostgreSQL enforces varchar lengths (SQLite does not): the longest name, reference and
    event actor the validation accepts must be stored, not be a 500."""
    stack = Stack(os.path.join(STATE_ROOT, "pgbounds"), env={"DATABASE_URL": postgres_url})
    os.makedirs(stack.root, exist_ok=True)
    try:
        stack.start()
        repo = "/".join(["r" * 63] * 4)  # 255 characters
        r = stack.api("POST", "/api/images/busybox/tag/", params={"repo": repo, "tag": "t" * 128})
        assert r.status_code == 200, r.text[:300]
        ref = f"{repo}:{'t' * 128}"  # 384 characters: the image reference and the tag event
        c = stack.create(image=ref, name="n" * 255, cmd=["true"])
        assert stack.inspect(c["id"])["name"] == "n" * 255
        events = stack.api("GET", "/api/events/?since=0").json()
        assert any(e["action"] == "tag" and e["actor_name"] == ref for e in events)
        r = stack.api("POST", "/api/containers/", json={"image": "busybox", "name": "n" * 256})
        assert r.status_code == 400
        assert stack.api("DELETE", f"/api/containers/{c['id']}/").status_code == 204
    finally:
        stack.shutdown()
