"""An image on the host that runs a container (issue 16): placement may choose a host whose
store lacks the container's image. Before the start, its worker copies it from a host that
has it (the peer's Docker API `GET /images/{id}/get`, relay-signed: `docker save` of that
one image, loaded as is, so the id is unchanged); or pulls it from the registry it came
from (its repo digest); else the start fails with a message that says so.
"""

from __future__ import annotations

import logging

import requests
from django.utils import timezone

from containers import hostrelay, hosts
from containers.engine.errors import NotFound
from containers.models import Host, Image
from containers.runtime import engine, host_name

log = logging.getLogger(__name__)
TIMEOUT_S = 600


def ensure(img: Image) -> None:
    """Make `img` present in this host's store (NotFound when no host or registry has it)."""
    if engine().images.has(img.id):
        return
    for peer in _peers():
        if _copy_from(peer, img.id):
            log.info("image %s copied from host %s", img.id[:12], peer.name)
            return
    for ref in img.digests():
        try:
            from containers import registries

            registries.pull(ref, None, lambda _event: None, user=None)
            if engine().images.has(img.id):
                return
        except Exception as e:  # noqa: BLE001 - try the next source, then say none had it
            log.warning("pulling %s for image %s failed: %s", ref, img.id[:12], e)
    raise NotFound(f"image {img.id[:12]} is on no other up host and in no registry it came from: "
                   f"pull or load it on host {host_name()}")


def _peers() -> list[Host]:
    now = timezone.now()
    return [h for h in Host.objects.exclude(name=host_name()).exclude(docker_tcp="")
            if hosts.is_up(h, now)]


def _copy_from(peer: Host, image_id: str) -> bool:
    """Load image `image_id` from `peer` (False when it does not have it or cannot be asked)."""
    path = f"/images/sha256:{image_id}/get"
    url = f"http://{peer.docker_tcp}{path}"
    try:
        signed = {hostrelay.SIG_HEADER.decode(): hostrelay.sign("GET", path).decode()}
        with requests.get(url, headers=signed, stream=True, timeout=TIMEOUT_S) as r:
            if r.status_code != 200:
                return False
            r.raw.decode_content = True
            engine().images.load(r.raw)
    except (requests.RequestException, OSError) as e:
        log.warning("copying image %s from host %s failed: %s", image_id[:12], peer.name, e)
        return False
    return engine().images.has(image_id)
