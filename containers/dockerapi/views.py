"""Docker Engine API views (served only on the Docker socket, see docker_asgi.py).

Thin adapters: parse Docker's parameters, one lifecycle/worker call, answer in Docker's
shapes. Errors are {"message": ...} with the status from containers/api/errors.py.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import platform
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from containers import lifecycle, lookup, rpc
from containers.api.errors import status_for
from containers.api.params import boolean, integer, number, tail, timestamp
from containers.dockerapi import translate
from containers.dockerapi.netinfo import network_of, port_mappings
from containers.engine import logs as enginelogs
from containers.engine.errors import Conflict, EngineError, InvalidArgument, NotFound
from containers.engine.state import ACTIVE, State
from containers.models import Container, Event, Image
from containers.runtime import engine

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
VERSION = "0.1.0-dockerweb"
STOP_MARGIN = 30.0


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"message": message}, status=status)


def docker_view(fn: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """CSRF-exempt (a local socket, like docker.sock), engine errors as Docker errors."""

    @functools.wraps(fn)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return fn(request, *args, **kwargs)
        except EngineError as e:
            code = status_for(e)
            return HttpResponse(status=304) if code == 304 else error(e.message, code)
        except (ValueError, json.JSONDecodeError) as e:
            return error(f"invalid request: {e}", 400)

    return csrf_exempt(wrapper)


def _body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    doc = json.loads(request.body)
    if not isinstance(doc, dict):
        raise InvalidArgument("request body must be a JSON object")
    return doc


# ---- system -------------------------------------------------------------------------------
@docker_view
def ping(request: HttpRequest) -> HttpResponse:
    resp = HttpResponse(b"" if request.method == "HEAD" else b"OK", content_type="text/plain")
    resp["Api-Version"] = API_VERSION
    resp["Ostype"] = "linux"
    resp["Docker-Experimental"] = "false"
    resp["Builder-Version"] = "1"
    resp["Cache-Control"] = "no-cache, no-store, must-revalidate"
    return resp


@docker_view
def version(request: HttpRequest) -> HttpResponse:
    uname = platform.uname()
    return JsonResponse({
        "Platform": {"Name": "dockerweb"},
        "Components": [{"Name": "Engine", "Version": VERSION,
                        "Details": {"ApiVersion": API_VERSION, "Os": "linux", "Arch": "amd64"}}],
        "Version": VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "dockerweb", "GoVersion": "n/a (python)", "Os": "linux", "Arch": "amd64",
        "KernelVersion": uname.release, "BuildTime": "",
    })


@docker_view
def info(request: HttpRequest) -> HttpResponse:
    states = list(Container.objects.values_list("state", flat=True))
    running = sum(s in (State.RUNNING, State.STOPPING) for s in states)
    stopped = sum(s in (State.EXITED, State.DEAD, State.CREATED) for s in states)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return JsonResponse({
        "ID": settings.DOCKERWEB_HOST, "Name": settings.DOCKERWEB_HOST,
        "Containers": len(states), "ContainersRunning": running, "ContainersPaused": 0,
        "ContainersStopped": stopped, "Images": Image.objects.count(), "Driver": "overlay",
        "DriverStatus": [], "SystemStatus": None, "Plugins": {
            "Volume": [], "Network": ["bridge", "none"], "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": False, "CpuCfsQuota": False,
        "OomKillDisable": False, "IPv4Forwarding": True, "Debug": False, "NFd": 0,
        "NGoroutines": 0, "SystemTime": translate.iso(timezone.now()),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "1",
        "NEventsListener": 0, "KernelVersion": platform.release(), "OperatingSystem": "dockerweb (LXC)",
        "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": {},
        "NCPU": os.cpu_count(), "MemTotal": mem, "DockerRootDir": settings.STATE_ROOT,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": VERSION, "Runtimes": {"lxc": {"path": "lxc-execute"}},
        "DefaultRuntime": "lxc", "Swarm": {"LocalNodeState": "inactive", "NodeID": "",
                                           "NodeAddr": "", "ControlAvailable": False, "Error": "",
                                           "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "", "SecurityOptions": [],
        "Warnings": [],
    })


# ---- containers ---------------------------------------------------------------------------
def _filters(request: HttpRequest) -> dict[str, list[str]]:
    raw = request.GET.get("filters")
    if not raw:
        return {}
    doc = json.loads(raw)
    # both {"status": ["running"]} and the old {"status": {"running": true}} forms
    return {k: list(v.keys()) if isinstance(v, dict) else list(v) for k, v in doc.items()}


@docker_view
def containers_list(request: HttpRequest) -> HttpResponse:
    qs = Container.objects.select_related("image")
    filters = _filters(request)
    if not boolean(request.GET, "all", False) and "status" not in filters:
        qs = qs.filter(state__in=[s.value for s in ACTIVE])
    out = []
    for c in qs:
        if not _matches(c, filters):
            continue
        net = network_of(c)
        out.append(translate.summary(c, port_mappings(c), {net["network"]: net} if net else {}))
    limit = integer(request.GET, "limit", None)
    return JsonResponse(out[:limit] if limit and limit > 0 else out, safe=False)


def _matches(c: Container, filters: dict[str, list[str]]) -> bool:
    checks = {
        "status": lambda v: translate.DOCKER_STATUS[c.status] == v,
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
    body = _body(request)
    if not body.get("Image"):
        raise InvalidArgument("config cannot be empty in order to create a container")
    spec = translate.spec_from_create(body)
    try:
        lookup.image(spec.image)
    except NotFound:
        raise NotFound(f"No such image: {spec.image}") from None
    c = lifecycle.create(spec, request.GET.get("name", ""))
    return JsonResponse({"Id": c.id, "Warnings": []}, status=201)


@docker_view
def container_inspect(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref)
    return JsonResponse(translate.inspect(c, engine().paths(c.id).log, network_of(c), port_mappings(c)))


@docker_view
def container_start(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("start", ref=lookup.container(ref).id)
    return HttpResponse(status=204)


def _stop_timeout(request: HttpRequest) -> float:
    return number(request.GET, "t", None, 0) if "t" in request.GET else number(
        request.GET, "timeout", 10.0, 0)


@docker_view
def container_stop(request: HttpRequest, ref: str) -> HttpResponse:
    timeout = _stop_timeout(request)
    rpc.call("stop", rpc_timeout=timeout + STOP_MARGIN, ref=lookup.container(ref).id,
             timeout=timeout, signal=request.GET.get("signal"))
    return HttpResponse(status=204)


@docker_view
def container_restart(request: HttpRequest, ref: str) -> HttpResponse:
    timeout = _stop_timeout(request)
    rpc.call("restart", rpc_timeout=2 * timeout + STOP_MARGIN, ref=lookup.container(ref).id,
             timeout=timeout)
    return HttpResponse(status=204)


@docker_view
def container_kill(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("kill", ref=lookup.container(ref).id, signal=request.GET.get("signal"))
    return HttpResponse(status=204)


@docker_view
def container_delete(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref)
    rpc.call("remove", ref=c.id, force=boolean(request.GET, "force", False))
    return HttpResponse(status=204)


@docker_view
def container_resize(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref)
    rows, cols = integer(request.GET, "h", 0, 0), integer(request.GET, "w", 0, 0)
    if c.status in ACTIVE:
        engine().resize(c.id, rows, cols)
    return HttpResponse(status=200)


# ---- wait, logs: streamed -------------------------------------------------------------------
def _last_seq() -> int:
    last = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
    return last or 0


def _wait_result(cid: str, condition: str, since_seq: int) -> dict[str, Any] | None:
    """The wait answer once `condition` holds, else None."""
    c = Container.objects.filter(pk=cid).first()
    if condition == "removed":
        if c is not None:
            return None
        die = Event.objects.filter(actor_id=cid, action="die").order_by("-seq").first()
        return {"StatusCode": int(die.attributes.get("exitCode", 0)) if die else 0, "Error": None}
    if condition == "next-exit":
        die = Event.objects.filter(actor_id=cid, action="die", seq__gt=since_seq).first()
        if die is None:
            return None
        return {"StatusCode": int(die.attributes.get("exitCode", 0)), "Error": None}
    if c is None:
        return {"StatusCode": 0, "Error": {"Message": "container removed"}}
    if c.status in ACTIVE:
        return None
    return {"StatusCode": c.exit_code if c.exit_code and c.exit_code > 0 else 0, "Error": None}


@docker_view
def container_wait(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref)
    condition = request.GET.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidArgument(f"invalid condition: {condition}")
    since = _last_seq()
    check = sync_to_async(_wait_result, thread_sensitive=False)

    async def body() -> AsyncIterator[bytes]:
        delay = 0.005
        while True:
            result = await check(c.id, condition, since)
            if result is not None:
                yield json.dumps(result).encode() + b"\n"
                return
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.1)

    # headers go out at once (the CLI waits for them before it starts the container)
    return StreamingHttpResponse(body(), content_type="application/json")


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed-stream frame: [stream, 0, 0, 0, len uint32 BE] + data."""
    return struct.pack(">BxxxI", stream, len(data)) + data


