"""Docker Engine API documents <-> dockerweb's spec and records (pure functions)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from containers.engine import logconfig
from containers.engine.confine.capabilities import docker_names
from containers.engine.errors import InvalidArgument
from containers.engine.spec import ContainerSpec
from containers.engine.state import State
from containers.models import Container
from containers.runtime import engine

ZERO_TIME = "0001-01-01T00:00:00Z"
DOCKER_STATUS = {
    State.CREATED: "created", State.STARTING: "created", State.RUNNING: "running",
    State.STOPPING: "running", State.EXITED: "exited", State.DEAD: "dead",
    State.REMOVING: "removing",
}


def _list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InvalidArgument(f"{what} must be a list of strings")


def _ports(body: dict[str, Any]) -> list[str]:
    """HostConfig.PortBindings + ExposedPorts -> our -p strings."""
    host = body.get("HostConfig") or {}
    bindings = host.get("PortBindings") or {}
    out: list[str] = []
    for key, binds in bindings.items():
        private, _, proto = key.partition("/")
        for b in binds or [{}]:
            ip, public = (b or {}).get("HostIp") or "", (b or {}).get("HostPort") or ""
            prefix = f"{ip}:" if ip else ""
            mid = f"{public}:" if public or ip else ""
            out.append(f"{prefix}{mid}{private}/{proto or 'tcp'}")
    if host.get("PublishAllPorts"):
        for key in (body.get("ExposedPorts") or {}):
            if key not in bindings:
                private, _, proto = key.partition("/")
                out.append(f"{private}/{proto or 'tcp'}")
    return out


def spec_from_create(body: dict[str, Any]) -> ContainerSpec:
    """POST /containers/create body -> ContainerSpec (validated later by the service)."""
    host = body.get("HostConfig") or {}
    mode = host.get("NetworkMode") or "bridge"
    if mode == "default":
        mode = "bridge"
    console = host.get("ConsoleSize") or []
    return ContainerSpec(
        image=body.get("Image") or "",
        cmd=_list(body.get("Cmd"), "Cmd"),
        entrypoint=_list(body.get("Entrypoint"), "Entrypoint"),
        hostname=body.get("Hostname") or "",
        user=body.get("User") or "",
        env=_list(body.get("Env"), "Env"),
        working_dir=body.get("WorkingDir") or "",
        memory=int(host.get("Memory") or 0),
        memory_swap=int(host.get("MemorySwap") or 0),
        tty=bool(body.get("Tty")),
        open_stdin=bool(body.get("OpenStdin")),
        stdin_once=bool(body.get("StdinOnce")),
        ports=_ports(body),
        auto_remove=bool(host.get("AutoRemove")),
        network_mode=mode,
        console_size=[int(n) for n in console] if any(console) else [],
        labels=dict(body.get("Labels") or {}),
        cap_add=_list(host.get("CapAdd"), "CapAdd"),
        cap_drop=_list(host.get("CapDrop"), "CapDrop"),
        privileged=bool(host.get("Privileged")),
        pids_limit=_number(host.get("PidsLimit"), "PidsLimit"),
        nano_cpus=_number(host.get("NanoCpus"), "NanoCpus"),
        cpu_shares=_number(host.get("CpuShares"), "CpuShares"),
        cpu_period=_number(host.get("CpuPeriod"), "CpuPeriod"),
        cpu_quota=_number(host.get("CpuQuota"), "CpuQuota"),
        log_opts=_log_opts(host.get("LogConfig")),
    )


def _log_opts(config: Any) -> dict[str, str]:
    """HostConfig.LogConfig: {"Type": "json-file" (or empty), "Config": {"max-size": ...}}."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidArgument("LogConfig must be an object")
    logconfig.validate_driver(config.get("Type") or "")
    opts = config.get("Config") or {}
    logconfig.validate_opts(opts)
    return dict(opts)


