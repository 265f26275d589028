"""A damaged exit.json (issue 12, point 8): the engine says "unreadable" with the reason, the
record says exited, exit code -1, "exit status unreadable: ...", and the container stays."""

from __future__ import annotations

import json

import pytest

from containers import lifecycle
from containers.engine.errors import ExitUnreadable
from containers.engine.facade import Engine, EngineConfig
from containers.engine.run import supervision
from containers.engine.run.supervision import RunState
from containers.engine.state import State
from containers.models import Container, Endpoint, Event


@pytest.fixture
def paths(tmp_path):
    eng = Engine(EngineConfig(str(tmp_path / "state"), "dwfake", pids_limit=4096))
    p = eng.layout.container_to_start("c" * 64)  # its directory and runtime directory
    return eng, p


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("data, reason", [
    (b"", "Expecting value"),
    (b'{"exit_code": 3, "finis', "Unterminated string"),
    (b"\xff\xfe junk", "codec can't decode"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"finished_at": "2026-01-01T00:00:00Z"}', "no integer exit_code"),
    (b'{"exit_code": "3"}', "no integer exit_code"),
    (b'{"exit_code": true}', "no integer exit_code"),
])
def test_read_exit_names_what_is_wrong(paths, data, reason):
    _, p = paths
    _write(p.exit, data)
    with pytest.raises(ExitUnreadable) as e:
        supervision.read_exit(p)
    assert e.value.message.startswith("exit status unreadable: ")
    assert reason in e.value.message


def test_read_exit_of_a_good_record_and_of_none(paths):
    _, p = paths
    assert supervision.read_exit(p) is None
    _write(p.exit, json.dumps({"exit_code": 3}).encode())
    assert supervision.read_exit(p) == {"exit_code": 3}


def test_status_is_unreadable_with_the_reason_and_the_last_run(paths):
    eng, p = paths
    run = RunState(supervisor_pid=2**22 + 7, supervisor_start=1, lxc_pid=2**22 + 8,
                   init_pid=2**22 + 9, init_start=1, started_at="2026-01-02T03:04:00Z")
    _write(p.state, json.dumps(run.__dict__).encode())
    _write(p.exit, b'{"exit_code": 0')
    st = eng.status("c" * 64)
    assert st.kind == "unreadable" and st.reason.startswith("exit status unreadable: ")
    assert st.run == run and st.exit is None


def test_record_exit_says_unreadable_keeps_the_container_and_releases_the_address(
        fake, make, endpoint_of):
    c = make(State.RUNNING)
    endpoint_of(c)
    fake.unreadable(c.id, "exit status unreadable: Expecting value: line 1 column 1 (char 0)")
    got = lifecycle.record_exit(c.id)
    assert (got.status, got.exit_code) == (State.EXITED, -1)
    assert got.error == "exit status unreadable: Expecting value: line 1 column 1 (char 0)"
    assert "vanished" not in got.error and got.finished_at is not None
    assert fake.called("reap_dead") == [("reap_dead", c.id)]  # leftovers only
    assert fake.called("remove") == []  # files and logs stay
    assert not Endpoint.objects.filter(container_id=c.id).exists()
    die = Event.objects.get(actor_id=c.id)
    assert (die.action, die.attributes["exitCode"]) == ("die", "-1")
    assert die.attributes["error"].startswith("exit status unreadable")
    lifecycle.record_exit(c.id)  # idempotent
    assert Event.objects.filter(actor_id=c.id).count() == 1


def test_an_unreadable_exit_of_an_auto_remove_container_still_removes_it(fake, make):
    c = make(State.RUNNING, spec={"image": "busybox", "cmd": ["true"], "auto_remove": True})
    fake.unreadable(c.id)
    lifecycle.record_exit(c.id)
    assert not Container.objects.filter(pk=c.id).exists()


def test_an_exited_container_with_an_unreadable_exit_can_start_again(fake, make):
    c = make(State.RUNNING, spec={"image": "busybox", "cmd": ["true"]})
    fake.unreadable(c.id)
    lifecycle.record_exit(c.id)
    fake.statuses.pop(c.id)
    assert lifecycle.start(c.id).status == State.RUNNING
