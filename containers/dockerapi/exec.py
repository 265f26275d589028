"""Docker Engine API: exec. Hijacked `POST /exec/{id}/start` (docker exec): start the exec,
then bridge its stdio exactly like an attach (same supervisor framing, same Attach session);
create, inspect, detached start and resize are plain views."""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from containers import execs, lookup
from containers.api.params import integer
from containers.dockerapi import translate
from containers.dockerapi.attach import parse_detach_keys
from containers.dockerapi.common import actor_of, body_of, docker_view
from containers.dockerapi.hijack import RawStream

EXEC_START_RE = re.compile(r"^(?:/v(?P<version>[0-9.]+))?/exec/(?P<eid>[^/]+)/start\Z")


def start_options(raw: bytes) -> dict[str, Any]:
    """Docker's ExecStartOptions from a start request's body: Detach, Tty (the framing the
    client reads: raw with Tty, multiplexed without, whatever the exec was created with, as
    dockerd does) and ConsoleSize; InvalidArgument for a body that is not a JSON object."""
    from containers.engine.errors import InvalidArgument

    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("exec start: the body is not JSON") from None
    if not isinstance(body, dict):
        raise InvalidArgument("exec start: the body must be a JSON object")
    body = {k.lower(): v for k, v in body.items()}  # case-insensitive, as Go's encoding/json
    console = body.get("consolesize") or []
    if not (isinstance(console, list) and len(console) in (0, 2)
            and all(isinstance(n, int) and 0 <= n <= 65535 for n in console)):
        raise InvalidArgument("exec start: ConsoleSize must be [height, width]")
    return {"detach": bool(body.get("detach")), "tty": bool(body.get("tty")),
            "console_size": console if body.get("tty") and any(console) else []}


async def hijack_exec(scope: dict[str, Any], stream: RawStream) -> bool:
    """Handle POST /exec/{id}/start if `scope` is one; False when it is not an exec.

    As dockerd: the start body's Tty decides the framing (raw or multiplexed) and the
    Content-Type; the exec's own Tty decides whether detach keys apply; a process without
    a tty read with Tty gets its stdout only (dockerd passes no stderr writer then); an
    unknown exec or a bad body is an HTTP error, a failed start (a second start, a stopped
    container) a message in the stream after the 101."""
    m = EXEC_START_RE.match(scope["path"])
    if m is None:
        return False
    from containers import lookup
    from containers.asyncstream import in_thread
    from containers.dockerapi.attach import Attach, _audit, http_error, response_head, send_head
    from containers.dockerapi.auth import actor
    from containers.engine.errors import EngineError
    from containers.engine.run.frames import STDOUT

    verb = "POST exec/<eid>/start"
    try:
        await in_thread(lookup.exec_container)(m["eid"], actor(scope))
        info = await in_thread(execs.inspect)(m["eid"])
        paths = await in_thread(execs.paths)(m["eid"])
        options = start_options(await stream.request_body())
    except EngineError as e:
        code = 404 if e.kind == "not_found" else 400
        await _audit(scope, verb, m["eid"], code)
        await http_error(stream, code, e.message)
        return True
    cfg = info.config
    params = {"stdin": ["1" if cfg.stdin else "0"], "stdout": ["1"],
              "stderr": ["0" if options["tty"] and not cfg.tty else "1"],
              "detachKeys": [cfg.detach_keys]}
    session = Attach(stream, info.container_id, {"tty": cfg.tty, "stdin_once": True}, params,
                     was_running=False, paths=paths)
    session.multiplexed = not options["tty"]
    try:
        # dockerd's order: the 101 first, then the start (its launch time is a further gap
        # before any output: docker-py loses bytes that come with the head); a failure to
        # start is then written into the stream, as dockerd does
        await _audit(scope, verb, m["eid"], 101)
        await send_head(stream, response_head(options["tty"], m["version"]))
        try:
            await in_thread(execs.start)(m["eid"])
        except EngineError as e:
            await stream.write(session.out(STDOUT, f"{e.message}\r\n".encode()))
            return True
        if options["console_size"] and cfg.tty and not cfg.console_size:
            await in_thread(_resize_quietly)(m["eid"], *options["console_size"])
        await session.run()
    finally:
        session.close()
    return True


def _resize_quietly(eid: str, rows: int, cols: int) -> None:
    from containers.engine.errors import Conflict

    try:
        execs.resize(eid, rows, cols)
    except (Conflict, OSError):
        pass  # it ended already


@docker_view
def exec_create(request: HttpRequest, ref: str) -> HttpResponse:
    from containers import execs
    from containers.engine.run.exec import ExecConfig

    # field names match case-insensitively, as Go's encoding/json (docker-py sends detachKeys)
    body = {k.lower(): v for k, v in body_of(request).items()}
    console = body.get("consolesize") or []
    cfg = ExecConfig(cmd=translate._list(body.get("cmd"), "Cmd"), tty=bool(body.get("tty")),
                     stdin=bool(body.get("attachstdin")), env=translate._list(body.get("env"), "Env"),
                     user=body.get("user") or "", working_dir=body.get("workingdir") or "",
                     console_size=[int(n) for n in console] if any(console) else [],
                     detach_keys=body.get("detachkeys") or "").validated()
    parse_detach_keys(cfg.detach_keys)  # 400 for keys Docker would refuse
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
        "CanRemove": False, "DetachKeys": cfg.detach_keys,
        "ProcessConfig": {"tty": cfg.tty, "entrypoint": cfg.cmd[0], "arguments": cfg.cmd[1:],
                          "privileged": False, "user": cfg.user},
    })


@docker_view
def exec_start_detached(request: HttpRequest, eid: str) -> HttpResponse:
    """Start without `Upgrade: tcp`. Detach: 200 once it runs. Otherwise, as dockerd, 200
    with the output streamed (multiplexed frames unless the body's Tty; no stdin) until the
    exec ends."""
    from containers import asyncstream, execs, logs
    from containers.engine.run.frames import STDERR, STDOUT, docker_mux

    lookup.exec_container(eid, actor_of(request))
    options = start_options(request.body)
    info = execs.inspect(eid)
    execs.start(eid)
    if options["detach"]:
        return HttpResponse(status=200)
    tty, process_tty = options["tty"], info.config.tty
    frames = (r.data if tty else docker_mux(STDERR if r.stream == "stderr" else STDOUT, r.data)
              for r in logs.exec_records(eid) if not (tty and not process_tty and r.stream == "stderr"))
    return StreamingHttpResponse(asyncstream.stream(frames), content_type="application/vnd.docker.raw-stream")


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