def _number(value: Any, what: str) -> int:
    """An integer field of HostConfig; null is 0 (unset)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{what} must be an integer")
    return value


def iso(dt: datetime | None) -> str:
    if dt is None:
        return ZERO_TIME
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _argv(c: Container) -> list[str]:
    spec = c.spec
    cfg = c.image.config or {}
    if spec.get("entrypoint"):
        return [*spec["entrypoint"], *spec.get("cmd", [])]
    return [*(cfg.get("Entrypoint") or []), *(spec.get("cmd") or cfg.get("Cmd") or [])]


def _ago(dt: datetime | None) -> str:
    if dt is None:
        return ""
    secs = max(0, int(time.time() - dt.timestamp()))
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if secs >= 2 * size:
            return f"{secs // size} {unit}"
    if secs >= 60:
        return "About a minute"
    return "Less than a second" if secs < 1 else f"{secs} seconds"


def status_text(c: Container) -> str:
    """`docker ps` STATUS column: "Up 5 seconds", "Exited (0) 3 seconds ago"."""
    s = c.status
    if s in (State.RUNNING, State.STOPPING):
        return f"Up {_ago(c.started_at)}" + (" (Paused)" if c.paused else "")
    if s == State.EXITED:
        return f"Exited ({c.exit_code}) {_ago(c.finished_at)} ago"
    if s == State.DEAD:
        return "Dead"
    if s == State.REMOVING:
        return "Removal In Progress"
    return "Created"


def port_list(c: Container, mappings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"IP": m.get("host_ip") or "0.0.0.0", "PrivatePort": m["container_port"],
             "PublicPort": m["host_port"], "Type": m["proto"]} for m in mappings]


def summary(c: Container, mappings: list[dict[str, Any]], networks: dict[str, Any]) -> dict[str, Any]:
    """An entry of GET /containers/json."""
    return {
        "Id": c.id, "Names": [f"/{c.name}"], "Image": c.image_ref, "ImageID": f"sha256:{c.image_id}",
        "Command": " ".join(_argv(c)), "Created": int(c.created.timestamp()),
        "Ports": port_list(c, mappings), "Labels": c.spec.get("labels") or {},
        "State": DOCKER_STATUS[c.status], "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.spec.get("network_mode", "bridge")},
        "NetworkSettings": {"Networks": networks}, "Mounts": [],
    }


def port_bindings(mappings: list[dict[str, Any]]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for m in mappings:
        out.setdefault(f"{m['container_port']}/{m['proto']}", []).append(
            {"HostIp": m.get("host_ip") or "0.0.0.0", "HostPort": str(m["host_port"])})
    return out


def inspect(c: Container, log_path: str, network: dict[str, Any] | None,
            mappings: list[dict[str, Any]]) -> dict[str, Any]:
    """GET /containers/{id}/json."""
    spec = c.spec
    argv = _argv(c)
    running = c.status in (State.RUNNING, State.STOPPING)
    paused = running and c.paused
    net = network or {}
    requested_ports: dict[str, Any] = {}
    for p in spec.get("ports") or []:
        private = p.rsplit(":", 1)[-1]
        requested_ports[private if "/" in private else f"{private}/tcp"] = {}
    return {
        "Id": c.id,
        "Created": iso(c.created),
        "Path": argv[0] if argv else "",
        "Args": argv[1:],
        "State": {
            "Status": "paused" if paused else DOCKER_STATUS[c.status], "Running": running,
            "Paused": paused,
            "Restarting": False, "OOMKilled": c.oom_killed, "Dead": c.status == State.DEAD,
            "Pid": c.init_pid if running and c.init_pid else 0,
            "ExitCode": c.exit_code if c.exit_code is not None and c.exit_code >= 0 else 0,
            "Error": c.error, "StartedAt": iso(c.started_at), "FinishedAt": iso(c.finished_at),
        },
        "Image": f"sha256:{c.image_id}",
        "LogPath": log_path,
        "Name": f"/{c.name}",
        "RestartCount": c.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "HostConfig": {
            "LogConfig": {"Type": "json-file", "Config": spec.get("log_opts") or {}},
            "NetworkMode": spec.get("network_mode", "bridge"),
            "PortBindings": port_bindings(mappings),
            "AutoRemove": bool(spec.get("auto_remove")),
            "Memory": spec.get("memory", 0), "MemorySwap": spec.get("memory_swap", 0),
            "ConsoleSize": spec.get("console_size") or [0, 0],
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "Binds": None, "Privileged": bool(spec.get("privileged")),
            "CapAdd": docker_names(spec.get("cap_add") or []) or None,
            "CapDrop": docker_names(spec.get("cap_drop") or []) or None,
            "PidsLimit": spec.get("pids_limit") or engine().config.pids_limit,
            "NanoCpus": spec.get("nano_cpus", 0), "CpuShares": spec.get("cpu_shares", 0),
            "CpuPeriod": spec.get("cpu_period", 0), "CpuQuota": spec.get("cpu_quota", 0),
        },
        "Config": {
            "Hostname": c.hostname, "Domainname": "", "User": spec.get("user", ""),
            "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
            "ExposedPorts": requested_ports or None,
            "Tty": bool(spec.get("tty")), "OpenStdin": bool(spec.get("open_stdin")),
            "StdinOnce": bool(spec.get("stdin_once")), "Env": spec.get("env") or [],
            "Cmd": spec.get("cmd") or (c.image.config or {}).get("Cmd"),
            "Image": c.image_ref, "Volumes": None, "WorkingDir": spec.get("working_dir", ""),
            "Entrypoint": spec.get("entrypoint") or None, "Labels": spec.get("labels") or {},
        },
        "NetworkSettings": {
            "IPAddress": net.get("ip", ""), "IPPrefixLen": net.get("prefix", 0),
            "Gateway": net.get("gateway", ""), "MacAddress": net.get("mac", ""),
            "Ports": port_bindings(mappings) or {},
            "Networks": ({net.get("network", "bridge"): {
                "IPAddress": net.get("ip", ""), "IPPrefixLen": net.get("prefix", 0),
                "Gateway": net.get("gateway", ""), "MacAddress": net.get("mac", ""),
                "NetworkID": net.get("network", "bridge")}} if net else {}),
        },
        "Mounts": [],
    }


def event(e: Any) -> dict[str, Any]:
    """An Event record as a line of GET /events."""
    ns = int(e.time.timestamp() * 1_000_000_000)
    attrs = {k: str(v) for k, v in (e.attributes or {}).items()}
    doc = {"Type": e.type, "Action": e.action, "Actor": {"ID": e.actor_id, "Attributes": attrs},
           "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns}
    if e.type == "container":  # the pre-1.22 fields the CLI still reads
        doc.update({"status": e.action, "id": e.actor_id, "from": attrs.get("image", "")})
    return doc
