"""Native REST API. Views are thin: parse, look up, one service (or worker) call, respond."""

from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from containers import (
    asyncstream,
    cp,
    events,
    execs,
    hosts,
    lifecycle,
    logs,
    lookup,
    rpc,
    runrecord,
    runtime,
    stathistory,
)
from containers.api import params
from containers.api.exec_serializers import ExecCreateSerializer, ExecStartSerializer
from containers.api.rawbody import RAW_BODY
from containers.api.serializers import (
    ContainerCreateSerializer,
    ContainerSerializer,
    ContainerUpdateSerializer,
    EventSerializer,
    ImagePullSerializer,
    ImageSerializer,
)
from containers.engine.errors import Conflict, InvalidArgument
from containers.engine.run import stats as container_stats
from containers.engine.run.logfile import Record
from containers.engine.state import ACTIVE
from containers.runtime import engine

RPC_MARGIN = 30.0


def _inspect(ref: str, user) -> Response:
    return Response(ContainerSerializer(lookup.container(ref, user)).data)


class ContainerList(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("all", bool), OpenApiParameter("state", str),
                    OpenApiParameter("name", str)],
        responses=ContainerSerializer(many=True),
    )
    def get(self, request):
        qs = lookup.containers(request.user).select_related("image")
        if not params.boolean(request.query_params, "all", False):
            qs = qs.filter(state__in=[s.value for s in ACTIVE])
        if state := request.query_params.get("state"):
            qs = qs.filter(state=state)
        if name := request.query_params.get("name"):
            qs = qs.filter(name__contains=name)
        return Response(ContainerSerializer(qs, many=True).data)

    @extend_schema(request=ContainerCreateSerializer, responses={201: ContainerSerializer})
    def post(self, request):
        ser = ContainerCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        c = lifecycle.create(ser.spec(), ser.validated_data["name"], user=request.user,
                             endpoints=ser.endpoints(), host=ser.validated_data["host"])
        return Response(ContainerSerializer(c).data, status=status.HTTP_201_CREATED)


class ContainerDetail(APIView):
    @extend_schema(responses=ContainerSerializer)
    def get(self, request, ref):
        return _inspect(ref, request.user)

    @extend_schema(parameters=[OpenApiParameter("force", bool), OpenApiParameter("v", bool)],
                   responses={204: None})
    def delete(self, request, ref):
        force = params.boolean(request.query_params, "force", False)
        c = lookup.container(ref, request.user)
        rpc.call("remove", rpc_host=c.host, ref=c.id, force=force,
                 volumes=params.boolean(request.query_params, "v", False))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContainerStart(APIView):
    @extend_schema(request=None, responses=ContainerSerializer)
    def post(self, request, ref):
        c = lookup.container(ref, request.user)
        try:
            result = rpc.call("start", rpc_host=c.host, ref=c.id)
        except Exception:
            lifecycle.abandon_start(c.id)  # auto-remove honoured whoever failed the start
            raise
        started = runrecord.after_start(c, result)  # the record the worker wrote: no re-read
        if started is None:
            return _inspect(c.id, request.user)
        return Response(ContainerSerializer(started).data)


class ContainerStop(APIView):
    @extend_schema(request=None, parameters=[OpenApiParameter("timeout", float),
                                             OpenApiParameter("signal", str)],
                   responses=ContainerSerializer)
    def post(self, request, ref):
        q = request.query_params
        c, timeout = lookup.container(ref, request.user), params.number(
            q, "timeout", params.number(q, "t", None, 0), 0)
        rpc.call("stop", rpc_timeout=lifecycle.stop_wait(c, timeout) + RPC_MARGIN, ref=c.id,
                 signal=q.get("signal"), timeout=timeout)
        return _inspect(ref, request.user)


class ContainerKill(APIView):
    @extend_schema(request=None, parameters=[OpenApiParameter("signal", str)],
                   responses=ContainerSerializer)
    def post(self, request, ref):
        rpc.call("kill", ref=lookup.container(ref, request.user).id,
                 signal=request.query_params.get("signal"))
        return _inspect(ref, request.user)


