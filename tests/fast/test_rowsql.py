"""containers/rowsql.py: the worker's hot-path statements in plain SQL do what the ORM's do
(same rows, same conversions), and a lifecycle's exit and removal make few, cheap ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.models.deletion import get_candidate_relations_to_delete
from django.test.utils import CaptureQueriesContext

from containers import events, lifecycle, rowsql
from containers.engine.state import State
from containers.models import (
    Container,
    Endpoint,
    Event,
    ExecRecord,
    Membership,
    Network,
    PortBinding,
    StatSample,
    Volume,
    VolumeUse,
)


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_get_reads_the_row_as_the_orm_does(make):
    c = make(State.EXITED, exit_code=3, oom_killed=True, spec={"a": [1, None], "b": "x"},
             finished_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), restart_at=None)
    got = rowsql.get(Container, c.id)
    assert _fields(got) == _fields(Container.objects.get(pk=c.id))
    assert got.oom_killed is True and got.finished_at.tzinfo is not None
    assert not got._state.adding and got._state.db == "default"
    assert rowsql.get(Container, "0" * 64) is None


def test_update_compares_none_with_is_null_and_adds_in_place(make):
    c = make(State.EXITED, restart_count=2)
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    where = {"pk": c.id, "state__in": ["exited", "dead"], "restart_at": None}
    assert rowsql.update(Container, where, {"restart_at": at, "restart_count": rowsql.Add(1),
                                            "spec": {"k": [1]}}) == 1
    c.refresh_from_db()
    assert (c.restart_at, c.restart_count, c.spec) == (at, 3, {"k": [1]})
    assert rowsql.update(Container, where, {"restart_count": 0}) == 0  # restart_at is set now
    assert rowsql.update(Container, {"pk": c.id, "state__in": []}, {"restart_count": 0}) == 0
    assert rowsql.update(Container, {"pk": c.id, "restart_at": at}, {"restart_count": 0}) == 1


def test_insert_returns_the_new_key_and_emit_builds_the_event_without_a_read(make):
    c = make(State.RUNNING)
    e = events.emit("pause", c, extra="1")
    stored = Event.objects.get(seq=e.seq)
    assert _fields(stored) == _fields(e)
    assert stored.attributes == {"extra": "1", "image": "busybox", "name": c.name}
    assert {f.attname for f in Event._meta.concrete_fields} - {"seq"} == set(events._EVENT_COLUMNS)


def test_delete_row_takes_every_dependent_row_the_collector_would(make, image):
    c, other = make(State.EXITED), make(State.EXITED)
    net = Network.objects.create(name="n1", bridge="dwt1", subnet="10.213.9.0/24", gateway="10.213.9.1")
    vol = Volume.objects.create(name="v1")
    for x in (c, other):
        Membership.objects.create(container=x, network=net)
        VolumeUse.objects.create(container=x, volume=vol, target="/v")
        ExecRecord.objects.create(id="beef" + x.id[4:], container=x)
        StatSample.objects.create(container=x, at=datetime(2026, 1, 1, tzinfo=UTC), cpu_ns=0,
                                  system_ns=0, online_cpus=1, memory=0, memory_limit=0,
                                  memory_limited=False, pids=0, net_rx=0, net_tx=0,
                                  net_rx_packets=0, net_tx_packets=0, blk_read=0, blk_write=0)
    Endpoint.objects.create(container=c, network=net, ip="10.213.9.2", prefix=24,
                            gateway="10.213.9.1", mac="02:42:0a:d5:09:02", veth="dwtveth1")
    PortBinding.objects.create(container=c, host_port=40000, proto="tcp", container_port=80)
    deps = rowsql.leaf_cascades(Container)
    assert deps is not None  # the fast path is taken: every relation is a leaf cascade
    walked = get_candidate_relations_to_delete(Container._meta)  # what the collector walks
    assert {m for m, _ in deps} == {r.related_model for r in walked}
    with transaction.atomic():
        assert rowsql.delete_row(Container, c.id) == 1
    assert not Container.objects.filter(pk=c.id).exists()
    for model in (Membership, VolumeUse, ExecRecord, StatSample, Endpoint, PortBinding):
        assert not model.objects.filter(container_id=c.id).exists(), model
        if model not in (Endpoint, PortBinding):
            assert model.objects.filter(container_id=other.id).exists(), model  # only c's
    assert Volume.objects.filter(pk=vol.pk).exists() and Network.objects.filter(pk=net.pk).exists()


def test_a_model_with_a_protecting_relation_is_left_to_the_collector():
    from containers.models import Image

    assert rowsql.leaf_cascades(Image) is None  # containers PROTECT their image


def _statements(q: CaptureQueriesContext) -> list[str]:
    """The verbs of the captured statements, without transaction control (the test runs in a
    transaction, so commits show as savepoints here)."""
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK")
    return [x["sql"].split()[0] for x in q.captured_queries if not x["sql"].startswith(control)]


def test_exit_and_removal_statements_are_few(fake, make, endpoint_of):
    """The statements an exit and a removal send (issue 13: each ORM statement cost 0.3-0.7
    ms of the worker's CPU): an exit reads the record, writes state, addresses, restart
    bookkeeping and the die event in one transaction, and reads the record it returns; a
    removal reads, claims, and deletes the rows (no collector SELECT) with its event."""
    c = make(State.RUNNING)
    endpoint_of(c)
    fake.exited(c.id, 0)
    with CaptureQueriesContext(connection) as q:
        lifecycle.record_exit(c.id)
    sql = _statements(q)
    assert sql == ["SELECT", "UPDATE", "SELECT", "DELETE", "DELETE", "UPDATE", "INSERT", "SELECT"], sql
    with CaptureQueriesContext(connection) as q:
        lifecycle.remove(c.id)
    sql = _statements(q)
    # its port rows looked for (NAT rules to drop), then its dependent rows (addresses and
    # ports among them: once each), the record and the destroy event
    assert sql == ["SELECT", "UPDATE", "SELECT",
                   *["DELETE"] * len(rowsql.leaf_cascades(Container)), "DELETE", "INSERT"], sql
    assert not Container.objects.filter(pk=c.id).exists()
    assert list(Event.objects.filter(actor_id=c.id).values_list("action", flat=True)) == ["die", "destroy"]


def test_a_users_start_claims_and_resets_in_one_update(fake, make):
    """A user's start: one read, one UPDATE that claims and resets the restart bookkeeping
    (the reset was a statement of its own), the image read, then running + start event."""

    c = make(State.EXITED, stopped_by="stop", restart_count=3, restart_delay_ms=800,
             spec={"image": "busybox", "network_mode": "none"})
    with CaptureQueriesContext(connection) as q:
        got = lifecycle.start_by_user(c.id)
    assert _statements(q) == ["SELECT", "UPDATE", "SELECT", "UPDATE", "INSERT"], _statements(q)
    claim = next(x["sql"] for x in q.captured_queries if x["sql"].startswith("UPDATE"))
    assert "'starting'" in claim and "restart_count" in claim
    stored = Container.objects.get(pk=c.id)
    assert (stored.status, stored.stopped_by, stored.restart_count, stored.restart_delay_ms) == (
        State.RUNNING, "", 0, 0)
    assert (got.stopped_by, got.restart_count) == ("", 0)


def test_a_users_start_refused_by_the_engine_still_ends_the_users_stop(fake, make):
    from containers.engine.errors import StartFailed

    c = make(State.EXITED, stopped_by="stop", restart_count=2,
             spec={"image": "busybox", "network_mode": "none"})
    fake.start_error = StartFailed("no")
    with pytest.raises(StartFailed):
        lifecycle.start_by_user(c.id)
    stored = Container.objects.get(pk=c.id)
    assert (stored.status, stored.stopped_by, stored.restart_count) == (State.EXITED, "", 0)
