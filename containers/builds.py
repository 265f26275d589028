"""docker build (the classic builder) as a service, for the Docker API, REST and dashboard.

`build(stream, options, emit, user=...)` unpacks the context (engine/image/buildcontext.py),
parses the Dockerfile (engine/image/dockerfile.py) and runs it step by step, emitting
Docker's JSON progress messages (`{"stream": "Step 1/5 : FROM busybox\\n"}`, ...,
`{"aux": {"ID": "sha256:..."}}`, `Successfully built/tagged`). Each step makes one image
(registered, parent = the image before it, owned by `user`):
- ENV, CMD, LABEL, ... : a new config, no layer (store.config_step);
- RUN: a real container of the current image (lifecycle.create, the worker's start, its
  log followed into the stream, lifecycle.wait), committed as any container (engine.commit);
- COPY/ADD: a container that never starts, whose merged root the files are written into
  (engine.in_root + buildcontext), committed the same way.
Layer cache: a step is skipped when an image of the same owner has the current image as
parent, the same history line (`created_by`: the instruction with its build args, and for
COPY/ADD the digest of the sources) and the same config: " ---> Using cache".
Errors before the first message are raised (an HTTP 4xx, as Docker answers a bad
Dockerfile); later ones end the stream with Docker's {"errorDetail", "error"} line. A
failing RUN leaves its stopped container unless `forcerm` (as Docker); `rm` (the default)
removes the others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from containers import images, jsonprogress, lifecycle, lookup, rpc
from containers.engine.errors import EngineError, InvalidArgument, NotFound
from containers.engine.image import dockerfile
from containers.engine.image.buildcontext import Context, resolve_owner
from containers.engine.image.config import merge_config
from containers.engine.run import logfile as enginelogs
from containers.engine.spec import ContainerSpec
from containers.models import Image
from containers.runtime import build_context_max, engine

Emit = Callable[[dict[str, Any]], None]


@dataclass
class BuildOptions:
    """What the client asked for (POST /build's parameters)."""

    dockerfile: str = ""  # its path in the context ("" = Dockerfile)
    dockerfile_text: str | None = None  # or the text itself (REST, dashboard)
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    nocache: bool = False
    rm: bool = True
    forcerm: bool = False
    quiet: bool = False
    network_mode: str = "bridge"


class StepFailed(EngineError):
    """A RUN returned non-zero: Docker's message and the exit code (errorDetail.code)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def options_from(q, *, dockerfile_text: str | None = None) -> BuildOptions:
    """BuildOptions from Docker's POST /build parameters (a QueryDict, or a dict of
    strings/lists): dockerfile, t (repeated), buildargs and labels (JSON objects), nocache,
    rm, forcerm, q, networkmode. `remote` contexts and `target` stages are refused."""
    from containers.api.params import boolean

    def many(name: str) -> list[str]:
        if hasattr(q, "getlist"):
            return [v for v in q.getlist(name) if v]
        v = q.get(name)
        return [str(x) for x in v] if isinstance(v, list) else ([str(v)] if v else [])

    if q.get("remote"):
        raise InvalidArgument("remote build contexts (a URL or git repository) are not supported: "
                              "send the context as a tar")
    if q.get("target"):
        raise InvalidArgument("target: multi-stage builds are not supported by this builder")
    flags = {k: str(q.get(k)) for k in ("nocache", "rm", "forcerm", "q") if q.get(k) not in (None, "")}
    return BuildOptions(
        dockerfile=str(q.get("dockerfile") or ""), dockerfile_text=dockerfile_text,
        tags=[t for v in many("t") for t in v.split(",") if t.strip()],
        build_args=_json_map(q.get("buildargs"), "buildargs", nullable=True),
        labels=_json_map(q.get("labels"), "labels"),  # type: ignore[arg-type]
        nocache=boolean(flags, "nocache", False), rm=boolean(flags, "rm", True),
        forcerm=boolean(flags, "forcerm", False), quiet=boolean(flags, "q", False),
        network_mode=str(q.get("networkmode") or "bridge"))


def _json_map(raw: Any, what: str, nullable: bool = False) -> dict[str, Any]:
    """A JSON object of strings (values may be null when `nullable`), given as text or as
    an already parsed dict."""
    import json

    if raw in (None, ""):
        return {}
    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise InvalidArgument(f"{what} must be a JSON object") from None
    if not isinstance(doc, dict) or not all(
            isinstance(k, str) and (isinstance(v, str) or (nullable and v is None)) for k, v in doc.items()):
        raise InvalidArgument(f"{what} must be a JSON object of strings")
    return doc


def parse_tags(tags: list[str]) -> list[tuple[str, str]]:
    """(repository, tag) of each `-t` value; InvalidArgument for a bad reference."""
    out = []
    for t in tags:
        if not t:
            continue
        name, tag = lookup.split_reference(t)
        out.append(images.validate_reference(name, tag))
    return out


def build(stream: BinaryIO | None, options: BuildOptions, emit: Emit, *, user,
          cancel: threading.Event | None = None) -> Image | None:
    """Run the build, emitting progress; the final image (None when a step failed: the
    error line was emitted)."""
    tags = parse_tags(options.tags)
    if options.network_mode not in ("", "default", "bridge", "none"):
        raise InvalidArgument(f"network mode {options.network_mode!r} is not available to builds "
                              "(default, bridge or none)")
    with Context(engine().layout, stream, build_context_max()) as ctx:
        text = options.dockerfile_text if options.dockerfile_text is not None else ctx.dockerfile(
            options.dockerfile)
        ctx.apply_dockerignore()
        instructions = dockerfile.parse(text)
        run = _Build(ctx, options, emit, user, cancel or threading.Event())
        try:
            return run.all(instructions, tags)
        except StepFailed as e:
            run.cleanup()  # before the error line: the client may look as soon as it has it
            emit({"errorDetail": {"code": e.code, "message": e.message}, "error": e.message})
            return None
        finally:
            run.cleanup()


class _Build:
    def __init__(self, ctx: Context, options: BuildOptions, emit: Emit, user, cancel: threading.Event):
        self.ctx, self.options, self.user, self.cancel = ctx, options, user, cancel
        self._emit = emit
        self.plan = dockerfile.Plan(options.build_args)
        self.image: Image | None = None
        self.author = ""
        self.containers: list[str] = []  # intermediate containers still to remove
        self.failed: str = ""  # the container of a failed RUN (kept unless forcerm)
        self.started = False

    def say(self, text: str) -> None:
        if not self.options.quiet:
            self._emit({"stream": text})
        elif not self.started:
            self._emit(jsonprogress.STARTED)  # the answer is 200 from here on, nothing sent
        self.started = True

    # ---- the whole build ----
    def all(self, instructions: list[dockerfile.Instruction], tags: list[tuple[str, str]]) -> Image:
        meta = []
        while instructions and instructions[0].keyword == "ARG":
            meta.append(instructions.pop(0))
        for ins in meta:
            self.plan.meta_arg(ins)
        if self.options.labels:
            instructions.append(_labels(self.options.labels, instructions[-1].line + 1))
        total = len(instructions)
        for n, ins in enumerate(instructions, 1):
            if self.cancel.is_set():
                raise EngineError("build cancelled: the client went away")
            self.say(f"Step {n}/{total} : {ins.original}\n")
            if ins.keyword == "FROM":
                self._from(ins)
            else:
                self._step(ins)
            assert self.image is not None
            self.say(f" ---> {self.image.id[:12]}\n")
        assert self.image is not None
        unused = self.plan.unused_args()
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        final = self.image
        self._emit({"aux": {"ID": f"sha256:{final.id}"}})
        if self.options.quiet:
            self._emit({"stream": f"sha256:{final.id}\n"})
        self.say(f"Successfully built {final.id[:12]}\n")
        for repo, tag in tags:
            images.tag(final.id, repo, tag, user=self.user)
            self.say(f"Successfully tagged {repo}:{tag}\n")
        return final

    def _from(self, ins: dockerfile.Instruction) -> None:
        ref = self.plan.base_image(ins)
        try:
            self.image = lookup.image(ref, self.user)
        except NotFound:
            raise NotFound(f"No such image: {ref} (the builder does not pull: pull or load it first)") \
                from None
        if (self.image.config or {}).get("OnBuild"):
            raise InvalidArgument(f"the base image {ref} has ONBUILD triggers, which this builder "
                                  "does not run")
        self.plan.start(self.image.config)

    def _step(self, ins: dockerfile.Instruction) -> None:
        assert self.image is not None
        before = dict(self.image.config or {})
        step = self.plan.step(ins)
        if ins.keyword == "MAINTAINER":
            self.author = step.author
        created_by = step.created_by
        sources: list[Any] = []
        if step.kind == "copy":
            assert step.copy is not None
            sources = self.ctx.sources(step.copy.sources)
            kind, digest = self.ctx.digest(sources)
            created_by = self.plan.copy_created_by(ins, digest, kind)
        changes = {**step.config, **{k: None for k in before if k not in step.config}} \
            if step.kind == "meta" else {}
        expected = merge_config(before, changes)
        hit = None if self.options.nocache else self._cached(created_by, expected)
        if hit is not None:
            self.say(" ---> Using cache\n")
            self.image = hit
        elif step.kind == "meta":
            built = engine().images.config_step(images.info(self.image), changes, created_by, self.author)
            self.image = images.register(built, parent=self.image, user=self.user)
        elif step.kind == "run":
            self.image = self._run(step, created_by)
        else:
            self.image = self._copy(step, sources, created_by)
        self.plan.config = dict(self.image.config or {})

    def _cached(self, created_by: str, config: dict[str, Any]) -> Image | None:
        """An image of this owner made by the same step on the same parent (the cache)."""
        assert self.image is not None
        owner = lookup.owner_of(self.user)
        for img in Image.objects.filter(parent=self.image, owner=owner).order_by("-created"):
            if (img.config or {}) != config:
                continue
            try:
                history = engine().images.config_doc(img.id).get("history") or []
            except NotFound:
                continue
            if history and isinstance(history[-1], dict) and history[-1].get("created_by") == created_by:
                return img
        return None

    # ---- steps in containers ----
    def _container(self, argv: list[str], env: list[str]) -> str:
        assert self.image is not None
        spec = ContainerSpec(image=self.image.id, entrypoint=argv[:1], cmd=argv[1:], env=env,
                             network_mode="none" if self.options.network_mode == "none" else "bridge")
        c = lifecycle.create(spec, user=self.user)
        self.containers.append(c.id)
        return c.id

    def _commit(self, cid: str, created_by: str, said: bool = True) -> Image:
        assert self.image is not None
        built = engine().commit(cid, images.info(self.image), self.author, "", {}, created_by)
        img = images.register(built, parent=self.image, user=self.user)
        self._remove(cid, said)
        return img

    def _run(self, step: dockerfile.Step, created_by: str) -> Image:
        cid = self._container(step.argv, step.env)
        self.say(f" ---> Running in {cid[:12]}\n")
        shown = " ".join(step.argv)
        try:
            rpc.call("start", ref=cid)
        except EngineError as e:
            self.failed = cid
            raise StepFailed(f"The command '{shown}' could not start: {e.message}", 127) from None
        self._follow(cid)
        outcome = lifecycle.wait(cid, user=None)
        code = outcome.exit_code if outcome is not None else -1
        if self.cancel.is_set():
            raise EngineError("build cancelled: the client went away")
        if code != 0:
            self.failed = cid
            raise StepFailed(f"The command '{shown}' returned a non-zero code: {code}", code)
        return self._commit(cid, created_by)

    def _follow(self, cid: str) -> None:
        """The container's output into the stream until it exits (killed if the client left)."""
        path = engine().paths(cid).log

        killed = []

        def done() -> bool:
            if self.cancel.is_set() and not killed:
                killed.append(cid)
                try:
                    rpc.call("kill", ref=cid)
                except EngineError:
                    pass
            return engine().status(cid).kind != "running"

        for batch in enginelogs.follow_batches(path, enginelogs.LogQuery(), done):
            text = b"".join(r.data for r in batch).decode("utf-8", "replace")
            if text:
                self.say(text)

    def _copy(self, step: dockerfile.Step, sources: list[Any], created_by: str) -> Image:
        assert step.copy is not None and self.image is not None
        spec = step.copy
        cid = self._container([*self.plan.shell(), created_by.split("#(nop) ", 1)[-1]], [])
        def copy(root_fd: int) -> None:
            owner = resolve_owner(root_fd, spec.chown) if spec.chown else None
            self.ctx.copy_into(root_fd, sources, spec.dest, spec.add, owner)

        engine().in_root(cid, images.info(self.image), copy)
        return self._commit(cid, created_by, said=False)  # as Docker: no "Running in" for COPY

    # ---- intermediate containers ----
    def _remove(self, cid: str, said: bool = True) -> None:
        """Remove an intermediate container once committed (`rm`); `said`: its "Running in"
        was shown, so its removal is too."""
        if not self.options.rm and not self.options.forcerm:
            return
        try:
            rpc.call("remove", ref=cid, force=True)
        except NotFound:
            pass
        if cid in self.containers:
            self.containers.remove(cid)
        if said:
            self.say(f" ---> Removed intermediate container {cid[:12]}\n")

    def cleanup(self) -> None:
        """After the build, success or not: remove what `rm`/`forcerm` say must go."""
        for cid in list(self.containers):
            if cid == self.failed and not self.options.forcerm:
                continue
            if not (self.options.rm or self.options.forcerm):
                continue
            try:
                rpc.call("remove", ref=cid, force=True)
            except EngineError:
                pass
            self.containers.remove(cid)


def _labels(labels: dict[str, str], line: int) -> dockerfile.Instruction:
    """The client's `labels` as a last LABEL instruction (as Docker adds them)."""
    def quoted(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'

    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise InvalidArgument("labels must map strings to strings")
    args = " ".join(f"{quoted(k)}={quoted(v)}" for k, v in sorted(labels.items()))
    return dockerfile.Instruction("LABEL", args, {}, line, f"LABEL {args}")