class ContainerRestart(APIView):
    @extend_schema(request=None, parameters=[OpenApiParameter("timeout", float)],
                   responses=ContainerSerializer)
    def post(self, request, ref):
        c, timeout = lookup.container(ref, request.user), params.number(
            request.query_params, "timeout", None, 0)
        rpc.call("restart", rpc_timeout=2 * lifecycle.stop_wait(c, timeout) + RPC_MARGIN,
                 ref=c.id, timeout=timeout)
        return _inspect(ref, request.user)


class ContainerUpdate(APIView):
    """Change the limits and restart policy of a container (a running one's at once): the
    create body's fields memory, memory_swap, memory_swappiness, pids_limit, nano_cpus,
    cpu_shares, cpu_period, cpu_quota, restart_policy, restart_max_retries; only those given
    change (as docker update)."""

    @extend_schema(request=ContainerUpdateSerializer, responses=ContainerSerializer)
    def post(self, request, ref):
        ser = ContainerUpdateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        rpc.call("update", ref=lookup.container(ref, request.user).id, changes=ser.changes())
        return _inspect(ref, request.user)


class ContainerWait(APIView):
    """Block until ?condition= holds (Docker's: not-running, the default; next-exit; removed);
    408 after ?timeout= seconds. not-running answers the record's exit; the others the exit
    code of the die event that satisfied them."""

    @extend_schema(request=None, parameters=[OpenApiParameter("timeout", float),
                                             OpenApiParameter("condition", str)])
    def post(self, request, ref):
        q = request.query_params
        timeout = params.number(q, "timeout", None, 0)
        condition = lifecycle.wait_condition(q.get("condition", ""))
        outcome = lifecycle.wait(ref, timeout, user=request.user, condition=condition)
        if condition != "not-running" and outcome is not None:
            return Response({"exit_code": outcome.exit_code, "removed": outcome.container is None})
        if outcome is None or outcome.container is None:  # removed meanwhile: as before, 408
            return Response({"message": "timed out waiting for the container"}, status=408)
        return Response(lifecycle.describe_exit(outcome.container))

    get = post


class ContainerPause(APIView):
    """Freeze every process of a running container (409 unless it runs unpaused)."""

    paused = True

    @extend_schema(request=None, responses=ContainerSerializer)
    def post(self, request, ref):
        rpc.call("pause" if self.paused else "unpause", ref=lookup.container(ref, request.user).id)
        return _inspect(ref, request.user)


class ContainerUnpause(ContainerPause):
    """Thaw a paused container (409 unless it is paused)."""

    paused = False


class ContainerRename(APIView):
    @extend_schema(request=None, parameters=[OpenApiParameter("name", str)], responses=ContainerSerializer)
    def post(self, request, ref):
        c = lifecycle.rename(ref, request.query_params.get("name", ""), user=request.user)
        return Response(ContainerSerializer(c).data)


class ContainerTop(APIView):
    """The processes of a running container, as `ps` shows them (409 unless it runs)."""

    def get(self, request, ref):
        titles, rows = lifecycle.top(ref, user=request.user)
        return Response({"titles": titles, "processes": rows})


