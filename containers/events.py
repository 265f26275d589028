"""Emit and read durable events."""

from __future__ import annotations

from typing import Any

from containers.models import Container, Event


def emit(action: str, container: Container | None = None, *, actor_id: str = "",
         actor_name: str = "", type: str = "container", **attributes: Any) -> Event:
    if container is not None:
        actor_id, actor_name = container.id, container.name
        attributes.setdefault("image", container.image_ref)
        attributes.setdefault("name", container.name)
    return Event.objects.create(type=type, action=action, actor_id=actor_id,
                                actor_name=actor_name, attributes=attributes)


def since(seq: int, limit: int = 1000, **filters: Any) -> list[Event]:
    return list(Event.objects.filter(seq__gt=seq, **filters).order_by("seq")[:limit])
