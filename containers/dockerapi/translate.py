"""Docker Engine API documents <-> dockerweb's spec and records (pure functions)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from containers.engine import logconfig
from containers.engine.confine.capabilities import docker_names
from containers.engine.errors import InvalidArgument
from containers.engine.fs import mounts
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
        log_driver=_log_driver(host.get("LogConfig")),
        **restart_policy(host.get("RestartPolicy")),
        stop_timeout=_optional(body.get("StopTimeout"), "StopTimeout"),
        memory_swappiness=_swappiness(host.get("MemorySwappiness")),
        mounts=_mounts(body),
        binds=_list(host.get("Binds"), "Binds"),
        volumes_from=_list(host.get("VolumesFrom"), "VolumesFrom"),
    )


def restart_policy(policy: Any) -> dict[str, Any]:
    """HostConfig.RestartPolicy {"Name", "MaximumRetryCount"} -> the spec's fields (a
    missing or empty Name is "no", as Docker)."""
    if policy is None:
        return {}
    if not isinstance(policy, dict):
        raise InvalidArgument("RestartPolicy must be an object")
    return {"restart_policy": policy.get("Name") or "no",
            "restart_max_retries": _number(policy.get("MaximumRetryCount"), "MaximumRetryCount")}


UPDATE_RESOURCES = {"Memory": "memory", "MemorySwap": "memory_swap", "NanoCpus": "nano_cpus",
                    "CpuShares": "cpu_shares", "CpuPeriod": "cpu_period", "CpuQuota": "cpu_quota"}


def update_changes(body: dict[str, Any]) -> dict[str, Any]:
    """POST /containers/{id}/update body -> the spec fields to change, as Docker reads it:
    a resource that is 0 or missing is left as it is, PidsLimit and MemorySwappiness when
    not null, RestartPolicy when its Name is not empty."""
    if not isinstance(body, dict):
        raise InvalidArgument("update config must be an object")
    out: dict[str, Any] = {}
    for key, field in UPDATE_RESOURCES.items():
        value = _number(body.get(key), key)
        if value:
            out[field] = value
    if body.get("PidsLimit") is not None:
        out["pids_limit"] = _number(body["PidsLimit"], "PidsLimit")
    if body.get("MemorySwappiness") is not None:
        out["memory_swappiness"] = _swappiness(body["MemorySwappiness"])
    policy = body.get("RestartPolicy")
    if isinstance(policy, dict) and policy.get("Name"):
        out.update(restart_policy(policy))
    return out


def _optional(value: Any, what: str) -> int | None:
    return None if value is None else _number(value, what)


def _swappiness(value: Any) -> int | None:
    """MemorySwappiness: null or -1 (the CLI's default) leave the host's."""
    value = _optional(value, "MemorySwappiness")
    return None if value == -1 else value


def _log_driver(config: Any) -> str:
    if not isinstance(config, dict):
        return logconfig.DEFAULT_DRIVER
    return config.get("Type") or logconfig.DEFAULT_DRIVER


def _mounts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """HostConfig.Binds and HostConfig.Mounts, then Config.Volumes (anonymous volumes) at the
    targets they leave free. Duplicate targets among the first two are refused later."""
    host = body.get("HostConfig") or {}
    if (host.get("VolumeDriver") or "local") != "local":
        raise InvalidArgument("only the local volume driver is supported")
    out = [mounts.parse_bind(b) for b in _list(host.get("Binds"), "Binds")]
    docs = host.get("Mounts") or []
    if not isinstance(docs, list):
        raise InvalidArgument("Mounts must be a list of objects")
    out += [mounts.from_docker_mount(d) for d in docs]
    tmpfs = host.get("Tmpfs") or {}
    if not isinstance(tmpfs, dict):
        raise InvalidArgument("Tmpfs must be an object")
    out += [mounts.parse_tmpfs(path, opts) for path, opts in tmpfs.items()]
    volumes = body.get("Volumes") or {}
    if not isinstance(volumes, dict):
        raise InvalidArgument("Volumes must be an object")
    taken = {m["target"] for m in out}
    for path in volumes:
        m = mounts.mount("volume", "", path, origin="volumes")
        if m["target"] not in taken:
            out.append(m)
            taken.add(m["target"])
    return out


def mount_points(c: Container) -> list[dict[str, Any]]:
    """The Mounts of inspect and of the container list, as Docker shows them."""
    out = []
    for m in c.spec.get("mounts") or []:
        rw = not m.get("read_only")
        if m["type"] == "tmpfs":  # HostConfig.Tmpfs ones are not listed (as Docker)
            if m.get("origin") == "mounts":
                out.append({"Type": "tmpfs", "Source": "", "Destination": m["target"], "Mode": "",
                            "RW": rw, "Propagation": ""})
        elif m["type"] == "bind":
            words = (m.get("mode") or "").split(",")
            prop = next((w for w in words if w in mounts.PROPAGATIONS), "rprivate")
            out.append({"Type": "bind", "Source": m["source"], "Destination": m["target"],
                        "Mode": m.get("mode", "") if m.get("origin") == "binds" else "", "RW": rw,
                        "Propagation": prop})
        else:
            out.append({"Type": "volume", "Name": m["source"],
                        "Source": engine().volumes.data(m["source"]), "Destination": m["target"],
                        "Driver": "local", "Mode": m.get("mode") or "z", "RW": rw, "Propagation": ""})
    return out


def _host_mounts(spec: dict[str, Any]) -> list[dict[str, Any]] | None:
    """HostConfig.Mounts as the request gave them (origin "mounts")."""
    out = [{"Type": m["type"], "Source": m["source"], "Target": m["target"],
            **({"ReadOnly": True} if m.get("read_only") else {})}
           for m in spec.get("mounts") or [] if m.get("origin") == "mounts"]
    return out or None


def _log_opts(config: Any) -> dict[str, str]:
    """HostConfig.LogConfig: {"Type": "json-file" (or empty), "Config": {"max-size": ...}}."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise InvalidArgument("LogConfig must be an object")
    logconfig.validate_driver(config.get("Type") or "")
    opts = config.get("Config") or {}
    logconfig.validate_opts(opts, config.get("Type") or logconfig.DEFAULT_DRIVER)
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


def restarting(c: Container) -> bool:
    """Docker's "restarting": exited, waiting out its restart policy's back-off."""
    return c.restart_at is not None and c.status in (State.EXITED, State.DEAD)


def docker_status(c: Container) -> str:
    return "restarting" if restarting(c) else DOCKER_STATUS[c.status]


def status_text(c: Container) -> str:
    """`docker ps` STATUS column: "Up 5 seconds", "Exited (0) 3 seconds ago"."""
    s = c.status
    if restarting(c):
        return f"Restarting ({c.exit_code}) {_ago(c.finished_at)} ago"
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
        "State": docker_status(c), "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.spec.get("network_mode", "bridge")},
        "NetworkSettings": {"Networks": networks}, "Mounts": mount_points(c),
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
        "Node": {"Name": c.host},  # the host it runs on (issue 16; as Swarm classic showed it)
        "Path": argv[0] if argv else "",
        "Args": argv[1:],
        "State": {
            "Status": "paused" if paused else docker_status(c), "Running": running,
            "Paused": paused,
            "Restarting": restarting(c), "OOMKilled": c.oom_killed, "Dead": c.status == State.DEAD,
            "Pid": (engine().main_pid(c.id) or 0) if running else 0,
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
            "LogConfig": {"Type": spec.get("log_driver") or logconfig.DEFAULT_DRIVER,
                          "Config": spec.get("log_opts") or {}},
            "NetworkMode": spec.get("network_mode", "bridge"),
            "PortBindings": port_bindings(mappings),
            "AutoRemove": bool(spec.get("auto_remove")),
            "Memory": spec.get("memory", 0), "MemorySwap": spec.get("memory_swap", 0),
            "ConsoleSize": spec.get("console_size") or [0, 0],
            "RestartPolicy": {"Name": spec.get("restart_policy") or "no",
                              "MaximumRetryCount": spec.get("restart_max_retries", 0)},
            "MemorySwappiness": spec.get("memory_swappiness"),
            "Binds": spec.get("binds") or None, "Mounts": _host_mounts(spec),
            "VolumesFrom": spec.get("volumes_from") or None,
            "Tmpfs": {m["target"]: m.get("mode", "") for m in spec.get("mounts") or []
                      if m.get("origin") == "tmpfs"} or None,
            "Privileged": bool(spec.get("privileged")),
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
            "Image": c.image_ref, "WorkingDir": spec.get("working_dir", ""),
            "Volumes": {m["target"]: {} for m in spec.get("mounts") or []
                        if m.get("origin") in ("volumes", "image")} or None,
            "Entrypoint": spec.get("entrypoint") or None, "Labels": spec.get("labels") or {},
            **({"StopTimeout": spec["stop_timeout"]} if spec.get("stop_timeout") is not None else {}),
        },
        "NetworkSettings": {
            "IPAddress": net.get("ip", ""), "IPPrefixLen": net.get("prefix", 0),
            "Gateway": net.get("gateway", ""), "MacAddress": net.get("mac", ""),
            "Ports": port_bindings(mappings) or {},
            "Networks": net.get("endpoints", {}),
        },
        "Mounts": mount_points(c),
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
