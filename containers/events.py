"""Emit and read durable events."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from containers.models import Container, Event
from containers.streams.notify import announce_event


def emit(action: str, container: Container | None = None, *, actor_id: str = "",
         actor_name: str = "", type: str = "container", **attributes: Any) -> Event:
    if container is not None:
        actor_id, actor_name = container.id, container.name
        attributes.setdefault("image", container.image_ref)
        attributes.setdefault("name", container.name)
    event = Event.objects.create(type=type, action=action, actor_id=actor_id,
                                 actor_name=actor_name, attributes=attributes)
    transaction.on_commit(lambda: announce_event(event.seq))  # wake /ws/events/ consumers
    return event


def since(seq: int, limit: int = 1000, **filters: Any) -> list[Event]:
    return list(Event.objects.filter(seq__gt=seq, **filters).order_by("seq")[:limit])
