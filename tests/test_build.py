"""docker build (the classic builder): the real docker CLI with DOCKER_BUILDKIT=0,
docker-py's images.build and the REST API, against real containers."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile


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
