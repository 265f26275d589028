"""Pure-logic tests of engine modules (no LXC, no database)."""

from __future__ import annotations

import json
import os
import re

import pytest

from containers.engine import signals, state
from containers.engine.confine.capabilities import DOCKER_DEFAULT
from containers.engine.errors import CommandNotFound, IllegalTransition, InvalidArgument
from containers.engine.fs import inroot
from containers.engine.layout import Layout
from containers.engine.run import command, lxcconf, supervision, users
from containers.engine.run import logfile as logs
from containers.engine.run.exec import ExecPaths
from containers.engine.spec import ContainerSpec, parse_port
from containers.engine.state import State


# ---- state machine ------------------------------------------------------------------------
def test_legal_and_illegal_transitions():
    assert state.can(State.CREATED, State.STARTING)
    assert state.can(State.RUNNING, State.STOPPING)
    assert not state.can(State.CREATED, State.RUNNING)
    assert not state.can(State.REMOVING, State.STARTING)
    with pytest.raises(IllegalTransition, match="cannot start container: it is removing"):
        state.check(State.REMOVING, State.STARTING, "start")
    assert state.sources(State.STARTING) == {State.CREATED, State.EXITED, State.DEAD}
    assert state.sources(State.REMOVING) == {State.CREATED, State.EXITED, State.DEAD}


def test_every_state_reaches_dead_or_is_terminal():
    for s in State:
        assert s == State.DEAD or State.DEAD in state.TRANSITIONS[s] or s == State.REMOVING


# ---- spec validation ----------------------------------------------------------------------
def spec(**kw):
    return ContainerSpec(image="busybox", **kw).validated()


@pytest.mark.parametrize("kw", [
    {"env": ["A=1\nlxc.cap.drop = all"]},
    {"env": ["A=1\rB"]},
    {"env": ["=value"]},
    {"env": ["NO EQ"]},  # a bare key is fine (Docker: unset), but it must be a key
    {"hostname": "a\nb"},
    {"hostname": "-leading"},
    {"user": "root\nlxc.x=1"},
    {"working_dir": "/a\nlxc.x=1"},
    {"working_dir": "rel"},
    {"memory": 5},
    {"memory": 10 << 20, "memory_swap": 1 << 20},
    {"memory_swap": 1 << 30},
    {"memory": True},
    {"cmd": ["a\x00b"]},
    {"ports": ["70000"]},
    {"tty": "yes"},
])
def test_spec_rejects(kw):
    with pytest.raises(InvalidArgument):
        spec(**kw)


def test_spec_swap_semantics_of_the_seed():
    assert spec(memory=32 << 20).swap_limit == 64 << 20
    assert spec(memory=32 << 20, memory_swap=-1).swap_limit == 0
    assert spec(memory=32 << 20, memory_swap=48 << 20).swap_limit == 48 << 20
    assert spec().swap_limit == 0


def test_parse_port_forms():
    assert parse_port("80") == {"ip": "", "public": 0, "private": 80, "proto": "tcp"}
    assert parse_port("8080:80") == {"ip": "", "public": 8080, "private": 80, "proto": "tcp"}
    assert parse_port("127.0.0.1:8080:80")["ip"] == "127.0.0.1"
    assert parse_port("53/udp")["proto"] == "udp"
    for bad in ("", "x", "80/sctp", "1:2:3:4", "0"):
        with pytest.raises(InvalidArgument):
            parse_port(bad)


# ---- LXC config rendering -----------------------------------------------------------------
def params(**kw):
    base = dict(hostname="h", rootfs="/r", log_file="/l", cgroup_container="p/c/payload",
                cgroup_monitor="p/c.monitor", working_dir="/", uid=0, gid=0,
                environment=["PATH=/bin", "X=a = b # not a key"], seccomp_profile="/s",
                capabilities=DOCKER_DEFAULT)
    base.update(kw)
    return lxcconf.LxcParams(**base)


