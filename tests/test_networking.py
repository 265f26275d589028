"""Networking on the run's own bridge and subnet: real bridges, veths, netns and nft rules.
Traffic goes only to 127.0.0.1 and to addresses on the test's own bridge."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

from containers.engine.net import portmap
from tests.conftest import BRIDGE, NFT_TABLE
from tests.waiting import until

NOT_SERVING = (requests.RequestException, OSError)  # polled again until the server answers

HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"


def _host_port(c: dict, key: str = "80/tcp") -> int:
    return c["network_settings"]["ports"][key][0]["host_port"]


def _get(port: int, host: str = "127.0.0.1") -> str:
    return requests.get(f"http://{host}:{port}/", timeout=3).text


def _veth_exists(cid: str) -> bool:
    return subprocess.run(["ip", "link", "show", f"dw{cid[:12]}"], capture_output=True).returncode == 0


def test_port_mapping_from_host_and_hairpin_from_another_container(api):
    a = api.run(cmd=["sh", "-c", HTTPD], ports=["80"], hostname="web-a")
    ns = a["network_settings"]
    assert ns["ip"].startswith(os.environ["DOCKERWEB_SUBNET"].rsplit(".", 2)[0])
    assert ns["gateway"] and ns["mac"].startswith("02:42:") and ns["prefix"] == 24
    port = _host_port(a)
    assert 49153 <= port <= 65535
    assert until(lambda: _get(port), ignore=NOT_SERVING) == "hello-from-web-a\n"  # 127.0.0.1 on the host
    assert _get(80, ns["ip"]) == "hello-from-web-a\n"  # straight to the container's address
    script = (f"wget -qO- http://{ns['ip']}/ && wget -qO- http://{ns['gateway']}:{port}/")
    b = api.run(cmd=["sh", "-c", script])
    assert api.wait(b["id"])["exit_code"] == 0
    assert api.logs(b["id"]) == b"hello-from-web-a\n" * 2  # by IP, then hairpin via the mapping
    nets = api.api("GET", "/api/networks/").json()
    assert nets[0]["bridge"] == BRIDGE and a["id"] in nets[0]["containers"]


def test_udp_mapping(api):
    c = api.run(cmd=["sleep", "1000"], ports=["5353/udp"])
    port = _host_port(c, "5353/udp")
    pid = api.inspect(c["id"])["state"]["pid"]
    echo = ("import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5353));"
            "d,a=s.recvfrom(100); s.sendto(b'pong:'+d, a)")
    server = subprocess.Popen(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", echo])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            reply = None
            for _ in range(20):
                s.sendto(b"ping", ("127.0.0.1", port))
                try:
                    reply = s.recvfrom(100)[0]
                    break
                except TimeoutError:
                    continue
        assert reply == b"pong:ping"
    finally:
        server.kill()
        server.wait()


def test_port_conflict_is_409_and_nothing_half_started(api):
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    busy = holder.getsockname()[1]
    try:
        c = api.create(cmd=["sh", "-c", HTTPD], ports=[f"{busy}:80"])
        r = api.api("POST", f"/api/containers/{c['id']}/start/")
        assert r.status_code == 409 and "already allocated" in r.json()["message"]
        after = api.inspect(c["id"])
        assert after["state"]["status"] == "created" and after["network_settings"]["ip"] == ""
        assert not _veth_exists(c["id"]) and c["id"] not in portmap.owners(NFT_TABLE)
    finally:
        holder.close()
    a = api.run(cmd=["sh", "-c", HTTPD], ports=[f"127.0.0.1:{busy}:80"])
    b = api.create(cmd=["sh", "-c", HTTPD], ports=[f"{busy}:80"])
    r = api.api("POST", f"/api/containers/{b['id']}/start/")
    assert r.status_code == 409, r.text
    assert api.inspect(b["id"])["state"]["status"] == "created"
    assert until(lambda: _get(busy), ignore=NOT_SERVING).startswith("hello-from-")
    assert api.inspect(a["id"])["network_settings"]["ports"]["80/tcp"][0]["host_ip"] == "127.0.0.1"


def test_thirty_concurrent_starts_get_distinct_ips_and_ports(api):
    def run(i):
        return api.run(cmd=["sleep", "1000"], ports=["80", "53/udp"])

    with ThreadPoolExecutor(10) as pool:
        started = list(pool.map(run, range(30)))
    ips = [c["network_settings"]["ip"] for c in started]
    tcp = [_host_port(c) for c in started]
    udp = [_host_port(c, "53/udp") for c in started]
    assert len(set(ips)) == 30 and len(set(tcp)) == 30 and len(set(udp)) == 30
    gateway = started[0]["network_settings"]["gateway"]
    assert gateway not in ips and all(not ip.endswith(".255") and not ip.endswith(".0") for ip in ips)


def test_restart_keeps_a_working_mapping_and_stop_releases_everything(api):
    c = api.run(cmd=["sh", "-c", HTTPD], ports=["80"])
    assert until(lambda: _get(_host_port(c)), ignore=NOT_SERVING).startswith("hello-from-")
    r = api.api("POST", f"/api/containers/{c['id']}/restart/?timeout=1")
    assert r.status_code == 200
    again = r.json()
    assert until(lambda: _get(_host_port(again)), ignore=NOT_SERVING).startswith("hello-from-")
    api.api("POST", f"/api/containers/{c['id']}/stop/?timeout=1")
    stopped = api.inspect(c["id"])
    assert stopped["network_settings"]["ip"] == "" and stopped["network_settings"]["ports"] == {}
    assert c["id"] not in portmap.owners(NFT_TABLE)
    until(lambda: not _veth_exists(c["id"]))  # the kernel deletes it with the namespace
    api.api("DELETE", f"/api/containers/{c['id']}/")
    assert c["id"] not in portmap.owners(NFT_TABLE)


def _veth_up(cid: str) -> bool:
    out = subprocess.run(["ip", "-o", "link", "show", f"dw{cid[:12]}"], capture_output=True,
                         text=True).stdout
    return "<" in out and "UP" in out.split("<", 1)[1].split(">", 1)[0].split(",")


def test_a_stopped_containers_veth_is_left_to_the_kernel_down_and_its_name_reused(api):
    """At a bridge container's end LXC does not delete the host end itself (that waited
    ~20-30 ms for RCU grace periods in every exit): the init confinement library takes it
    down at once, LXC logs that it found nothing to remove, and the kernel deletes the pair
    with the namespace. Restarts at once reuse the name (a stale host end is deleted first)
    and the container answers at its address each time."""
    c = api.run(cmd=["sh", "-c", HTTPD])
    ip = c["network_settings"]["ip"]
    for _ in range(4):
        r = api.api("POST", f"/api/containers/{c['id']}/restart/?timeout=0")
        assert r.status_code == 200 and r.json()["state"]["status"] == "running", r.text[:300]
        assert r.json()["network_settings"]["ip"] == ip
        until(lambda: _get(80, ip), ignore=NOT_SERVING)
    assert api.api("POST", f"/api/containers/{c['id']}/stop/?timeout=0").status_code == 200
    assert not _veth_up(c["id"])  # down (or gone) as soon as the stop is answered
    with open(os.path.join(api.root, "runtime", c["id"], "lxc.log")) as f:
        assert f'Failed to remove interface "dw{c["id"][:12]}"' in f.read()
    until(lambda: not _veth_exists(c["id"]))


def test_worker_killed_mappings_keep_answering(api):
    c = api.run(cmd=["sh", "-c", HTTPD], ports=["80"])
    port = _host_port(c)
    assert until(lambda: _get(port), ignore=NOT_SERVING).startswith("hello-from-")
    api.kill("worker", signal.SIGKILL)
    assert _get(port).startswith("hello-from-")
    api.start_worker()
    assert _get(port).startswith("hello-from-")
    assert api.inspect(c["id"])["network_settings"]["ports"]["80/tcp"][0]["host_port"] == port
    assert c["id"] in portmap.owners(NFT_TABLE)


def test_network_mode_none_and_etc_files(api):
    c = api.run(cmd=["sh", "-c", "ls /sys/class/net"], network_mode="none")
    api.wait(c["id"])
    assert api.logs(c["id"]).split() == [b"lo"]
    d = api.run(cmd=["sh", "-c", "cat /etc/hostname /etc/hosts; grep -c nameserver /etc/resolv.conf"],
                name="etcfiles", hostname="myhost")
    api.wait(d["id"])
    out = api.logs(d["id"]).decode()
    ip = json.dumps(out)
    assert out.startswith("myhost\n") and "myhost etcfiles " + d["id"][:12] in out, ip
    assert out.strip().splitlines()[-1] != "0"
