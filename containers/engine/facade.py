"""The engine facade: what the Django side calls, through containers.runtime.engine(). No
Django imports. The worker calls the host effects (start, stop, kill, remove, reap_dead);
the web processes (REST, Docker API, websockets) read status and call the rest (images,
exec, changes, export, commit, cp's path_stat/archive_get/archive_put, resize, processes).

Each method does one host operation for one container and returns plain data; errors are
typed (errors.py). The database is not touched here: callers record the results.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import shutil
import signal
import subprocess
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from . import logconfig
from .confine import capabilities, initconfine, seccomp
from .errors import CommandNotFound, EngineError, ExitUnreadable, InvalidArgument, shown
from .fs import initlayer, inroot, mounts, rootfs, runroot, trash
from .fs.volumes import VolumeStore
from .image.store import DEFAULT_PATH, ImageInfo, ImageStore
from .layout import ContainerPaths, Layout, private
from .logconfig import LogLimits, limits
from .net import netconf, veth
from .run import cgroups, command, lxcconf, procs, supervision, users
from .run.supervision import RunState
from .spec import CFS_PERIOD, ContainerSpec, validate_argv_size

# the engine's /etc files, as paths in a tar of the container's layer: bind-mounted at run
# time, their mount points (made when the image lacks them) are not the container's changes
ENGINE_FILES = frozenset(path.lstrip("/") for path in netconf.ETC_FILES)
TOP_FIELDS = "uid,pid,ppid,c,stime,tty,time,cmd"  # docker top's default ps columns


@dataclass(frozen=True)
class EngineConfig:
    state_root: str
    cgroup_parent: str = "dockerweb"
    pids_limit: int = 4096  # default pids.max of a container (-1 or 0: unlimited)
    log_limits: LogLimits = LogLimits()  # default log rotation (max-size 0: none)


@dataclass(frozen=True)
class Status:
    """What is really going on with a container on this host."""

    kind: str  # "running" | "exited" | "unreadable" | "dead" | "absent"
    run: RunState | None = None
    exit: dict[str, Any] | None = None
    reason: str = ""


class Engine:
    def __init__(self, config: EngineConfig):
        self.config = config
        self.layout = Layout(config.state_root)
        self.images = ImageStore(self.layout)
        self.volumes = VolumeStore(self.layout.volumes)
        self._init_fits: dict[str, bool] = {}  # image id -> whether the init layer serves it

    def paths(self, cid: str) -> ContainerPaths:
        return self.layout.container(cid)

    def _lowers(self, image: ImageInfo, p: ContainerPaths, mounting: bool = True) -> list[str]:
        """The lower layers of container `p`'s root (of `image`), top-most first: the image's,
        under the shared init layer when the image lacks the engine's /etc files. That is
        chosen at the root's first mount (`mounting` and no upper directory yet; judged once
        per image, whose layers never change) and kept for the container's life
        (fs/initlayer.py: the mark on its upper directory)."""
        lowers = self.images.lower_dirs(image)
        if os.path.isdir(p.upper):
            use = initlayer.marked(p.upper)
        elif mounting:
            fits = self._init_fits.get(image.id)
            if fits is None:
                fits = self._init_fits[image.id] = initlayer.fits(lowers)
            use = fits and initlayer.mark(p.upper)
        else:
            use = False
        return [initlayer.ensure(self.layout.lib), *lowers] if use else lowers

    # ---- start ------------------------------------------------------------------------
    def build_programs(self) -> None:
        """Build the supervisor and the init confinement library now if this source version
        has not been built yet (the worker does it at boot, so that the first start does not
        wait for the compiler). StartFailed when either cannot be built."""
        supervision.program(self.layout.lib)
        initconfine.library(self.layout.lib)

    def mount_runtime(self) -> str:
        """Put the containers' runtime directory on its tmpfs (the worker, at boot, before it
        adopts what runs); "" when it is one, else why not (fs/runroot.py)."""
        return runroot.ensure(self.layout.runtime)

    def start(self, cid: str, spec: ContainerSpec, image: ImageInfo, hostname: str,
              name: str = "", endpoint: netconf.Endpoint | None = None,
              extra: tuple[netconf.Endpoint, ...] = (), nameserver: str = "") -> RunState:
        """Mount, render, launch. Returns the supervisor's RunState once the container runs.
        `endpoint` is eth0, `extra` further networks (eth1...), `nameserver` a user network's
        DNS for /etc/resolv.conf ("" = the host's resolvers).

        Raises CommandNotFound (127/126), InvalidArgument (bad user) or StartFailed; on any
        failure nothing stays mounted.
        """
        p = self.layout.container_to_start(cid)
        supervision.await_cleanup(p.exit)  # the last run's teardown and unmount are done
        host_veths = tuple(e.veth for e in (endpoint, *extra) if e is not None)
        veth.clear_stale(host_veths)  # a run that just ended may leave them to the kernel still
        rootfs.mount_overlay(self._lowers(image, p), p.upper, p.work, p.rootfs)
        try:
            os.makedirs(p.etc, mode=0o700, exist_ok=True)
            etc = netconf.write_etc(p.etc, hostname, name or cid[:12], cid,
                                    endpoint.ip if endpoint else None, nameserver)
            lxc_spec = self._prepare(cid, p, spec, image, hostname, netconf.lxc_lines(endpoint, extra), etc,
                                     host_veths)
            return supervision.launch(p, lxc_spec, supervision.program(self.layout.lib))
        except BaseException:
            rootfs.unmount(p.rootfs)
            cgroups.remove(self.config.cgroup_parent, cid)
            raise

    def _prepare(self, cid: str, p: ContainerPaths, spec: ContainerSpec, image: ImageInfo,
                 hostname: str, network: list[str] | None = None,
                 etc: dict[str, str] | None = None,
                 host_veths: tuple[str, ...] = ()) -> supervision.SupervisorSpec:
        cfg = image.config
        mount_entries = mounts.prepare(p.rootfs, self._mount_plan(spec, etc or {}, p.rootfs))
        user = users.resolve(p.rootfs, spec.user or cfg.get("User") or "")
        cmd = argv(spec, cfg)
        workdir = posixpath.normpath(spec.working_dir or cfg.get("WorkingDir") or "/")
        env = build_env(cfg.get("Env") or [], spec.env, hostname, user.home, spec.tty)
        validate_argv_size(cmd, env)  # the image's own Cmd/Env count too: E2BIG is a 400 here
        path_env = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
        self._ensure_workdir(p.rootfs, workdir, user)
        command.check(p.rootfs, cmd[0], path_env, workdir)
        parent = self.config.cgroup_parent
        caps = capabilities.resolve(spec.cap_add, spec.cap_drop, spec.privileged)
        profile = "" if spec.privileged else seccomp.shared(self.layout.lib, caps)
        text = lxcconf.render(lxcconf.LxcParams(
            hostname=hostname, rootfs=p.rootfs, log_file=p.lxc_log,
            cgroup_container=f"{parent}/{cid}/payload", cgroup_monitor=f"{parent}/{cid}.monitor",
            working_dir=workdir, uid=user.uid, gid=user.gid,
            environment=env, network=network or netconf.lxc_lines(None),
            privileged=spec.privileged, capabilities=caps,
            seccomp_profile=profile, mounts=mount_entries,
        ))
        with open(p.lxc_config, "w", opener=private) as f:
            f.write(text)
        try:
            os.unlink(p.lxc_log)
        except FileNotFoundError:
            pass
        sup = supervision.SupervisorSpec.container(
            p, [supervision.tool("lxc-execute"), "-n", cid, "-P", self.layout.lxc, "-f", p.lxc_config,
                "--", *cmd],
            tty=spec.tty, open_stdin=spec.open_stdin, stdin_once=spec.stdin_once,
            console_size=spec.console_size, memory_cgroup=cgroups.container_dir(parent, cid),
            cgroup_limits=cgroup_limits(spec, parent, cid, self.config.pids_limit),
            cgroup_dirs=[d for ctrl in cgroups.controllers()
                         for d in (os.path.join(ctrl, parent, cid),
                                   os.path.join(ctrl, parent, f"{cid}.monitor"))],
            preload=initconfine.library(self.layout.lib), host_veths=host_veths,
            **self._log_limits(spec),
        )
        if spec.log_driver == logconfig.NONE:  # Docker's none driver: the output is not kept
            sup = dataclasses.replace(sup, log_path=os.devnull, log_max_size=0)
        return sup

    def _mount_plan(self, spec: ContainerSpec, etc: dict[str, str], root: str) -> list[mounts.Planned]:
        """The host side of every mount: a bind's host path (made when missing for a -v
        bind, as Docker; a HostConfig.Mounts bind must exist), a volume's data directory
        (an empty one gets the image's files at its target, unless "nocopy"), and the
        engine's /etc files unless the spec mounts something there itself."""
        plan = []
        for m in spec.mounts:
            if m["type"] == "tmpfs":
                plan.append(mounts.Planned("", m["target"], tmpfs=mounts.tmpfs_options(
                    m.get("mode") or "", bool(m.get("read_only")))))
                continue
            if m["type"] == "volume":
                if not m["source"]:
                    raise InvalidArgument(f"anonymous volume at {shown(m['target'])} has no name")
                source = self.volumes.create(m["source"])
                if "nocopy" not in (m.get("mode") or "").split(","):
                    self.volumes.populate(m["source"], root, m["target"])
            else:
                source = m["source"]
                if not os.path.exists(source):
                    if m.get("origin") == "mounts":
                        raise InvalidArgument(
                            f"invalid mount config for type \"bind\": bind source path does not exist: "
                            f"{shown(source)}")
                    os.makedirs(source, mode=0o755, exist_ok=True)
                source = os.path.realpath(source)
            plan.append(mounts.Planned(source, m["target"], bool(m.get("read_only")),
                                       not os.path.isdir(source)))  # a file, socket, device
        taken = {m["target"] for m in spec.mounts}
        plan += [mounts.Planned(host, path, False, True) for path, host in etc.items() if path not in taken]
        return plan

    def _log_limits(self, spec: ContainerSpec) -> dict[str, int]:
        """The supervisor's rotation limits: the container's log_opts over the defaults."""
        lim = limits(spec.log_opts, self.config.log_limits)
        return {"log_max_size": lim.max_size, "log_max_file": lim.max_file}

    @staticmethod
    def _ensure_workdir(root: str, workdir: str, user: users.ResolvedUser) -> None:
        """Make the working directory inside the root (owned by the user when made)."""
        root_fd = inroot.open_root(root)
        try:
            fd, made = inroot.make_dirs(root_fd, workdir)
        except InvalidArgument:
            raise InvalidArgument(f"working_dir {shown(workdir)} exists and is not a directory") from None
        except OSError as err:  # a file on the way (ENOTDIR), read-only, ...
            raise InvalidArgument(f"cannot create working_dir {shown(workdir)}: {err.strerror}") from None
        finally:
            os.close(root_fd)
        try:
            if made:
                os.fchown(fd, user.uid, user.gid)
        finally:
            os.close(fd)

    # ---- observe ----------------------------------------------------------------------
    def status(self, cid: str) -> Status:
        """The truth for `cid`: exit.json wins; else a live supervisor means running.

        An exit.json that exists but cannot be read gives kind "unreadable" with the reason
        ("exit status unreadable: ..."): the run ended, its exit code is unknown.
        """
        p = self.paths(cid)
        try:
            info = supervision.read_exit(p)
            if info is not None:
                return Status("exited", exit=info)
            run = supervision.read_state(p)
            if run is None:
                return Status("absent")
            if run.supervisor_alive():
                return Status("running", run=run)
            info = supervision.read_exit(p)  # it may have finished between the two reads
        except ExitUnreadable as e:
            return Status("unreadable", run=supervision.read_state(p), reason=e.message)
        if info is not None:
            return Status("exited", exit=info)
        return Status("dead", run=run, reason=f"supervisor (pid {run.supervisor_pid}) vanished "
                                              "without recording an exit status")

    # ---- act --------------------------------------------------------------------------
    def kill(self, cid: str, sig: int) -> bool:
        """Deliver `sig`; False when the container does not run."""
        st = self.status(cid)
        return st.kind == "running" and st.run is not None and supervision.deliver(st.run, sig)

    def stop(self, cid: str, timeout: float, sig: int = signal.SIGTERM) -> Status:
        """`sig` (SIGTERM), wait up to `timeout` seconds, then SIGKILL; wait for the exit."""
        st = self.status(cid)
        if st.kind != "running" or st.run is None:
            return st
        if supervision.deliver(st.run, sig) and supervision.wait_supervisor(st.run, timeout):
            return self.status(cid)
        return self.force_kill(cid)

    def force_kill(self, cid: str, grace: float = 5.0) -> Status:
        """SIGKILL the main process; if the container still runs after `grace`, its init."""
        st = self.status(cid)
        if st.kind != "running" or st.run is None:
            return st
        supervision.deliver(st.run, signal.SIGKILL)
        if not supervision.wait_supervisor(st.run, grace):
            supervision.kill_init(st.run)  # recorded as 137: see init_signal_code in supervisor.c
            supervision.wait_supervisor(st.run, 30)
        return self.status(cid)

    def changes(self, cid: str, image: ImageInfo) -> list:
        """docker diff: the container's upper dir against its image's layers."""
        from .fs.changes import changes, without

        p = self.paths(cid)
        found = changes(p.upper, self._lowers(image, p, mounting=False))
        return without(found, netconf.ETC_FILES)  # mount points of the engine's /etc files

    def export(self, cid: str, image: ImageInfo, own_layer_only: bool = False):
        """A tar stream of the container's whole filesystem (mounted for the duration if it
        does not run), or of its own layer only with whiteouts in the `.wh.` form."""
        from .fs.archive import tar_stream

        if own_layer_only:
            yield from tar_stream(self.paths(cid).upper, whiteouts=True, exclude=ENGINE_FILES)
            return
        with self._mounted(cid, image) as root:
            yield from tar_stream(root)

    def path_stat(self, cid: str, image: ImageInfo, path: str) -> dict[str, Any]:
        """docker cp's stat of `path` inside the container (NotFound when absent)."""
        with self._in_root(cid, image) as root_fd:
            fd = self._open_in(root_fd, cid, path)
            try:
                return _path_stat(fd, path)
            finally:
                os.close(fd)

    def archive_get(self, cid: str, image: ImageInfo, path: str) -> tuple[dict[str, Any], Iterator[bytes]]:
        """(stat, tar) of `path` inside the container (docker cp FROM the container), both of
        the one thing `path` named when this was called (NotFound when absent); the tar
        holds the mount and the fd until it is consumed or dropped."""
        from .fs.archive import tar_path

        stack = ExitStack()
        try:
            root_fd = stack.enter_context(self._in_root(cid, image))
            fd = self._open_in(root_fd, cid, path)
            stack.callback(os.close, fd)
            st = _path_stat(fd, path)
        except BaseException:
            stack.close()
            raise

        def chunks() -> Iterator[bytes]:
            with stack:
                yield from tar_path(fd, os.path.basename(path.rstrip("/")) or ".")

        out = chunks()
        weakref.finalize(out, stack.close)  # dropped unstarted: release all the same
        return st, out

    def archive_put(self, cid: str, image: ImageInfo, path: str, stream) -> None:
        """Extract a tar into directory `path` inside the container (docker cp INTO it)."""
        from .fs.archive import extract_layer

        with self._in_root(cid, image) as root_fd:
            try:
                fd = inroot.open_dir(root_fd, path)
            except OSError:
                raise InvalidArgument(f"destination {path} is not a directory in the container") from None
            try:
                extract_layer(stream, fd)
            finally:
                os.close(fd)

    def in_root(self, cid: str, image: ImageInfo, work: Callable[[int], Any]) -> Any:
        """`work(root_fd)` with an O_PATH fd on the container's merged root (mounted for the
        duration if it does not run): a build's COPY/ADD writes through it (buildcontext.py)."""
        with self._in_root(cid, image) as root_fd:
            return work(root_fd)

    @staticmethod
    def _open_in(root_fd: int, cid: str, path: str) -> int:
        """An O_PATH fd on `path` inside the root; NotFound as docker cp words it."""
        from .errors import NotFound

        try:
            return inroot.open_path(root_fd, path)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"Could not find the file {path} in container {cid}") from None

    def _in_root(self, cid: str, image: ImageInfo):
        """Context: an O_PATH fd on the container's merged root (mounted for the duration if
        it does not run); every path inside it is resolved through `inroot`."""
        from contextlib import contextmanager

        @contextmanager
        def ctx():
            with self._mounted(cid, image) as root:
                fd = inroot.open_root(root)
                try:
                    yield fd
                finally:
                    os.close(fd)

        return ctx()

    def _mounted(self, cid: str, image: ImageInfo):
        """Context: the container's merged root, mounted for the duration if it does not run."""
        from contextlib import contextmanager

        @contextmanager
        def ctx():
            p = self.paths(cid)
            supervision.await_cleanup(p.exit)  # not an unmount in flight: a mount of its own
            here = not rootfs.overlay_mounted(p.rootfs)
            if here:
                rootfs.mount_overlay(self._lowers(image, p), p.upper, p.work, p.rootfs)
            try:
                yield p.rootfs
            finally:
                if here and self.status(cid).kind != "running":
                    rootfs.unmount(p.rootfs)

        return ctx()

    def commit(self, cid: str, image: ImageInfo, author: str, comment: str,
               config_changes: dict[str, Any], created_by: str) -> ImageInfo:
        return self.images.commit(self.paths(cid).upper, image, author, comment, config_changes,
                                  created_by, exclude=ENGINE_FILES)

    def freeze(self, cid: str, frozen: bool) -> None:
        """Pause (freeze) or unpause a running container."""
        if self.status(cid).kind != "running":
            raise EngineError("container is not running")
        cgroups.freeze(self.config.cgroup_parent, cid, frozen)

    def processes(self, cid: str) -> list[int]:
        """Pids (host view) of every process in the container."""
        return cgroups.pids(self.config.cgroup_parent, cid)

    def main_pid(self, cid: str, wait: float = 0.2) -> int | None:
        """The container's main process (host pid), Docker's State.Pid: the child of LXC's
        init, never the init itself; None when the container does not run. Waits up to
        `wait` s for it right after a start (LXC's init forks it just after it reports started)."""
        run = supervision.read_state(self.paths(cid))
        if run is None or not procs.alive(run.init_pid, run.init_start):
            return None
        return supervision.await_main(run, wait)

    def top(self, cid: str) -> tuple[list[str], list[list[str]]]:
        """`ps` of every process in the container: (column titles, one row per process).
        LXC's init (the pid namespace's PID 1, lxc-execute's own code) is not one of them:
        Docker lists the container's command and what it started (and exec'd processes)."""
        run = supervision.read_state(self.paths(cid))
        init = run.init_pid if run else None
        pids = [p for p in self.processes(cid) if p != init]
        if not pids:
            return TOP_FIELDS.upper().split(","), []
        out = subprocess.run(["ps", "-o", TOP_FIELDS, "-p", ",".join(map(str, pids))],
                             capture_output=True, text=True).stdout.splitlines()
        titles = out[0].split()
        return titles, [line.split(None, len(titles) - 1) for line in out[1:]]

    def update_limits(self, cid: str, spec: ContainerSpec) -> None:
        """Apply `spec`'s memory, swappiness, pids and CPU limits to the cgroups of the
        running container `cid` now (docker update); the kernel's defaults are written back
        for limits that `spec` no longer sets. A container that exits meanwhile is left
        alone (its cgroups are gone; the next start writes the spec). InvalidArgument with
        the kernel's reason when it refuses a value (a memory limit below the usage: EBUSY)."""
        for directory, key, value in live_limits(spec, self.config.cgroup_parent, cid,
                                                 self.config.pids_limit):
            try:
                with open(os.path.join(directory, key), "w") as f:
                    f.write(str(value))
            except FileNotFoundError:
                return
            except OSError as e:
                raise InvalidArgument(f"Cannot update container {cid}: {key}: "
                                      f"{e.strerror or type(e).__name__}") from None

    def resize(self, cid: str, rows: int, cols: int) -> None:
        """Set the tty size of a running container (a no-op without a tty)."""
        from .run.client import AttachClient

        try:
            with AttachClient(self.paths(cid).attach, timeout=5) as client:
                client.resize(rows, cols)
        except OSError:
            pass  # exited meanwhile

    def reap_dead(self, cid: str) -> None:
        """Clean up after a supervisor that died: kill what is left, unmount, rm cgroups."""
        parent = self.config.cgroup_parent
        for _ in range(50):
            pids = cgroups.pids(parent, cid)
            st = supervision.read_state(self.paths(cid))
            if st and procs.alive(st.lxc_pid, procs.start_time(st.lxc_pid)):
                procs_to_kill = [st.lxc_pid, *pids]
            else:
                procs_to_kill = pids
            if not procs_to_kill:
                break
            for pid in procs_to_kill:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            import time

            time.sleep(0.02)
        rootfs.unmount(self.paths(cid).rootfs)
        cgroups.remove(parent, cid)

    def remove(self, cid: str, force: bool = False) -> None:
        """Delete the container's files. A running container is refused (EngineError), or
        with `force` killed first (force_kill); one status read either way. Its directory
        is gone when this returns (renamed into tmp/); the unlinks of its files happen in
        the background (fs/trash.py)."""
        p = self.paths(cid)
        if self.status(cid).kind == "running" and (not force or self.force_kill(cid).kind == "running"):
            raise EngineError("container is still running")
        supervision.await_cleanup(p.exit)  # its unmount is done before the rename
        rootfs.unmount(p.rootfs)
        cgroups.remove(self.config.cgroup_parent, cid)
        shutil.rmtree(os.path.join(self.layout.lxc, cid), ignore_errors=True)
        if p.run != p.dir:
            shutil.rmtree(p.run, ignore_errors=True)  # a tmpfs: no trash needed
        trash.discard(p.dir, self.layout.tmp, spare_dir=self.layout.spare)


