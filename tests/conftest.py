"""Fixtures: a live stack (real Redis, worker, uvicorn, LXC) per test session."""

from __future__ import annotations

import os
import shutil
import subprocess

import docker
import pytest

from tests.stack import Stack

STATE_ROOT = os.environ["DOCKERWEB_STATE_ROOT"]  # set by tests/settings.py
BRIDGE = os.environ["DOCKERWEB_BRIDGE"]
NFT_TABLE = os.environ["DOCKERWEB_NFT_TABLE"]
with open("/proc/sys/net/ipv4/ip_forward") as _f:
    IP_FORWARD_BEFORE = _f.read().strip()
_stack: Stack | None = None
DOCKER = shutil.which("docker")


@pytest.fixture(scope="session")
def stack() -> Stack:
    global _stack
    if _stack is None:
        _stack = Stack(STATE_ROOT).start()
    yield _stack


@pytest.fixture
def api(stack):
    """The stack, plus removal of every container a test created."""
    before = {c["id"] for c in stack.api("GET", "/api/containers/?all=1").json()}
    yield stack
    for c in stack.api("GET", "/api/containers/?all=1").json():
        if c["id"] not in before:
            stack.api("DELETE", f"/api/containers/{c['id']}/?force=1")


@pytest.fixture
def cli(api):
    if DOCKER is None:
        pytest.fail("no docker CLI: `make test` installs one (Debian's docker.io)")
    env = {**os.environ, "DOCKER_HOST": f"unix://{api.docker_sock}", "DOCKER_CONFIG": f"{api.root}/.docker"}

    def run(*args: str, input: bytes | None = None, check: bool = True, timeout: float = 60):
        p = subprocess.run([DOCKER, *args], env=env, input=input, capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL if input is None else None)
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {p.returncode}: {p.stderr.decode()}")
        return p

    run.env = env
    return run


@pytest.fixture
def dpy(api):
    client = docker.DockerClient(base_url=f"unix://{api.docker_sock}", timeout=60)
    yield client
    client.close()


def pytest_sessionfinish(session, exitstatus):
    """Last resort: stop the stack and sweep the state root, even after a failure.
    (tests/test_zz_leaks.py checks first that nothing leaked.)"""
    if _stack is not None:
        _stack.shutdown()
    from containers.engine import cgroups, rootfs

    for mp in reversed(rootfs.mounts_under(STATE_ROOT)):
        rootfs.unmount(mp)
    cgroups.remove_parent(os.environ["DOCKERWEB_CGROUP_PARENT"])
    remove_network()
    shutil.rmtree(STATE_ROOT, ignore_errors=True)


def remove_network() -> None:
    """What the worker set up for this run: the bridge, our nft table, ip_forward."""
    from containers.engine import bridge, portmap

    portmap.remove_table(NFT_TABLE)
    bridge.remove(BRIDGE)
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write(IP_FORWARD_BEFORE)


def stop_stack() -> None:
    if _stack is not None:
        _stack.shutdown()
