"""lifecycle.reconcile: the worker compares every active record on this host with reality."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings

from containers import lifecycle
from containers.engine.state import State
from containers.models import Container, Endpoint, Event


def test_boot_adopts_a_starting_container_that_runs(fake, make):
    c = make(State.STARTING, supervisor_pid=None)
    run = fake.running(c.id, supervisor_pid=300, init_pid=301)
    assert lifecycle.reconcile(boot=True) == [c.id]
    got = Container.objects.get(pk=c.id)
    assert got.status == State.RUNNING
    assert (got.supervisor_pid, got.supervisor_start, got.init_pid) == (300, run.supervisor_start, 301)
    assert got.started_at == datetime(2026, 1, 2, 3, 4, 0, 500000, tzinfo=UTC)


def test_outside_boot_a_starting_record_belongs_to_its_start_call(fake, make):
    c = make(State.STARTING, supervisor_pid=None)
    fake.exited(c.id, 0)
    assert lifecycle.reconcile() == []
    assert Container.objects.get(pk=c.id).status == State.STARTING


def test_a_container_that_ended_unseen_gets_its_exit_recorded(fake, make):
    running, ended = make(State.RUNNING), make(State.RUNNING)
    fake.running(running.id)
    fake.exited(ended.id, 5)
    assert lifecycle.reconcile() == [running.id]
    got = Container.objects.get(pk=ended.id)
    assert (got.status, got.exit_code) == (State.EXITED, 5)
    assert Event.objects.get(actor_id=ended.id).action == "die"


def test_records_of_other_hosts_and_inactive_records_are_not_looked_at(fake, make):
    other = make(State.RUNNING, host="elsewhere")
    make(State.EXITED, exit_code=0)
    assert lifecycle.reconcile(boot=True) == []
    assert Container.objects.get(pk=other.id).status == State.RUNNING  # not ours to judge


def test_boot_finishes_a_removal_that_a_crash_interrupted(fake, make):
    c = make(State.REMOVING)
    lifecycle.reconcile(boot=True)
    assert not Container.objects.filter(pk=c.id).exists()
    assert fake.called("remove") == [("remove", c.id)]
    assert Event.objects.get(actor_id=c.id).action == "destroy"


def test_boot_releases_the_addresses_of_containers_that_no_longer_run(fake, make, endpoint_of):
    running, exited = make(State.RUNNING), make(State.EXITED, exit_code=0)
    fake.running(running.id)
    endpoint_of(running)
    endpoint_of(exited)  # a crash between the exit and the release
    lifecycle.reconcile(boot=True)
    assert list(Endpoint.objects.values_list("container_id", flat=True)) == [running.id]
    assert ("sweep", settings.DOCKERWEB_NFT_TABLE, {running.id}) in fake.host_network.calls  # nft rules