@docker_view
def container_logs(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref)
    q = request.GET
    query = enginelogs.LogQuery(stdout=boolean(q, "stdout", False), stderr=boolean(q, "stderr", False),
                                tail=tail(q), since=timestamp(q, "since") or None,
                                until=timestamp(q, "until") or None)
    if not (query.stdout or query.stderr):
        raise InvalidArgument("You must choose at least one stream")
    stamps = boolean(q, "timestamps", False)
    tty = bool(c.spec.get("tty"))
    path = engine().paths(c.id).log
    if boolean(q, "follow", False):
        records = enginelogs.follow(path, query, lambda: engine().status(c.id).kind != "running")
    else:
        records = iter(enginelogs.read(path, query)[0])

    def render(r: enginelogs.Record) -> bytes:
        data = (r.time.encode() + b" " + r.data) if stamps else r.data
        return data if tty else frame(1 if r.stream == "stdout" else 2, data)

    ctype = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    return StreamingHttpResponse((render(r) for r in records), content_type=ctype)


@docker_view
def container_pause(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("pause", ref=lookup.container(ref).id)
    return HttpResponse(status=204)


@docker_view
def container_unpause(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("unpause", ref=lookup.container(ref).id)
    return HttpResponse(status=204)


@docker_view
def container_rename(request: HttpRequest, ref: str) -> HttpResponse:
    lifecycle.rename(ref, request.GET.get("name", ""))
    return HttpResponse(status=204)


TOP_FIELDS = "uid,pid,ppid,c,stime,tty,time,cmd"


@docker_view
def container_top(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref)
    if c.status not in (State.RUNNING, State.STOPPING):
        raise Conflict(f"Container {c.id} is not running")
    pids = engine().processes(c.id)
    if not pids:
        return JsonResponse({"Titles": TOP_FIELDS.upper().split(","), "Processes": []})
    out = subprocess.run(["ps", "-o", TOP_FIELDS, "-p", ",".join(map(str, pids))],
                         capture_output=True, text=True).stdout.splitlines()
    titles = out[0].split()
    procs = [line.split(None, len(titles) - 1) for line in out[1:]]
    return JsonResponse({"Titles": titles, "Processes": procs})


def _event_filter(filters: dict[str, list[str]]):
    def ok(e: Event) -> bool:
        attrs = e.attributes or {}
        checks = {
            "type": lambda v: e.type == v,
            "event": lambda v: e.action == v,
            "container": lambda v: e.actor_id.startswith(v) or e.actor_name == v,
            "image": lambda v: attrs.get("image") == v,
            "label": lambda v: v in attrs or v in {f"{k}={x}" for k, x in attrs.items()},
        }
        return all(any(checks[k](v) for v in vals) for k, vals in filters.items() if k in checks)

    return ok


def _events_between(after_seq: int, since: float | None, until: float | None) -> list[Event]:
    qs = Event.objects.filter(seq__gt=after_seq).order_by("seq")
    if since is not None:
        qs = qs.filter(time__gte=datetime.fromtimestamp(since, tz=UTC))
    if until is not None:
        qs = qs.filter(time__lte=datetime.fromtimestamp(until, tz=UTC))
    return list(qs[:1000])


@docker_view
def events(request: HttpRequest) -> HttpResponse:
    """GET /events: past events from `since`, then live ones until `until` (or forever)."""
    since = timestamp(request.GET, "since")
    until = timestamp(request.GET, "until")
    keep = _event_filter(_filters(request))
    fetch = sync_to_async(_events_between, thread_sensitive=False)
    start_seq = 0 if since is not None else _last_seq()

    async def body() -> AsyncIterator[bytes]:
        seq = start_seq
        yield b""  # headers now: the CLI waits for them
        while True:
            batch = await fetch(seq, since, until)
            for e in batch:
                seq = e.seq
                if keep(e):
                    yield json.dumps(translate.event(e)).encode() + b"\n"
            if until is not None and time.time() >= until and not batch:
                return
            if not batch:
                await asyncio.sleep(0.1)

    return StreamingHttpResponse(body(), content_type="application/json")


def _network_doc(net) -> dict[str, Any]:
    from containers.models import Endpoint

    return {
        "Name": net.name, "Id": net.name, "Created": translate.iso(net.created), "Scope": "local",
        "Driver": net.driver, "EnableIPv6": False, "Internal": False, "Attachable": False,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]},
        "Options": {"com.docker.network.bridge.name": net.bridge}, "Labels": {},
        "Containers": {ep.container_id: {"Name": ep.container.name, "MacAddress": ep.mac,
                                         "IPv4Address": f"{ep.ip}/{ep.prefix}", "IPv6Address": ""}
                       for ep in Endpoint.objects.filter(network=net).select_related("container")},
    }


@docker_view
def networks_list(request: HttpRequest) -> HttpResponse:
    from containers.models import Network

    return JsonResponse([_network_doc(n) for n in Network.objects.all()], safe=False)


@docker_view
def network_inspect(request: HttpRequest, ref: str) -> HttpResponse:
    from containers.models import Network

    net = Network.objects.filter(name=ref).first()
    if net is None:
        raise NotFound(f"network {ref} not found")
    return JsonResponse(_network_doc(net))
