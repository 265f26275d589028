"""The create path's CPU cuts (issue 13, branch `create`) keep what create did: the create
serializer validates only the sent fields yet gives DRF's data and errors, the Container
row is one plain-SQL INSERT of the same values, the hosts read is prepared, a create's
statements are few, and the spec's dict is asdict's."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from containers import lifecycle, placement, rowsql, volumes
from containers.api.serializers import ContainerCreateSerializer
from containers.engine.errors import Conflict
from containers.engine.spec import ContainerSpec
from containers.models import Container, Host, Tag
from containers.runtime import host_name

BODIES = [
    {"image": "busybox"},
    {"image": "busybox", "cmd": "echo 'a b'", "network_mode": "none", "env": ["A=1"]},
    {"image": "busybox", "cmd": ["true"], "name": "x", "memory": 0, "stop_timeout": None,
     "labels": {"a": ""}, "networks": {"n": ["al"]}, "restart_policy": "on-failure:3",
     "volumes": ["vol:/d:ro"], "tmpfs": {"/run": "size=1m"}, "host": "", "unknown": 1},
    {},  # image required
    {"image": "", "memory": -1, "cmd": 3, "env": [""], "tty": "maybe", "stop_timeout": None,
     "cap_add": ["X"] * 65, "name": "a\n"},
    {"image": "x" * 513, "memory_swappiness": None, "networks": {"n": "notalist"}},
]


def _drf(body):
    """The serializer as DRF alone runs it: every field bound and validated."""
    ser = ContainerCreateSerializer(data=body)
    ser._sent = lambda: None
    return ser


@pytest.mark.parametrize("body", BODIES)
def test_sent_fields_give_drfs_data_and_errors(body):
    ours, drf = ContainerCreateSerializer(data=body), _drf(body)
    assert ours.is_valid() == drf.is_valid()
    assert ours.errors == drf.errors and list(ours.errors) == list(drf.errors)
    if drf.is_valid():
        assert ours.validated_data == drf.validated_data
        assert list(ours.validated_data) == list(drf.validated_data)
        assert ours.spec() == drf.spec() and ours.endpoints() == drf.endpoints()
        assert len(ours.fields) < len(drf.fields) or len(body) > 30  # only the sent ones bound


def test_defaults_are_fresh_and_form_data_and_schemas_see_every_field():
    a, b = ContainerCreateSerializer(data={"image": "i"}), ContainerCreateSerializer(data={"image": "i"})
    assert a.is_valid() and b.is_valid()
    a.validated_data["cmd"].append("x")
    assert b.validated_data["cmd"] == []  # default=list: a new list per request
    declared = set(ContainerCreateSerializer._declared_fields)
    assert set(ContainerCreateSerializer().fields) == declared  # no data: schema generation
    form = ContainerCreateSerializer(data=QueryDict("image=i&tty=true"))
    assert set(form.fields) == declared and form.is_valid() and form.validated_data["tty"] is True
    assert all(f.source in (None, name) for name, f in ContainerCreateSerializer._declared_fields.items())


def test_spec_to_dict_is_asdict():
    s = ContainerSpec(image="i", cmd=["a"], labels={"k": "v"}, console_size=[1, 2], mounts=[
        {"type": "volume", "source": "", "target": "/d", "read_only": False}])
    d = s.to_dict()
    assert d == dataclasses.asdict(s) and list(d) == list(dataclasses.asdict(s))
    assert d["cmd"] is not s.cmd and d["mounts"][0] is not s.mounts[0]  # copies, as asdict's


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_rowsql_create_writes_what_the_orm_create_writes(image):
    alice = User.objects.create_user("alice", password="pw-alice-1")
    values = {"name": "n1", "image": image, "image_ref": "busybox", "spec": {"a": [1, None]},
              "hostname": "h", "host": host_name(), "owner": alice}
    ours = rowsql.create(Container(id="1" * 64, **values))
    orm = Container.objects.create(id="2" * 64, **{**values, "name": "n2"})
    assert not ours._state.adding and ours._state.db == "default"
    read = {k: v for k, v in _fields(Container.objects.get(pk=ours.id)).items() if k not in ("id", "name")}
    assert read == {k: v for k, v in _fields(orm).items() if k not in ("id", "name")} | {
        "created": ours.created}
    assert _fields(Container.objects.get(pk=ours.id)) == _fields(ours)
    with pytest.raises(IntegrityError), transaction.atomic():
        rowsql.create(Container(id="3" * 64, **values))  # the name is taken


def test_create_makes_few_statements_and_a_taken_name_is_a_conflict(fake, image):
    Tag.objects.create(repository="busybox", tag="latest", image=image)
    alice = User.objects.create_user("alice", password="pw-alice-1")
    spec = ContainerSpec(image="busybox", cmd=["true"], network_mode="none")
    lifecycle.create(spec, "warm", user=alice)  # compiles the prepared reads
    with CaptureQueriesContext(connection) as q:
        c = lifecycle.create(spec, "c1", user=alice)
    # tag, hosts, the INSERTs of the container and its event (+ a savepoint's two here)
    assert len([s for s in q.captured_queries if "SAVEPOINT" not in s["sql"]]) == 4
    stored = Container.objects.get(pk=c.id)
    assert _fields(stored) == _fields(c) and stored.spec == spec.to_dict()
    assert stored.owner_id == alice.pk and stored.image_id == image.pk and stored.state == "created"
    with pytest.raises(Conflict, match='"/c1" is already in use'):
        lifecycle.create(spec, "c1", user=alice)


def test_the_hosts_read_is_prepared_and_skips_draining_hosts(db):
    now = timezone.now()
    Host.objects.create(name="a", last_seen=now, draining=True)
    Host.objects.create(name="b", last_seen=now)
    Host.objects.create(name="c", last_seen=now - timedelta(days=1))  # down
    assert placement.choose() == "b"
    assert placement._HOSTS._by_alias  # compiled: runs as its SQL from now on
    with CaptureQueriesContext(connection) as q:
        assert placement.choose() == "b"
    assert len(q.captured_queries) == 1 and "draining" in q.captured_queries[0]["sql"]


def test_plan_keeps_a_spec_it_does_not_change(db):
    spec = ContainerSpec(image="i", network_mode="none").validated()
    assert volumes.plan(spec, {}, None)[0] is spec
    planned, anonymous = volumes.plan(spec, {"Volumes": {"/data": {}}}, None)
    assert planned is not spec and [m["source"] for m in planned.mounts] == list(anonymous)


def test_an_image_the_caller_read_is_not_read_again(fake, image):
    Tag.objects.create(repository="busybox", tag="latest", image=image)
    spec = ContainerSpec(image="busybox", network_mode="none")
    lifecycle.create(spec, user=None)  # compiles the prepared reads
    with CaptureQueriesContext(connection) as q:
        c = lifecycle.create(spec, user=None, image=image)  # the Docker API's create looked it up
    assert len([s for s in q.captured_queries if "SAVEPOINT" not in s["sql"]]) == 3  # no tag read
    assert c.image_id == image.pk


def test_a_prepared_read_compiles_once_for_all_threads(transactional_db, monkeypatch):
    import threading

    from django.db import connections

    from containers import prepared

    Host.objects.create(name="h1", last_seen=timezone.now())
    read = prepared.Prepared(Host, lambda name: Host.objects.filter(name=name))
    assert [h.name for h in read("h1")] == ["h1"]
    compiles = []
    monkeypatch.setattr(prepared, "_Compiled", lambda *a: compiles.append(a))  # must not be called
    got = []

    def other():
        try:
            got.extend(read("h1") + read("nope"))
        finally:
            connections.close_all()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert [h.name for h in got] == ["h1"] and compiles == []
    assert got[0].last_seen.tzinfo is not None  # the converters ran, on that thread's connection
