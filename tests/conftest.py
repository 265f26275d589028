"""Fixtures: a live stack (real Redis, worker, uvicorn, LXC) per test session."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
import pytest

from tests import leaks
from tests.postgres import postgres_url  # noqa: F401 - a fixture for the PostgreSQL tests
from tests.stack import Stack

STATE_ROOT = os.environ["DOCKERWEB_STATE_ROOT"]  # set by tests/settings.py
BRIDGE = os.environ["DOCKERWEB_BRIDGE"]
NFT_TABLE = os.environ["DOCKERWEB_NFT_TABLE"]
NETWORK_PREFIX = os.environ["DOCKERWEB_NETWORK_BRIDGE_PREFIX"]  # the run's user networks' bridges
with open("/proc/sys/net/ipv4/ip_forward") as _f:
    IP_FORWARD_BEFORE = _f.read().strip()
_stack: Stack | None = None
DOCKER = shutil.which("docker")
FAST = Path(__file__).resolve().parent / "fast"  # the fast tier: no LXC, no root needed


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
    left = [c for c in stack.api("GET", "/api/containers/?all=1").json() if c["id"] not in before]
    refused = [why for c in left if (why := _removed(stack, c))]
    # a container left here would be in every later test's `before`, never removed, and seen
    # by the later tests that count containers: say which test left it
    assert not refused, f"a forced removal after the test failed: {refused}"


def _removed(stack: Stack, c: dict, patience: float = 30.0) -> str:
    """Force-remove container `c`; "" once it is gone, else why not. A 409 (its auto-remove
    under way) or a 503 (a worker the test killed, restarting) is tried again until
    `patience` runs out."""
    deadline = time.monotonic() + patience
    while True:
        r = stack.api("DELETE", f"/api/containers/{c['id']}/?force=1")
        if r.status_code in (204, 404):
            return ""
        if r.status_code not in (409, 503) or time.monotonic() >= deadline:
            return f"{c['name']} ({c['state']['status']}): {r.status_code} {r.text[:300]}"
        time.sleep(0.1)


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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (`report_call`: the dashboard's page
    fixture says what the page showed when the test failed)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def pytest_sessionfinish(session, exitstatus):
    """The leak check, then the last-resort sweep, even after a failure: stop the stack, list
    what the run left on the host, remove it all. A leak fails the run (exit status 1)
    without a test id. A run of the fast tier only (tests/fast: no LXC, maybe no root) has
    nothing on the host: it only removes its state root."""
    if not _touched_host(session):
        shutil.rmtree(STATE_ROOT, ignore_errors=True)
        return
    from containers.engine.fs import rootfs
    from containers.engine.run import cgroups

    stop_stack()
    cgroup_parent = os.environ["DOCKERWEB_CGROUP_PARENT"]
    problems = leaks.on_host(STATE_ROOT, cgroup_parent, BRIDGE, NFT_TABLE, NETWORK_PREFIX)
    for mp in reversed(rootfs.mounts_under(STATE_ROOT)):
        rootfs.unmount(mp)
    cgroups.remove_parent(cgroup_parent)
    remove_network()
    problems += leaks.network_left(BRIDGE, NFT_TABLE)
    shutil.rmtree(STATE_ROOT, ignore_errors=True)
    if problems:
        report = session.config.pluginmanager.get_plugin("terminalreporter")
        if report is not None:
            report.write_line("")  # ends the progress line
            report.write_sep("=", "leaked: the run left this on the host", red=True, bold=True)
            for p in problems:
                report.write_line(p, red=True)
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _touched_host(session) -> bool:
    """Whether the run may have left something on the host: as root, any test outside tests/fast."""
    return os.geteuid() == 0 and (_stack is not None or any(
        FAST not in Path(item.path).parents for item in getattr(session, "items", ())))


def remove_network() -> None:
    """What the worker set up for this run: the bridge, our nft table, ip_forward, and any
    user network's bridge a test left."""
    from containers.engine.net import bridge, portmap

    portmap.remove_table(NFT_TABLE)
    bridge.remove(BRIDGE)
    for name in bridge.named(NETWORK_PREFIX):
        bridge.remove(name)
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write(IP_FORWARD_BEFORE)


def stop_stack() -> None:
    if _stack is not None:
        _stack.shutdown()
