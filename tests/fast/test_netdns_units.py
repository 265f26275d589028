"""Pure parts of user networks: DNS answers (engine/net/dnsmsg.py), subnet pool and overlap
(engine/net/ipam.py), resolv.conf. No sockets served, nothing sent off the host."""

from __future__ import annotations

import ipaddress
import socket
import threading

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from containers.engine.errors import Conflict, InvalidArgument
from containers.engine.net import dnsmsg, ipam, netconf

NAMES = {"web": ["10.9.0.2"], "site": ["10.9.0.2"]}


def _ask(name: str, qtype: str = "A", forward=lambda p: None) -> DNSRecord:
    packet = DNSRecord.question(name, qtype).pack()
    out = dnsmsg.reply(packet, NAMES.get, lambda ip: "web" if str(ip) == "10.9.0.2" else (
        "" if ip in ipaddress.IPv4Network("10.9.0.0/24") else None), forward)
    return DNSRecord.parse(out)


def test_names_are_answered_here_and_others_forwarded():
    r = _ask("WEB")
    assert r.header.rcode == RCODE.NOERROR and [str(a.rdata) for a in r.rr] == ["10.9.0.2"]
    assert _ask("site", "AAAA").rr == [] and _ask("site", "AAAA").header.rcode == RCODE.NOERROR
    asked = []
    r = _ask("other.example", forward=lambda p: asked.append(p) or None)
    assert asked and r.header.rcode == RCODE.SERVFAIL  # no upstream answered
    r = _ask("2.0.9.10.in-addr.arpa", "PTR")
    assert str(r.rr[0].rdata) == "web." and r.rr[0].rtype == QTYPE.PTR
    assert _ask("3.0.9.10.in-addr.arpa", "PTR").header.rcode == RCODE.NXDOMAIN


def test_garbage_and_answers_get_no_reply():
    assert dnsmsg.reply(b"\x00\x01junk", NAMES.get, lambda ip: None, lambda p: None) is None
    answer = DNSRecord.question("web").reply().pack()
    assert dnsmsg.reply(answer, NAMES.get, lambda ip: None, lambda p: None) is None


def test_forward_to_a_local_upstream():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
        up.bind(("127.0.0.1", 0))
        port = up.getsockname()[1]
        packet = DNSRecord.question("x.example").pack()

        def serve():
            data, addr = up.recvfrom(512)
            up.sendto(DNSRecord.parse(data).reply().pack(), addr)

        t = threading.Thread(target=serve)
        t.start()
        got = dnsmsg.forward_to(dnsmsg.upstreams("", f"127.0.0.1:{port}"), timeout=5)(packet)
        t.join()
    assert DNSRecord.parse(got).header.id == DNSRecord.parse(packet).header.id


def test_upstreams_from_resolv_conf():
    text = "search x\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.1.1.1\n"
    assert dnsmsg.upstreams(text) == [("127.0.0.53", 53), ("10.1.1.1", 53)]
    assert dnsmsg.upstreams(text, "127.0.0.1:9") == [("127.0.0.1", 9)]


def test_pool_overlap_and_gateway():
    pool = ipam.parse_pool("10.216.1.0/24", 28)
    used = [ipaddress.IPv4Network("10.216.1.0/28"), ipaddress.IPv4Network("10.216.1.32/27")]
    free = list(ipam.pool_free(pool, 28, used))
    assert free[0] == ipaddress.IPv4Network("10.216.1.16/28") and len(free) == 16 - 3
    with pytest.raises(Conflict):
        ipam.check_free(ipaddress.IPv4Network("10.216.1.0/29"), used)
    with pytest.raises(InvalidArgument):
        ipam.parse_pool("10.216.1.0/24", 16)
    sub = ipaddress.IPv4Network("10.216.1.16/28")
    assert str(ipam.parse_gateway("10.216.1.30", sub)) == "10.216.1.30"
    for bad in ("10.216.1.31", "10.216.1.16", "10.216.2.1", "x"):
        with pytest.raises(InvalidArgument):
            ipam.parse_gateway(bad, sub)
    assert str(ipam.next_free(sub, [], ipaddress.IPv4Address("10.216.1.17"))) == "10.216.1.18"


def test_resolv_conf_with_the_network_dns():
    text = netconf.resolv_conf("search corp\nnameserver 10.1.1.1\noptions edns0\n", "10.9.0.1")
    assert text == "search corp\noptions edns0\nnameserver 10.9.0.1\noptions ndots:0\n"
    lines = netconf.lxc_lines(_ep("a", 2), (_ep("b", 3),))
    assert "lxc.net.1.name = eth1" in lines and sum("gateway" in ln for ln in lines) == 1


def _ep(bridge: str, host: int) -> netconf.Endpoint:
    sub = ipaddress.IPv4Network("10.9.0.0/24")
    return netconf.Endpoint(bridge=bridge, subnet=sub, ip=sub.network_address + host,
                            gateway=sub.network_address + 1, mac="02:42:0a:09:00:02", veth=f"v{host}")


def test_long_answers_are_cut_for_udp():
    many = {"web": [f"10.9.{i // 250}.{i % 250 + 1}" for i in range(60)]}
    query = DNSRecord.question("web").pack()
    full = dnsmsg.reply(query, many.get, lambda ip: None, lambda p: None)
    assert len(full) > 512 and len(DNSRecord.parse(full).rr) == 60  # as TCP carries it
    cut = DNSRecord.parse(dnsmsg.fit_udp(query, full))
    assert cut.header.tc == 1 and cut.rr == []
    edns = DNSRecord.question("web")
    edns.add_ar(EDNS0(udp_len=4096))
    assert dnsmsg.fit_udp(edns.pack(), full) == full  # the client offered room for it


def test_next_free_spreads_among_the_lowest_free_after_a_lost_race():
    import random

    sub = ipaddress.IPv4Network("10.216.2.0/24")
    taken = ["10.216.2.2", "10.216.2.4"]
    assert str(ipam.next_free(sub, taken)) == "10.216.2.3"  # among=1: the lowest, always
    lowest_four = {"10.216.2.3", "10.216.2.5", "10.216.2.6", "10.216.2.7"}
    picks = {str(ipam.next_free(sub, taken, among=4, rng=random.Random(seed))) for seed in range(64)}
    assert picks == lowest_four  # random among the four lowest free, never a taken one
    full = [str(ip) for ip in sub.hosts() if str(ip) != "10.216.2.1"][:-1]
    assert str(ipam.next_free(sub, full, among=16)) == "10.216.2.254"  # fewer free than asked


def test_next_free_gives_what_the_address_objects_give():
    """next_free works on integers: the same answers as a scan of subnet.hosts() with
    address objects, for taken strings (a PostgreSQL inet's `/32` too) and objects."""
    import random

    rng = random.Random(7)
    for text in ("10.216.3.0/24", "10.216.4.0/28", "10.216.5.0/30", "10.216.6.0/31"):
        sub = ipaddress.IPv4Network(text)
        hosts = list(sub.hosts())
        gw = hosts[0]
        for _ in range(40):
            taken = rng.sample(hosts, rng.randrange(len(hosts)))
            free = [h for h in hosts if h not in taken and h != gw]
            given = [str(t) + ("/32" if rng.random() < 0.3 else "") if rng.random() < 0.7 else t
                     for t in taken]
            if not free:
                with pytest.raises(Conflict):
                    ipam.next_free(sub, given, gw)
                continue
            assert ipam.next_free(sub, given, gw) == free[0]
            assert ipam.next_free(sub, given, gw, among=3, rng=rng) in free[:3]