def test_render_keeps_user_values_on_their_own_line():
    text = lxcconf.render(params())
    assert "lxc.environment = X=a = b # not a key\n" in text
    keys = [line.split(" = ")[0] for line in text.splitlines() if line and not line.startswith("#")]
    assert all(k.startswith("lxc.") for k in keys)
    assert "lxc.cap.keep = audit_write chown dac_override" in text and "sys_admin" not in text
    assert "lxc.seccomp.profile = /s\n" in text and "lxc.no_new_privs = 1\n" in text
    assert "lxc.cgroup.devices.deny = a" in text


@pytest.mark.parametrize("kw", [
    {"hostname": "h\nlxc.rootfs.path = /"},
    {"environment": ["A=b\nlxc.init.uid = 0"]},
    {"environment": ["lxc.x"]},
    {"working_dir": "/\rx"},
    {"network": ["lxc.apparmor.profile = unconfined"]},
    {"rootfs": "/with space"},
])
def test_render_refuses_injection(kw):
    with pytest.raises(InvalidArgument):
        lxcconf.render(params(**kw))


def test_render_needs_every_value():
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        lxcconf._env.get_template("lxc.conf.j2").render(hostname="h")


# ---- paths inside a root ------------------------------------------------------------------
def test_inroot_never_leaves_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("inside")
    (root / "x").write_text("x")
    os.symlink("/etc/shadow", root / "etc" / "evil")
    os.symlink("../../../../..", root / "up")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    assert inroot.read_text(str(root), "/etc/evil") == "inside"
    assert inroot.read_text(str(root), "/up/etc/shadow") == "inside"
    assert inroot.read_text(str(root), "../../x") == "x"
    assert inroot.read_text(str(root), "/up/etc/hostname") is None  # not the host's
    root_fd = inroot.open_root(str(root))
    try:
        with pytest.raises(OSError):
            inroot.open_path(root_fd, "/loop1")
        fd, made = inroot.make_dirs(root_fd, "/up/new/dir")
        os.close(fd)
        assert made and (root / "new" / "dir").is_dir()
        with pytest.raises(InvalidArgument):
            inroot.make_dirs(root_fd, "/x/y")
    finally:
        os.close(root_fd)


