"""Docker Engine API: system (ping, version, info, auth, events)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone

from containers import hosts, lookup, registries, rpc, runtime
from containers.api.params import timestamp
from containers.asyncstream import in_thread
from containers.dockerapi import translate
from containers.dockerapi.common import (
    API_VERSION,
    MIN_API_VERSION,
    VERSION,
    actor_of,
    body_of,
    docker_view,
    filters_of,
)
from containers.engine.errors import InvalidArgument
from containers.engine.state import State
from containers.events import between, latest_seq
from containers.models import Event


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
    states = list(lookup.containers(actor_of(request)).values_list("state", flat=True))
    running = sum(s in (State.RUNNING, State.STOPPING) for s in states)
    stopped = sum(s in (State.EXITED, State.DEAD, State.CREATED) for s in states)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    down = rpc.problems()  # `docker info` prints Warnings: say what is down
    fleet = hosts.views()
    return JsonResponse({
        "ID": runtime.host_name(), "Name": runtime.host_name(),
        "Containers": len(states), "ContainersRunning": running, "ContainersPaused": 0,
        "ContainersStopped": stopped, "Images": lookup.images(actor_of(request)).count(), "Driver": "overlay",
        "DriverStatus": [], "SystemStatus": None, "Plugins": {
            "Volume": [], "Network": ["bridge", "none"], "Log": ["json-file"]},
        "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": False, "CpuCfsQuota": False,
        "OomKillDisable": False, "IPv4Forwarding": True, "Debug": False, "NFd": 0,
        "NGoroutines": 0, "SystemTime": translate.iso(timezone.now()),
        "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": "1",
        "NEventsListener": 0, "KernelVersion": platform.release(), "OperatingSystem": "dockerweb (LXC)",
        "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": {},
        "NCPU": os.cpu_count(), "MemTotal": mem, "DockerRootDir": runtime.state_root(),
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Labels": host_labels(fleet),
        "ExperimentalBuild": False,
        "ServerVersion": VERSION, "Runtimes": {"lxc": {"path": "lxc-execute"}},
        "DefaultRuntime": "lxc", "Swarm": {"LocalNodeState": "inactive", "NodeID": "",
                                           "NodeAddr": "", "ControlAvailable": False, "Error": "",
                                           "RemoteManagers": None},
        "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": "", "SecurityOptions": [],
        "Warnings": [f"{part} is down: {why}" for part, why in down.items()]
                    + [f"host {h.name} is down" for h in fleet if h.status == "down"],
    })


def host_labels(fleet: list[hosts.HostView]) -> list[str]:
    """The hosts sharing this database as `docker info` labels (no Swarm): one
    "com.dockerweb.host.<name>=<status>,running=N,containers=N,cpus=N[,draining]" each."""
    return [f"com.dockerweb.host.{h.name}={h.status},running={h.running},containers={h.containers},"
            f"cpus={h.cpus}{',draining' if h.draining else ''}" for h in fleet]


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


@docker_view
def events(request: HttpRequest) -> HttpResponse:
    """GET /events: past events from `since`, then live ones until `until` (or forever)."""
    since = timestamp(request.GET, "since")
    until = timestamp(request.GET, "until")
    keep = _event_filter(filters_of(request))
    fetch = in_thread(between)
    start_seq = 0 if since is not None else latest_seq()
    user = actor_of(request)

    async def body() -> AsyncIterator[bytes]:
        seq = start_seq
        yield b""  # headers now: the CLI waits for them
        while True:
            batch = await fetch(seq, user=user, since=since, until=until)
            for e in batch:
                seq = e.seq
                if keep(e):
                    yield json.dumps(translate.event(e)).encode() + b"\n"
            if until is not None and time.time() >= until and not batch:
                return
            if not batch:
                await asyncio.sleep(0.1)

    return StreamingHttpResponse(body(), content_type="application/json")


@docker_view
def auth(request: HttpRequest) -> HttpResponse:
    """docker login: the credentials are checked against the registry, not stored here."""
    body = body_of(request)
    user, password = body.get("username") or "", body.get("password") or ""
    if not isinstance(user, str) or not isinstance(password, str) or not user:
        raise InvalidArgument("username and password are required")
    registries.login(str(body.get("serveraddress") or ""), (user, password))
    return JsonResponse({"Status": "Login Succeeded", "IdentityToken": ""})
