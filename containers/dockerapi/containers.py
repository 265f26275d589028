"""Docker Engine API: containers (list, create, inspect, lifecycle verbs, wait, logs, top,
changes, export, stats, archive). Thin adapters: parse Docker's parameters, one lifecycle/
worker call, answer in Docker's shapes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from containers import asyncstream, events, hosts, lifecycle, logs, lookup, placement, rpc
from containers.api.params import boolean, integer, number
from containers.asyncstream import in_thread
from containers.dockerapi import translate
from containers.dockerapi.common import (
    STOP_MARGIN,
    ZERO,
    actor_of,
    body_of,
    docker_view,
    filters_of,
    frame,
)
from containers.dockerapi.netinfo import network_of, port_mappings
from containers.engine.errors import Conflict, InvalidArgument, NotFound
from containers.engine.run import logfile as enginelogs
from containers.engine.state import ACTIVE, State
from containers.models import Container
from containers.runtime import engine


@docker_view
def containers_list(request: HttpRequest) -> HttpResponse:
    qs = lookup.containers(actor_of(request)).select_related("image")
    filters = filters_of(request)
    if not boolean(request.GET, "all", False) and "status" not in filters:
        qs = qs.filter(state__in=[s.value for s in ACTIVE])
    out = []
    for c in qs:
        if not _matches(c, filters):
            continue
        net = network_of(c)
        out.append(translate.summary(c, port_mappings(c), net["endpoints"] if net else {}))
    limit = integer(request.GET, "limit", None)
    return JsonResponse(out[:limit] if limit and limit > 0 else out, safe=False)


def _matches(c: Container, filters: dict[str, list[str]]) -> bool:
    checks = {
        "status": lambda v: translate.docker_status(c) == v,
        "name": lambda v: v.lstrip("/") in c.name,
        "id": lambda v: c.id.startswith(v),
        "label": lambda v: (lambda k, _, val: k in (c.spec.get("labels") or {}) and (
            not val or c.spec["labels"][k] == val))(*v.partition("=")),
        "ancestor": lambda v: v in (c.image_ref, c.image_id, f"sha256:{c.image_id}"),
        "exited": lambda v: c.status == State.EXITED and str(c.exit_code) == v,
    }
    return all(any(checks[k](v) for v in vals) for k, vals in filters.items() if k in checks)


@docker_view
def containers_create(request: HttpRequest) -> HttpResponse:
    body = body_of(request)
    if not body.get("Image"):
        raise InvalidArgument("config cannot be empty in order to create a container")
    spec = translate.spec_from_create(body)
    try:
        img = lookup.image(spec.image, actor_of(request))
    except NotFound:
        raise NotFound(f"No such image: {spec.image}") from None
    c = lifecycle.create(spec, request.GET.get("name", ""), user=actor_of(request),
                         endpoints=(body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {},
                         host=(spec.labels or {}).get(placement.PIN_LABEL, ""), image=img)
    return JsonResponse({"Id": c.id, "Warnings": []}, status=201)


@docker_view
def container_inspect(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref, actor_of(request))
    return JsonResponse(translate.inspect(c, engine().paths(c.id).log, network_of(c), port_mappings(c)))


@docker_view
def container_start(request: HttpRequest, ref: str) -> HttpResponse:
    cid = lookup.container(ref, actor_of(request)).id
    try:
        rpc.call("start", ref=cid)
    except Exception:
        lifecycle.abandon_start(cid)  # docker run --rm waits for the removal: honour it here
        raise
    return HttpResponse(status=204)


def _stop_timeout(request: HttpRequest) -> float | None:
    """?t= (or ?timeout=); None: the container's StopTimeout, else 10 s."""
    return number(request.GET, "t", None, 0) if "t" in request.GET else number(
        request.GET, "timeout", None, 0)


@docker_view
def container_stop(request: HttpRequest, ref: str) -> HttpResponse:
    c, timeout = lookup.container(ref, actor_of(request)), _stop_timeout(request)
    rpc.call("stop", rpc_timeout=lifecycle.stop_wait(c, timeout) + STOP_MARGIN, ref=c.id,
             timeout=timeout, signal=request.GET.get("signal"))
    return HttpResponse(status=204)


