"""Emit and read durable events."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from containers.models import Container, Event
from containers.streams.notify import announce_event


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
    with transaction.atomic():
        _in_commit_order()
        event = Event.objects.create(type=type, action=action, actor_id=actor_id,
                                     actor_name=actor_name, attributes=attributes, owner_id=owner_id)
    transaction.on_commit(lambda: announce_event(event.seq))  # wake /ws/events/ consumers
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


def since(seq: int, limit: int = 1000, *, user=None, **filters: Any) -> list[Event]:
    """Events after `seq` that `user` sees (None: all)."""
    from containers import lookup

    return list(lookup.events(user).filter(seq__gt=seq, **filters).order_by("seq")[:limit])
