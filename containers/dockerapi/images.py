"""Docker Engine API: images (list, inspect, history, tag, remove, pull/import, push,
save, load) and commit."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from containers import asyncstream, jsonprogress, lookup, registries
from containers.api.params import boolean
from containers.dockerapi.common import (
    ZERO,
    actor_of,
    body_of,
    docker_view,
)
from containers.engine.errors import InvalidArgument
from containers.engine.image import dockerfile_changes
from containers.engine.run import logfile as enginelogs
from containers.models import Image
from containers.runtime import engine


def _unix(text: str) -> int:
    try:
        return int(enginelogs.parse_time(text))
    except (ValueError, TypeError):
        return 0


def _tags(img: Image, user) -> list[str]:
    return [f"{t.repository}:{t.tag}" for t in img.tag_set.all() if lookup.sees_tag(user, t)]


def _image_summary(img: Image, user) -> dict[str, Any]:
    return {"Id": f"sha256:{img.id}", "ParentId": f"sha256:{img.parent_id}" if img.parent_id else "",
            "RepoTags": _tags(img, user), "RepoDigests": img.digests(),
            "Created": int(img.created.timestamp()),
            "Size": img.size, "VirtualSize": img.size, "SharedSize": -1,
            "Labels": (img.config or {}).get("Labels") or {}, "Containers": -1}


@docker_view
def images_list(request: HttpRequest) -> HttpResponse:
    user = actor_of(request)
    imgs = lookup.images(user).prefetch_related("tag_set", "repodigest_set").order_by("-created")
    if not boolean(request.GET, "all", False):  # hide untagged intermediate images, as Docker
        imgs = [i for i in imgs if i.tag_set.all() or not i.children.exists()]
    return JsonResponse([_image_summary(i, user) for i in imgs], safe=False)


@docker_view
def image_inspect(request: HttpRequest, ref: str) -> HttpResponse:
    img = lookup.image(ref, actor_of(request))
    doc = engine().images.config_doc(img.id)
    return JsonResponse({
        "Id": f"sha256:{img.id}", "RepoTags": _tags(img, actor_of(request)), "RepoDigests": img.digests(),
        "Parent": f"sha256:{img.parent_id}" if img.parent_id else "", "Comment": doc.get("comment", ""),
        "Created": doc.get("created", ""), "DockerVersion": "", "Author": doc.get("author", ""),
        "Config": doc.get("config") or {}, "Architecture": doc.get("architecture", "amd64"),
        "Os": doc.get("os", "linux"), "Size": img.size, "VirtualSize": img.size,
        "GraphDriver": {"Name": "overlay", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": doc["rootfs"]["diff_ids"]},
        "Metadata": {"LastTagTime": ZERO},
    })


@docker_view
def image_history(request: HttpRequest, ref: str) -> HttpResponse:
    img = lookup.image(ref, actor_of(request))
    hist = engine().images.history(img.id)
    tags = _tags(img, actor_of(request))
    out = [{"Id": f"sha256:{img.id}" if i == 0 else "<missing>", "Created": _unix(h["created"]),
            "CreatedBy": h["created_by"], "Tags": tags if i == 0 else None, "Size": h["size"],
            "Comment": h["comment"]} for i, h in enumerate(hist)]
    return JsonResponse(out, safe=False)


@docker_view
def image_tag(request: HttpRequest, ref: str) -> HttpResponse:
    from containers import images

    images.tag(ref, request.GET.get("repo", ""), request.GET.get("tag", ""), user=actor_of(request))
    return HttpResponse(status=201)


@docker_view
def image_delete(request: HttpRequest, ref: str) -> HttpResponse:
    from containers import images

    return JsonResponse(images.remove(ref, boolean(request.GET, "force", False), user=actor_of(request),
                                      prune_parents=not boolean(request.GET, "noprune", False)), safe=False)


@docker_view
def images_create(request: HttpRequest) -> HttpResponse:
    """fromSrc=- imports the body (a tar); fromImage pulls (the registry client)."""
    from containers import images

    q = request.GET
    if q.get("fromSrc") == "-":
        repo, tag = q.get("repo", ""), q.get("tag", "")
        if repo and not tag and ":" in repo.rsplit("/", 1)[-1]:
            repo, tag = repo.rsplit(":", 1)
        img = images.import_tar(request, repo, tag, q.get("message", ""), user=actor_of(request),
                                changes=q.getlist("changes"))
        return JsonResponse({"status": f"sha256:{img.id}"})
    if q.get("fromImage"):
        ref = q["fromImage"] + (f":{q['tag']}" if q.get("tag") and "@" not in q["fromImage"] else "")
        creds = registries.credentials(request.headers.get("X-Registry-Auth", ""))
        user = actor_of(request)
        lines = jsonprogress.start(lambda emit: registries.pull(ref, creds, emit, user=user))
        return StreamingHttpResponse(lines, content_type="application/json")
    raise InvalidArgument("fromSrc=- or fromImage is required")


@docker_view
def image_push(request: HttpRequest, ref: str) -> HttpResponse:
    """docker push: JSON progress lines; ?tag= (every tag of the name when empty)."""
    creds = registries.credentials(request.headers.get("X-Registry-Auth", ""))
    tag, user = request.GET.get("tag", ""), actor_of(request)
    lines = jsonprogress.start(lambda emit: registries.push(ref, tag, creds, emit, user=user))
    return StreamingHttpResponse(lines, content_type="application/json")


@docker_view
def images_get(request: HttpRequest, ref: str = "") -> HttpResponse:
    """docker save: /images/{name}/get or /images/get?names=a&names=b, a `docker save` tar."""
    from containers import images

    refs = [ref] if ref else request.GET.getlist("names")
    return StreamingHttpResponse(asyncstream.stream(images.save(refs, user=actor_of(request))),
                                 content_type="application/x-tar")


@docker_view
def images_load(request: HttpRequest) -> HttpResponse:
    """docker load: the body is a `docker save` or OCI layout tar (any compression). As
    dockerd: always 200 and a JSON stream, `{"stream": "Loaded image: name:tag\n"}` per tag
    (`Loaded image ID: sha256:…` for an untagged image), "Loading layer" status lines first
    unless `quiet` (default true), and a failure as the last line, `{"errorDetail":
    {"message"}, "error"}`, which the clients raise (docker-py: ImageLoadError)."""
    from containers import images
    from containers.engine.errors import EngineError

    lines: list[dict[str, Any]] = []
    try:
        loaded = images.load(request, user=actor_of(request))
        if not boolean(request.GET, "quiet", True):
            lines += [_loading_layer(d) for img, _ in loaded
                      for d in engine().images.config_doc(img.id)["rootfs"]["diff_ids"]]
        lines += [{"stream": f"Loaded image: {t}\n"} for _, tags in loaded for t in tags]
        lines += [{"stream": f"Loaded image ID: sha256:{img.id}\n"} for img, tags in loaded if not tags]
    except EngineError as e:
        lines.append({"errorDetail": {"message": e.message}, "error": e.message})
    body = b"".join(json.dumps(m).encode() + b"\n" for m in lines)
    return HttpResponse(body, content_type="application/json")


def _loading_layer(diff_id: str) -> dict[str, Any]:
    """dockerd's finished "Loading layer" progress line of one layer."""
    size = engine().images.layer_size(diff_id.removeprefix("sha256:"))
    return {"status": "Loading layer", "progressDetail": {"current": size, "total": size},
            "progress": f"[{'=' * 49}>]  {size}B/{size}B", "id": diff_id.removeprefix("sha256:")[:12]}


