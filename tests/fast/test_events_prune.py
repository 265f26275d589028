"""Event retention (issue 12, point 10): events.prune by age and by count; readers resuming
with since=<seq> lose nothing newer than what was pruned; seqs are never reused."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from containers import events
from containers.models import Event


def _emit(n: int, age: float = 0.0) -> list[int]:
    seqs = [events.emit("pull", actor_id=f"img{i}", type="image").seq for i in range(n)]
    if age:
        Event.objects.filter(seq__in=seqs).update(time=timezone.now() - timedelta(seconds=age))
    return seqs


def _left() -> list[int]:
    return list(Event.objects.order_by("seq").values_list("seq", flat=True))


def test_events_older_than_max_age_go(db):
    old = _emit(3, age=3600)
    new = _emit(2, age=60)
    assert events.prune(max_age=600, max_count=0) == 3
    assert _left() == new and not set(old) & set(_left())


def test_only_the_newest_max_count_stay(db):
    seqs = _emit(10)
    assert events.prune(max_age=0, max_count=4) == 6
    assert _left() == seqs[-4:]
    assert events.prune(max_age=0, max_count=4) == 0  # idempotent


def test_both_bounds_and_no_bound(db):
    _emit(4, age=3600)
    new = _emit(6)
    assert events.prune(max_age=0, max_count=0) == 0 and len(_left()) == 10
    assert events.prune(max_age=600, max_count=5) == 5
    assert _left() == new[-5:]


def test_one_delete_per_bound(db):
    _emit(4, age=3600)
    _emit(6)
    with CaptureQueriesContext(connection) as q:
        events.prune(max_age=600, max_count=5)
    deletes = [x["sql"] for x in q.captured_queries if x["sql"].upper().startswith("DELETE")]
    assert len(deletes) == 2 and len(q.captured_queries) <= 5


def test_under_the_count_bound_the_table_is_not_walked(db):
    """Two index look-ups (lowest and highest seq), no OFFSET read and no DELETE while the
    seqs span at most max_count: the worker prunes every 10 s (issue 12: a walk of the
    whole table kept its pages in the connection's cache)."""
    seqs = _emit(5)
    with CaptureQueriesContext(connection) as q:
        assert events.prune(max_age=0, max_count=5) == 0
    sql = [x["sql"].upper() for x in q.captured_queries]
    assert len(sql) == 2 and not [x for x in sql if "OFFSET" in x or x.startswith("DELETE")]
    assert _left() == seqs


def test_a_reader_resuming_from_a_pruned_seq_gets_what_is_left_and_seqs_are_not_reused(db):
    seqs = _emit(6)
    events.prune(max_age=0, max_count=1)
    assert [e.seq for e in events.between(seqs[0])] == [seqs[-1]]
    Event.objects.all().delete()
    assert events.emit("pull", actor_id="img", type="image").seq > seqs[-1]


def test_defaults_are_a_week_and_100000():
    assert settings.DOCKERWEB_EVENTS_MAX_AGE == 7 * 24 * 3600
    assert settings.DOCKERWEB_EVENTS_MAX_COUNT == 100_000
