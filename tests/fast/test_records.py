"""Guards of the records, on the test database (pure logic: no LXC). The exit of a run must
never be written over a newer run: a watcher's late report must lose against a restart."""

from __future__ import annotations

import pytest

from containers.engine.state import IllegalTransition, State
from containers.models import Container, Image


@pytest.fixture
def record(db):
    img = Image.objects.create(id="a" * 64)
    return Container.objects.create(id="c" * 64, name="guarded", image=img, image_ref="x", spec={},
                                    hostname="h", host="here", state=State.RUNNING.value,
                                    supervisor_pid=100)


def test_exit_of_the_judged_run_is_recorded(record):
    Container.transition(record.id, State.EXITED, "record exit", sources=[State.RUNNING, State.STOPPING],
                         match={"supervisor_pid": 100}, exit_code=0)
    assert Container.objects.get(pk=record.id).state == State.EXITED.value


def test_a_late_exit_report_loses_against_a_restart(record):
    # the restart has begun: the record is starting (still naming the old supervisor)
    Container.objects.filter(pk=record.id).update(state=State.STARTING.value)
    with pytest.raises(IllegalTransition):
        Container.transition(record.id, State.EXITED, "record exit",
                             sources=[State.RUNNING, State.STOPPING], match={"supervisor_pid": 100},
                             exit_code=143)
    # ... or it already runs under a new supervisor
    Container.objects.filter(pk=record.id).update(state=State.RUNNING.value, supervisor_pid=200)
    with pytest.raises(IllegalTransition):
        Container.transition(record.id, State.EXITED, "record exit",
                             sources=[State.RUNNING, State.STOPPING], match={"supervisor_pid": 100},
                             exit_code=143)
    c = Container.objects.get(pk=record.id)
    assert (c.state, c.exit_code) == (State.RUNNING.value, None)
