"""docker build (the classic builder): the real docker CLI with DOCKER_BUILDKIT=0,
docker-py's images.build and the REST API, against real containers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import pytest

try:  # the dashboard tests' browser fixtures (playwright and Debian's chromium)
    from tests.test_dashboard import browser, page  # noqa: F401
except pytest.skip.Exception:
    pass


def _cli_build(cli, ctx, *args, check=True):
    env = {**cli.env, "DOCKER_BUILDKIT": "0"}
    from tests.conftest import DOCKER

    p = subprocess.run([DOCKER, "build", *args, str(ctx)], env=env, capture_output=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"docker build -> {p.returncode}: {p.stdout.decode()} {p.stderr.decode()}")
    return p


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


FULL = """\
# a comment
FROM busybox
ARG GREETING=hello
ENV APP=/app \\
    WHO="the world"
WORKDIR $APP
COPY greet.txt data/
ADD files.tar /opt/
RUN echo "$GREETING $WHO" > /app/built.txt && \\
    mkdir -p /home/u && chown 1000:1000 /home/u
USER 1000:1000
RUN id -u > /home/u/uid
LABEL org.example.kind="test build" version=1
EXPOSE 8080 53/udp
VOLUME ["/data"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/built.txt /app/data/greet.txt /opt/inner.txt /home/u/uid; echo $APP"]
"""


def _full_context(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(FULL)
    (ctx / "greet.txt").write_text("greetings\n")
    (ctx / "files.tar").write_bytes(_tar_bytes({"inner.txt": b"from the tar\n"}))
    return ctx


def test_cli_build_full_then_cache(cli, tmp_path):
    ctx = _full_context(tmp_path)
    p = _cli_build(cli, ctx, "-t", "built:one", "-t", "built:two", "--build-arg", "GREETING=hi")
    out = p.stdout.decode()
    assert "Step 1/14 : FROM busybox" in out
    assert "Successfully built " in out and "Successfully tagged built:one" in out
    assert "Successfully tagged built:two" in out
    run = cli("run", "--rm", "built:one").stdout.decode()
    assert run == "hi the world\ngreetings\nfrom the tar\n1000\n/app\n"
    cfg = json.loads(cli("image", "inspect", "built:one").stdout)[0]["Config"]
    assert cfg["User"] == "1000:1000" and cfg["WorkingDir"] == "/app"
    assert cfg["Labels"] == {"org.example.kind": "test build", "version": "1"}
    assert set(cfg["ExposedPorts"]) == {"8080/tcp", "53/udp"} and cfg["Volumes"] == {"/data": {}}
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and "APP=/app" in cfg["Env"]
    assert not any(e.startswith("GREETING=") for e in cfg["Env"])  # an ARG is not kept
    image_id = json.loads(cli("image", "inspect", "built:one").stdout)[0]["Id"]
    # the second identical build: every step from the cache, the same image
    again = _cli_build(cli, ctx, "-t", "built:three", "--build-arg", "GREETING=hi").stdout.decode()
    assert again.count(" ---> Using cache") == 13, again
    assert "Running in" not in again
    assert json.loads(cli("image", "inspect", "built:three").stdout)[0]["Id"] == image_id
    assert cli("ps", "-aq").stdout == b""  # no intermediate container left
    for t in ("built:one", "built:two", "built:three"):
        cli("rmi", t)


def _tar_of(entries: list[tuple[str, str, bytes | str]]) -> bytes:
    """A tar of (name, kind "file"|"dir"|"symlink", data or link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, str(data)
                tf.addfile(ti)
            else:
                raw = data.encode() if isinstance(data, str) else data
                ti.size, ti.mode = len(raw), 0o644
                tf.addfile(ti, io.BytesIO(raw))
    return buf.getvalue()


def _rest_build(api, body: bytes, **params) -> tuple[int, list[dict]]:
    r = api.api("POST", "/api/images/build/", params=params, data=body,
                headers={"Content-Type": "application/x-tar"}, timeout=300)
    if r.status_code != 200:
        return r.status_code, [r.json()]
    return 200, [json.loads(line) for line in r.text.splitlines() if line.strip()]


def _built_id(lines: list[dict]) -> str:
    ids = [m["aux"]["ID"] for m in lines if "aux" in m]
    assert ids, lines
    return ids[-1]


def _rmi(api, ref: str) -> None:
    r = api.api("DELETE", f"/api/images/{ref}/")
    assert r.status_code == 200, r.text


def _output(api, image: str, *cmd: str) -> bytes:
    c = api.run(image=image, cmd=list(cmd)) if cmd else api.run(image=image)
    api.wait(c["id"])
    out = api.logs(c["id"])
    api.api("DELETE", f"/api/containers/{c['id']}/")
    return out


def test_dpy_build_quiet_and_failure(dpy, tmp_path):
    import docker

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n")
    (ctx / "hello.txt").write_text("hello from dpy\n")
    img, logs = dpy.images.build(path=str(ctx), tag="dpyb:1", rm=True)
    assert "dpyb:1" in img.tags
    assert any("Successfully built" in m.get("stream", "") for m in logs)
    assert dpy.containers.run("dpyb:1", remove=True) == b"hello from dpy\n"
    quiet, _ = dpy.images.build(path=str(ctx), tag="dpyb:2", quiet=True)
    assert quiet.id == img.id  # all from the cache
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo before; exit 3\n")
    with pytest.raises(docker.errors.BuildError) as err:
        dpy.images.build(path=str(ctx), tag="dpyb:bad", forcerm=True)
    assert "returned a non-zero code: 3" in str(err.value)
    assert any("before" in m.get("stream", "") for m in err.value.build_log)
    assert dpy.containers.list(all=True) == []  # forcerm: the failed container went too
    dpy.images.remove("dpyb:2")
    dpy.images.remove("dpyb:1")


def test_failing_run_keeps_stopped_container_without_mount(cli, tmp_path):
    """Docker's default (rm, not forcerm): the failed RUN's container stays, stopped; it
    holds no mount. With --force-rm nothing stays."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nENV X=1\nRUN echo out; echo err >&2; exit 3\n")
    p = _cli_build(cli, ctx, "-t", "failing:1", check=False)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert b"out\n" in p.stdout and b"err\n" in p.stdout
    assert b"The command '/bin/sh -c echo out; echo err >&2; exit 3' returned a non-zero code: 3" in p.stderr
    kept = cli("ps", "-aq", "--no-trunc").stdout.decode().split()
    assert len(kept) == 1
    assert b"Exited (3)" in cli("ps", "-a").stdout
    with open("/proc/self/mounts") as f:
        assert kept[0] not in f.read()
    cli("rm", kept[0])
    p = _cli_build(cli, ctx, "--force-rm", "-t", "failing:1", check=False)
    assert p.returncode == 3 and b"Using cache" in p.stdout  # the ENV step
    assert cli("ps", "-aq").stdout == b""
    assert cli("image", "inspect", "failing:1", check=False).returncode != 0


def test_dockerignore_cli_and_server_side(cli, api, tmp_path):
    dockerfile_text = "FROM busybox\nCOPY . /ctx/\nCMD find /ctx -type f\n"
    ignore = "# secrets\nsecret.txt\nlogs\n!logs/keep.log\n**/*.md\n"
    files = {"Dockerfile": dockerfile_text, ".dockerignore": ignore, "secret.txt": "s", "app.txt": "a",
             "logs/a.log": "x", "logs/keep.log": "k", "docs/deep/readme.md": "m", "docs/deep/ok.txt": "o"}
    ctx = tmp_path / "ctx"
    for name, data in files.items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(data)
    _cli_build(cli, ctx, "-t", "ign:cli")
    want = {"/ctx/Dockerfile", "/ctx/.dockerignore", "/ctx/app.txt", "/ctx/logs/keep.log",
            "/ctx/docs/deep/ok.txt"}
    assert set(cli("run", "--rm", "ign:cli").stdout.decode().split()) == want
    # the same context as a raw tar to the REST API: the server applies .dockerignore itself
    body = _tar_of([(n, "file", d) for n, d in files.items()])
    status, lines = _rest_build(api, body, t="ign:rest")
    assert status == 200 and not any("error" in m for m in lines), lines
    assert set(_output(api, "ign:rest").decode().split()) == want
    _rmi(api, "ign:rest")
    cli("rmi", "ign:cli")


def test_copy_cannot_read_outside_the_context(api):
    """Real attacks on the host's files through the context: `..`, absolute symlinks,
    relative symlinks climbing out, a symlinked directory, a tar member climbing out."""
    host_secret = open("/etc/hostname").read()
    base = [("etc/hostname", "file", "context's own hostname\n"), ("passwd", "symlink", "/etc/passwd"),
            ("up", "symlink", "../../../../../../../.."), ("rootdir", "symlink", "/"),
            ("hn", "symlink", "/etc/hostname")]
    for attempt in ("COPY ../../../../etc/passwd /x", "COPY up/etc/passwd /x", "COPY rootdir/etc/passwd /x",
                    "COPY passwd /x", "ADD ../../etc/shadow /x"):
        context = _tar_of([("Dockerfile", "file", f"FROM busybox\n{attempt}\n"), *base])
        status, lines = _rest_build(api, context)
        text = json.dumps(lines)
        assert "root:x:0:0" not in text
        if status == 200:
            assert "error" in lines[-1], (attempt, lines)
            assert "outside the build context" in lines[-1]["error"] or "not found in build context" in \
                lines[-1]["error"], (attempt, lines)
        else:
            assert status == 400, (attempt, lines)
    # a symlink to /etc/hostname resolves inside the context: the context's file, never the host's
    context = _tar_of([("Dockerfile", "file", "FROM busybox\nCOPY hn /hn\nCMD cat /hn\n"), *base])
    status, lines = _rest_build(api, context, t="escape:ok")
    assert status == 200, lines
    out = _output(api, "escape:ok")
    assert out == b"context's own hostname\n" and out.decode() != host_secret
    _rmi(api, "escape:ok")
    # a member named ../x is refused before anything is built
    status, lines = _rest_build(api, _tar_of([("Dockerfile", "file", "FROM busybox\n"),
                                              ("../escaped-by-build", "file", "x")]))
    assert status == 400 and "outside" in lines[0]["message"]
    assert not os.path.exists(os.path.join(api.root, "tmp", "escaped-by-build"))


def test_copy_destination_stays_in_the_image(api):
    """An image symlink pointing at the host's /tmp (from a RUN): COPY through it lands in
    the image's own /tmp, never the host's."""
    name = f"dw-build-escape-{os.getpid()}"
    df = f"FROM busybox\nRUN ln -s ../../../../../../tmp /out\nCOPY f /out/{name}\nCMD cat /tmp/{name}\n"
    status, lines = _rest_build(api, _tar_of([("Dockerfile", "file", df), ("f", "file", "in the image\n")]),
                                t="escape:dest")
    assert status == 200 and not any("error" in m for m in lines), lines
    assert not os.path.exists(f"/tmp/{name}")
    assert _output(api, "escape:dest") == b"in the image\n"
    _rmi(api, "escape:dest")


def test_bad_dockerfiles_are_clear_errors(api, cli, tmp_path):
    cases = {
        "FROM busybox\nFOO bar\n": (400, "unknown instruction: FOO"),
        "# only a comment\n": (400, "cannot be empty"),
        "RUN true\n": (400, "the first instruction must be FROM"),
        "FROM busybox\nFROM busybox\n": (400, "multi-stage builds"),
        "FROM busybox\nCOPY --from=x a b\n": (400, "not supported"),
        "FROM busybox\nHEALTHCHECK CMD true\n": (400, "HEALTHCHECK is not supported"),
        "FROM busybox\nADD http://example.invalid/x.tar /\n": (200, "remote URL"),
        "FROM no-such-image-here\n": (200, "No such image: no-such-image-here"),
        "FROM busybox\nCOPY missing.txt /\n": (200, "file not found in build context"),
        "FROM busybox\nENV\n": (400, "ENV requires at least one argument"),
        "FROM busybox\nEXPOSE 99999\n": (200, "invalid port range"),
        "FROM busybox\nRUN [\"/no/such/binary\"]\n": (200, "could not start"),
    }
    for text, (status, message) in cases.items():
        got, lines = _rest_build(api, _tar_of([("Dockerfile", "file", text)]))
        assert got == status, (text, lines)
        last = lines[-1].get("message") if status != 200 else lines[-1].get("error")
        assert last and message in last.replace("'", ""), (text, lines)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUNN true\n")
    p = _cli_build(cli, ctx, check=False)
    assert p.returncode != 0 and b"unknown instruction: 'RUNN'" in p.stderr, p.stderr
    p = _cli_build(cli, ctx, "-f", "Nope", check=False)
    assert p.returncode != 0


def test_rest_build_from_text_and_multipart(api):
    r = api.api("POST", "/api/images/build/", json={
        "dockerfile": "FROM busybox\nARG WHO\nRUN echo \"hi $WHO\" > /x\nCMD [\"cat\", \"/x\"]\n",
        "t": ["restb:1"], "buildargs": {"WHO": "rest"}, "labels": {"made.by": "rest"}}, timeout=300)
    assert r.status_code == 200, r.text
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert lines[0] == {"stream": "Step 1/5 : FROM busybox\n"}
    image_id = _built_id(lines)
    steps = {m["stream"].split()[1] for m in lines if m.get("stream", "").startswith(" ---> ")
             and len(m["stream"].split()) == 2}
    assert _output(api, "restb:1") == b"hi rest\n"
    detail = api.api("GET", "/api/images/restb:1/").json()
    assert detail["config"]["Labels"] == {"made.by": "rest"} and detail["id"] == image_id.split(":")[1]
    # multipart: a context tar and the Dockerfile as text
    files = {"context": ("ctx.tar", _tar_of([("a.txt", "file", "from the upload\n")]), "application/x-tar")}
    r = api.api("POST", "/api/images/build/", files=files,
                data={"dockerfile": 'FROM busybox\nCOPY a.txt /\nCMD ["cat", "/a.txt"]\n', "t": "restb:2"},
                timeout=300)
    assert r.status_code == 200, r.text
    assert _output(api, "restb:2") == b"from the upload\n"
    rows = api.api("GET", "/api/audit/", params={"action": "images/build", "target": "restb:2"}).json()
    rows = rows.get("results", rows) if isinstance(rows, dict) else rows
    want = [("POST api/images/build/", "rest", 200)]
    assert [(r["action"], r["via"], r["status"]) for r in rows] == want, rows
    # bad input: nothing to build from
    r = api.api("POST", "/api/images/build/", json={"t": "x"})
    assert r.status_code == 400 and "context" in r.json()["message"]
    for t in ("restb:2", "restb:1"):
        _rmi(api, t)
    busybox = api.api("GET", "/api/images/busybox/").json()["id"]
    for short in steps - {busybox[:12]}:  # rmi pruned the untagged intermediate images
        assert api.api("GET", f"/api/images/{short}/").status_code == 404, short


def test_client_leaving_stops_the_build(api):
    """A client that goes away during a silent RUN (Ctrl-C on docker build): the build
    notices (keep-alive newlines), kills the RUN's container and removes it."""
    import socket

    from tests.waiting import until

    body = _tar_of([("Dockerfile", "file", "FROM busybox\nRUN sleep 300\n")])
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(api.docker_sock)
        head = (f"POST /v1.45/build?t=cancelled:1 HTTP/1.1\r\nHost: api.moby.localhost\r\n"
                f"Content-Type: application/x-tar\r\nContent-Length: {len(body)}\r\n\r\n")
        s.sendall(head.encode() + body)
        seen = b""
        s.settimeout(60)
        while b"Running in" not in seen:
            chunk = s.recv(65536)
            assert chunk, seen
            seen += chunk
        assert b"200 OK" in seen.split(b"\r\n", 1)[0]
        cid = seen.split(b"Running in ")[1][:12].decode()
        until(lambda: any(c["id"].startswith(cid) and c["state"]["status"] == "running"
                          for c in api.api("GET", "/api/containers/?all=1").json()))
    until(lambda: not api.api("GET", "/api/containers/?all=1").json(), timeout=30)
    assert api.api("GET", "/api/images/cancelled:1/").status_code == 404


def test_context_size_cap_and_cleanup(tmp_path):
    """The context is capped in uncompressed bytes (a small gzip cannot unpack into a huge
    tree), and nothing of it stays in tmp/ after a refusal."""
    import gzip

    from containers.engine.errors import InvalidArgument
    from containers.engine.image.buildcontext import Context
    from containers.engine.layout import Layout

    layout = Layout(str(tmp_path / "state"))
    bomb = gzip.compress(_tar_of([("big", "file", b"\0" * (4 << 20))]))
    assert len(bomb) < 64 << 10
    with pytest.raises(InvalidArgument, match="larger than the limit"):
        Context(layout, io.BytesIO(bomb), max_bytes=1 << 20)
    assert os.listdir(layout.tmp) == []
    with Context(layout, io.BytesIO(bomb), max_bytes=8 << 20) as ctx:
        assert os.path.getsize(os.path.join(ctx.dir, "big")) == 4 << 20
    assert os.listdir(layout.tmp) == []


def test_dashboard_build_form(request, api):
    """The images page's build form, in a real browser: the log streams in, the image is made."""
    pytest.importorskip("playwright.sync_api")
    from tests import test_dashboard as dash

    if not os.path.exists(dash.CHROMIUM):
        pytest.skip("Debian's chromium is not installed")
    pg = request.getfixturevalue("page")
    dash.login(pg)
    pg.goto(pg.base + "/images/")
    pg.fill("#build-form textarea[name=dockerfile]", "FROM busybox\nRUN echo from-the-dashboard > /d\n"
            "CMD [\"cat\", \"/d\"]\n")
    pg.fill("#build-form input[name=t]", "dashbuilt:1")
    pg.click("#build-form button[type=submit]")
    assert pg.inner_text("#build-status") == "building…" and pg.is_disabled("#build-form button[type=submit]")
    pg.wait_for_function("document.getElementById('build-status').textContent.startsWith('built')",
                         timeout=60000)
    assert "ok" in pg.get_attribute("#build-status", "class").split()
    assert pg.is_enabled("#build-form button[type=submit]")
    text = pg.inner_text("#build-log")
    assert "Step 2/3 : RUN echo from-the-dashboard > /d" in text and "Successfully tagged dashbuilt:1" in text
    assert _output(api, "dashbuilt:1") == b"from-the-dashboard\n"
    pg.fill("#build-form textarea[name=dockerfile]", "FROM busybox\nBOGUS x\n")
    pg.click("#build-form button[type=submit]")
    pg.wait_for_function("document.getElementById('build-status').textContent.startsWith('failed')")
    assert "unknown instruction" in pg.inner_text("#build-status")
    assert "error" in pg.get_attribute("#build-status", "class").split()  # an error, not grey text
    assert pg.get_attribute("#build-status", "role") == "status"  # and announced
    assert [p for p in pg.problems if "400" not in p] == [], pg.problems
    _rmi(api, "dashbuilt:1")


def test_context_sources_globs_digest_and_copy(tmp_path):
    """Engine level: wildcards, the digest (times do not count), a file/directory/tar copy
    into a root, through a root symlink that points out of it."""
    import tarfile as tf_mod

    from containers.engine.errors import InvalidArgument, NotFound
    from containers.engine.fs import inroot
    from containers.engine.image.buildcontext import Context
    from containers.engine.layout import Layout

    inner = _tar_of([("inner/x.txt", "file", "x\n")])
    body = _tar_of([("a.txt", "file", "a\n"), ("b.txt", "file", "b\n"), ("c.md", "file", "c"),
                    ("dir/sub/f", "file", "f\n"), ("arch.tar", "file", inner), ("ln", "symlink", "/etc")])
    layout = Layout(str(tmp_path / "state"))
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("../../../../..", root / "up")  # an image symlink climbing out
    with Context(layout, io.BytesIO(body)) as ctx:
        assert [s.rel for s in ctx.sources(["*.txt"])] == ["a.txt", "b.txt"]
        with pytest.raises(InvalidArgument, match="outside the build context"):
            ctx.sources(["../a.txt"])
        with pytest.raises(NotFound):
            ctx.sources(["ln/passwd"])  # /etc of the context, which has none
        kind, digest = ctx.digest(ctx.sources(["dir"]))
        os.utime(os.path.join(ctx.dir, "dir", "sub", "f"), (1, 1))
        assert (kind, digest) == ctx.digest(ctx.sources(["dir"]))
        root_fd = inroot.open_root(str(root))
        try:
            ctx.copy_into(root_fd, ctx.sources(["a.txt", "b.txt"]), "/up/dst/", add=False)
            ctx.copy_into(root_fd, ctx.sources(["dir"]), "/tree", add=False)
            ctx.copy_into(root_fd, ctx.sources(["a.txt"]), "/etc", add=False)  # a directory there
            ctx.copy_into(root_fd, ctx.sources(["a.txt"]), "/renamed.txt", add=False)
            ctx.copy_into(root_fd, ctx.sources(["arch.tar"]), "/opt", add=True)
            ctx.copy_into(root_fd, ctx.sources(["arch.tar"]), "/kept/", add=False)
        finally:
            os.close(root_fd)
    assert (root / "dst" / "a.txt").read_text() == "a\n" and (root / "dst" / "b.txt").exists()
    assert (root / "tree" / "sub" / "f").read_text() == "f\n"
    assert (root / "etc" / "a.txt").exists() and (root / "renamed.txt").read_text() == "a\n"
    assert (root / "opt" / "inner" / "x.txt").read_text() == "x\n"
    assert tf_mod.is_tarfile(root / "kept" / "arch.tar")
    assert os.stat(root / "dst" / "a.txt").st_uid == 0
    assert not os.path.exists("/dst")


def test_cli_quiet_stdin_file_and_iidfile(cli, tmp_path):
    from tests.conftest import DOCKER

    env = {**cli.env, "DOCKER_BUILDKIT": "0"}
    df = b"FROM busybox\nLABEL from=stdin\nCMD [\"echo\", \"stdin\"]\n"
    p = subprocess.run([DOCKER, "build", "-q", "-t", "stdinb:1", "-"], input=df, env=env, capture_output=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    image_id = p.stdout.decode().strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert cli("run", "--rm", "stdinb:1").stdout == b"stdin\n"
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "sub" / "Build.file").write_bytes(df)
    iid = tmp_path / "iid"
    _cli_build(cli, ctx, "-f", str(ctx / "sub" / "Build.file"), "--iidfile", str(iid), "-t", "stdinb:2")
    assert iid.read_text() == image_id  # the same steps: all from the cache
    cli("rmi", "stdinb:1", "stdinb:2")


def test_cache_is_per_owner_a_forged_step_is_not_reused(api):
    """User A forges a "cached step": a container that ran `/bin/sh -c echo a > /who`, with
    /evil slipped in (docker cp) before its commit, so the commit's history line and config
    are exactly those of `RUN echo a > /who` on busybox. User B's build of that RUN must not
    reuse it (B cannot even see it); A's own build does, as Docker's would."""
    from tests.users import new_user, remove_users

    a, b = new_user(api), new_user(api)
    text = "FROM busybox\nRUN echo a > /who\nCMD [\"cat\", \"/who\", \"/evil\"]\n"

    def build(user, tag: str) -> list[dict]:
        r = user.api("POST", "/api/images/build/", json={"dockerfile": text, "t": tag}, timeout=300)
        lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
        assert r.status_code == 200 and not any("error" in m for m in lines), lines
        return lines

    try:
        cid = a.api("POST", "/api/containers/", json={"image": "busybox", "cmd": [
            "/bin/sh", "-c", "echo a > /who"]}).json()["id"]
        assert a.api("POST", f"/api/containers/{cid}/start/").status_code == 200
        assert a.api("POST", f"/api/containers/{cid}/wait/").status_code == 200
        r = a.api("PUT", f"/api/containers/{cid}/archive/", params={"path": "/"},
                  data=_tar_of([("evil", "file", "forged\n")]))
        assert r.status_code in (200, 204), r.text
        forged = a.api("POST", f"/api/containers/{cid}/commit/", json={"repo": f"{a.name}/forged"}).json()
        a.api("DELETE", f"/api/containers/{cid}/")
        lines = build(b, f"{b.name}/img:1")
        assert not any("Using cache" in m.get("stream", "") for m in lines), lines
        assert b.api("GET", f"/api/images/{forged['id']}/").status_code == 404
        c = b.api("POST", "/api/containers/", json={"image": f"{b.name}/img:1"}).json()
        b.api("POST", f"/api/containers/{c['id']}/start/")
        assert b.api("POST", f"/api/containers/{c['id']}/wait/").json()["exit_code"] == 1  # no /evil
        b.api("DELETE", f"/api/containers/{c['id']}/")
        lines = build(a, f"{a.name}/img:1")
        assert any("Using cache" in m.get("stream", "") for m in lines)  # the forgery works on its maker
        for user, ref in ((b, f"{b.name}/img:1"), (a, f"{a.name}/img:1"), (a, f"{a.name}/forged")):
            assert user.api("DELETE", f"/api/images/{ref}/").status_code == 200
    finally:
        remove_users(api, a, b)


def test_copy_and_add_chown(api):
    df = ("FROM busybox\n"
          "RUN echo 'app:x:1234:4321::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:4321:' >> /etc/group\n"
          "COPY --chown=app:app f /home/app/f\nCOPY --chown=app dir /d/\nADD --chown=55:66 arch.tar /t/\n"
          "COPY f /root-owned\n"
          "CMD stat -c '%u:%g %n' /home/app/f /d/x /d/sub /d/sub/y /t/inner.txt /root-owned\n")
    body = _tar_of([("Dockerfile", "file", df), ("f", "file", "f"), ("dir/x", "file", "x"),
                    ("dir/sub/y", "file", "y"), ("arch.tar", "file", _tar_of([("inner.txt", "file", "i")]))])
    status, lines = _rest_build(api, body, t="chown:1")
    assert status == 200 and not any("error" in m for m in lines), lines
    assert _output(api, "chown:1").decode().splitlines() == [
        "1234:4321 /home/app/f", "1234:1234 /d/x", "1234:1234 /d/sub", "1234:1234 /d/sub/y",
        "55:66 /t/inner.txt", "0:0 /root-owned"]
    bad = _tar_of([("Dockerfile", "file", "FROM busybox\nCOPY --chown=nobody9 a /\n"), ("a", "file", "a")])
    status, lines = _rest_build(api, bad)
    assert "unable to find user nobody9" in lines[-1].get("error", ""), lines
    _rmi(api, "chown:1")
