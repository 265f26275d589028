"""Peers for the Docker benches: a real dockerd and podman, each with its own state under a
temporary directory, fed dockerweb's busybox image (docker save / load: nothing is pulled).

dockerd (Debian's docker.io) runs with `--iptables=false --bridge=none --ip-forward=false`
and its own --data-root, --exec-root, --pidfile and unix socket, so it never touches
dockerweb's bridge or firewall (nor the host's). podman runs with `--runtime runc` and its
own --root/--runroot. A peer that is not installed is skipped with a message saying so
(`make bench-peers` installs podman).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from common import docker_cli

from containers.engine.fs import rootfs


def _busybox_archive(s, directory: str) -> str:
    """dockerweb's busybox image as a docker-save archive (through its Docker API)."""
    docker, env = docker_cli(s)
    path = os.path.join(directory, "busybox.tar")
    subprocess.run([docker, "save", "-o", path, "busybox:latest"], env=env, check=True)
    return path


@contextmanager
def dockerd(s) -> Iterator[list[str] | None]:
    """A private dockerd with dockerweb's busybox loaded: yields the argv prefix of a docker
    CLI aimed at it, or None (and says why) when dockerd is not installed or does not come up."""
    exe, docker = shutil.which("dockerd"), shutil.which("docker")
    if exe is None or docker is None:
        print("peer dockerd skipped: dockerd is not installed (Debian's docker.io)")
        yield None
        return
    tmp = tempfile.mkdtemp(prefix="dwb-dockerd-", dir="/tmp")
    sock = os.path.join(tmp, "docker.sock")
    cli = [docker, "-H", f"unix://{sock}"]
    log = open(os.path.join(tmp, "dockerd.log"), "wb")
    proc = subprocess.Popen(
        [exe, "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false",
         "--ip-masq=false", "--data-root", os.path.join(tmp, "data"),
         "--exec-root", os.path.join(tmp, "exec"), "--pidfile", os.path.join(tmp, "docker.pid"),
         "-H", f"unix://{sock}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if not _until_up(cli, proc):
            print("peer dockerd skipped: it did not come up (see its log):",
                  open(os.path.join(tmp, "dockerd.log"), errors="replace").read()[-500:])
            yield None
            return
        subprocess.run([*cli, "load", "-q", "-i", _busybox_archive(s, tmp)], check=True,
                       stdout=subprocess.DEVNULL)
        yield cli
    finally:
        _stop(proc)
        log.close()
        for mp in reversed(rootfs.mounts_under(tmp)):
            rootfs.unmount(mp)
        shutil.rmtree(tmp, ignore_errors=True)


def _until_up(cli: list[str], proc: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if subprocess.run([*cli, "version"], capture_output=True).returncode == 0:
            return True
        time.sleep(0.2)
    return False


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM (dockerd stops its containerd), SIGKILL after 20 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def podman(s) -> Iterator[list[str] | None]:
    """podman (runc) on a private root with dockerweb's busybox loaded: yields its argv
    prefix, or None (and says why) when podman is not installed."""
    exe = shutil.which("podman")
    if exe is None:
        print("peer podman skipped: podman is not installed (`make bench-peers` installs it)")
        yield None
        return
    tmp = tempfile.mkdtemp(prefix="dwb-podman-", dir="/tmp")
    cli = [exe, "--runtime", "runc", "--root", os.path.join(tmp, "root"),
           "--runroot", os.path.join(tmp, "runroot"), "--cgroup-manager", "cgroupfs",
           "--events-backend", "none", "--storage-driver", "overlay"]
    try:
        subprocess.run([*cli, "load", "-q", "-i", _busybox_archive(s, tmp)], check=True,
                       stdout=subprocess.DEVNULL)
        yield cli
    finally:
        subprocess.run([*cli, "rm", "-af"], capture_output=True)
        subprocess.run([*cli, "system", "reset", "-f"], capture_output=True)
        for mp in reversed(rootfs.mounts_under(tmp)):
            rootfs.unmount(mp)
        shutil.rmtree(tmp, ignore_errors=True)
