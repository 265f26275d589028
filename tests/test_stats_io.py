"""Network and block I/O in the stats (REST, websocket, Docker API and the docker CLI) and
the stored last hour (issue 15)."""

from __future__ import annotations

import re

import requests

from tests.waiting import until

BIG = 300_000  # bytes the container serves


def serve_big(cli, name: str) -> int:
    """A busybox httpd serving BIG bytes at /big on a published loopback port; the port."""
    cli("run", "-d", "--name", name, "-p", "127.0.0.1::8080", "busybox", "sh", "-c",
        f"mkdir -p /www; head -c {BIG} /dev/zero > /www/big; exec httpd -f -p 8080 -h /www")
    port = cli("port", name, "8080").stdout.decode().split()[0].rsplit(":", 1)[1]
    url = f"http://127.0.0.1:{port}/big"
    until(lambda: requests.get(url, timeout=5).status_code == 200,
          ignore=(requests.ConnectionError,))  # httpd may not listen yet when run returns
    return int(port)


def test_network_and_block_io_in_rest_docker_api_and_cli(cli, api, dpy):
    port = serve_big(cli, "io1")
    assert len(requests.get(f"http://127.0.0.1:{port}/big", timeout=5).content) == BIG
    cid = api.inspect("io1")["id"]
    # a direct read goes through the block layer: the cgroup's blkio counts it (the worker
    # gave the disk a no-limit throttle rule, which makes the kernel count)
    dd = ["dd", "if=/bin/busybox", "of=/dev/null", "bs=4096", "iflag=direct"]
    eid = api.api("POST", f"/api/containers/{cid}/exec/", json={"cmd": dd}).json()["id"]
    api.api("POST", f"/api/exec/{eid}/start/", json={})

    doc = api.api("GET", f"/api/containers/{cid}/stats/").json()
    net, blk = doc["network"], doc["blkio"]
    assert net["tx_bytes"] >= BIG and net["rx_bytes"] > 0 and net["tx_packets"] > 0, net
    assert set(net["interfaces"]) == {"eth0"}, net  # lo is left out, as Docker does
    assert blk["read_bytes"] > 0, blk

    raw = dpy.containers.get("io1").stats(stream=False)  # Docker's document, as docker-py reads it
    assert raw["networks"]["eth0"]["tx_bytes"] >= BIG and "rx_dropped" in raw["networks"]["eth0"]
    reads = [e for e in raw["blkio_stats"]["io_service_bytes_recursive"] if e["op"] == "Read"]
    assert sum(e["value"] for e in reads) > 0 and {"major", "minor", "value"} <= set(reads[0])
    out = cli("stats", "--no-stream", "--format", "{{.Name}}|{{.NetIO}}|{{.BlockIO}}", "io1").stdout.decode()
    name, netio, blockio = out.strip().split("|")
    assert name == "io1"
    rx, tx = (x.strip() for x in netio.split("/"))
    assert re.fullmatch(r"[\d.]+k?B", rx) and re.fullmatch(r"(3\d\d|[4-9]\d\d)(\.\d+)?kB|[\d.]+MB", tx), netio
    read, _write = (x.strip() for x in blockio.split("/"))
    assert read not in ("0B", "--"), blockio
    cli("rm", "-f", "io1")


def test_the_last_hour_is_kept_and_served(cli, api):
    port = serve_big(cli, "io2")
    cid = api.inspect("io2")["id"]
    requests.get(f"http://127.0.0.1:{port}/big", timeout=5)
    # the worker samples every 2 s in the tests (DOCKERWEB_STATS_INTERVAL)
    hist = until(lambda: (h := api.api("GET", f"/api/containers/{cid}/stats/history/").json())
                 and len(h["samples"]) >= 3 and h, timeout=30)
    assert hist["interval"] == 2 and hist["keep"] == 3600
    s = hist["samples"]
    assert s[0]["cpu"]["percent"] is None and s[-1]["cpu"]["percent"] is not None
    assert s[-1]["network"]["tx_bytes"] >= BIG and s[-1]["memory"]["working_set"] > 0
    times = [x["read"] for x in s]
    assert times == sorted(times)
    assert api.api("GET", f"/api/containers/{cid}/stats/history/?seconds=1").json()["samples"] != s
    assert api.api("GET", f"/api/containers/{cid}/stats/history/?seconds=x").status_code == 400
    api.kill("web")  # the kept hour survives the web server and the worker
    api.kill("worker")
    api.restart("worker")
    api.restart("web")
    kept = api.api("GET", f"/api/containers/{cid}/stats/history/").json()["samples"]
    assert kept[:len(s)] == s
    until(lambda: len(api.api("GET", f"/api/containers/{cid}/stats/history/").json()["samples"]) > len(kept),
          timeout=30)  # and the new worker samples on
    cli("stop", "-t", "0", "io2")  # kept after a stop, gone with the container
    assert len(api.api("GET", f"/api/containers/{cid}/stats/history/").json()["samples"]) >= 3
    cli("rm", "io2")
    assert api.api("GET", f"/api/containers/{cid}/stats/history/").status_code == 404