def test_users_resolve(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\n")
    r = str(tmp_path)
    assert users.resolve(r, "") == users.ResolvedUser(0, 0, "/root")
    assert users.resolve(r, "app") == users.ResolvedUser(1000, 1001, "/home/app")
    assert users.resolve(r, "1000") == users.ResolvedUser(1000, 1001, "/home/app")
    assert users.resolve(r, "4242") == users.ResolvedUser(4242, 0, "/")
    assert users.resolve(r, "app:staff").gid == 50
    assert users.resolve(r, "app:77").gid == 77
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        users.resolve(r, "ghost")
    with pytest.raises(InvalidArgument, match="unable to find group nogroup"):
        users.resolve(r, "app:nogroup")


def test_command_check(tmp_path):
    (tmp_path / "bin").mkdir()
    exe = tmp_path / "bin" / "tool"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (tmp_path / "bin" / "data").write_text("x")
    os.symlink("/bin/tool", tmp_path / "bin" / "alias")
    r = str(tmp_path)
    command.check(r, "tool", "/usr/bin:/bin", "/")
    command.check(r, "alias", "/bin", "/")
    command.check(r, "/bin/tool", "", "/")
    command.check(r, "../bin/tool", "", "/bin")
    with pytest.raises(CommandNotFound) as err:
        command.check(r, "missing", "/bin", "/")
    assert command.exit_code_of(err.value) == 127
    with pytest.raises(CommandNotFound) as err:
        command.check(r, "data", "/bin", "/")
    assert command.exit_code_of(err.value) == 126


# ---- signals and logs ---------------------------------------------------------------------
def test_signal_parsing():
    assert signals.parse("KILL") == 9
    assert signals.parse("sigterm") == 15
    assert signals.parse("1") == 1
    assert signals.parse(None) == 9
    for bad in ("NOPE", "0", "999", "-1"):
        with pytest.raises(InvalidArgument):
            signals.parse(bad)


def test_log_reading_filters_and_torn_lines(tmp_path):
    path = tmp_path / "container.log"
    recs = [
        {"log": "a\n", "stream": "stdout", "time": "2026-01-01T00:00:01.000000000Z"},
        {"log": "b\n", "stream": "stderr", "time": "2026-01-01T00:00:02.500000000Z"},
        {"log": "\udcff\n", "stream": "stdout", "time": "2026-01-01T00:00:03.000000000Z"},
    ]
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
        f.write('{"log": "torn')  # a record being written
    got, end = logs.read(str(path), logs.LogQuery())
    assert [r.data for r in got] == [b"a\n", b"b\n", b"\xff\n"]
    assert end == path.read_bytes().rindex(b"\n") + 1
    assert [r.data for r in logs.read(str(path), logs.LogQuery(stderr=False))[0]] == [b"a\n", b"\xff\n"]
    assert [r.data for r in logs.read(str(path), logs.LogQuery(tail=1))[0]] == [b"\xff\n"]
    assert logs.read(str(path), logs.LogQuery(tail=0))[0] == []
    since = logs.parse_time("2026-01-01T00:00:02Z")
    assert [r.data for r in logs.read(str(path), logs.LogQuery(since=since))[0]] == [b"b\n", b"\xff\n"]
    until = logs.parse_time("2026-01-01T00:00:02.5Z")
    assert len(logs.read(str(path), logs.LogQuery(until=until))[0]) == 2


def test_logs_follow_holds_the_file_from_the_call(tmp_path):
    """follow() opens the log when called: the container's removal before the first read
    (docker-py's run(remove=True) reads the stream after removing) loses no line."""
    path = tmp_path / "container.log"
    path.write_text(json.dumps({"log": "last words\n", "stream": "stdout",
                                "time": "2026-01-01T00:00:00Z"}) + "\n")
    records = logs.follow(str(path), logs.LogQuery(), lambda: True, poll_s=0.01)
    os.unlink(path)
    assert [r.data for r in records] == [b"last words\n"]


# ---- supervisor spec --------------------------------------------------------------------------
def _supervisor_keys() -> set[str]:
    """Every spec key supervisor.c knows: its scalar key table and the repeated keys."""
    with open(supervision.SOURCE) as f:
        source = f.read()
    table = source[source.index("STRING_KEYS[] = {"):].split("};", 1)[0]
    lists = set(re.findall(r'strcmp\(key, "(\w+)"\) == 0', source))
    return set(re.findall(r'"(\w+)"', table)) | lists


def _container_spec(tmp_path) -> supervision.SupervisorSpec:
    return supervision.SupervisorSpec.container(
        Layout(str(tmp_path)).container("c" * 64), ["lxc-execute", "-n", "c", "--", "true"],
        tty=True, open_stdin=True, stdin_once=False, console_size=[40, 120],
        memory_cgroup="/sys/fs/cgroup/memory/x/c",
        cgroup_limits=[("/sys/fs/cgroup/pids/x/c", "pids.max", 100)],
        cgroup_dirs=["/sys/fs/cgroup/memory/x/c"], preload="/lib/initconfine.so",
        host_veths=("dwcccccccccccc", "dwcccccccccci01"))


def test_supervisor_spec_round_trips_with_every_key_the_supervisor_reads(tmp_path):
    container = _container_spec(tmp_path)
    execspec = supervision.SupervisorSpec.exec(
        ExecPaths(str(tmp_path / "e")), ["lxc-attach", "--", "sh", "", "a=b\tc é"], tty=False,
        open_stdin=True, console_size=[])
    written = {f.decode() for f in container.to_bytes().split(b"\0")[1::2]}  # keys, roughly
    assert _supervisor_keys() == {k for k, _ in container._items()} <= written | {"cgroup_limit"}
    for spec in (container, execspec):
        assert supervision.SupervisorSpec.from_bytes(spec.to_bytes()) == spec
    assert execspec.stdin_once and not execspec.preload and not execspec.rootfs  # container-only
    assert execspec.mode == "exec" and container.mode == "container"
    assert container.console_size == (40, 120) and container.argv[0] == "lxc-execute"


@pytest.mark.parametrize("mangle", [
    lambda raw: raw.replace(supervision.SPEC_MAGIC, b"dockerweb-supervisor-spec 2"),
    lambda raw: raw[:-1],  # the last field is not terminated
    lambda raw: raw + b"tty\x001\0",  # a scalar twice
    lambda raw: raw + b"nonsense\0x\0",
    lambda raw: raw.replace(b"log_max_file\x005", b"log_max_file\x000"),
    lambda raw: raw.replace(b"\0console_size\x0040\0", b"\0"),  # only cols
    lambda raw: raw.replace(b"\0mode\0container\0", b"\0mode\0exec\0"),  # exec with cgroups
    lambda raw: raw.replace(b"\0tty\x001\0", b"\0tty\0yes\0"),
    lambda raw: raw + b"cgroup_limit\0/sys/fs/cgroup/x\0pids.max\0",  # two values of three
    lambda raw: raw + b"host_veth\0dw0,eth0\0",  # not an interface name
])
def test_supervisor_spec_reader_refuses_malformed_specs(tmp_path, mangle):
    """from_bytes is the Python reader of the rules supervisor.c applies
    (tests/test_supervisor_binary.py feeds the same files to the real binary)."""
    spec = supervision.SupervisorSpec(**{**_container_spec(tmp_path).__dict__, "log_max_file": 5})
    raw = mangle(spec.to_bytes())
    with pytest.raises(InvalidArgument):
        supervision.SupervisorSpec.from_bytes(raw)


def test_supervisor_spec_writer_refuses_what_the_supervisor_would(tmp_path):
    good = _container_spec(tmp_path)
    for change in ({"argv": ("sh", "a\0b")}, {"argv": ()}, {"log_path": "relative.log"},
                   {"console_size": (24,)}, {"mode": "exec"}, {"log_max_file": 0},
                   {"cgroup_limits": (("/sys/fs/cgroup/x", "a/b", 1),)}):
        with pytest.raises(InvalidArgument):
            supervision.SupervisorSpec(**{**good.__dict__, **change}).to_bytes()


def test_log_follower_torn_lines_late_file_and_removal(tmp_path):
    """Follower: a torn line is completed by a later poll; a file created after the
    Follower is found; a file removed after it was opened is still read to the end."""
    path = tmp_path / "output.log"

    def line(text: str) -> str:
        return json.dumps({"log": text, "stream": "stdout", "time": "2026-01-01T00:00:00Z"}) + "\n"

    late = logs.Follower(str(path), logs.LogQuery())
    assert list(late.existing()) == [] and not late.pending() and late.poll() == ([], False)
    whole = line("one\n")
    path.write_text(whole[:10])
    assert late.pending() and late.poll() == ([], True)  # torn: nothing yet
    with open(path, "a") as f:
        f.write(whole[10:] + line("two\n"))
    records, got = late.poll()
    assert got and [r.data for r in records] == [b"one\n", b"two\n"]
    late.close()

    held = logs.Follower(str(path), logs.LogQuery(tail=1))
    with open(path, "a") as f:
        f.write(line("three\n"))
    os.unlink(path)
    assert [r.data for b in held.existing() for r in b] == [b"three\n"]  # tail applies to what exists
    assert held.poll() == ([], False)
    held.close()


def test_log_follow_batches_hold_the_file_from_the_call(tmp_path):
    """The websocket follow (containers.logs.follow_batches) opens the log when called, like
    engine.run.logfile.follow: a --rm container removed before the first read loses no line."""
    import asyncio

    from containers import logs as logservice

    path = tmp_path / "container.log"
    path.write_text(json.dumps({"log": "last words\n", "stream": "stdout",
                                "time": "2026-01-01T00:00:00Z"}) + "\n")

    async def done() -> bool:
        return True

    batches = logservice.follow_batches(str(path), logs.LogQuery(), done)
    os.unlink(path)

    async def collect() -> list[list[logs.Record]]:
        return [b async for b in batches]

    assert [[r.data for r in b] for b in asyncio.run(collect())] == [[b"last words\n"]]
