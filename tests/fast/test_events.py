"""Durable events: what emit records, and who sees which event."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from containers import events, lookup
from containers.engine.state import State


def test_emit_names_the_container_its_image_and_its_owner(fake, make):
    alice = get_user_model().objects.create_user("alice")
    c = make(State.RUNNING, owner=alice)
    ev = events.emit("die", c, exitCode="3")
    assert (ev.type, ev.action, ev.actor_id, ev.actor_name, ev.owner_id) == (
        "container", "die", c.id, c.name, alice.pk)
    assert ev.attributes == {"exitCode": "3", "image": "busybox", "name": c.name}


def test_sequence_numbers_grow_in_emit_order(db):
    seqs = [events.emit("pull", actor_id=f"img{i}", type="image").seq for i in range(5)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5


def test_emit_in_a_transaction_makes_no_savepoint(db):
    """Django names every savepoint anew, so on a kept connection each one is new SQL for
    the sqlite3 statement cache (issue 12: the worker's memory); the caller's transaction
    is all an event needs."""
    with transaction.atomic(), CaptureQueriesContext(connection) as sql:
        events.emit("pull", actor_id="img", type="image")
    assert not [q["sql"] for q in sql.captured_queries if "SAVEPOINT" in q["sql"].upper()]


def test_users_see_their_own_events_and_staff_see_all(fake, make):
    users = get_user_model().objects
    alice, bob = users.create_user("alice"), users.create_user("bob")
    staff = users.create_user("root", is_staff=True)
    mine = events.emit("create", make(State.CREATED, owner=alice))
    theirs = events.emit("create", make(State.CREATED, owner=bob))
    system = events.emit("pull", actor_id="busybox", type="image")  # no owner: staff only
    assert list(lookup.events(alice)) == [mine]
    assert list(lookup.events(bob)) == [theirs]
    assert {e.seq for e in lookup.events(staff)} == {mine.seq, theirs.seq, system.seq}
    assert {e.seq for e in lookup.events(None)} == {mine.seq, theirs.seq, system.seq}  # the system
