"""The worker's verbs (stop, kill, pause, remove) against the FakeEngine: state transitions,
engine calls and events, without a container."""

from __future__ import annotations

import signal

import pytest

from containers import lifecycle
from containers.engine.errors import Conflict, NotModified
from containers.engine.state import State
from containers.models import Container, Event


def _actions(cid: str) -> list[str]:
    return list(Event.objects.filter(actor_id=cid).order_by("seq").values_list("action", flat=True))


def test_stop_signals_waits_and_records_the_exit(fake, make):
    c = make(State.RUNNING)
    fake.running(c.id)
    got = lifecycle.stop(c.id, timeout=2)
    assert (got.status, got.exit_code) == (State.EXITED, 143)
    assert fake.called("stop") == [("stop", c.id, 2.0, signal.SIGTERM)]
    assert _actions(c.id) == ["die", "stop"]
    with pytest.raises(NotModified):
        lifecycle.stop(c.id)


def test_a_paused_container_is_thawed_before_it_is_signalled(fake, make):
    c = make(State.RUNNING, paused=True)
    fake.running(c.id)
    lifecycle.kill(c.id, "KILL")
    assert [x[0] for x in fake.calls] == ["freeze", "kill", "force_kill"]
    assert fake.calls[0] == ("freeze", c.id, False)
    got = Container.objects.get(pk=c.id)
    assert (got.status, got.exit_code, got.paused) == (State.EXITED, 137, False)
    assert _actions(c.id) == ["kill", "die"]


def test_kill_of_a_container_that_does_not_run_is_a_conflict(fake, make):
    c = make(State.EXITED, exit_code=0)
    with pytest.raises(Conflict):
        lifecycle.kill(c.id)


def test_pause_and_unpause(fake, make):
    c = make(State.RUNNING)
    fake.running(c.id)
    assert lifecycle.pause(c.id, True).paused
    with pytest.raises(Conflict):
        lifecycle.pause(c.id, True)
    assert not lifecycle.pause(c.id, False).paused
    assert fake.called("freeze") == [("freeze", c.id, True), ("freeze", c.id, False)]
    assert _actions(c.id) == ["pause", "unpause"]


def test_remove_refuses_a_running_container_unless_forced(fake, make):
    c = make(State.RUNNING)
    fake.running(c.id)
    with pytest.raises(Conflict):
        lifecycle.remove(c.id)
    lifecycle.remove(c.id, force=True)
    assert not Container.objects.filter(pk=c.id).exists()
    assert [x[0] for x in fake.calls] == ["force_kill", "remove"]
    assert _actions(c.id) == ["kill", "die", "destroy"]


def test_remove_drops_the_rules_then_the_rows_with_the_record(fake, make, endpoint_of):
    """A removed container's NAT rules go first (its port rows say it has some), then its
    address and port rows with the record: each table once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from containers.models import Endpoint, PortBinding

    c = make(State.EXITED, exit_code=0)
    endpoint_of(c)
    PortBinding.objects.create(container=c, host_port=40080, proto="tcp", container_port=80)
    other = make(State.EXITED, exit_code=0)
    endpoint_of(other)
    with CaptureQueriesContext(connection) as q:
        lifecycle.remove(c.id)
    assert fake.host_network.calls[-1][0] == "remove" and fake.host_network.calls[-1][2] == c.id
    deletes = [x["sql"] for x in q.captured_queries if x["sql"].startswith("DELETE")]
    for table in (Endpoint._meta.db_table, PortBinding._meta.db_table):
        assert sum(f'"{table}"' in d for d in deletes) == 1, deletes
    assert not Endpoint.objects.filter(container_id=c.id).exists()
    assert not PortBinding.objects.filter(container_id=c.id).exists()
    assert Endpoint.objects.filter(container_id=other.id).count() == 1
