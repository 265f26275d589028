"""Image records: register what the engine's image store built."""

from __future__ import annotations

from django.db import transaction

from containers.engine.images import ImageInfo
from containers.models import Image, Tag
from containers.runtime import engine


def register(info: ImageInfo, repository: str = "", tag: str = "latest") -> Image:
    with transaction.atomic():
        img, _ = Image.objects.update_or_create(
            pk=info.id, defaults={"layers": info.layers, "config": info.config, "size": info.size}
        )
        if repository:
            Tag.objects.update_or_create(repository=repository, tag=tag, defaults={"image": img})
    return img


def ensure_default_image() -> Image:
    """busybox:latest from the host's busybox-static, built once."""
    existing = Tag.objects.filter(repository="busybox", tag="latest").select_related("image").first()
    if existing:
        return existing.image
    return register(engine().images.build_busybox(), "busybox", "latest")


def info(img: Image) -> ImageInfo:
    return ImageInfo(id=img.id, layers=list(img.layers), config=dict(img.config),
                     created=img.created.isoformat(), size=img.size)
