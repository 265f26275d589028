"""Docker Engine API: exec. Hijacked `POST /exec/{id}/start` (docker exec): start the exec,
then bridge its stdio exactly like an attach (same supervisor framing, same Attach session);
create, inspect, detached start and resize are plain views."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from containers import execs, lookup
from containers.api.params import integer
from containers.dockerapi import translate
from containers.dockerapi.common import actor_of, body_of, docker_view
from containers.dockerapi.hijack import RawStream

EXEC_START_RE = re.compile(r"^(?:/v(?P<version>[0-9.]+))?/exec/(?P<eid>[^/]+)/start\Z")


async def hijack_exec(scope: dict[str, Any], stream: RawStream) -> bool:
    """Handle POST /exec/{id}/start if `scope` is one; False when it is not an exec."""
    m = EXEC_START_RE.match(scope["path"])
    if m is None:
        return False
    from containers import lookup
    from containers.asyncstream import in_thread
    from containers.dockerapi.attach import Attach, _audit, http_error, response_head, send_head
    from containers.dockerapi.auth import actor
    from containers.engine.errors import EngineError

    verb = "POST exec/<eid>/start"
    try:
        await in_thread(lookup.exec_container)(m["eid"], actor(scope))
        info = await in_thread(execs.inspect)(m["eid"])
        paths = await in_thread(execs.paths)(m["eid"])
    except EngineError as e:
        await _audit(scope, verb, m["eid"], 404)
        await http_error(stream, 404, e.message)
        return True
    cfg = info.config
    params = {"stdin": ["1" if cfg.stdin else "0"], "stdout": ["1"], "stderr": ["1"]}
    session = Attach(stream, info.container_id, {"tty": cfg.tty, "stdin_once": True}, params,
                     was_running=False, paths=paths)
    try:
        try:
            await in_thread(execs.start)(m["eid"])
        except EngineError as e:
            code = 409 if e.kind in ("conflict", "illegal_transition") else 500
            await _audit(scope, verb, m["eid"], code)
            await http_error(stream, code, e.message)
            return True
        await _audit(scope, verb, m["eid"], 101)
        await send_head(stream, response_head(cfg.tty, m["version"]))
        await session.run()
    finally:
        session.close()
    return True


@docker_view
def exec_create(request: HttpRequest, ref: str) -> HttpResponse:
    from containers import execs
    from containers.engine.run.exec import ExecConfig

    body = body_of(request)
    console = body.get("ConsoleSize") or []
    cfg = ExecConfig(cmd=translate._list(body.get("Cmd"), "Cmd"), tty=bool(body.get("Tty")),
                     stdin=bool(body.get("AttachStdin")), env=translate._list(body.get("Env"), "Env"),
                     user=body.get("User") or "", working_dir=body.get("WorkingDir") or "",
                     console_size=[int(n) for n in console] if any(console) else []).validated()
    return JsonResponse({"Id": execs.create(ref, cfg, actor_of(request))}, status=201)


@docker_view
def exec_inspect(request: HttpRequest, eid: str) -> HttpResponse:
    from containers import execs

    lookup.exec_container(eid, actor_of(request))
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

    lookup.exec_container(eid, actor_of(request))
    execs.start(eid)
    return HttpResponse(status=200)


@docker_view
def exec_resize(request: HttpRequest, eid: str) -> HttpResponse:
    from containers import execs
    from containers.engine.errors import Conflict

    rows, cols = integer(request.GET, "h", 0, 0), integer(request.GET, "w", 0, 0)
    lookup.exec_container(eid, actor_of(request))
    try:
        execs.resize(eid, rows, cols)
    except (Conflict, OSError):
        pass  # Docker answers 200 for an exec that does not run (any more)
    return HttpResponse(status=200)
