"""Restart policies: engine/restart.py's decisions (Docker's restart manager) and the
records' side (containers/restarts.py, through lifecycle.record_exit and the verbs)."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone as djtz

from containers import lifecycle, restarts
from containers.engine import restart
from containers.engine.errors import InvalidArgument
from containers.engine.state import State
from containers.models import Container, Event


@pytest.mark.parametrize("previous, ran_for, expected", [
    (0, 0.0, 100), (100, 0.5, 200), (200, 9.9, 400), (32_000, 1.0, 60_000), (60_000, 1.0, 60_000),
    (6_400, 10.0, 100),  # a run of 10 s starts the back-off again
])
def test_back_off_doubles_from_100_ms_to_a_minute(previous, ran_for, expected):
    assert restart.next_delay(previous, ran_for) == expected


@pytest.mark.parametrize("name, retries, code, count, stopped, restarts_", [
    ("no", 0, 1, 0, False, False),
    ("always", 0, 0, 50, False, True),
    ("unless-stopped", 0, 0, 0, False, True),
    ("always", 0, 1, 0, True, False),  # a user's stop
    ("unless-stopped", 0, 1, 0, True, False),
    ("on-failure", 0, 0, 0, False, False),  # success
    ("on-failure", 0, 3, 99, False, True),  # no maximum
    ("on-failure", 3, 3, 2, False, True),
    ("on-failure", 3, 3, 3, False, False),  # the maximum reached
    ("on-failure", 3, -1, 0, False, True),  # unknown code (dead): a failure
])
def test_decisions_follow_dockers_restart_manager(name, retries, code, count, stopped, restarts_):
    assert restart.decide(name, retries, code, count, stopped, 0, 0.0).restart is restarts_


@pytest.mark.parametrize("name, retries, message", [
    ("bogus", 0, "unknown policy 'bogus'"),
    ("always", 2, "can only be used with 'on-failure'"),
    ("no", -1, "and cannot be negative"),
    ("on-failure", -1, "maximum retry count cannot be negative"),
])
def test_bad_policies_are_refused_with_dockers_messages(name, retries, message):
    with pytest.raises(InvalidArgument, match=message):
        restart.validate(name, retries)


def test_the_cli_form_is_parsed():
    assert restart.parse("on-failure:5") == ("on-failure", 5)
    assert restart.parse("always") == ("always", 0)
    with pytest.raises(InvalidArgument):
        restart.parse("on-failure:x")


def _policy(name: str, retries: int = 0) -> dict:
    return {"image": "busybox", "restart_policy": name, "restart_max_retries": retries}


def test_an_exit_schedules_the_restart_and_counts_it(fake, make):
    c = make(State.RUNNING, spec=_policy("on-failure", 2), started_at=djtz.now())
    fake.exited(c.id, 3)
    before = djtz.now()
    got = lifecycle.record_exit(c.id)
    assert got.status == State.EXITED and got.restart_count == 1 and got.restart_delay_ms == 100
    assert before + timedelta(milliseconds=90) <= got.restart_at <= djtz.now() + timedelta(milliseconds=110)
    assert got.exit_reason == "the command exited with code 3"
    die = Event.objects.get(actor_id=c.id, action="die")
    assert die.attributes["reason"] == got.exit_reason and die.attributes["execDuration"] == "0"
    assert restarts.due(got.restart_at) == [(c.id, got.restart_at)]
    assert restarts.due(got.restart_at - timedelta(milliseconds=1)) == []


def test_the_claim_is_taken_once_and_the_restart_starts_it(fake, make):
    c = make(State.EXITED, spec=_policy("always"), restart_at=djtz.now())
    at = Container.objects.get(pk=c.id).restart_at
    assert restarts.claim(c.id, at) and not restarts.claim(c.id, at)
    assert Container.objects.get(pk=c.id).status == State.STARTING  # the claim begins the start
    Container.objects.filter(pk=c.id).update(restart_at=at, state=State.EXITED.value)
    got = lifecycle.restart_by_policy(c.id, at)
    assert got.status == State.RUNNING and got.restart_at is None
    assert lifecycle.restart_by_policy(c.id, at) is None  # already taken


def _claimed_restart(make):
    """A policy restart the worker has claimed and not yet run: (record, its `before`)."""
    c = make(State.EXITED, spec=_policy("always"), restart_at=djtz.now(), exit_code=3)
    rec = Container.objects.get(pk=c.id)
    before = lifecycle._before_start(rec)
    assert restarts.claim(c.id, rec.restart_at, **lifecycle.START_CLEARS)
    return rec, before


def _start_runs_while_waited_for(monkeypatch, cid, before) -> list:
    """The worker's claimed start runs to its end the first time a verb waits for it."""
    done = []

    def sleep(_seconds: float) -> None:
        if not done:
            done.append(lifecycle._launch(Container.objects.get(pk=cid), before))

    monkeypatch.setattr(lifecycle, "time", SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    return done


def test_a_forced_removal_after_a_restarts_claim_waits_for_it_and_wins(fake, make, monkeypatch):
    """docker rm -f while the policy restart is claimed: the removal sees it starting, waits
    for that start, kills what it started and removes it (it was a 409 when the claim and the
    start were two steps and the removal read the record between them)."""
    c, before = _claimed_restart(make)
    started = _start_runs_while_waited_for(monkeypatch, c.id, before)
    lifecycle.remove(c.id, force=True)
    assert started and started[0].status == State.RUNNING
    assert not Container.objects.filter(pk=c.id).exists()
    assert [e.action for e in Event.objects.filter(actor_id=c.id)][-3:] == ["kill", "die", "destroy"]


def test_a_stop_after_a_restarts_claim_stops_what_it_started(fake, make, monkeypatch):
    """docker stop while the policy restart is claimed: not "already stopped" with the
    container then running; the stop waits for the start and stops it."""
    c, before = _claimed_restart(make)
    started = _start_runs_while_waited_for(monkeypatch, c.id, before)
    got = lifecycle.stop(c.id, timeout=0)
    assert started and (got.status, got.stopped_by, got.restart_at) == (State.EXITED, "stop", None)


def test_the_maximum_ends_the_loop(fake, make):
    c = make(State.RUNNING, spec=_policy("on-failure", 1), restart_count=1)
    fake.exited(c.id, 3)
    got = lifecycle.record_exit(c.id)
    assert got.restart_at is None and got.restart_count == 1


def test_a_users_stop_cancels_and_holds_until_the_users_start(fake, make):
    c = make(State.EXITED, spec=_policy("always"), restart_at=djtz.now() + timedelta(seconds=5),
             restart_count=4, restart_delay_ms=1600)
    got = lifecycle.stop(c.id)  # restarting: Docker's stop answers 204, not 304
    assert got.restart_at is None and got.stopped_by == "stop"
    assert restarts.claim(c.id, djtz.now()) is False
    assert restarts.reschedule_lost() == []  # the user's stop holds across a worker boot
    lifecycle.start_by_user(c.id)
    got = Container.objects.get(pk=c.id)
    assert (got.status, got.stopped_by, got.restart_count, got.restart_delay_ms) == (
        State.RUNNING, "", 0, 0)


def test_a_stop_of_a_running_container_is_the_users(fake, make):
    c = make(State.RUNNING, spec=_policy("unless-stopped"))
    fake.running(c.id)
    got = lifecycle.stop(c.id)  # the fake records exit 143
    assert got.status == State.EXITED and got.restart_at is None
    assert got.exit_reason == "stopped by the user"


def test_boot_reschedules_a_restart_lost_with_a_worker(fake, make):
    lost = make(State.EXITED, spec=_policy("unless-stopped"))
    make(State.EXITED, spec=_policy("on-failure"))  # only always and unless-stopped
    make(State.EXITED, spec=_policy("always"), stopped_by="kill")
    assert restarts.reschedule_lost() == [lost.id]


def test_stop_timeout_is_the_default_wait(fake, make):
    c = make(State.RUNNING, spec={"image": "busybox", "stop_timeout": 3})
    assert lifecycle.stop_wait(c, None) == 3 and lifecycle.stop_wait(c, 1) == 1
    c.spec["stop_timeout"] = -1
    assert lifecycle.stop_wait(c, None) == lifecycle.NO_LIMIT_WAIT
    assert lifecycle.stop_wait(make(State.RUNNING), None) == 10


def test_a_restarting_container_is_removed_only_by_force(fake, make):
    from containers.engine.errors import Conflict

    c = make(State.EXITED, spec=_policy("always"), restart_at=djtz.now())
    with pytest.raises(Conflict, match="You cannot remove a restarting container"):
        lifecycle.remove(c.id)
    lifecycle.remove(c.id, force=True)
    assert not Container.objects.filter(pk=c.id).exists()
