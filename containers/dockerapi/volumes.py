"""Docker Engine API: volumes (list with filters, create, inspect, remove, prune). Thin
adapters over containers/volumes.py, the service the REST API uses too."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from containers import lookup, volumes
from containers.api.params import boolean
from containers.dockerapi.common import actor_of, body_of, docker_view, filters_of


@docker_view
def volumes_list(request: HttpRequest) -> HttpResponse:
    found = volumes.listing(actor_of(request), filters_of(request))
    return JsonResponse({"Volumes": [volumes.describe(v) for v in found], "Warnings": []})


@docker_view
def volume_create(request: HttpRequest) -> HttpResponse:
    body = body_of(request)
    vol = volumes.create(body.get("Name") or "", body.get("Labels"), actor_of(request),
                         driver=body.get("Driver") or "local")
    return JsonResponse(volumes.describe(vol), status=201)


@docker_view
def volume_inspect(request: HttpRequest, name: str) -> HttpResponse:
    return JsonResponse(volumes.describe(lookup.volume(name, actor_of(request))))


@docker_view
def volume_delete(request: HttpRequest, name: str) -> HttpResponse:
    volumes.remove(name, actor_of(request), force=boolean(request.GET, "force", False))
    return HttpResponse(status=204)


@docker_view
def volumes_prune(request: HttpRequest) -> HttpResponse:
    return JsonResponse(volumes.prune(actor_of(request), filters_of(request)))
