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

from containers import asyncstream, jsonprogress, lifecycle, lookup, registries, rpc
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


def _actor(request: HttpRequest):
    """Who acts (dockerapi/middleware.py): the token's user over TCP, None (the system) on
    the unix socket."""
    return request.docker_actor


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
    states = list(lookup.containers(_actor(request)).values_list("state", flat=True))
    running = sum(s in (State.RUNNING, State.STOPPING) for s in states)
    stopped = sum(s in (State.EXITED, State.DEAD, State.CREATED) for s in states)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return JsonResponse({
        "ID": settings.DOCKERWEB_HOST, "Name": settings.DOCKERWEB_HOST,
        "Containers": len(states), "ContainersRunning": running, "ContainersPaused": 0,
        "ContainersStopped": stopped, "Images": lookup.images(_actor(request)).count(), "Driver": "overlay",
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
    qs = lookup.containers(_actor(request)).select_related("image")
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
        lookup.image(spec.image, _actor(request))
    except NotFound:
        raise NotFound(f"No such image: {spec.image}") from None
    c = lifecycle.create(spec, request.GET.get("name", ""), user=_actor(request))
    return JsonResponse({"Id": c.id, "Warnings": []}, status=201)


@docker_view
def container_inspect(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref, _actor(request))
    return JsonResponse(translate.inspect(c, engine().paths(c.id).log, network_of(c), port_mappings(c)))


@docker_view
def container_start(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("start", ref=lookup.container(ref, _actor(request)).id)
    return HttpResponse(status=204)


def _stop_timeout(request: HttpRequest) -> float:
    return number(request.GET, "t", None, 0) if "t" in request.GET else number(
        request.GET, "timeout", 10.0, 0)


@docker_view
def container_stop(request: HttpRequest, ref: str) -> HttpResponse:
    timeout = _stop_timeout(request)
    rpc.call("stop", rpc_timeout=timeout + STOP_MARGIN, ref=lookup.container(ref, _actor(request)).id,
             timeout=timeout, signal=request.GET.get("signal"))
    return HttpResponse(status=204)


@docker_view
def container_restart(request: HttpRequest, ref: str) -> HttpResponse:
    timeout = _stop_timeout(request)
    rpc.call("restart", rpc_timeout=2 * timeout + STOP_MARGIN, ref=lookup.container(ref, _actor(request)).id,
             timeout=timeout)
    return HttpResponse(status=204)


@docker_view
def container_kill(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("kill", ref=lookup.container(ref, _actor(request)).id, signal=request.GET.get("signal"))
    return HttpResponse(status=204)


@docker_view
def container_delete(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref, _actor(request))
    rpc.call("remove", ref=c.id, force=boolean(request.GET, "force", False))
    return HttpResponse(status=204)


@docker_view
def container_resize(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref, _actor(request))
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
    c = lookup.container(ref, _actor(request))
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
    c = lookup.container(ref, _actor(request))
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
    return StreamingHttpResponse(asyncstream.stream(render(r) for r in records), content_type=ctype)


@docker_view
def container_pause(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("pause", ref=lookup.container(ref, _actor(request)).id)
    return HttpResponse(status=204)


@docker_view
def container_unpause(request: HttpRequest, ref: str) -> HttpResponse:
    rpc.call("unpause", ref=lookup.container(ref, _actor(request)).id)
    return HttpResponse(status=204)


@docker_view
def container_rename(request: HttpRequest, ref: str) -> HttpResponse:
    lifecycle.rename(ref, request.GET.get("name", ""), user=_actor(request))
    return HttpResponse(status=204)


TOP_FIELDS = "uid,pid,ppid,c,stime,tty,time,cmd"


@docker_view
def container_top(request: HttpRequest, ref: str) -> HttpResponse:
    c = lookup.container(ref, _actor(request))
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


def _events_between(after_seq: int, since: float | None, until: float | None, user) -> list[Event]:
    qs = lookup.events(user).filter(seq__gt=after_seq).order_by("seq")
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
    user = _actor(request)

    async def body() -> AsyncIterator[bytes]:
        seq = start_seq
        yield b""  # headers now: the CLI waits for them
        while True:
            batch = await fetch(seq, since, until, user)
            for e in batch:
                seq = e.seq
                if keep(e):
                    yield json.dumps(translate.event(e)).encode() + b"\n"
            if until is not None and time.time() >= until and not batch:
                return
            if not batch:
                await asyncio.sleep(0.1)

    return StreamingHttpResponse(body(), content_type="application/json")


def _network_doc(net, user) -> dict[str, Any]:
    from containers.models import Endpoint

    return {
        "Name": net.name, "Id": net.name, "Created": translate.iso(net.created), "Scope": "local",
        "Driver": net.driver, "EnableIPv6": False, "Internal": False, "Attachable": False,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]},
        "Options": {"com.docker.network.bridge.name": net.bridge}, "Labels": {},
        "Containers": {ep.container_id: {"Name": ep.container.name, "MacAddress": ep.mac,
                                         "IPv4Address": f"{ep.ip}/{ep.prefix}", "IPv6Address": ""}
                       for ep in Endpoint.objects.filter(
                           network=net, container__in=lookup.containers(user)).select_related("container")},
    }


@docker_view
def networks_list(request: HttpRequest) -> HttpResponse:
    user = _actor(request)
    return JsonResponse([_network_doc(n, user) for n in lookup.networks(user)], safe=False)


@docker_view
def network_inspect(request: HttpRequest, ref: str) -> HttpResponse:
    user = _actor(request)
    return JsonResponse(_network_doc(lookup.network(ref, user), user))


# ---- images -------------------------------------------------------------------------------
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
    user = _actor(request)
    imgs = lookup.images(user).prefetch_related("tag_set", "repodigest_set").order_by("-created")
    if not boolean(request.GET, "all", False):  # hide untagged intermediate images, as Docker
        imgs = [i for i in imgs if i.tag_set.all() or not i.children.exists()]
    return JsonResponse([_image_summary(i, user) for i in imgs], safe=False)


@docker_view
def image_inspect(request: HttpRequest, ref: str) -> HttpResponse:
    img = lookup.image(ref, _actor(request))
    doc = engine().images.config_doc(img.id)
    return JsonResponse({
        "Id": f"sha256:{img.id}", "RepoTags": _tags(img, _actor(request)), "RepoDigests": img.digests(),
        "Parent": f"sha256:{img.parent_id}" if img.parent_id else "", "Comment": doc.get("comment", ""),
        "Created": doc.get("created", ""), "DockerVersion": "", "Author": doc.get("author", ""),
        "Config": doc.get("config") or {}, "Architecture": doc.get("architecture", "amd64"),
        "Os": doc.get("os", "linux"), "Size": img.size, "VirtualSize": img.size,
        "GraphDriver": {"Name": "overlay", "Data": {}},
        "RootFS": {"Type": "layers", "Layers": doc["rootfs"]["diff_ids"]},
        "Metadata": {"LastTagTime": ZERO},
    })


ZERO = "0001-01-01T00:00:00Z"


@docker_view
def image_history(request: HttpRequest, ref: str) -> HttpResponse:
    img = lookup.image(ref, _actor(request))
    hist = engine().images.history(img.id)
    tags = _tags(img, _actor(request))
    out = [{"Id": f"sha256:{img.id}" if i == 0 else "<missing>", "Created": _unix(h["created"]),
            "CreatedBy": h["created_by"], "Tags": tags if i == 0 else None, "Size": h["size"],
            "Comment": h["comment"]} for i, h in enumerate(hist)]
    return JsonResponse(out, safe=False)


@docker_view
def image_tag(request: HttpRequest, ref: str) -> HttpResponse:
    from containers import images

    images.tag(ref, request.GET.get("repo", ""), request.GET.get("tag", ""), user=_actor(request))
    return HttpResponse(status=201)


@docker_view
def image_delete(request: HttpRequest, ref: str) -> HttpResponse:
    from containers import images

    return JsonResponse(images.remove(ref, boolean(request.GET, "force", False), user=_actor(request)),
                        safe=False)


@docker_view
def images_create(request: HttpRequest) -> HttpResponse:
    """fromSrc=- imports the body (a tar); fromImage pulls (the registry client)."""
    from containers import images

    q = request.GET
    if q.get("fromSrc") == "-":
        repo, tag = q.get("repo", ""), q.get("tag", "")
        if repo and not tag and ":" in repo.rsplit("/", 1)[-1]:
            repo, tag = repo.rsplit(":", 1)
        img = images.import_tar(request, repo, tag, q.get("message", ""), user=_actor(request))
        return JsonResponse({"status": f"sha256:{img.id}"})
    if q.get("fromImage"):
        ref = q["fromImage"] + (f":{q['tag']}" if q.get("tag") and "@" not in q["fromImage"] else "")
        creds = registries.credentials(request.headers.get("X-Registry-Auth", ""))
        user = _actor(request)
        lines = jsonprogress.start(lambda emit: registries.pull(ref, creds, emit, user=user))
        return StreamingHttpResponse(lines, content_type="application/json")
    raise InvalidArgument("fromSrc=- or fromImage is required")


@docker_view
def auth(request: HttpRequest) -> HttpResponse:
    """docker login: the credentials are checked against the registry, not stored here."""
    body = _body(request)
    user, password = body.get("username") or "", body.get("password") or ""
    if not isinstance(user, str) or not isinstance(password, str) or not user:
        raise InvalidArgument("username and password are required")
    registries.login(str(body.get("serveraddress") or ""), (user, password))
    return JsonResponse({"Status": "Login Succeeded", "IdentityToken": ""})


@docker_view
def image_push(request: HttpRequest, ref: str) -> HttpResponse:
    """docker push: JSON progress lines; ?tag= (every tag of the name when empty)."""
    creds = registries.credentials(request.headers.get("X-Registry-Auth", ""))
    tag, user = request.GET.get("tag", ""), _actor(request)
    lines = jsonprogress.start(lambda emit: registries.push(ref, tag, creds, emit, user=user))
    return StreamingHttpResponse(lines, content_type="application/json")


@docker_view
def images_get(request: HttpRequest, ref: str = "") -> HttpResponse:
    """docker save: /images/{name}/get or /images/get?names=a&names=b, a `docker save` tar."""
    from containers import images

    refs = [ref] if ref else request.GET.getlist("names")
    return StreamingHttpResponse(asyncstream.stream(images.save(refs, user=_actor(request))),
                                 content_type="application/x-tar")


@docker_view
def images_load(request: HttpRequest) -> HttpResponse:
    """docker load: the body is a `docker save` or OCI layout tar (any compression)."""
    from containers import images

    loaded = images.load(request, user=_actor(request))
    lines = [{"stream": f"Loaded image: {t}\n"} for _, tags in loaded for t in tags]
    lines += [{"stream": f"Loaded image ID: sha256:{img.id}\n"} for img, tags in loaded if not tags]
    body = b"".join(json.dumps(m).encode() + b"\n" for m in lines)
    return HttpResponse(body, content_type="application/json")


@docker_view
def commit(request: HttpRequest) -> HttpResponse:
    from containers import images

    q = request.GET
    repo, tag = q.get("repo", ""), q.get("tag", "")
    changes = {k: v for k, v in _body(request).items() if v not in (None, "", [], {})
               and k in ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Labels", "ExposedPorts")}
    changes.update(translate.dockerfile_changes(q.getlist("changes"), changes.get("Env") or []))
    img = images.commit(q.get("container", ""), repo, tag, q.get("author", ""), q.get("comment", ""), changes,
                        user=_actor(request))
    return JsonResponse({"Id": f"sha256:{img.id}"}, status=201)


@docker_view
def container_changes(request: HttpRequest, ref: str) -> HttpResponse:
    from containers.images import info as image_info

    c = lookup.container(ref, _actor(request))
    out = [{"Path": ch.path, "Kind": ch.kind} for ch in engine().changes(c.id, image_info(c.image))]
    return JsonResponse(out or None, safe=False)


@docker_view
def container_export(request: HttpRequest, ref: str) -> HttpResponse:
    from containers.images import info as image_info

    c = lookup.container(ref, _actor(request))
    return StreamingHttpResponse(asyncstream.stream(engine().export(c.id, image_info(c.image))),
                                 content_type="application/x-tar")


# ---- exec and stats -----------------------------------------------------------------------
@docker_view
def exec_create(request: HttpRequest, ref: str) -> HttpResponse:
    from containers import execs
    from containers.engine.exec import ExecConfig

    body = _body(request)
    console = body.get("ConsoleSize") or []
    cfg = ExecConfig(cmd=translate._list(body.get("Cmd"), "Cmd"), tty=bool(body.get("Tty")),
                     stdin=bool(body.get("AttachStdin")), env=translate._list(body.get("Env"), "Env"),
                     user=body.get("User") or "", working_dir=body.get("WorkingDir") or "",
                     console_size=[int(n) for n in console] if any(console) else []).validated()
    return JsonResponse({"Id": execs.create(ref, cfg, _actor(request))}, status=201)


@docker_view
def exec_inspect(request: HttpRequest, eid: str) -> HttpResponse:
    from containers import execs

    lookup.exec_container(eid, _actor(request))
    info = execs.inspect(eid)
    cfg = info.config
    return JsonResponse({
        "ID": info.id, "Running": info.running, "ExitCode": info.exit_code, "Pid": info.pid or 0,
        "ContainerID": info.container_id, "OpenStdin": cfg.stdin, "OpenStdout": True, "OpenStderr": True,
        "CanRemove": False, "DetachKeys": "",
        "ProcessConfig": {"tty": cfg.tty, "entrypoint": cfg.cmd[0], "arguments": cfg.cmd[1:],
                          "privileged": False, "user": cfg.user},
    })


@docker_view
def exec_start_detached(request: HttpRequest, eid: str) -> HttpResponse:
    """Non-hijacked start (Detach: true)."""
    from containers import execs

    lookup.exec_container(eid, _actor(request))
    execs.start(eid)
    return HttpResponse(status=200)


@docker_view
def exec_resize(request: HttpRequest, eid: str) -> HttpResponse:
    from containers import execs
    from containers.engine.attach import AttachClient

    rows, cols = integer(request.GET, "h", 0, 0), integer(request.GET, "w", 0, 0)
    lookup.exec_container(eid, _actor(request))
    try:
        with AttachClient(execs.paths(eid).attach, timeout=5) as client:
            client.resize(rows, cols)
    except OSError:
        pass
    return HttpResponse(status=200)


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
        "blkio_stats": {}, "networks": {},
    }


@docker_view
def container_stats(request: HttpRequest, ref: str) -> HttpResponse:
    from containers.engine import stats as enginestats

    c = lookup.container(ref, _actor(request))
    parent = settings.DOCKERWEB_CGROUP_PARENT
    stream = boolean(request.GET, "stream", True) and not boolean(request.GET, "one-shot", False)
    if not stream:
        prev = enginestats.read(parent, c.id)
        time.sleep(0.2)
        cur = enginestats.read(parent, c.id)
        if cur is None:
            raise Conflict(f"container {c.id} is not running")
        return JsonResponse(_docker_stats(c, cur, prev))

    async def body() -> AsyncIterator[bytes]:
        read = sync_to_async(enginestats.read, thread_sensitive=False)
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
    import base64

    from containers.engine.inroot import check_path
    from containers.images import info as image_info

    c = lookup.container(ref, _actor(request))
    path = request.GET.get("path") or ""
    if not path:
        raise InvalidArgument("path is required")
    check_path(path)  # PATH_MAX, NAME_MAX: a 400, not an OSError
    img = image_info(c.image)
    if request.method == "PUT":
        engine().archive_put(c.id, img, path, request)
        return HttpResponse(status=200)
    if request.method == "HEAD":
        st = engine().path_stat(c.id, img, path)
        resp = HttpResponse(status=200)
    else:  # one resolution for the stat and the tar
        st, chunks = engine().archive_get(c.id, img, path)
        resp = StreamingHttpResponse(asyncstream.stream(chunks), content_type="application/x-tar")
    resp["X-Docker-Container-Path-Stat"] = base64.b64encode(json.dumps(st).encode()).decode()
    return resp
