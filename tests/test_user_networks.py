"""User-defined networks with DNS (issue 14), on real bridges and LXC: containers on one
network resolve each other by name, alias and short id and reach each other; a container
on another network (or the default bridge) neither resolves nor reaches them; connect and
disconnect live; removal in use is 409; overlapping subnets are refused; the docker CLI and
docker-py. Traffic goes only to 127.0.0.1 and to containers on the run's own networks;
names are only container names (the DNS forwards nothing off the host: tests/settings.py)."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys

import pytest
import requests

from containers.engine.net import bridge, portmap
from tests.conftest import NETWORK_PREFIX, NFT_TABLE
from tests.waiting import until

HTTPD = "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
POOL = ipaddress.IPv4Network(os.environ["DOCKERWEB_NETWORK_POOL"])


def _net(api, name: str, **body) -> dict:
    r = api.api("POST", "/api/networks/", json={"name": name, **body})
    assert r.status_code == 201, r.text
    return r.json()


def _rm_net(api, name: str) -> None:
    api.api("DELETE", f"/api/networks/{name}/")


@pytest.fixture
def nets(api):
    """Two user networks; removed after the test (its containers are removed first)."""
    before = {c["id"] for c in api.api("GET", "/api/containers/?all=1").json()}
    made = [_net(api, "dn-a"), _net(api, "dn-b")]
    yield made
    for c in api.api("GET", "/api/containers/?all=1").json():
        if c["id"] not in before:
            api.api("DELETE", f"/api/containers/{c['id']}/?force=1")
    for n in made:
        assert api.api("DELETE", f"/api/networks/{n['name']}/").status_code == 204


def _script(api, network: str, script: str, **body) -> tuple[int, str]:
    c = api.run(cmd=["sh", "-c", script], network_mode=network, **body)
    code = api.wait(c["id"])["exit_code"]
    return code, api.logs(c["id"]).decode()


def test_names_aliases_and_isolation(api, nets):
    a, b = nets
    assert a["bridge"].startswith(NETWORK_PREFIX) and bridge.exists(a["bridge"])
    assert ipaddress.IPv4Network(a["subnet"]).subnet_of(POOL) and a["subnet"] != b["subnet"]
    assert {a["bridge"], b["bridge"]} <= portmap.networks(NFT_TABLE)
    web = api.run(cmd=["sh", "-c", HTTPD], name="dnweb", hostname="dnweb", network_mode="dn-a",
                  networks={"dn-a": ["site"]}, ports=["80"])
    ns = web["network_settings"]
    ip = ns["networks"]["dn-a"]["ip"]
    assert ns["ip"] == ip and ns["networks"]["dn-a"]["aliases"] == ["site"]
    assert ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(a["subnet"])
    port = ns["ports"]["80/tcp"][0]["host_port"]
    until(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=3).ok,
          ignore=(requests.RequestException,))  # published ports still work
    short = web["id"][:12]
    code, out = _script(api, "dn-a", (
        "cat /etc/resolv.conf; nslookup dnweb && nslookup site && nslookup " + short
        + " && ping -c1 -W3 dnweb && wget -qO- http://site/ && wget -qO- http://dnweb/"))
    assert code == 0, out
    assert f"nameserver {a['gateway']}" in out and out.count(ip) >= 3, out
    assert out.count("hello-from-dnweb") == 2, out
    # another network: no name, no route, no answer from a's DNS; its published port is open
    # (busybox 1.35's wget -T segfaults: timeout(1) bounds the waits instead)
    code, out = _script(api, "dn-b", (
        f"nslookup dnweb; echo rc=$?; nslookup dnweb {a['gateway']}; echo rc=$?; "
        f"ping -c1 -W2 {ip}; echo rc=$?; timeout 3 wget -qO- http://{ip}/; echo rc=$?; "
        f"timeout 5 wget -qO- http://{b['gateway']}:{port}/"))
    assert code == 0, out
    assert "rc=0" not in out and ip not in out.split("rc=")[0] + out.split("rc=")[1], out
    assert "hello-from-dnweb\n" in out, out  # the published port, through b's gateway
    # the default bridge: no reach either, and no names (as Docker's default bridge)
    code, out = _script(api, "bridge", f"ping -c1 -W2 {ip}; echo rc=$?; timeout 3 wget -qO- http://{ip}/; "
                        "echo rc=$?; grep -c nameserver /etc/resolv.conf")
    assert out.count("rc=1") == 2 and "rc=0" not in out, out


def test_connect_disconnect_live_and_remove_in_use(api, cli, nets):
    api.run(cmd=["sh", "-c", HTTPD], name="dnsrv", network_mode="dn-a")
    lc = api.run(cmd=["sleep", "1000"], name="dnlive")
    assert list(lc["network_settings"]["networks"]) == ["bridge"]
    r = api.api("POST", "/api/networks/dn-a/connect/", json={"container": "dnlive", "aliases": ["lv"]})
    assert r.status_code == 204, r.text
    nets_now = api.inspect(lc["id"])["network_settings"]["networks"]
    assert set(nets_now) == {"bridge", "dn-a"} and nets_now["dn-a"]["ip"], nets_now
    out = cli("exec", "dnlive", "sh", "-c", "ls /sys/class/net; cat /etc/resolv.conf; nslookup dnsrv; "
              "timeout 5 wget -qO- http://dnsrv/").stdout.decode()
    assert "eth1" in out.split() and "hello-from-" in out, out
    code, out = _script(api, "dn-a", "nslookup lv && nslookup dnlive")
    assert code == 0 and out.count(nets_now["dn-a"]["ip"]) == 2, out
    assert api.api("POST", "/api/networks/dn-a/connect/", json={"container": "dnlive"}).status_code == 409
    r = api.api("DELETE", "/api/networks/dn-a/")
    assert r.status_code == 409 and "active endpoints" in r.json()["message"]
    r = api.api("POST", "/api/networks/dn-a/disconnect/", json={"container": "dnlive"})
    assert r.status_code == 204, r.text
    out = cli("exec", "dnlive", "ls", "/sys/class/net").stdout.decode()
    assert out.split() == ["eth0", "lo"], out
    assert set(api.inspect(lc["id"])["network_settings"]["networks"]) == {"bridge"}
    assert api.api("POST", "/api/networks/dn-a/disconnect/", json={"container": "dnlive"}).status_code == 404
    # a stopped container joins at its next start
    stopped = api.create(cmd=["sh", "-c", "ls /sys/class/net"], name="dnlater")
    r = api.api("POST", "/api/networks/dn-b/connect/", json={"container": stopped["id"]})
    assert r.status_code == 204, r.text
    api.api("POST", f"/api/containers/{stopped['id']}/start/")
    api.wait(stopped["id"])
    assert api.logs(stopped["id"]).split() == [b"eth0", b"eth1", b"lo"]


def test_subnets_validated_and_overlap_refused(api):
    sub = list(POOL.subnets(new_prefix=28))[-1]  # the pool's last /28: free in a fresh run
    made = _net(api, "dn-explicit", subnet=str(sub), gateway=str(sub.network_address + 14))
    try:
        assert made["gateway"] == str(sub.network_address + 14) and made["subnet"] == str(sub)
        inside = list(sub.subnets(new_prefix=29))[0]
        for body, code in [({"subnet": str(inside)}, 409), ({"subnet": str(sub.supernet(2))}, 409),
                           ({"subnet": str(sub)}, 409), ({"subnet": "10.0.0.1/24"}, 400),
                           ({"subnet": "nonsense"}, 400), ({"gateway": "10.0.0.1"}, 400),
                           ({"subnet": "10.217.0.0/28", "gateway": "10.217.1.1"}, 400)]:
            r = api.api("POST", "/api/networks/", json={"name": "dn-bad", **body})
            assert r.status_code == code, (body, r.text)
        assert api.api("POST", "/api/networks/", json={"name": "dn-explicit"}).status_code == 409
        assert api.api("POST", "/api/networks/", json={"name": "host"}).status_code == 403
        assert api.api("POST", "/api/networks/", json={"name": "bad name!"}).status_code == 400
        assert api.api("DELETE", "/api/networks/bridge/").status_code == 403
        c = api.create(cmd=["true"], name="dnholder", network_mode="dn-explicit")
        assert api.api("DELETE", "/api/networks/dn-explicit/").status_code == 409  # a member, stopped
        r = api.api("POST", "/api/containers/", json={"image": "busybox", "network_mode": "dn-nothere"})
        assert r.status_code == 404
        api.api("DELETE", f"/api/containers/{c['id']}/?force=1")
    finally:
        _rm_net(api, "dn-explicit")
    assert not bridge.exists(made["bridge"]) and made["bridge"] not in portmap.networks(NFT_TABLE)


def test_dns_survives_a_worker_restart(api, nets):
    api.run(cmd=["sleep", "1000"], name="dnpeer", network_mode="dn-a")
    asker = api.run(cmd=["sleep", "1000"], name="dnasker", network_mode="dn-a")
    pid = asker["state"]["pid"]

    def resolves() -> bool:
        p = subprocess.run(["nsenter", "-t", str(pid), "-n", "-m", "busybox", "nslookup", "dnpeer",
                            api.inspect(asker["id"])["network_settings"]["gateway"]],
                           capture_output=True, text=True, timeout=20)
        return p.returncode == 0 and "dnpeer" in p.stdout

    assert until(resolves)
    api.kill("worker", signal.SIGKILL)
    api.start_worker()
    assert until(resolves, timeout=30)
    # over TCP too (what a resolver does with a truncated answer)
    gw = api.inspect(asker["id"])["network_settings"]["gateway"]
    ask = ("from dnslib import DNSRecord; import sys; "
           "print(DNSRecord.parse(DNSRecord.question('dnpeer').send(sys.argv[1], 53, tcp=True, timeout=10)))")
    p = subprocess.run(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", ask, gw],
                       capture_output=True, text=True, timeout=30)
    peer_ip = api.inspect("dnpeer")["network_settings"]["ip"]
    assert p.returncode == 0 and "ANSWER: 1" in p.stdout and p.stdout.rstrip().endswith(peer_ip), p


def test_docker_cli(cli, api):
    sub = list(POOL.subnets(new_prefix=28))[-2]
    cli("network", "create", "--subnet", str(sub), "--label", "k=v", "dncli")
    try:
        cli("run", "-d", "--name", "dncweb", "--network", "dncli", "--network-alias", "www", "busybox",
            "sh", "-c", HTTPD)
        p = cli("run", "--rm", "--network", "dncli", "busybox", "sh", "-c",
                "nslookup www && timeout 5 wget -qO- http://dncweb/", check=False)
        assert p.returncode == 0 and b"hello-from-" in p.stdout, p
        fmt = "{{range .Containers}}{{.Name}} {{end}}|{{(index .IPAM.Config 0).Subnet}}|{{.Labels}}"
        out = cli("network", "inspect", "-f", fmt, "dncli").stdout.decode().strip()
        assert out == f"dncweb |{sub}|map[k:v]", out
        assert "dncli" in cli("network", "ls").stdout.decode()
        cli("run", "-d", "--name", "dncother", "busybox", "sleep", "1000")
        cli("network", "connect", "--alias", "other", "dncli", "dncother")
        ip = cli("inspect", "-f", '{{(index .NetworkSettings.Networks "dncli").IPAddress}}',
                 "dncother").stdout.decode().strip()
        assert ipaddress.IPv4Address(ip) in sub
        assert cli("exec", "dncother", "timeout", "5", "wget", "-qO-", "http://www/").stdout.startswith(b"hello-from-")
        p = cli("network", "rm", "dncli", check=False)
        assert p.returncode != 0 and b"active endpoints" in p.stderr
        cli("network", "disconnect", "dncli", "dncother")
        cli("rm", "-f", "dncweb", "dncother")
    finally:
        cli("rm", "-f", "dncweb", "dncother", check=False)
        cli("network", "rm", "dncli", check=False)
    assert "dncli" not in cli("network", "ls").stdout.decode()


def test_docker_py(dpy, api):
    net = dpy.networks.create("dnpy", driver="bridge", labels={"made": "by-py"})
    try:
        web = dpy.containers.run("busybox", ["sh", "-c", HTTPD], name="dnpyweb", detach=True)
        net.connect(web, aliases=["pyweb"])
        net.reload()
        assert [c.name for c in net.containers] == ["dnpyweb"]
        out = dpy.containers.run("busybox", ["sh", "-c", "nslookup pyweb && timeout 5 wget -qO- http://pyweb/"],
                                 network="dnpy", remove=True)
        assert b"hello-from-" in out
        net.disconnect(web)
        web.remove(force=True)
        assert dpy.networks.get(net.id[:12]).name == "dnpy"
        assert "dnpy" in dpy.networks.prune()["NetworksDeleted"]
    finally:
        for name in ("dnpyweb",):
            try:
                dpy.containers.get(name).remove(force=True)
            except Exception:
                pass
        _rm_net(api, "dnpy")


def test_networks_are_owned_and_audited(api):
    from tests.users import new_user, remove_users

    a, b = new_user(api), new_user(api)
    name = f"{a.name}-net"
    try:
        r = a.api("POST", "/api/networks/", json={"name": name})
        assert r.status_code == 201, r.text
        assert name in [n["name"] for n in a.api("GET", "/api/networks/").json()]
        assert name not in [n["name"] for n in b.api("GET", "/api/networks/").json()]
        mine = b.api("POST", "/api/containers/", json={"image": "busybox", "name": f"{b.name}-c",
                                                        "cmd": ["true"]}).json()
        for method, path, body in [("GET", f"/api/networks/{name}/", None),
                                   ("DELETE", f"/api/networks/{name}/", None),
                                   ("POST", f"/api/networks/{name}/connect/", {"container": mine["id"]})]:
            assert b.api(method, path, json=body).status_code == 404, (method, path)
        r = b.api("POST", "/api/containers/", json={"image": "busybox", "network_mode": name})
        assert r.status_code == 404, r.text
        assert b.api("POST", "/api/networks/prune/").json() == {"deleted": []}
        assert a.api("DELETE", f"/api/networks/{name}/").status_code == 204
        audit = api.api("GET", "/api/audit/").json()
        rows = audit["results"] if isinstance(audit, dict) else audit
        assert any(e["username"] == a.name and e["action"].startswith("POST api/networks/")
                   and e["status"] == 201 for e in rows), rows[:5]
    finally:
        api.api("DELETE", f"/api/containers/{b.name}-c/?force=1")
        api.api("DELETE", f"/api/networks/{name}/")
        remove_users(api, a, b)