def _path_stat(fd: int, path: str) -> dict[str, Any]:
    """Docker's container path stat of what `fd` refers to (symlinks already followed)."""
    import stat as _stat

    st = os.fstat(fd)
    mode = st.st_mode & 0o777 | (1 << 31 if _stat.S_ISDIR(st.st_mode) else 0)
    return {"name": os.path.basename(path.rstrip("/")) or "/", "size": st.st_size, "mode": mode,
            "mtime": _iso(st.st_mtime), "linkTarget": ""}


def _iso(ts: float) -> str:
    import time as _time

    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(ts))


def argv(spec: ContainerSpec, image_config: dict[str, Any]) -> list[str]:
    """Docker's rule: an entrypoint given at create replaces the image's (and drops the
    image's Cmd); otherwise image Entrypoint + (create Cmd or image Cmd)."""
    if spec.entrypoint:
        out = [*spec.entrypoint, *spec.cmd]
    else:
        out = [*(image_config.get("Entrypoint") or []), *(spec.cmd or image_config.get("Cmd") or [])]
    if not out:
        raise InvalidArgument("no command specified")
    return out


def build_env(image_env: list[str], user_env: list[str], hostname: str, home: str,
              tty: bool) -> list[str]:
    """Docker's order: PATH default, HOSTNAME, image env, user env, HOME and TERM if unset.
    A user entry without "=" (Env: ["Foo"]) unsets Foo, the image's value too (as Docker's
    config merge and ReplaceOrAppendEnvValues do)."""
    merged: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    for item in [*image_env, *user_env]:
        k, sep, v = item.partition("=")
        if sep:
            merged[k] = v
        else:
            merged.pop(k, None)
    merged.setdefault("HOME", home or "/")
    if tty:
        merged.setdefault("TERM", "xterm")
    return [f"{k}={v}" for k, v in merged.items()]


