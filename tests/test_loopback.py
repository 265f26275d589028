"""A container must not reach the host's loopback services (the kube-proxy CVE-2020-8558 class).

The bridge has route_localnet=1 (127.0.0.1 -> container mappings need it), so the host accepts
packets for 127.0.0.0/8 arriving from the bridge. The attack is made from inside a real
container's network namespace with the powers of a container holding NET_ADMIN/NET_RAW (the
strongest case): its own loopback routes deleted, 127.0.0.1 routed to the gateway,
route_localnet on so that answers from 127.0.0.1 would be accepted. Traffic goes only to
127.0.0.1 and to the test's own bridge."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys

import pytest
import requests

from tests.waiting import until

NOT_SERVING = (requests.RequestException, OSError)  # polled again until the server answers

HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"

# run under `nsenter -n` in the container's netns: argv = gateway, then (kind, port) pairs;
# prints one JSON outcome per target: connected | refused | timeout | <errno name>
PROBE = r"""
import errno, json, socket, sys
out = []
for kind, port in zip(sys.argv[1::2], sys.argv[2::2]):
    port = int(port)
    if kind == "tcp":
        s = socket.socket()
        s.settimeout(1.5)
        try:
            s.connect(("127.0.0.1", port))
            data = b""
            try:  # connected: what answers (a silent listener answers nothing)
                s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                while len(data) < 4000 and (chunk := s.recv(4000)):
                    data += chunk
            except OSError:
                pass
            out.append("connected:" + data.decode(errors="replace"))
        except TimeoutError:
            out.append("timeout")
        except ConnectionRefusedError:
            out.append("refused")
        except OSError as e:
            out.append(errno.errorcode.get(e.errno, str(e)))
        finally:
            s.close()
    else:  # "spoof:<dst>": a UDP datagram with a spoofed loopback source
        dst = kind.split(":", 1)[1]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, 19, 1)  # IP_TRANSPARENT: any source (127.0.0.1 is no
        # longer local here); needs CAP_NET_ADMIN, which this container model has
        # 127.0.0.2: the host drops a source that is one of its own addresses (127.0.0.1) as
        # martian by itself, not the rest of 127.0.0.0/8
        s.bind(("127.0.0.2", 0))
        try:
            s.sendto(b"spoofed", (dst, port))
            out.append("sent")
        except OSError as e:
            out.append(errno.errorcode.get(e.errno, str(e)))
        s.close()
