"""Issue 14's compose project with Debian's docker-compose (1.29) against dockerweb: a
busybox httpd service serving a page from a named volume and a second service fetching it
by the service name over the project's user network, both `restart: unless-stopped`;
`docker-compose down -v` leaves no container, network or volume behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.waiting import until

COMPOSE = shutil.which("docker-compose")
PROJECT = """\
version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo hello from compose > /www/index.html && exec httpd -f -p 80 -h /www"]
    volumes: ["site:/www"]
    networks: [app]
    restart: unless-stopped
  fetch:
    image: busybox
    command: ["sh", "-c", "until wget -qO- http://web/; do sleep 0.2; done; exec sleep 3600"]
    networks: [app]
    restart: unless-stopped
    depends_on: [web]
networks:
  app: {}
volumes:
  site: {}
"""


@pytest.fixture
def compose(api, tmp_path):
    if COMPOSE is None:
        pytest.fail("no docker-compose: `make test` installs Debian's docker-compose")
    (tmp_path / "docker-compose.yml").write_text(PROJECT)
    env = {**os.environ, "DOCKER_HOST": f"unix://{api.docker_sock}", "DOCKER_CONFIG": f"{api.root}/.docker",
           "COMPOSE_PROJECT_NAME": "dwtest"}

    def run(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        p = subprocess.run([COMPOSE, *args], cwd=tmp_path, env=env, capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} -> {p.returncode}: {p.stderr.decode()}")
        return p

    yield run
    run("down", "-v", "--remove-orphans", check=False)


def _project_objects(cli) -> tuple[list[str], list[str], list[str]]:
    label = "label=com.docker.compose.project=dwtest"
    containers = cli("ps", "-aq", "--filter", label).stdout.decode().split()
    networks = cli("network", "ls", "-q", "--filter", label).stdout.decode().split()
    volumes = cli("volume", "ls", "-q", "--filter", label).stdout.decode().split()
    return containers, networks, volumes


def test_compose_up_serves_a_volume_page_by_service_name_and_down_v_leaves_nothing(compose, cli):
    compose("up", "-d")
    def fetched() -> bool:
        return b"hello from compose" in compose("logs", "--no-color", "fetch").stdout

    until(fetched, timeout=60)
    ps = json.loads(cli("inspect", "dwtest_web_1").stdout)[0]
    assert ps["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert any(m["Type"] == "volume" and m["Destination"] == "/www" for m in ps["Mounts"])
    containers, networks, volumes = _project_objects(cli)
    assert len(containers) == 2 and len(networks) == 1 and len(volumes) == 1
    compose("down", "-v")
    assert _project_objects(cli) == ([], [], [])
