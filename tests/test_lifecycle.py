"""Container lifecycle end to end: REST API -> worker -> supervisor -> real LXC."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

from containers.engine.layout import Layout
from containers.engine.run.client import STDOUT, AttachClient
from tests.waiting import until


def _json_logs(api, cid, **params):
    raw = api.logs(cid, format="json", **params)
    return [json.loads(line) for line in raw.splitlines()]


def test_exit_codes(api):
    cases = {0: "true", 7: "exit 7", 137: "kill -9 $$"}
    for code, script in cases.items():
        c = api.run(cmd=["sh", "-c", script])
        assert api.wait(c["id"])["exit_code"] == code
        state = api.inspect(c["id"])["state"]
        assert state["status"] == "exited" and state["exit_code"] == code
    assert api.inspect(c["id"])["state"]["signal"] == "SIGKILL"


def test_command_not_found_is_127_with_message(api):
    c = api.create(cmd=["no-such-command"])
    r = api.api("POST", f"/api/containers/{c['id']}/start/")
    assert r.status_code == 400
    assert "executable file not found" in r.json()["message"]
    st = api.wait(c["id"])
    assert st["exit_code"] == 127 and "no-such-command" in st["error"]
    c2 = api.create(cmd=["/etc/passwd"])
    assert api.api("POST", f"/api/containers/{c2['id']}/start/").status_code == 400
    assert api.wait(c2["id"])["exit_code"] == 126


def test_oom_under_32mb_limit(api):
    c = api.run(cmd=["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"],
                memory=32 * 1024 * 1024)
    st = api.wait(c["id"])
    assert st["exit_code"] == 137 and st["oom_killed"] is True, (st, api.inspect(c["id"]).get("state"),
                                                                 api.logs(c["id"])[-300:])
    actions = [e["action"] for e in api.api("GET", f"/api/events/?container={c['id']}").json()]
    assert actions[:3] == ["create", "start", "oom"] and "die" in actions, actions


def test_stop_waits_timeout_then_kills(api):
    c = api.run(cmd=["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"])
    until(lambda: b"ready" in api.logs(c["id"]))
    t0 = time.monotonic()
    r = api.api("POST", f"/api/containers/{c['id']}/stop/?timeout=1.5")
    took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    assert r.json()["state"]["exit_code"] == 137
    assert 1.5 <= took < 10
    # a process that honours SIGTERM stops at once with 143
    c2 = api.run(cmd=["sleep", "1000"])
    t0 = time.monotonic()
    assert api.api("POST", f"/api/containers/{c2['id']}/stop/").status_code == 200
    assert time.monotonic() - t0 < 5
    assert api.inspect(c2["id"])["state"]["exit_code"] == 143
    # stop of a stopped container: 304; kill of a stopped one: 409
    assert api.api("POST", f"/api/containers/{c2['id']}/stop/").status_code == 304
    assert api.api("POST", f"/api/containers/{c2['id']}/kill/").status_code == 409


def test_kill_right_after_start_reaches_the_command(api):
    """A start returns at LXC's start hook, a moment before LXC's init forks the command: a
    kill in that moment must still reach the command (137), not the init (lxc-execute: 1)."""
    for _ in range(10):
        c = api.run(cmd=["sleep", "1000"])
        assert api.api("POST", f"/api/containers/{c['id']}/kill/?signal=KILL").status_code == 200
        assert api.wait(c["id"])["exit_code"] == 137


def _init_pid(api, cid: str) -> int:
    with open(os.path.join(api.root, "runtime", cid, "state.json")) as f:
        return json.load(f)["init_pid"]


def test_a_killed_lxc_init_reads_as_its_signal(api):
    """lxc-execute exits 1 when LXC's init dies (the OOM killer's or the engine's last-resort
    SIGKILL); the exit record takes the signal from lxc-execute's own report to the
    supervisor (the preloaded library's waitpid): 137, with LXC logging at WARN, so no INFO
    line says it. A command's own exit 1 stays 1."""
    c = api.run(cmd=["sleep", "1000"])
    os.kill(_init_pid(api, c["id"]), signal.SIGKILL)
    assert api.wait(c["id"])["exit_code"] == 137
    with open(os.path.join(api.root, "runtime", c["id"], "lxc.log")) as f:
        assert " INFO " not in f.read()
    one = api.run(cmd=["sh", "-c", "exit 1"])
    assert api.wait(one["id"])["exit_code"] == 1


def test_non_fatal_signals_are_delivered(api):
    script = ("trap 'echo got-hup' HUP; trap 'echo got-winch' WINCH; echo ready; "
              "while true; do sleep 0.1; done")
    c = api.run(cmd=["sh", "-c", script])
    until(lambda: b"ready" in api.logs(c["id"]))
    for sig, word in (("HUP", b"got-hup"), ("SIGWINCH", b"got-winch"), ("1", b"got-hup")):
        assert api.api("POST", f"/api/containers/{c['id']}/kill/?signal={sig}").status_code == 200
        until(lambda w=word: w in api.logs(c["id"]))
        assert api.inspect(c["id"])["state"]["status"] == "running"
    assert api.api("POST", f"/api/containers/{c['id']}/kill/?signal=NOPE").status_code == 400
    assert api.api("POST", f"/api/containers/{c['id']}/kill/").status_code == 200
    assert api.wait(c["id"])["exit_code"] == 137


def test_stdin_to_cat(api):
    c = api.create(cmd=["cat"], open_stdin=True)
    api.api("POST", f"/api/containers/{c['id']}/start/")
    sock = f"{api.root}/runtime/{c['id']}/attach.sock"
    with AttachClient(sock, stdin=True) as att:
        att.write(b"hello stdin\n")
        att.close_stdin()
        out = b"".join(p for k, p in att.frames() if k == STDOUT)
    assert out == b"hello stdin\n"
    assert api.wait(c["id"])["exit_code"] == 0
    assert api.logs(c["id"]) == b"hello stdin\n"


def test_tty(api):
    c = api.run(cmd=["sh", "-c", "test -t 0 && test -t 1 && echo isatty; stty size"], tty=True)
    assert api.wait(c["id"])["exit_code"] == 0
    assert api.logs(c["id"]) == b"isatty\r\n24 80\r\n"


def test_env_user_hostname_workdir(api):
    c = api.run(cmd=["sh", "-c", "echo $GREETING; id -u; id -g; hostname; pwd; echo $HOME"],
                env=["GREETING=hello world"], user="nobody", hostname="box1",
                working_dir="/srv/app")
    assert api.wait(c["id"])["exit_code"] == 0
    assert api.logs(c["id"]).decode().split("\n") == [
        "hello world", "65534", "65534", "box1", "/srv/app", "/home", ""]
    c2 = api.run(cmd=["sh", "-c", "id -u; id -g; hostname"], user="1234:5678")
    api.wait(c2["id"])
    assert api.logs(c2["id"]).decode().split() == ["1234", "5678", c2["id"][:12]]
    c3 = api.create(cmd=["true"], user="nosuchuser")
    r = api.api("POST", f"/api/containers/{c3['id']}/start/")
    assert r.status_code == 400 and "unable to find user nosuchuser" in r.json()["message"]


def test_logs_keep_streams_apart_and_in_order(api):
    script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; printf 'no newline'"
    c = api.run(cmd=["sh", "-c", script])
    api.wait(c["id"])
    recs = _json_logs(api, c["id"])
    assert [r["log"] for r in recs if r["stream"] == "stdout"] == [
        "out1\n", "out2\n", "out3\n", "out4\n", "out5\n", "no newline"]
    assert [r["log"] for r in recs if r["stream"] == "stderr"] == [f"err{i}\n" for i in range(1, 6)]
    times = [r["time"] for r in recs]
    assert times == sorted(times)
    assert api.logs(c["id"], stderr=0) == b"out1\nout2\nout3\nout4\nout5\nno newline"
    assert api.logs(c["id"], stdout=0, tail=2) == b"err4\nerr5\n"
    stamped = api.logs(c["id"], stderr=0, timestamps=1, tail=1).decode()
    assert stamped.endswith("Z no newline")
    assert api.api("GET", f"/api/containers/{c['id']}/logs/?tail=x").status_code == 400


def test_logs_follow_ends_when_container_exits(api):
    c = api.run(cmd=["sh", "-c", "for i in 1 2 3; do echo tick$i; sleep 0.3; done"])
    t0 = time.monotonic()
    r = api.api("GET", f"/api/containers/{c['id']}/logs/?follow=1", stream=True)
    body = b"".join(r.iter_content(None))
    assert body == b"tick1\ntick2\ntick3\n"
    assert time.monotonic() - t0 < 10


def test_logs_follow_is_live(api):
    """Each line arrives while the container still runs (no buffering until the end)."""
    c = api.run(cmd=["sh", "-c", "echo first; sleep 3; echo second"])
    t0 = time.monotonic()
    r = api.api("GET", f"/api/containers/{c['id']}/logs/?follow=1", stream=True)
    lines = r.iter_lines()
    assert next(lines) == b"first"
    assert time.monotonic() - t0 < 2.5  # the container sleeps 3 s before its second line
    assert api.inspect(c["id"])["state"]["running"]
    assert next(lines) == b"second"


def test_logs_follow_outlives_the_removal_of_the_container(api):
    """docker-py's run(remove=True) opens the follow stream, waits, removes the container and
    only then reads the stream: every line must still arrive."""
    c = api.run(cmd=["sh", "-c", "sleep 0.3; echo last words"])
    r = api.api("GET", f"/api/containers/{c['id']}/logs/?follow=1", stream=True)
    assert api.wait(c["id"])["exit_code"] == 0
    assert api.api("DELETE", f"/api/containers/{c['id']}/").status_code == 204
    assert b"".join(r.iter_content(None)) == b"last words\n"


def test_binary_output_is_kept_exactly(api):
    c = api.run(cmd=["sh", "-c", "printf '\\377\\376\\000bin\\n'"])
    api.wait(c["id"])
    assert api.logs(c["id"]) == b"\xff\xfe\x00bin\n"


def test_worker_killed_containers_survive_and_exits_are_recorded(api):
    counter = api.run(cmd=["sh", "-c", "i=0; while [ $i -lt 30 ]; do echo line$i; i=$((i+1)); "
                                       "sleep 0.1; done; exit 3"])
    sleeper = api.run(cmd=["sleep", "1000"])
    api.kill("worker", signal.SIGKILL)
    exit_json = Layout(api.root).container(counter["id"]).exit
    until(lambda: os.path.exists(exit_json), timeout=30)  # the counter finishes while no worker runs
    api.start_worker()
    assert api.wait(counter["id"])["exit_code"] == 3
    assert api.logs(counter["id"]).decode().split() == [f"line{i}" for i in range(30)]
    assert api.inspect(sleeper["id"])["state"]["status"] == "running"
    r = api.api("POST", f"/api/containers/{sleeper['id']}/stop/")
    assert r.status_code == 200 and r.json()["state"]["exit_code"] == 143


def _fs_type(path: str) -> str:
    """The filesystem type of the mount at `path` ("" when `path` is not a mount point)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            if head.split()[4] == path:
                found = tail.split()[0]
    return locals().get("found", "")


def test_runtime_files_live_on_the_tmpfs_and_outlive_the_worker(api):
    """The worker mounts a tmpfs on <state>/runtime (Podman's runroot): a running container's
    LXC config and log, supervisor log and state, attach socket and /etc files are there; its
    directory on the disk keeps only what outlives the host. A killed worker's successor keeps
    the same tmpfs (the containers' sockets and state are on it); a removal leaves nothing."""
    runtime = os.path.join(os.path.realpath(api.root), "runtime")
    assert _fs_type(runtime) == "tmpfs"
    c = api.run(cmd=["sh", "-c", "cat /etc/hostname; sleep 1000"])
    run, d = os.path.join(runtime, c["id"]), os.path.join(api.root, "containers", c["id"])
    assert sorted(os.listdir(run)) == ["attach.sock", "config.lxc", "etc", "lxc.log", "state.json",
                                       "supervisor.log"]
    assert sorted(os.listdir(os.path.join(run, "etc"))) == ["hostname", "hosts", "resolv.conf"]
    assert sorted(os.listdir(d)) == ["container.log", "rootfs", "supervisor.spec", "upper", "work"]
    assert os.listdir(os.path.join(d, "upper")) == []  # the /etc mount points: the init layer's
    until(lambda: api.logs(c["id"]) == f"{c['id'][:12]}\n".encode())
    dev = os.stat(runtime).st_dev
    api.kill("worker", signal.SIGKILL)
    api.start_worker()
    assert os.stat(runtime).st_dev == dev and _fs_type(runtime) == "tmpfs"  # the same tmpfs
    assert api.inspect(c["id"])["state"]["status"] == "running"
    with AttachClient(os.path.join(run, "attach.sock"), scrollback=True, timeout=10) as att:
        assert next(p for k, p in att.frames() if k == STDOUT) == f"{c['id'][:12]}\n".encode()
    r = api.api("POST", f"/api/containers/{c['id']}/stop/")
    assert r.status_code == 200 and r.json()["state"]["exit_code"] == 143
    assert sorted(os.listdir(d)) == ["container.log", "exit.json", "rootfs", "supervisor.spec", "upper",
                                     "work"]
    assert api.api("DELETE", f"/api/containers/{c['id']}/").status_code == 204
    assert not os.path.exists(run) and not os.path.exists(d)


def test_exit_recorded_when_container_exits_after_new_worker_adopts(api):
    c = api.run(cmd=["sh", "-c", "sleep 3; exit 5"])
    api.kill("worker", signal.SIGKILL)
    api.start_worker()
    assert api.wait(c["id"])["exit_code"] == 5


def test_web_server_killed_changes_nothing(api):
    c = api.run(cmd=["sh", "-c", "echo before; sleep 1000"])
    api.kill("web", signal.SIGKILL)
    api.start_web()
    assert api.inspect(c["id"])["state"]["status"] == "running"
    assert api.logs(c["id"]) == b"before\n"


def test_supervisor_killed_marks_dead_and_cleans_up(api):
    import os

    c = api.run(cmd=["sleep", "1000"])
    pid = json.load(open(f"{api.root}/runtime/{c['id']}/state.json"))["supervisor_pid"]
    os.kill(pid, signal.SIGKILL)
    st = until(lambda: (s := api.inspect(c["id"])["state"])["status"] == "dead" and s)
    assert "vanished" in st["error"]
    assert api.api("DELETE", f"/api/containers/{c['id']}/").status_code == 204


def test_concurrent_creates_with_same_name(api):
    codes = []

    def create():
        r = api.api("POST", "/api/containers/", json={"image": "busybox", "name": "twin"})
        codes.append(r.status_code)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201, 409]


def test_restart_and_remove(api):
    c = api.run(cmd=["sh", "-c", "echo started; sleep 1000"])
    r = api.api("POST", f"/api/containers/{c['id']}/restart/?timeout=1")
    assert r.status_code == 200 and r.json()["state"]["status"] == "running"
    assert r.json()["restart_count"] == 0  # Docker's: a user's restart starts the count afresh
    until(lambda: api.logs(c["id"]) == b"started\nstarted\n")
    assert api.api("DELETE", f"/api/containers/{c['id']}/").status_code == 409
    assert api.api("DELETE", f"/api/containers/{c['id']}/?force=1").status_code == 204
    assert api.api("GET", f"/api/containers/{c['id']}/").status_code == 404
    import os

    assert not os.path.exists(f"{api.root}/containers/{c['id']}")


def test_start_of_running_is_304_and_exited_container_restarts(api):
    c = api.run(cmd=["sleep", "1000"])
    assert api.api("POST", f"/api/containers/{c['id']}/start/").status_code == 304
    api.api("POST", f"/api/containers/{c['id']}/kill/")
    assert api.wait(c["id"])["exit_code"] == 137
    assert api.api("POST", f"/api/containers/{c['id']}/start/").status_code == 200
    assert api.inspect(c["id"])["state"]["running"] is True


def test_lookup_by_name_prefix_and_errors(api):
    c = api.create(cmd=["true"], name="findme")
    assert api.inspect("findme")["id"] == c["id"]
    assert api.inspect(c["id"][:10])["id"] == c["id"]
    assert api.api("GET", "/api/containers/doesnotexist/").status_code == 404
    made = [c]

    def shared_first_digit():
        seen = set()
        for x in made:
            if x["id"][0] in seen:
                return x["id"][0]
            seen.add(x["id"][0])

    while not (clash := shared_first_digit()):  # ids are random: make until two share one
        made.append(api.create(cmd=["true"]))
    r = api.api("GET", f"/api/containers/{clash}/")
    assert r.status_code == 400 and "multiple" in r.json()["message"]


def test_bad_input_is_400_with_field_messages(api):
    bad = [
        {"image": "busybox", "memory": -1},
        {"image": "busybox", "memory": 1000},
        {"image": "busybox", "env": ["NO EQUALS"]},  # a bare key is Docker's unset; not a bad key
        {"image": "busybox", "env": ["A=1\nlxc.cap.drop = "]},
        {"image": "busybox", "hostname": "bad\nlxc.rootfs.path=/"},
        {"image": "busybox", "hostname": "under_score"},
        {"image": "busybox", "working_dir": "relative"},
        {"image": "busybox", "user": "a b"},
        {"image": "busybox", "cmd": 5},
        {"image": "busybox", "tty": "maybe"},
        {"image": "busybox", "name": "bad name"},
        {"image": "busybox", "ports": ["99999"]},
        {},
    ]
    for body in bad:
        r = api.api("POST", "/api/containers/", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["message"], body
    r = api.api("POST", "/api/containers/", json={"image": "nosuchimage"})
    assert r.status_code == 404 and "No such image" in r.json()["message"]
    r = api.api("POST", "/api/containers/", json={})
    assert "image" in r.json()["errors"]


def test_events_are_sequenced_and_resumable(api):
    first = api.api("GET", "/api/events/?since=0&limit=10000").json()
    last = first[-1]["seq"] if first else 0
    c = api.run(cmd=["true"])
    api.wait(c["id"])
    api.api("DELETE", f"/api/containers/{c['id']}/")
    new = api.api("GET", f"/api/events/?since={last}").json()
    mine = [e["action"] for e in new if e["actor_id"] == c["id"]]
    assert mine == ["create", "start", "die", "destroy"]
    die = next(e for e in new if e["action"] == "die" and e["actor_id"] == c["id"])
    assert die["attributes"]["exitCode"] == "0"
    seqs = [e["seq"] for e in new]
    assert seqs == sorted(seqs) and seqs[0] > last


def test_auth_required_and_schema(api):
    import requests

    assert requests.get(api.base + "/api/containers/").status_code in (401, 403)
    assert requests.post(api.base + "/api/containers/", json={"image": "busybox"}).status_code in (401, 403)
    r = api.api("GET", "/api/schema/")
    assert r.status_code == 200 and b"/api/containers/" in r.content
    assert api.api("GET", "/api/docs/").status_code == 200


def test_images_listed(api):
    imgs = api.api("GET", "/api/images/").json()
    assert any("busybox:latest" in i["repo_tags"] for i in imgs)


def test_rapid_restarts_keep_the_new_supervisor_watched(api):
    c = api.run(cmd=["sh", "-c", "sleep 2; exit 9"])
    for _ in range(3):
        r = api.api("POST", f"/api/containers/{c['id']}/restart/?timeout=1")
        assert r.status_code == 200 and r.json()["state"]["status"] == "running", r.text
    t0 = time.monotonic()
    r = api.api("POST", f"/api/containers/{c['id']}/wait/?timeout=6")
    assert r.status_code == 200 and r.json()["exit_code"] == 9, r.text
    assert time.monotonic() - t0 < 5  # recorded by the watcher, not the 10 s reconcile
    actions = [e["action"] for e in api.api("GET", f"/api/events/?container={c['id']}").json()]
    assert actions.count("restart") == 3 and actions[-1] == "die"


def test_rest_top_pause_rename_archive(api):
    """The services the Docker API had alone, over REST: top, pause/unpause, rename, cp."""
    import base64
    import io
    import tarfile

    c = api.run(cmd=["sleep", "300"])
    cid = c["id"]
    r = api.api("GET", f"/api/containers/{cid}/top/")
    assert r.status_code == 200 and "PID" in r.json()["titles"], r.text
    assert any("sleep 300" in row[-1] for row in r.json()["processes"]), r.text

    r = api.api("POST", f"/api/containers/{cid}/pause/")
    assert r.status_code == 200 and r.json()["state"]["paused"] is True, r.text
    assert api.api("POST", f"/api/containers/{cid}/pause/").status_code == 409
    r = api.api("POST", f"/api/containers/{cid}/unpause/")
    assert r.status_code == 200 and r.json()["state"]["paused"] is False, r.text

    new = f"renamed-{cid[:8]}"
    r = api.api("POST", f"/api/containers/{cid}/rename/?name={new}")
    assert r.status_code == 200 and r.json()["name"] == new, r.text
    assert api.api("POST", f"/api/containers/{cid}/rename/?name=bad/name").status_code == 400

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"hello\n"))
    r = api.api("PUT", f"/api/containers/{cid}/archive/?path=/tmp", data=buf.getvalue(),
                headers={"Content-Type": "application/x-tar"})
    assert r.status_code == 204, r.text
    r = api.api("HEAD", f"/api/containers/{cid}/archive/?path=/tmp/hello.txt")
    assert r.status_code == 200, r.text
    st = json.loads(base64.b64decode(r.headers["X-Docker-Container-Path-Stat"]))
    assert st["name"] == "hello.txt" and st["size"] == 6
    r = api.api("GET", f"/api/containers/{cid}/archive/?path=/tmp/hello.txt")
    assert r.status_code == 200, r.text
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        assert tar.extractfile("hello.txt").read() == b"hello\n"
    assert api.api("GET", f"/api/containers/{cid}/archive/?path=/no/such").status_code == 404
    assert api.api("GET", f"/api/containers/{cid}/archive/").status_code == 400

    api.api("POST", f"/api/containers/{cid}/kill/")
    assert api.api("GET", f"/api/containers/{cid}/top/").status_code == 409


def test_rest_wait_conditions(api):
    assert api.api("POST", "/api/containers/nope/wait/?condition=bogus").status_code in (400, 404)
    c = api.run(cmd=["sh", "-c", "sleep 1; exit 5"])
    r = api.api("POST", f"/api/containers/{c['id']}/wait/?condition=bogus")
    assert r.status_code == 400, r.text
    r = api.api("POST", f"/api/containers/{c['id']}/wait/?condition=next-exit&timeout=20")
    assert r.status_code == 200 and r.json() == {"exit_code": 5, "removed": False}, r.text

    c = api.run(cmd=["sh", "-c", "sleep 1; exit 3"], auto_remove=True)
    r = api.api("POST", f"/api/containers/{c['id']}/wait/?condition=removed&timeout=0.2")
    assert r.status_code == 408, r.text
    r = api.api("POST", f"/api/containers/{c['id']}/wait/?condition=removed&timeout=20")
    assert r.status_code == 200 and r.json() == {"exit_code": 3, "removed": True}, r.text


def _same_document(reply: dict, later: dict) -> None:
    """A start's reply and a later GET agree on everything but the main pid, which the reply
    may give before LXC's init forked the command (None then)."""
    assert reply["state"].pop("pid") in (None, later["state"].pop("pid"))
    assert reply == later


def test_start_reply_is_the_record_a_later_get_shows(api):
    """The start reply is built from the worker's reply (runrecord), not read again: it must
    be the document a GET gives, for a first start (mode none and the bridge) and for the
    start of an exited container (which reads the record again)."""
    for mode in ("none", "bridge"):
        c = api.create(cmd=["sleep", "30"], network_mode=mode)
        started = api.api("POST", f"/api/containers/{c['id']}/start/")
        assert started.status_code == 200, started.text
        reply = started.json()
        assert reply["state"]["status"] == "running" and reply["state"]["started_at"]
        _same_document(reply, api.inspect(c["id"]))
        assert api.api("POST", f"/api/containers/{c['id']}/kill/").status_code == 200
        assert api.wait(c["id"])["exit_code"] == 137
        again = api.api("POST", f"/api/containers/{c['id']}/start/")
        assert again.status_code == 200, again.text
        reply = again.json()
        assert reply["state"]["status"] == "running" and reply["state"]["exit_code"] is None
        assert reply["state"]["finished_at"] is None
        _same_document(reply, api.inspect(c["id"]))
        api.api("DELETE", f"/api/containers/{c['id']}/?force=1")


def _held_like_a_cleaner(path: str) -> int:
    """Hold an exclusive flock on a run's exit.json, as its supervisor's cleaner does while it
    unmounts the rootfs and removes the cgroups (supervisor.c clean_after)."""
    import fcntl

    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_start_and_a_removal_wait_for_the_last_runs_cleaner(api):
    """The supervisor writes exit.json and exits before the rootfs's unmount (a waiter of the
    exit does not wait for it); a cleaner holding exit.json's lock does the unmount. A start
    or a removal that came while it is at work waits for it, then proceeds: a start that
    did not would find the old mount there, keep it, and lose it to the cleaner's unmount."""
    c = api.run(cmd=["sh", "-c", "cat /mark 2>/dev/null; echo run >> /mark"])
    assert api.wait(c["id"])["exit_code"] == 0
    exit_json = os.path.join(api.root, "containers", c["id"], "exit.json")
    for action in ("start", "remove"):
        fd = _held_like_a_cleaner(exit_json)
        out: dict[str, object] = {}
        method, url = (("POST", f"/api/containers/{c['id']}/start/") if action == "start" else
                       ("DELETE", f"/api/containers/{c['id']}/"))
        call = threading.Thread(target=lambda o=out, m=method, u=url: o.update(r=api.api(m, u)))
        call.start()
        time.sleep(0.6)
        try:
            assert call.is_alive() and "r" not in out, f"{action} did not wait for the cleaner"
            assert api.inspect(c["id"])["state"]["status"] in ("starting", "removing")  # claimed
        finally:
            os.close(fd)  # the cleaner is done
        call.join(20)
        if action == "start":
            assert out["r"].status_code == 200, out["r"].text
            assert api.wait(c["id"])["exit_code"] == 0
            assert api.logs(c["id"]) == b"run\n"  # the second run saw the first one's file
            exit_json = os.path.join(api.root, "containers", c["id"], "exit.json")
        else:
            assert out["r"].status_code == 204, out["r"].text
            assert not os.path.exists(os.path.join(api.root, "containers", c["id"]))


def test_restarts_right_after_each_exit_keep_their_root(api):
    """Back-to-back runs of one container, each started as soon as the last one's exit is
    recorded (its cleaner may still be unmounting): every run finds the files of the
    runs before it."""
    c = api.run(cmd=["sh", "-c", "touch /runs; wc -l < /runs; echo >> /runs"])
    assert api.wait(c["id"])["exit_code"] == 0
    for _ in range(8):
        r = api.api("POST", f"/api/containers/{c['id']}/start/")
        assert r.status_code == 200, r.text
        assert api.wait(c["id"])["exit_code"] == 0
    lines = api.logs(c["id"]).split()
    assert [int(x) for x in lines] == list(range(9)), lines