class ContainerArchive(APIView):
    """A path inside the container (?path=): GET a tar of it, HEAD its stat only, PUT a tar
    (the body) to extract into that directory. The stat is in the X-Docker-Container-Path-Stat
    header (base64 JSON: name, size, mode, mtime, linkTarget), as docker cp's."""

    parser_classes = RAW_BODY

    def get(self, request, ref):
        st, chunks = cp.get(ref, request.query_params.get("path", ""), user=request.user)
        resp = StreamingHttpResponse(asyncstream.stream(chunks), content_type="application/x-tar")
        resp[cp.STAT_HEADER] = cp.stat_header(st)
        return resp

    def head(self, request, ref):
        st = cp.stat(ref, request.query_params.get("path", ""), user=request.user)
        resp = Response(status=status.HTTP_200_OK)
        resp[cp.STAT_HEADER] = cp.stat_header(st)
        return resp

    def put(self, request, ref):
        # Django's request is the body as a file (spooled to disk past 2.5 MB)
        cp.put(ref, request.query_params.get("path", ""), request._request, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContainerLogs(APIView):
    @extend_schema(parameters=[OpenApiParameter(n, t) for n, t in (
        ("stdout", bool), ("stderr", bool), ("follow", bool), ("tail", str), ("since", str),
        ("until", str), ("timestamps", bool), ("format", str))], responses={200: str})
    def get(self, request, ref):
        c = hosts.here(lookup.container(ref, request.user))
        logs.readable(c.spec)
        q = request.query_params
        query = logs.query(q)
        stamps = params.boolean(q, "timestamps", False)
        as_json = q.get("format", "text") == "json"
        batches = logs.batches(c.id, query, params.boolean(q, "follow", False))
        body = logs.chunks(batches, _json_line if as_json else lambda r: _text_line(r, stamps))
        ctype = "application/x-ndjson" if as_json else "text/plain; charset=utf-8"
        return StreamingHttpResponse(asyncstream.stream(body), content_type=ctype)


def _text_line(r: Record, stamps: bool) -> bytes:
    return (r.time.encode() + b" " + r.data) if stamps else r.data


def _json_line(r: Record) -> bytes:
    import json

    return (json.dumps({"stream": r.stream, "time": r.time,
                        "log": r.data.decode("utf-8", "replace")}) + "\n").encode()


class ImageList(APIView):
    @extend_schema(responses=ImageSerializer(many=True))
    def get(self, request):
        return Response(ImageSerializer(lookup.images(request.user).prefetch_related("tag_set"),
                                        many=True, context={"user": request.user}).data)


class ImageDetail(APIView):
    @extend_schema(responses=ImageSerializer)
    def get(self, request, ref):
        return Response(ImageSerializer(lookup.image(ref, request.user),
                                        context={"user": request.user}).data)

    @extend_schema(parameters=[OpenApiParameter("force", bool)])
    def delete(self, request, ref):
        from containers import images

        return Response(images.remove(ref, params.boolean(request.query_params, "force", False),
                                      user=request.user))


class EventList(APIView):
    @extend_schema(parameters=[OpenApiParameter("since", int), OpenApiParameter("limit", int),
                               OpenApiParameter("container", str)],
                   responses=EventSerializer(many=True))
    def get(self, request):
        q = request.query_params
        since = params.integer(q, "since", 0, 0)
        limit = params.integer(q, "limit", 1000, 1)
        filters = {"actor_id": q["container"]} if q.get("container") else {}
        found = events.between(since, limit=min(limit, 10000), user=request.user, **filters)
        return Response(EventSerializer(found, many=True).data)


class Info(APIView):
    """Host, counts, the worker's answer to a ping (None unless it answers within 2 s) and
    `down`: what is down now ("redis", "worker") with the reason (empty when all is up)."""

    def get(self, request):
        from containers.engine.errors import Unavailable

        down = rpc.problems()
        worker = None
        if not down:
            try:
                worker = rpc.call("ping", rpc_timeout=2.0)
            except Unavailable as e:
                down["worker"] = e.message
        mine = lookup.containers(request.user)
        counts = {s: mine.filter(state=s).count() for s in ("running", "exited", "created")}
        return Response({"host": runtime.host_name(), "containers": counts,
                         "images": lookup.images(request.user).count(), "worker": worker,
                         "down": down})


# ---- exec and stats (the streams issue) ----------------------------------------------
class ContainerExec(APIView):
    """Create an exec in a running container; start it with POST /api/exec/{id}/start/ or
    by opening /ws/exec/{id}/."""

    @extend_schema(request=ExecCreateSerializer, responses={201: dict})
    def post(self, request, ref):
        ser = ExecCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        return Response({"id": execs.create(ref, ser.config(), request.user)},
                        status=status.HTTP_201_CREATED)


class ExecInspect(APIView):
    def get(self, request, exec_id):
        lookup.exec_container(exec_id, request.user)
        return Response(execs.inspect(exec_id).to_dict())


class ExecStart(APIView):
    """detach: return once it runs; otherwise stream its output (stdout and stderr as they
    come, raw) until it exits; its exit code is then in GET /api/exec/{id}/."""

    @extend_schema(request=ExecStartSerializer, responses={200: str})
    def post(self, request, exec_id):
        ser = ExecStartSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        lookup.exec_container(exec_id, request.user)
        info = execs.start(exec_id)
        if ser.validated_data["detach"]:
            return Response(info.to_dict())
        records = logs.exec_records(exec_id)
        return StreamingHttpResponse(asyncstream.stream(r.data for r in records),
                                     content_type="application/octet-stream")


class ExecResize(APIView):
    @extend_schema(request=None, parameters=[OpenApiParameter("h", int), OpenApiParameter("w", int)])
    def post(self, request, exec_id):
        rows = params.integer(request.query_params, "h", None, 1)
        cols = params.integer(request.query_params, "w", None, 1)
        if rows is None or cols is None:
            raise InvalidArgument("h and w are required")
        lookup.exec_container(exec_id, request.user)
        execs.resize(exec_id, rows, cols)
        return Response(status=status.HTTP_200_OK)


class ContainerStatsHistory(APIView):
    """The stored readings of the last `seconds` (default and at most the kept hour),
    oldest first: {"interval": s, "keep": s, "samples": [...]} (containers/stathistory.py).
    Kept after the container stops, until pruned or removed; served by any host."""

    @extend_schema(parameters=[OpenApiParameter("seconds", int)], responses={200: dict})
    def get(self, request, ref):
        c = lookup.container(ref, request.user)
        keep = settings.DOCKERWEB_STATS_KEEP
        seconds = min(params.integer(request.query_params, "seconds", keep, 1), keep)
        return Response({"interval": settings.DOCKERWEB_STATS_INTERVAL, "keep": keep,
                         "samples": stathistory.history(c.id, seconds)})


class ContainerStats(APIView):
    """One reading of CPU, memory, pids, network and block I/O (cpu.percent over a 100 ms
    window)."""

    def get(self, request, ref):
        c = hosts.here(lookup.container(ref, request.user))
        sample = container_stats.snapshot(engine().config.cgroup_parent, c.id, window=0.1)
        if sample is None:
            raise Conflict(f"Container {c.id} is not running")
        return Response(sample)


class NetworkList(APIView):
    def get(self, request):
        from containers.api.serializers import NetworkSerializer

        return Response(NetworkSerializer(lookup.networks(request.user), many=True,
                                          context={"user": request.user}).data)

    def post(self, request):
        """Create a user network: {name, subnet?, gateway?, labels?} (its own bridge and DNS)."""
        from containers.api.serializers import NetworkCreateSerializer, NetworkSerializer

        ser = NetworkCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        made = rpc.call("network_create", owner_id=request.user.pk, **ser.validated_data)
        return Response(NetworkSerializer(lookup.network(made["id"], request.user),
                                          context={"user": request.user}).data,
                        status=status.HTTP_201_CREATED)


class NetworkPrune(APIView):
    def post(self, request):
        ids = [n.nid for n in lookup.networks(request.user) if n.user_defined]
        return Response({"deleted": rpc.call("network_prune", ids=ids) or []})


class NetworkConnect(APIView):
    """POST {container, aliases?}: on the network, at once if it runs."""

    verb = "network_connect"

    def post(self, request, name):
        from containers.api.serializers import NetworkConnectSerializer

        ser = NetworkConnectSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        net = lookup.network(name, request.user)
        c = lookup.container(ser.validated_data["container"], request.user)
        if self.verb == "network_connect":
            rpc.call(self.verb, id=net.nid, container=c.id, aliases=ser.validated_data["aliases"])
        else:
            rpc.call(self.verb, id=net.nid, container=c.id, force=ser.validated_data["force"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class NetworkDisconnect(NetworkConnect):
    """POST {container, force?}: off the network, at once if it runs."""

    verb = "network_disconnect"


class NetworkDetail(APIView):
    def get(self, request, name):
        from containers.api.serializers import NetworkSerializer

        return Response(NetworkSerializer(lookup.network(name, request.user),
                                          context={"user": request.user}).data)

    def delete(self, request, name):
        rpc.call("network_remove", id=lookup.network(name, request.user).nid)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- images and filesystem ------------------------------------------------------------------
def _image_response(img, user, status_code=200) -> Response:
    return Response(ImageSerializer(img, context={"user": user}).data, status=status_code)


class ImageImport(APIView):
    """POST a rootfs tar (plain, gzip, bzip2, xz) as the body; ?repo=&tag=&message=&changes=
    (Dockerfile instructions for the config, repeatable, as `docker import -c`)."""

    parser_classes = RAW_BODY

    @extend_schema(request={"application/octet-stream": bytes}, responses={201: ImageSerializer})
    def post(self, request):
        from containers import images

        q = request.query_params
        # Django's request is the body as a file (spooled to disk past 2.5 MB), chunked or not
        img = images.import_tar(request._request, q.get("repo", ""), q.get("tag", ""), q.get("message", ""),
                                user=request.user, changes=q.getlist("changes"))
        return _image_response(img, request.user, status.HTTP_201_CREATED)


def _credentials(request) -> tuple[str, str] | None:
    """{"username", "password"} in the JSON body, else Docker's X-Registry-Auth header."""
    from containers import registries

    data = request.data if isinstance(request.data, dict) else {}
    if data.get("username") or data.get("password"):
        return (str(data.get("username") or ""), str(data.get("password") or ""))
    return registries.credentials(request.headers.get("X-Registry-Auth", ""))


def _progress_response(work) -> StreamingHttpResponse:
    from containers import jsonprogress

    return StreamingHttpResponse(jsonprogress.start(work), content_type="application/json")


class ImagePull(APIView):
    """Pull from a registry: {"image": "name[:tag][@digest]"} (+ username, password); the answer
    is Docker's JSON progress lines. Errors before the registry answers are 4xx/5xx."""

    @extend_schema(request=ImagePullSerializer, responses={200: None})
    def post(self, request):
        from containers import registries

        body = request.data if isinstance(request.data, dict) else {}
        ser = ImagePullSerializer(data={**request.query_params.dict(), **body})
        ser.is_valid(raise_exception=True)
        ref, creds = ser.validated_data["image"], _credentials(request)
        user = request.user
        return _progress_response(lambda emit: registries.pull(ref, creds, emit, user=user))


class ImagePush(APIView):
    """Push `ref` (name[:tag]; every tag of the name with ?all_tags=1) to its registry;
    Docker's JSON progress lines."""

    @extend_schema(request=None, responses={200: None})
    def post(self, request, ref):
        from containers import registries

        name, tag = lookup.split_reference(ref)
        if params.boolean(request.query_params, "all_tags", False):
            tag = ""
        creds, user = _credentials(request), request.user
        return _progress_response(lambda emit: registries.push(name, tag, creds, emit, user=user))


class RegistryLogin(APIView):
    """docker login: {"serveraddress", "username", "password"} checked against the registry
    (401 when refused). Nothing is stored: a client sends its credentials with each pull or
    push, as Docker clients do."""

    @extend_schema(request=None, responses={200: None})
    def post(self, request):
        from containers import registries

        body = request.data if isinstance(request.data, dict) else {}
        user, password = body.get("username") or "", body.get("password") or ""
        if not isinstance(user, str) or not isinstance(password, str) or not user:
            raise InvalidArgument("username and password are required")
        registries.login(str(body.get("serveraddress") or ""), (user, password))
        return Response({"status": "Login Succeeded"})


class ImageSave(APIView):
    """A `docker save` tar (?format=docker, default) or an OCI layout tar (?format=oci) of one
    image, or of ?names=a&names=b."""

    @extend_schema(parameters=[OpenApiParameter("format", str), OpenApiParameter("names", str, many=True)])
    def get(self, request, ref=""):
        from containers import images

        refs = [ref] if ref else request.query_params.getlist("names")
        fmt = request.query_params.get("format", "docker")
        resp = StreamingHttpResponse(asyncstream.stream(images.save(refs, fmt, user=request.user)),
                                     content_type="application/x-tar")
        name = "images" if len(refs) != 1 else refs[0].replace("/", "_").replace(":", "_")
        resp["Content-Disposition"] = f'attachment; filename="{name}{"-oci" if fmt == "oci" else ""}.tar"'
        return resp


class ImageLoad(APIView):
    """POST a `docker save` or OCI layout tar (plain or compressed) as the body; the images it
    held, tagged as it says."""

    parser_classes = RAW_BODY

    @extend_schema(request={"application/x-tar": bytes}, responses={201: ImageSerializer(many=True)})
    def post(self, request):
        from containers import images

        loaded = images.load(request._request, user=request.user)
        return Response(ImageSerializer([img for img, _ in loaded], many=True,
                                        context={"user": request.user}).data,
                        status=status.HTTP_201_CREATED)


class ImageBuild(APIView):
    """docker build: the context as the body (a tar, Content-Type application/x-tar) with
    Docker's parameters in the query (t, dockerfile, buildargs, labels, nocache, rm, forcerm,
    q, networkmode); or multipart form fields `context` (a tar file, optional) and
    `dockerfile` (the Dockerfile's text) with the same parameters as fields; or JSON
    {"dockerfile": text, "t": [...], ...} without a context. The answer is Docker's JSON
    progress lines; errors before the first step are 4xx."""

    @extend_schema(request={"application/x-tar": bytes, "multipart/form-data": dict}, responses={200: None})
    def post(self, request):
        import threading

        from containers import builds, jsonprogress

        ctype = request.content_type or ""
        if ctype.startswith(("multipart/form-data", "application/json", "application/x-www-form-urlencoded")):
            data = request.data
            q = {**request.query_params.dict(), **{k: data.getlist(k) if k == "t" and hasattr(data, "getlist")
                                                   else data[k] for k in data if k not in ("context",)}}
            text = q.pop("dockerfile", None)
            if text is not None and not isinstance(text, str):
                raise InvalidArgument("dockerfile must be the Dockerfile's text")
            upload = request.FILES.get("context") if hasattr(request, "FILES") else None
            if upload is None and not text:
                raise InvalidArgument("give a context tar (field `context`) or the Dockerfile's text "
                                      "(field `dockerfile`)")
            options = builds.options_from(q, dockerfile_text=text or None)
            stream = upload
        else:
            options, stream = builds.options_from(request.query_params), request._request
        user, cancel = request.user, threading.Event()
        request._request.audit_target = ",".join(options.tags)  # the audit row's target
        lines = jsonprogress.start(
            lambda emit: builds.build(stream, options, emit, user=user, cancel=cancel), cancel)
        return StreamingHttpResponse(lines, content_type="application/json")


class ImageTag(APIView):
    @extend_schema(request=None, parameters=[OpenApiParameter("repo", str), OpenApiParameter("tag", str)],
                   responses=ImageSerializer)
    def post(self, request, ref):
        from containers import images

        q = {**request.query_params.dict(), **(request.data if isinstance(request.data, dict) else {})}
        return _image_response(images.tag(ref, q.get("repo", ""), q.get("tag", ""), user=request.user),
                               request.user)


class ImageHistory(APIView):
    def get(self, request, ref):
        img = lookup.image(ref, request.user)
        return Response(engine().images.history(img.id))


class ImagePrune(APIView):
    @extend_schema(request=None)
    def post(self, request):
        from containers import images

        return Response({"deleted": images.prune(user=request.user)})


class ContainerChanges(APIView):
    def get(self, request, ref):
        from containers.images import info

        c = hosts.here(lookup.container(ref, request.user))
        return Response([{"path": ch.path, "kind": ch.kind} for ch in engine().changes(c.id, info(c.image))])


class ContainerExport(APIView):
    """The container's filesystem as a tar stream; ?rw=1 for its own layer only."""

    def get(self, request, ref):
        from containers.images import info

        c = hosts.here(lookup.container(ref, request.user))
        rw = params.boolean(request.query_params, "rw", False)
        chunks = engine().export(c.id, info(c.image), own_layer_only=rw)
        resp = StreamingHttpResponse(asyncstream.stream(chunks), content_type="application/x-tar")
        resp["Content-Disposition"] = f'attachment; filename="{c.name}{"-rw" if rw else ""}.tar"'
        return resp


class ContainerCommit(APIView):
    """?repo=&tag=&author=&message= (or the same as JSON), plus "changes": {Cmd, Env, ...}."""

    @extend_schema(request=None, responses={201: ImageSerializer})
    def post(self, request, ref):
        from containers import images

        q = {**request.query_params.dict(), **(request.data if isinstance(request.data, dict) else {})}
        img = images.commit(ref, q.get("repo", ""), q.get("tag", ""), q.get("author", ""),
                            q.get("message", ""), q.get("changes") or {}, user=request.user)
        return _image_response(img, request.user, status.HTTP_201_CREATED)


# ---- volumes ----------------------------------------------------------------------------
def _volume_filters(q) -> dict[str, list[str]]:
    """?dangling=&name=&label= (repeatable) as the service's filters."""
    return {k: q.getlist(k) for k in ("dangling", "name", "label", "driver") if q.getlist(k)}


class VolumeList(APIView):
    """The caller's volumes (?dangling=true|false, ?name=, ?label=k[=v]); POST makes one
    ({"name", "labels"}; no name: an anonymous one). An existing name the caller owns is
    answered as is (Docker's create is idempotent)."""

    @extend_schema(parameters=[OpenApiParameter("dangling", bool), OpenApiParameter("name", str),
                               OpenApiParameter("label", str, many=True)])
    def get(self, request):
        from containers import volumes
        from containers.api.serializers import VolumeSerializer

        found = volumes.listing(request.user, _volume_filters(request.query_params))
        return Response(VolumeSerializer(found, many=True).data)

    def post(self, request):
        from containers import volumes
        from containers.api.serializers import VolumeCreateSerializer, VolumeSerializer

        ser = VolumeCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        vol = volumes.create(ser.validated_data["name"], ser.validated_data["labels"], request.user)
        return Response(VolumeSerializer(vol).data, status=status.HTTP_201_CREATED)


class VolumeDetail(APIView):
    def get(self, request, name):
        from containers.api.serializers import VolumeSerializer

        return Response(VolumeSerializer(lookup.volume(name, request.user)).data)

    @extend_schema(parameters=[OpenApiParameter("force", bool)], responses={204: None})
    def delete(self, request, name):
        from containers import volumes

        volumes.remove(name, request.user, params.boolean(request.query_params, "force", False))
        return Response(status=status.HTTP_204_NO_CONTENT)


class VolumePrune(APIView):
    """Remove the caller's unused anonymous volumes (?all=1: named ones too)."""

    @extend_schema(request=None, parameters=[OpenApiParameter("all", bool)])
    def post(self, request):
        from containers import volumes

        filters = _volume_filters(request.query_params)
        if params.boolean(request.query_params, "all", False):
            filters["all"] = ["true"]
        return Response(volumes.prune(request.user, filters))
