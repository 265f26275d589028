"""Emit and read durable events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from containers import exithints, rowsql
from containers.models import Container, Event
from containers.streams.notify import announce_event

EXIT_ACTIONS = ("die", "destroy")  # the events every wait condition is decided after
_EVENT_COLUMNS = ("time", "type", "action", "actor_id", "actor_name", "attributes", "owner_id")


def emit(action: str, container: Container | None = None, *, actor_id: str = "",
         actor_name: str = "", type: str = "container", owner_id: int | None = None,
         **attributes: Any) -> Event:
    """Record an event. Its owner (who sees it besides staff) is the container's, else
    `owner_id` (the user whose image work it reports; None: staff only)."""
    if container is not None:
        actor_id, actor_name = container.id, container.name
        owner_id = container.owner_id
        attributes.setdefault("image", container.image_ref)
        attributes.setdefault("name", container.name)
    # one plain-SQL INSERT (rowsql: Event.objects.create compiled it anew, ~0.25 ms of CPU)
    event = Event(time=timezone.now(), type=type, action=action, actor_id=actor_id,
                  actor_name=actor_name, attributes=attributes, owner_id=owner_id)
    row = {f: getattr(event, f) for f in _EVENT_COLUMNS}
    # no savepoint when nested (the caller's transaction fails as a whole): Django names each
    # savepoint anew (s<thread>_x<n>, n never reset), so on a kept connection every SAVEPOINT
    # and RELEASE is new SQL that churns the sqlite3 module's statement cache (issue 12)
    with transaction.atomic(savepoint=False):
        _in_commit_order()
        event.seq = rowsql.insert(Event, row)
    event._state.adding, event._state.db = False, transaction.get_connection().alias
    transaction.on_commit(lambda: announce_event(event.seq))  # wake /ws/events/ consumers
    if type == "container" and action in EXIT_ACTIONS:
        transaction.on_commit(lambda: exithints.announce(actor_id))  # wake its waiters
    return event


EVENT_LOCK = 0x64776576  # "dwev": the advisory lock that orders event commits on PostgreSQL


def _in_commit_order() -> None:
    """Make sequence order commit order, so `since=<seq>` readers never skip an event.

    PostgreSQL hands out ids at INSERT time: a transaction holding seq 10 could commit after
    one holding 11, and a reader that saw 11 would never see 10. A transaction-scoped
    advisory lock, taken before the INSERT and held until commit, serialises the writers of
    events. SQLite needs nothing: its single write lock is held from the INSERT to commit."""
    conn = transaction.get_connection()
    if conn.vendor == "postgresql":
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_LOCK])


def _oldest_seq() -> int:
    """The oldest event's seq (1 when there is none)."""
    return Event.objects.order_by("seq").values_list("seq", flat=True).first() or 1


def latest_seq() -> int:
    """The newest event's seq (0 when there is none). A page or stream that reads it before
    its data and resumes from it misses nothing that happens in between."""
    return Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def between(after_seq: int, *, user=None, since: float | None = None, until: float | None = None,
            limit: int = 1000, **filters: Any) -> list[Event]:
    """At most `limit` events after `after_seq` that `user` sees (None: all), in seq order,
    with a time in [since, until] (unix seconds, either bound optional) and the model
    `filters` (e.g. actor_id=...)."""
    from containers import lookup

    qs = lookup.events(user).filter(seq__gt=after_seq, **filters)
    if since is not None:
        qs = qs.filter(time__gte=datetime.fromtimestamp(since, tz=UTC))
    if until is not None:
        qs = qs.filter(time__lte=datetime.fromtimestamp(until, tz=UTC))
    return list(qs.order_by("seq")[:limit])


def prune(max_age: float, max_count: int) -> int:
    """Delete the events older than `max_age` seconds, then all but the newest `max_count`
    (a bound of 0 or less is off). Returns how many rows went.

    One DELETE per bound. The count bound first reads the lowest and highest seq (two index
    look-ups): seqs are distinct, so when they span at most `max_count` there is nothing to
    cut and the table is not walked; only then is the cut-off seq read (OFFSET `max_count`
    walks that many rows: below the bound, the whole table, which the worker did every 10 s,
    reading every page of it into SQLite's page cache; issue 12). Safe
    for `since=<seq>` readers: only the oldest rows go and seqs are never reused (SQLite
    AUTOINCREMENT, PostgreSQL sequences), so a reader resuming from a pruned seq simply gets
    the oldest events that are left."""
    gone = 0
    if max_age > 0:
        cutoff = timezone.now() - timedelta(seconds=max_age)
        gone += Event.objects.filter(time__lt=cutoff).delete()[0]
    if max_count > 0 and latest_seq() - _oldest_seq() + 1 > max_count:
        cut = list(Event.objects.order_by("-seq").values_list("seq", flat=True)[max_count:max_count + 1])
        if cut:
            gone += Event.objects.filter(seq__lte=cut[0]).delete()[0]
    return gone