def cgroup_limits(spec: ContainerSpec, parent: str, cid: str, default_pids: int
                  ) -> list[tuple[str, str, int]]:
    """(cgroup directory, file, value) to write before start, in order: memory, pids, cpu.
    Our per-container cgroup in each controller holds LXC's payload cgroup, so the limits
    apply to every process of the container, exec'd ones included."""
    out = [(cgroups.container_dir(parent, cid), key, value) for key, value in memory_limits(spec)]
    pids = spec.pids_limit or default_pids
    if pids > 0:
        out.append((cgroups.container_dir(parent, cid, "pids"), "pids.max", pids))
    if spec.memory_swappiness is not None:
        out.append((cgroups.container_dir(parent, cid), "memory.swappiness", spec.memory_swappiness))
    cpu = cgroups.container_dir(parent, cid, "cpu")
    if spec.cpu_shares:
        out.append((cpu, "cpu.shares", max(2, spec.cpu_shares)))
    if spec.nano_cpus:
        out += [(cpu, "cpu.cfs_period_us", CFS_PERIOD),
                (cpu, "cpu.cfs_quota_us", spec.nano_cpus * CFS_PERIOD // 1_000_000_000)]
    else:
        if spec.cpu_period:
            out.append((cpu, "cpu.cfs_period_us", spec.cpu_period))
        if spec.cpu_quota:
            out.append((cpu, "cpu.cfs_quota_us", spec.cpu_quota))
    return out


def live_limits(spec: ContainerSpec, parent: str, cid: str, default_pids: int
                ) -> list[tuple[str, str, int | str]]:
    """What `update_limits` writes, in a valid order: every limit `cgroup_limits` knows,
    with the kernel's default for an unset one (pids "max", cpu.shares 1024, no CFS quota,
    a 100 ms period). Memory: the memsw limit first when the new memory limit is above the
    one in force (the kernel keeps memory <= memsw)."""
    mem = cgroups.container_dir(parent, cid)
    out: list[tuple[str, str, int | str]] = []
    limits = dict(memory_limits(spec))
    if "memory.limit_in_bytes" in limits:
        swap = limits.pop("memory.memsw.limit_in_bytes", None)
        current = cgroups.read_int(os.path.join(mem, "memory.memsw.limit_in_bytes"))
        pairs = [("memory.limit_in_bytes", limits["memory.limit_in_bytes"]),
                 ("memory.soft_limit_in_bytes", limits["memory.soft_limit_in_bytes"])]
        if swap is not None:
            first = current is not None and limits["memory.limit_in_bytes"] > current
            pairs = [("memory.memsw.limit_in_bytes", swap), *pairs] if first else [
                *pairs, ("memory.memsw.limit_in_bytes", swap)]
        out += [(mem, key, value) for key, value in pairs]
    if spec.memory_swappiness is not None:
        out.append((mem, "memory.swappiness", spec.memory_swappiness))
    pids = spec.pids_limit or default_pids
    out.append((cgroups.container_dir(parent, cid, "pids"), "pids.max", pids if pids > 0 else "max"))
    cpu = cgroups.container_dir(parent, cid, "cpu")
    out.append((cpu, "cpu.shares", max(2, spec.cpu_shares) if spec.cpu_shares else 1024))
    if spec.nano_cpus:
        period, quota = CFS_PERIOD, spec.nano_cpus * CFS_PERIOD // 1_000_000_000
    else:
        period, quota = spec.cpu_period or CFS_PERIOD, spec.cpu_quota or -1
    out += [(cpu, "cpu.cfs_quota_us", -1), (cpu, "cpu.cfs_period_us", period),
            (cpu, "cpu.cfs_quota_us", quota)]  # quota off first: any period is then valid
    return out


def memory_limits(spec: ContainerSpec) -> list[tuple[str, int]]:
    """cgroup v1 memory files to write, in a valid order (memsw must stay >= limit)."""
    if spec.memory <= 0:
        return []
    limits = [("memory.limit_in_bytes", spec.memory), ("memory.soft_limit_in_bytes", spec.memory)]
    swap = spec.swap_limit
    if swap and os.path.exists(os.path.join(cgroups.CGROUP_ROOT, "memory", "memory.memsw.limit_in_bytes")):
        limits.append(("memory.memsw.limit_in_bytes", swap))
    return limits


__all__ = ["Engine", "EngineConfig", "Status", "CommandNotFound", "command"]
