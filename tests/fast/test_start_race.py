"""lifecycle.start against a concurrent start (issue 12, point 9): the loser waits for the
winner's outcome and answers 304 when it runs, starts itself when it did not, 409 only
when something else (a removal) holds the container."""

from __future__ import annotations

import pytest

from containers import lifecycle
from containers.engine.errors import IllegalTransition, NotModified
from containers.engine.state import State
from containers.models import Container

SPEC = {"image": "busybox", "cmd": ["sleep", "1000"]}


def _after_a_while(monkeypatch, then) -> None:
    """The winner's outcome lands while the loser sleeps (its first poll)."""
    calls = []

    def sleep(_s: float) -> None:
        calls.append(1)
        if len(calls) == 1:
            then()

    monkeypatch.setattr(lifecycle.time, "sleep", sleep)


def test_a_start_seeing_starting_waits_and_answers_not_modified_when_it_runs(
        fake, make, monkeypatch):
    c = make(State.STARTING, spec=SPEC, supervisor_pid=None)
    _after_a_while(monkeypatch, lambda: Container.objects.filter(pk=c.id).update(state="running"))
    with pytest.raises(NotModified):
        lifecycle.start(c.id)
    assert fake.called("start") == []


def test_a_start_seeing_a_failed_concurrent_start_starts_itself(fake, make, monkeypatch):
    c = make(State.STARTING, spec=SPEC, supervisor_pid=None)
    _after_a_while(monkeypatch, lambda: Container.objects.filter(pk=c.id).update(
        state="exited", exit_code=128, error="start failed"))
    assert lifecycle.start(c.id).status == State.RUNNING
    assert fake.called("start") == [("start", c.id)]


def test_a_claim_lost_to_a_start_that_already_ran_is_not_modified(fake, make, monkeypatch):
    c = make(State.CREATED, spec=SPEC)
    real = Container.transition

    def lose(cid, target, action, **kw):  # the winner claimed and finished in between
        Container.objects.filter(pk=cid).update(state="running")
        monkeypatch.setattr(Container, "transition", real)
        return real(cid, target, action, **kw)

    monkeypatch.setattr(Container, "transition", lose)
    fake.running(c.id)
    with pytest.raises(NotModified):
        lifecycle.start(c.id)
    assert fake.called("start") == []


def test_a_claim_lost_to_a_removal_is_a_conflict(fake, make, monkeypatch):
    c = make(State.CREATED, spec=SPEC)
    real = Container.transition

    def lose(cid, target, action, **kw):
        Container.objects.filter(pk=cid).update(state="removing")
        return real(cid, target, action, **kw)

    monkeypatch.setattr(Container, "transition", lose)
    with pytest.raises(IllegalTransition):
        lifecycle.start(c.id)
