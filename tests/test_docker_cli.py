"""The real docker CLI and docker-py drive dockerweb over its Docker socket."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import time

import docker
import pytest

from tests.conftest import DOCKER
from tests.waiting import until

QUIET_WINDOW_S = 0.6  # how long "no output" is watched for (a negative check cannot poll)


def test_version_and_info(cli):
    out = json.loads(cli("version", "--format", "{{json .}}").stdout)
    assert out["Server"]["ApiVersion"] == "1.45" or out["Server"]["Version"].endswith("dockerweb")
    assert b"Containers:" in cli("info").stdout


def test_run_rm_echo(cli):
    for _ in range(5):
        p = cli("run", "--rm", "busybox", "echo", "hi")
        assert p.stdout == b"hi\n"
    p = cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (p.returncode, p.stdout, p.stderr) == (3, b"out\n", b"err\n")
    assert cli("ps", "-aq").stdout == b""  # --rm removed them


def test_stdin_piped_to_cat(cli):
    assert cli("run", "-i", "--rm", "busybox", "cat", input=b"x").stdout == b"x"
    data = os.urandom(200_000)
    assert cli("run", "-i", "--rm", "busybox", "cat", input=data).stdout == data


def test_detached_logs_follow_stop_rm(cli):
    cid = cli("run", "-d", "--name", "web1", "busybox", "sh", "-c",
              "for i in 1 2 3; do echo line$i; sleep 0.2; done; sleep 1000").stdout.strip().decode()
    assert len(cid) == 64
    assert b"web1" in cli("ps").stdout
    follow = subprocess.Popen([DOCKER, "logs", "-f", "web1"], env=cli.env, stdout=subprocess.PIPE)
    seen = bytearray()

    def read_more() -> bool:
        if select.select([follow.stdout], [], [], 0.05)[0]:
            seen.extend(os.read(follow.stdout.fileno(), 4096))
        return b"line3\n" in seen

    until(read_more)
    cli("stop", "-t", "1", "web1")
    out, _ = follow.communicate(timeout=20)
    assert bytes(seen) + out == b"line1\nline2\nline3\n"
    assert b"Exited (143)" in cli("ps", "-a").stdout
    info = json.loads(cli("inspect", "web1").stdout)[0]
    assert info["State"]["ExitCode"] == 143 and info["HostConfig"]["LogConfig"]["Type"] == "json-file"
    assert cli("stop", "web1").returncode == 0  # stop of a stopped container is fine (304)
    cli("rm", "web1")
    assert cli("inspect", "web1", check=False).returncode != 0


def test_logs_follow_is_live(cli):
    cli("run", "-d", "--name", "live1", "busybox", "sh", "-c", "echo first; sleep 3; echo second")
    t0 = time.monotonic()
    follow = subprocess.Popen([DOCKER, "logs", "-f", "live1"], env=cli.env, stdout=subprocess.PIPE)
    assert follow.stdout.readline() == b"first\n"
    assert time.monotonic() - t0 < 2.5  # before the container's second line, 3 s in
    assert follow.stdout.readline() == b"second\n"
    follow.wait(timeout=20)
    cli("rm", "-f", "live1")


def test_wait_kill_signal_and_errors(cli):
    cli("run", "-d", "--name", "k1", "busybox", "sh", "-c",
        "trap 'echo hup' HUP; while true; do sleep 0.1; done")
    cli("kill", "-s", "HUP", "k1")
    deadline = time.monotonic() + 10
    while b"hup" not in cli("logs", "k1").stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cli("logs", "k1").stdout == b"hup\n"
    assert b"running" in cli("inspect", "-f", "{{.State.Status}}", "k1").stdout
    cli("kill", "k1")
    assert cli("wait", "k1").stdout == b"137\n"
    p = cli("kill", "k1", check=False)
    assert p.returncode != 0 and b"is not running" in p.stderr
    p = cli("run", "--name", "k1", "busybox", "true", check=False)
    assert p.returncode != 0 and b"already in use" in p.stderr
    cli("rm", "k1")
    p = cli("run", "--rm", "busybox", "no-such-cmd", check=False)
    assert p.returncode == 127 and b"executable file not found" in p.stderr
    p = cli("inspect", "nothing-here", check=False)
    assert p.returncode != 0 and b"No such" in p.stderr


def test_run_it_under_a_pty(cli):
    master, slave = os.openpty()
    proc = subprocess.Popen([DOCKER, "run", "-it", "--rm", "busybox", "sh"], env=cli.env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""

    def read_until(token: bytes, timeout: float = 20) -> None:
        nonlocal out
        deadline = time.monotonic() + timeout
        while token not in out and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    break
        assert token in out, out

    read_until(b"# ")
    os.write(master, b"echo hello $((6*7)); test -t 0 && echo tty-yes\r")
    read_until(b"hello 42")
    read_until(b"tty-yes")
    os.write(master, b"exit 5\r")
    assert proc.wait(20) == 5
    os.close(master)
    assert pty  # the stdlib pty module is what interactive users have too


def test_docker_py(dpy):
    assert dpy.ping()
    assert dpy.containers.run("busybox", ["echo", "from docker-py"], remove=True) == b"from docker-py\n"
    c = dpy.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.1; done"],
                           detach=True)
    assert b"".join(c.logs(stream=True, follow=True)) == b"n1\nn2\nn3\n"
    assert c.wait()["StatusCode"] == 0
    c.reload()
    assert c.status == "exited"
    c.remove()
    with pytest.raises(docker.errors.ContainerError) as err:
        dpy.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 2"], remove=True)
    assert err.value.exit_status == 2
    c = dpy.containers.run("busybox", ["sleep", "1000"], detach=True, name="dpy1")
    assert [x.name for x in dpy.containers.list()] == ["dpy1"]
    c.kill(signal="SIGKILL")
    assert c.wait()["StatusCode"] == 137
    c.remove(force=True)


def test_docker_py_attach(dpy):
    c = dpy.containers.create("busybox", ["sh", "-c", "sleep 0.5; echo attached-out"])
    sock = c.attach(stdout=True, stderr=True, stream=True, logs=True)
    c.start()
    assert b"".join(sock) == b"attached-out\n"
    assert c.wait()["StatusCode"] == 0
    c.remove()


def test_events_top_rename_pause(cli):
    since = str(time.time() - 1)
    cli("run", "-d", "--name", "ev1", "busybox", "sh", "-c", "while true; do echo tick; sleep 0.2; done")
    top = cli("top", "ev1").stdout.decode()
    assert "PID" in top and ("sleep" in top or "sh -c" in top)
    cli("pause", "ev1")
    assert cli("inspect", "-f", "{{.State.Status}}", "ev1").stdout == b"paused\n"
    n = len(cli("logs", "ev1").stdout)
    time.sleep(QUIET_WINDOW_S)
    assert len(cli("logs", "ev1").stdout) == n  # frozen: no output
    assert cli("pause", "ev1", check=False).returncode != 0
    cli("unpause", "ev1")
    cli("rename", "ev1", "ev2")
    assert b"ev2" in cli("ps").stdout
    cli("rm", "-f", "ev2")
    end = str(time.time() + 0.5)
    lines = cli("events", "--since", since, "--until", end, "--format",
                "{{.Actor.Attributes.name}} {{.Action}}", "--filter", "type=container").stdout.decode()
    out = [line.split()[1] for line in lines.splitlines() if line.split()[0] in ("ev1", "ev2")]
    assert out[:2] == ["create", "start"]
    for action in ("pause", "unpause", "rename", "kill", "die", "destroy"):
        assert action in out, out


def test_tcp_listener_requires_a_token(api):
    import requests

    from tests.stack import PY, REPO, free_port

    port = free_port()
    sock = f"{api.root}/run/docker-tcp-test.sock"
    proc = subprocess.Popen([PY, "manage.py", "rundockerapi", "--socket", sock, "--tcp", f"127.0.0.1:{port}"],
                            cwd=REPO, env=api.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                r = requests.get(base + "/_ping", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.status_code == 401 and "Token" in r.json()["message"]
        ok = requests.get(base + "/v1.45/containers/json", headers={"Authorization": f"Token {api.token}"})
        assert ok.status_code == 200 and isinstance(ok.json(), list)
        bad = requests.get(base + "/v1.45/containers/json", headers={"Authorization": "Token nope"})
        assert bad.status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_images_import_commit_diff_export_tag_rmi_history(cli, tmp_path):
    src = tmp_path / "rootfs"
    (src / "bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", src / "bin" / "busybox")
    (src / "hello.txt").write_text("imported via docker import\n")
    tarball = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(src), "-cf", str(tarball), "."], check=True)
    out = cli("import", str(tarball), "imp:1").stdout
    assert out.startswith(b"sha256:")
    out = cli("run", "--rm", "imp:1", "/bin/busybox", "cat", "/hello.txt").stdout
    assert out == b"imported via docker import\n"
    cli("run", "--name", "cm1", "busybox", "sh", "-c", "echo data > /newfile; rm /bin/vi")
    diff = cli("diff", "cm1").stdout.decode().splitlines()
    assert "A /newfile" in diff and "D /bin/vi" in diff and "C /bin" in diff
    img = cli("commit", "-m", "msg", "-a", "me", "-c", 'CMD ["cat", "/newfile"]', "cm1", "cm:v1").stdout
    assert img.startswith(b"sha256:")
    assert cli("run", "--rm", "cm:v1").stdout == b"data\n"
    export = tmp_path / "cm1.tar"
    cli("export", "-o", str(export), "cm1")
    names = subprocess.run(["tar", "-tf", str(export)], capture_output=True, text=True).stdout.split()
    assert "newfile" in [n.lstrip("./") for n in names] and "bin/vi" not in [n.lstrip("./") for n in names]
    cli("tag", "cm:v1", "cm:v2")
    listed = cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode().split()
    assert {"cm:v1", "cm:v2", "busybox:latest", "imp:1"} <= set(listed)
    hist = cli("history", "--no-trunc", "--format", "{{.Comment}}", "cm:v1").stdout.decode().split("\n")
    assert hist[0] == "msg"
    assert b"Untagged: cm:v2" in cli("rmi", "cm:v2").stdout
    assert cli("rmi", "busybox", check=False).returncode != 0  # used by cm1
    cli("rm", "cm1")
    assert b"Deleted" in cli("rmi", "cm:v1").stdout
    cli("rmi", "imp:1")


def test_exec_stats_port(cli):
    cli("run", "-d", "--name", "ex1", "-p", "8080", "busybox", "sh", "-c",
        "mkdir -p /www; echo ok > /www/index.html; exec httpd -f -p 8080 -h /www")
    assert cli("exec", "ex1", "cat", "/www/index.html").stdout == b"ok\n"
    p = cli("exec", "ex1", "sh", "-c", "exit 4", check=False)
    assert p.returncode == 4
    assert cli("exec", "-i", "ex1", "cat", input=b"via exec stdin").stdout == b"via exec stdin"
    port = cli("port", "ex1", "8080").stdout.decode().strip().splitlines()[0]
    host_port = int(port.rsplit(":", 1)[1])
    import requests

    assert requests.get(f"http://127.0.0.1:{host_port}/", timeout=5).text == "ok\n"
    fmt = "{{.Name}} {{.MemUsage}} {{.PIDs}}"
    stats = cli("stats", "--no-stream", "--format", fmt, "ex1").stdout.decode()
    assert stats.startswith("ex1 ") and ("MiB" in stats or "KiB" in stats), stats
    master, slave = os.openpty()
    proc = subprocess.Popen([DOCKER, "exec", "-it", "ex1", "sh"], env=cli.env, stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 20
    os.write(master, b"echo in-exec $((2+3)); exit 0\r")
    while b"in-exec 5" not in out and time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
    assert b"in-exec 5" in out
    assert proc.wait(20) == 0
    os.close(master)
    cli("rm", "-f", "ex1")


def test_cp_both_ways(cli, tmp_path):
    cli("run", "-d", "--name", "cp1", "busybox", "sh", "-c", "mkdir -p /data/sub; echo inside > /data/sub/f; "
        "ln -s /etc/passwd /data/link; sleep 1000")
    until(lambda: cli("exec", "cp1", "test", "-L", "/data/link", check=False).returncode == 0)
    cli("cp", "cp1:/data", str(tmp_path / "out"))
    assert (tmp_path / "out" / "sub" / "f").read_text() == "inside\n"
    assert os.readlink(tmp_path / "out" / "link") == "/etc/passwd"  # copied as a link, not followed
    (tmp_path / "in.txt").write_text("from host\n")
    cli("cp", str(tmp_path / "in.txt"), "cp1:/data/sub/")
    assert cli("exec", "cp1", "cat", "/data/sub/in.txt").stdout == b"from host\n"
    assert cli("cp", "cp1:/nope", str(tmp_path / "x"), check=False).returncode != 0
    cli("stop", "-t", "0", "cp1")
    cli("cp", str(tmp_path / "in.txt"), "cp1:/data/")  # into a stopped container
    cli("cp", "cp1:/data/in.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "from host\n"
    cli("rm", "cp1")


def test_detach_keys_leave_the_container_running(cli):
    """The CLI detaches on its own (its escape proxy eats ctrl-p ctrl-q and closes the
    connection): the tty container keeps running with its stdin open, even after input was
    typed (run -it has StdinOnce; as dockerd, a tty's stdin is never closed by an attach's
    end). It failed one time in three under load before, and always once input was typed."""
    master, slave = os.openpty()
    proc = subprocess.Popen([DOCKER, "run", "-it", "--name", "det1", "busybox", "sh"], env=cli.env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)

    def read_until(marker: bytes) -> bytes:
        out = b""
        deadline = time.monotonic() + 20
        while marker not in out and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                out += os.read(master, 4096)
        return out

    assert b"# " in read_until(b"# ")
    os.write(master, b"echo typed-$((40+2))\r")
    assert b"typed-42" in read_until(b"typed-42")
    os.write(master, b"\x10\x11")  # ctrl-p ctrl-q
    assert proc.wait(20) == 0
    os.close(master)
    time.sleep(0.5)  # a closed stdin would have ended the shell by now
    assert cli("inspect", "-f", "{{.State.Running}}", "det1").stdout == b"true\n"
    got = cli("exec", "det1", "sh", "-c", "ps -o pid,args | grep -c '[s]h$'").stdout
    assert int(got) >= 1  # the shell is still there
    cli("rm", "-f", "det1")


def test_docker_py_exec_and_images(dpy):
    c = dpy.containers.run("busybox", ["sleep", "1000"], detach=True)
    code, out = c.exec_run(["sh", "-c", "echo from-exec; exit 3"])
    assert (code, out) == (3, b"from-exec\n")
    tags = {t for img in dpy.images.list() for t in img.tags}
    assert "busybox:latest" in tags
    assert dpy.images.get("busybox").attrs["RootFS"]["Type"] == "layers"
    c.remove(force=True)


def test_attach_websocket_variant(api, dpy):
    import asyncio

    import websockets

    c = dpy.containers.create("busybox", ["sh", "-c", "read line; echo got:$line; echo err >&2"],
                              stdin_open=True)

    async def session() -> bytes:
        url = f"ws://localhost/v1.45/containers/{c.id}/attach/ws?stream=1&stdin=1&stdout=1&stderr=1"
        async with websockets.unix_connect(api.docker_sock, url) as ws:
            await asyncio.to_thread(c.start)
            await ws.send(b"hello\n")
            out = b""
            try:
                while True:
                    out += await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed:
                return out

    out = asyncio.run(session())
    assert b"got:hello\n" in out and b"err\n" in out and b"\x01\x00\x00\x00" not in out  # raw, not framed
    c.wait()
    c.remove()