@docker_view
def container_restart(request: HttpRequest, ref: str) -> HttpResponse:
    c, timeout = lookup.container(ref, actor_of(request)), _stop_timeout(request)
    rpc.call("restart", rpc_timeout=2 * lifecycle.stop_wait(c, timeout) + STOP_MARGIN,
             ref=c.id, timeout=timeout)
    return HttpResponse(status=204)


@docker_view
def container_update(request: HttpRequest, ref: str) -> HttpResponse:
    """POST /containers/{id}/update: {"Warnings": []}."""
    c = lookup.container(ref, actor_of(request))
    rpc.call("update", ref=c.id, changes=translate.update_changes(body_of(request)))
    return JsonResponse({"Warnings": []})


@docker_view
def container_kill(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("kill", ref=lookup.container(ref, actor_of(request)).id, signal=request.GET.get("signal"))
    return HttpResponse(status=204)


@docker_view
def container_delete(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref, actor_of(request))
    rpc.call("remove", ref=c.id, force=boolean(request.GET, "force", False),
             volumes=boolean(request.GET, "v", False))
    return HttpResponse(status=204)


@docker_view
def container_resize(request: HttpRequest, ref: str) -> HttpResponse:
    c = hosts.here(lookup.container(ref, actor_of(request)))
    rows, cols = integer(request.GET, "h", 0, 0), integer(request.GET, "w", 0, 0)
    if c.status in ACTIVE:
        engine().resize(c.id, rows, cols)
    return HttpResponse(status=200)


@docker_view
def container_wait(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref, actor_of(request))
    condition = lifecycle.wait_condition(request.GET.get("condition", ""))
    since = events.latest_seq()

    async def body() -> AsyncIterator[bytes]:
        outcome = await lifecycle.wait_async(c.id, condition, since)
        error = {"Message": outcome.error} if outcome.error else None
        yield json.dumps({"StatusCode": outcome.exit_code, "Error": error}).encode() + b"\n"

    # headers go out at once (the CLI waits for them before it starts the container)
    return StreamingHttpResponse(body(), content_type="application/json")


@docker_view
def container_logs(request: HttpRequest, ref: str) -> HttpResponse:
    c = hosts.here(lookup.container(ref, actor_of(request)))
    logs.readable(c.spec)
    q = request.GET
    query = logs.query(q, docker=True)
    stamps = boolean(q, "timestamps", False)
    tty = bool(c.spec.get("tty"))
    batches = logs.batches(c.id, query, boolean(q, "follow", False))

    def render(r: enginelogs.Record) -> bytes:
        data = (r.time.encode() + b" " + r.data) if stamps else r.data
        return data if tty else frame(1 if r.stream == "stdout" else 2, data)

    ctype = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    return StreamingHttpResponse(asyncstream.stream(logs.chunks(batches, render)), content_type=ctype)


def _rpc_pause(request: HttpRequest, ref: str, paused: bool) -> HttpResponse:
    rpc.call("pause" if paused else "unpause", ref=lookup.container(ref, actor_of(request)).id)
    return HttpResponse(status=204)


@docker_view
def container_pause(request: HttpRequest, ref: str) -> HttpResponse:
    return _rpc_pause(request, ref, True)


@docker_view
def container_unpause(request: HttpRequest, ref: str) -> HttpResponse:
    return _rpc_pause(request, ref, False)


@docker_view
def container_rename(request: HttpRequest, ref: str) -> HttpResponse:
    lifecycle.rename(ref, request.GET.get("name", ""), user=actor_of(request))
    return HttpResponse(status=204)


@docker_view
def container_top(request: HttpRequest, ref: str) -> HttpResponse:
    titles, rows = lifecycle.top(ref, user=actor_of(request))
    return JsonResponse({"Titles": titles, "Processes": rows})


@docker_view
def container_changes(request: HttpRequest, ref: str) -> HttpResponse:
    from containers.images import info as image_info

    c = hosts.here(lookup.container(ref, actor_of(request)))
    out = [{"Path": ch.path, "Kind": ch.kind} for ch in engine().changes(c.id, image_info(c.image))]
    return JsonResponse(out or None, safe=False)


@docker_view
def container_export(request: HttpRequest, ref: str) -> HttpResponse:
    from containers.images import info as image_info

    c = hosts.here(lookup.container(ref, actor_of(request)))
    return StreamingHttpResponse(asyncstream.stream(engine().export(c.id, image_info(c.image))),
                                 content_type="application/x-tar")


def _docker_stats(c: Container, cur: Any, prev: Any) -> dict[str, Any]:
    def cpu(s: Any) -> dict[str, Any]:
        if s is None:
            return {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": 0}
        return {"cpu_usage": {"total_usage": s.cpu_usage_ns, "usage_in_kernelmode": 0,
                              "usage_in_usermode": 0},
                "system_cpu_usage": s.system_cpu_ns, "online_cpus": s.online_cpus,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}

    return {
        "read": cur.read, "preread": prev.read if prev else ZERO, "name": f"/{c.name}", "id": c.id,
        "pids_stats": {"current": cur.pids, **({"limit": cur.pids_limit} if cur.pids_limit else {})},
        "cpu_stats": cpu(cur), "precpu_stats": cpu(prev),
        "memory_stats": {"usage": cur.memory_usage, "max_usage": cur.memory_max_usage,
                         "limit": cur.memory_limit,
                         "stats": {"total_inactive_file": cur.memory_cache,
                                   "inactive_file": cur.memory_cache}},
        "blkio_stats": _blkio(cur),
        **({"networks": {name: vars(io) for name, io in cur.networks.items()}} if cur.networks else {}),
    }


def _blkio(s: Any) -> dict[str, Any]:
    """Docker's blkio_stats from the v1 recursive files (the docker CLI sums the
    io_service_bytes_recursive entries whose op starts with R or W); lists it has no
    source for are null, as dockerd sends them."""
    def entries(xs: Any) -> list[dict[str, Any]] | None:
        return [{"major": e.major, "minor": e.minor, "op": e.op, "value": e.value} for e in xs] or None

    return {"io_service_bytes_recursive": entries(s.blkio_bytes),
            "io_serviced_recursive": entries(s.blkio_ios),
            **dict.fromkeys(("io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive",
                             "io_merged_recursive", "io_time_recursive", "sectors_recursive"))}


@docker_view
def container_stats(request: HttpRequest, ref: str) -> HttpResponse:
    from containers.engine.run import stats as enginestats

    c = hosts.here(lookup.container(ref, actor_of(request)))
    parent = engine().config.cgroup_parent
    stream = boolean(request.GET, "stream", True) and not boolean(request.GET, "one-shot", False)
    if not stream:
        pair = enginestats.readings(parent, c.id, window=0.2)
        if pair is None:
            raise Conflict(f"container {c.id} is not running")
        return JsonResponse(_docker_stats(c, pair[1], pair[0]))

    async def body() -> AsyncIterator[bytes]:
        read = in_thread(enginestats.read)
        prev = None
        while True:
            cur = await read(parent, c.id)
            if cur is None:
                return
            yield json.dumps(_docker_stats(c, cur, prev)).encode() + b"\n"
            prev = cur
            await asyncio.sleep(1)

    return StreamingHttpResponse(body(), content_type="application/json")


@docker_view
def container_archive(request: HttpRequest, ref: str) -> HttpResponse:
    """docker cp: HEAD stat, GET a tar of ?path=, PUT a tar into directory ?path=."""
    from containers import cp

    path, user = request.GET.get("path") or "", actor_of(request)
    if request.method == "PUT":
        cp.put(ref, path, request, user=user)
        return HttpResponse(status=200)
    if request.method == "HEAD":
        st = cp.stat(ref, path, user=user)
        resp = HttpResponse(status=200)
    else:  # one resolution for the stat and the tar
        st, chunks = cp.get(ref, path, user=user)
        resp = StreamingHttpResponse(asyncstream.stream(chunks), content_type="application/x-tar")
    resp[cp.STAT_HEADER] = cp.stat_header(st)
    return resp
