"""lifecycle.record_exit: the record agrees with the engine once a supervisor is gone."""

from __future__ import annotations

from datetime import UTC, datetime

from containers import lifecycle
from containers.engine.state import State
from containers.models import Container, Endpoint, Event


def _actions(cid: str) -> list[str]:
    return list(Event.objects.filter(actor_id=cid).order_by("seq").values_list("action", flat=True))


def test_an_exit_is_recorded_with_its_code_time_and_one_die_event(fake, make, endpoint_of):
    c = make(State.RUNNING)
    endpoint_of(c)
    fake.exited(c.id, 3)
    got = lifecycle.record_exit(c.id)
    assert (got.status, got.exit_code, got.oom_killed, got.paused) == (State.EXITED, 3, False, False)
    assert got.finished_at == datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    die = Event.objects.get(actor_id=c.id)
    assert (die.action, die.attributes["exitCode"]) == ("die", "3")
    assert not Endpoint.objects.filter(container_id=c.id).exists()  # the address is released
    assert fake.called("reap_dead") == []
    lifecycle.record_exit(c.id)  # idempotent: nothing more happens
    assert _actions(c.id) == ["die"]


def test_an_oom_kill_is_recorded_and_announced_before_the_die(fake, make):
    c = make(State.STOPPING)
    fake.exited(c.id, 137, oom_killed=True, error="")
    got = lifecycle.record_exit(c.id)
    assert (got.status, got.exit_code, got.oom_killed) == (State.EXITED, 137, True)
    assert _actions(c.id) == ["oom", "die"]


def test_a_vanished_supervisor_makes_the_container_dead_and_is_reaped(fake, make):
    c = make(State.RUNNING)
    fake.dead(c.id, "supervisor (pid 100) vanished without recording an exit status")
    got = lifecycle.record_exit(c.id)
    assert (got.status, got.exit_code) == (State.DEAD, -1)
    assert got.error.startswith("supervisor (pid 100) vanished")
    assert fake.called("reap_dead") == [("reap_dead", c.id)]
    die = Event.objects.get(actor_id=c.id)
    assert die.attributes["exitCode"] == "-1" and "vanished" in die.attributes["error"]


def test_nothing_on_the_host_and_no_exit_file_is_dead_too(fake, make):
    c = make(State.RUNNING)  # the fake answers "absent"
    got = lifecycle.record_exit(c.id)
    assert got.status == State.DEAD and "no supervisor and no exit record" in got.error


def test_a_report_about_an_older_supervisor_is_ignored(fake, make):
    c = make(State.RUNNING, supervisor_pid=200)  # restarted since supervisor 100 ended
    fake.exited(c.id, 0)
    got = lifecycle.record_exit(c.id, supervisor_pid=100)
    assert (got.status, got.exit_code) == (State.RUNNING, None)
    assert _actions(c.id) == []


def test_a_running_container_is_left_alone(fake, make):
    c = make(State.RUNNING)
    fake.running(c.id)
    assert lifecycle.record_exit(c.id).status == State.RUNNING
    assert _actions(c.id) == []


def test_a_starting_record_is_settled_only_at_boot(fake, make):
    c = make(State.STARTING, supervisor_pid=None)
    fake.exited(c.id, 1)
    assert lifecycle.record_exit(c.id).status == State.STARTING  # the start call in flight owns it
    got = lifecycle.record_exit(c.id, settle_starting=True)
    assert (got.status, got.exit_code) == (State.EXITED, 1)


def test_inactive_and_unknown_records_are_returned_unchanged(fake, make):
    c = make(State.EXITED, exit_code=4)
    fake.exited(c.id, 9)
    assert lifecycle.record_exit(c.id).exit_code == 4
    assert lifecycle.record_exit("f" * 64) is None


def test_auto_remove_deletes_the_record_after_the_die(fake, make):
    c = make(State.RUNNING, spec={"auto_remove": True})
    fake.exited(c.id, 0)
    assert lifecycle.record_exit(c.id) is None
    assert not Container.objects.filter(pk=c.id).exists()
    assert fake.called("remove") == [("remove", c.id)]
    assert _actions(c.id) == ["die", "destroy"]


def test_a_failed_auto_remove_leaves_a_dead_record_with_the_reason(fake, make):
    from containers.engine.errors import EngineError

    c = make(State.RUNNING, spec={"auto_remove": True})
    fake.exited(c.id, 0)
    fake.remove_error = EngineError("device busy")
    got = lifecycle.record_exit(c.id)
    assert got.status == State.DEAD and got.error == "removal failed: device busy"
    assert _actions(c.id) == ["die"]


def test_auto_remove_waits_for_the_wait_that_reports_the_exit(fake, make, monkeypatch):
    """dockerd's order: the waiter gets the status, then the container goes; until then it
    stays readable (docker-py reads logs and inspects between start and wait)."""
    from datetime import timedelta

    from django.utils import timezone as djtz

    from containers import events

    monkeypatch.setattr(lifecycle, "AUTO_REMOVE_GRACE", 3600)  # the timer never fires here
    c = make(State.RUNNING, spec={"auto_remove": True})
    created = make(State.CREATED, spec={"auto_remove": True})
    since = events.latest_seq()
    fake.exited(c.id, 3)
    assert lifecycle.record_exit(c.id).status == State.EXITED  # still there
    assert lifecycle.wait_check(created.id, "removed", since) is None  # never started: kept
    assert Container.objects.filter(pk=created.id).exists()
    got = lifecycle.wait_check(c.id, "next-exit", since)
    assert (got.exit_code, got.container) == (3, None)
    assert not Container.objects.filter(pk=c.id).exists()
    assert _actions(c.id) == ["die", "destroy"]
    # a wait that begins after the removal still reports the exit code
    assert lifecycle.wait_check(c.id, "not-running", since).exit_code == 3
    # the reconcile removes one whose timer was lost (a worker restart), after the grace
    d = make(State.RUNNING, spec={"auto_remove": True})
    fake.exited(d.id, 0)
    lifecycle.record_exit(d.id)
    Container.objects.filter(pk=d.id).update(finished_at=djtz.now())
    lifecycle.reconcile()
    assert Container.objects.filter(pk=d.id).exists()
    Container.objects.filter(pk=d.id).update(finished_at=djtz.now() - timedelta(hours=2))
    lifecycle.reconcile()
    assert not Container.objects.filter(pk=d.id).exists()