@docker_view
def commit(request: HttpRequest) -> HttpResponse:
    from containers import images

    q = request.GET
    repo, tag = q.get("repo", ""), q.get("tag", "")
    changes = {k: v for k, v in body_of(request).items() if v not in (None, "", [], {})
               and k in ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Labels", "ExposedPorts")}
    changes = dockerfile_changes.apply(changes, q.getlist("changes"))  # `docker commit -c`
    img = images.commit(q.get("container", ""), repo, tag, q.get("author", ""), q.get("comment", ""), changes,
                        user=actor_of(request))
    return JsonResponse({"Id": f"sha256:{img.id}"}, status=201)


@docker_view
def build(request: HttpRequest) -> HttpResponse:
    """docker build (classic builder, DOCKER_BUILDKIT=0): the body is the context tar; the
    answer is Docker's JSON progress stream (errors before the first step are HTTP 4xx)."""
    import threading

    from containers import builds

    options, user, cancel = builds.options_from(request.GET), actor_of(request), threading.Event()
    request.audit_target = ",".join(options.tags)  # type: ignore[attr-defined]
    lines = jsonprogress.start(lambda emit: builds.build(request, options, emit, user=user, cancel=cancel),
                               cancel)
    return StreamingHttpResponse(lines, content_type="application/json")