print(json.dumps(out))
"""


def _ns(pid: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *argv], capture_output=True, text=True,
                          check=check, timeout=30)


def _reroute_loopback(pid: int, gateway: str) -> None:
    """Inside the container: 127.0.0.1 is no longer local but routed to the host via the bridge,
    and answers from 127.0.0.0/8 on eth0 are accepted."""
    # the address, not only its local routes: an answer from a source that is one of the
    # netns' own addresses would be dropped as martian
    _ns(pid, "ip", "addr", "del", "127.0.0.1/8", "dev", "lo")
    _ns(pid, "ip", "route", "add", "127.0.0.1/32", "via", gateway, "dev", "eth0")
    _ns(pid, "sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1")
    _ns(pid, "sysctl", "-q", "-w", "net.ipv4.conf.eth0.route_localnet=1")
    route = _ns(pid, "ip", "route", "get", "127.0.0.1").stdout
    assert f"via {gateway} dev eth0" in route, route  # the attack really leaves through the bridge


def _probe(pid: int, *targets: tuple[str, int]) -> list[str]:
    args = [str(x) for t in targets for x in t]
    p = _ns(pid, sys.executable, "-c", PROBE, *args)
    return json.loads(p.stdout)


def _received(sock: socket.socket, wait: float) -> list[tuple[bytes, object]]:
    sock.settimeout(wait)
    got = []
    try:
        while True:
            got.append(sock.recvfrom(100))
            sock.settimeout(0.05)
    except (TimeoutError, BlockingIOError):
        return got


@pytest.fixture(params=["bridge", "user"])
def network_mode(request, api):
    """The default bridge, or a user network (its own bridge has route_localnet too)."""
    if request.param == "bridge":
        yield "bridge"
        return
    r = api.api("POST", "/api/networks/", json={"name": "lo-guard"})
    assert r.status_code == 201, r.text
    yield "lo-guard"
    for c in api.api("GET", "/api/containers/?all=1").json():
        if c["config"].get("network_mode") == "lo-guard":
            api.api("DELETE", f"/api/containers/{c['id']}/?force=1")
    assert api.api("DELETE", "/api/networks/lo-guard/").status_code == 204


def test_container_cannot_reach_host_loopback_services(api, network_mode):
    web = api.run(cmd=["sh", "-c", HTTPD], ports=["80"], hostname="published", network_mode=network_mode)
    published = web["network_settings"]["ports"]["80/tcp"][0]["host_port"]
    assert until(lambda: requests.get(f"http://127.0.0.1:{published}/", timeout=3).text,
                 ignore=NOT_SERVING).startswith(
        "hello-from-published")  # a published port on 127.0.0.1 still works from the host

    attacker = api.run(cmd=["sleep", "1000"], network_mode=network_mode)
    pid = api.inspect(attacker["id"])["state"]["pid"]
    gateway = attacker["network_settings"]["gateway"]
    listener = socket.socket()  # a private service of the host, on its loopback only
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    udp_lo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp_lo.bind(("127.0.0.1", 0))
    udp_gw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # trusts "127.0.0.1" senders
    udp_gw.bind((gateway, 0))
    try:
        _reroute_loopback(pid, gateway)
        web_api, private = api.port, listener.getsockname()[1]
        out = _probe(pid, ("tcp", web_api), ("tcp", private), ("tcp", published),
                     (f"spoof:{gateway}", udp_gw.getsockname()[1]),
                     ("spoof:127.0.0.1", udp_lo.getsockname()[1]))
        # the web server (REST API) and a private listener: the SYN is dropped, nothing answers
        assert out[0] == "timeout", f"container reached the web server on 127.0.0.1: {out[0]}"
        assert out[1] == "timeout", f"container reached a host loopback listener: {out[1]}"
        try:
            conn, peer = listener.accept()
            conn.close()
            raise AssertionError(f"the host's loopback listener accepted {peer}")
        except BlockingIOError:
            pass
        # our own DNAT is not loopback traffic: the same route reaches the published container
        # (proves the rerouted packets do arrive on the host)
        assert out[2].startswith("connected:HTTP/1.") and "hello-from-published" in out[2], out[2]
        # a spoofed 127.0.0.1 source is dropped whatever the destination
        assert out[3] == "sent" and out[4] == "sent", out
        assert _received(udp_gw, 1.0) == [], "a datagram from a spoofed 127.0.0.1 reached the host"
        assert _received(udp_lo, 0.2) == [], "a datagram reached a UDP service on the host's loopback"
    finally:
        listener.close()
        udp_lo.close()
        udp_gw.close()
    # the published port keeps working from the host after the attack
    assert requests.get(f"http://127.0.0.1:{published}/", timeout=3).text.startswith("hello-from-published")


def test_a_table_made_before_the_guard_gets_it(api):
    """An installation upgraded in place: its table exists without the loopback chain; the
    next ensure_table (worker boot, or a start's periodic check) adds it, rules kept."""
    from containers.engine.net import portmap
    from tests.conftest import BRIDGE, NFT_TABLE

    api.run(cmd=["sleep", "1000"])  # the worker has made the table
    before = [r for r in portmap._rules(NFT_TABLE) if r["chain"] != "loopback"]
    subprocess.run(["nft", "delete", "chain", "ip", NFT_TABLE, "loopback"], check=True)
    subnet = ipaddress.IPv4Network(os.environ["DOCKERWEB_SUBNET"])
    portmap.ensure_table(NFT_TABLE, BRIDGE, subnet)
    rules = portmap._rules(NFT_TABLE)
    assert [r for r in rules if r["chain"] != "loopback"] == before
    assert len([r for r in rules if r["chain"] == "loopback"]) == 4
    portmap.ensure_table(NFT_TABLE, BRIDGE, subnet)  # idempotent
    assert len(portmap._rules(NFT_TABLE)) == len(rules)
