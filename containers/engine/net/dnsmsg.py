"""DNS messages of the user networks' name service, as Docker's embedded DNS answers them:
container names, aliases and short ids from a lookup the caller gives; everything else
forwarded to the host's resolvers. Wire format by dnslib (no hand-written parsing). Pure
functions plus a blocking UDP forwarder; no sockets are served here. The same answers go
over UDP (cut to what a datagram may carry: `fit_udp`) and TCP (RFC 7766 framing, by the
caller)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address

from dnslib import PTR, QTYPE, RCODE, RR, A, DNSError, DNSRecord

TTL = 600  # Docker's embedded DNS
MAX_NAME = 253
FORWARD_TIMEOUT = 2.0
UDP_MAX = 512  # without EDNS (RFC 1035)
EDNS_MAX = 4096
Server = tuple[str, int]
# name -> the IPv4 addresses it has for the asker, or None: not one of ours (forward it)
Names = Callable[[str], list[str] | None]
# address -> the name of a container on the asker's networks, "" if the address is in one
# of those networks but nobody's (NXDOMAIN, never forwarded), None: not ours
Reverse = Callable[[IPv4Address], str | None]
Forward = Callable[[bytes], bytes | None]


def _ptr_address(qname: str) -> IPv4Address | None:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr\.arpa", qname)
    if not m:
        return None
    try:
        return ipaddress.IPv4Address(".".join(reversed(m.groups())))
    except ValueError:
        return None


def reply(packet: bytes, names: Names, reverse: Reverse, forward: Forward) -> bytes | None:
    """The answer to query `packet`, or None for what is no query (dropped, as any server)."""
    try:
        req = DNSRecord.parse(packet)
    except (DNSError, ValueError, IndexError, UnicodeDecodeError):
        return None
    if req.header.qr or len(req.questions) != 1:
        return None
    q = req.q
    qname = str(q.qname).rstrip(".").lower()
    if not qname or len(qname) > MAX_NAME:
        return _error(req, RCODE.FORMERR)
    if q.qtype == QTYPE.PTR and (ip := _ptr_address(qname)) is not None:
        name = reverse(ip)
        if name is not None:
            ans = req.reply()
            if name:
                ans.add_answer(RR(q.qname, QTYPE.PTR, rdata=PTR(name + "."), ttl=TTL))
            else:
                ans.header.rcode = RCODE.NXDOMAIN
            return ans.pack()
    else:
        ips = names(qname)
        if ips is not None:  # one of ours: answered here, whatever the type (AAAA: no data)
            ans = req.reply()
            if q.qtype in (QTYPE.A, QTYPE.ANY):
                for ip in ips:
                    ans.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=TTL))
            return ans.pack()
    answer = forward(packet)
    return answer if answer is not None else _error(req, RCODE.SERVFAIL)


def fit_udp(query: bytes, answer: bytes) -> bytes:
    """`answer` as a UDP datagram may carry it: at most 512 bytes, or the size the query's
    EDNS record offers; a longer one goes with no records and the TC bit (the client asks
    again over TCP)."""
    limit = UDP_MAX
    try:
        req = DNSRecord.parse(query)
        opt = next((rr for rr in req.ar if rr.rtype == QTYPE.OPT), None)
        if opt is not None:
            limit = max(UDP_MAX, min(int(opt.rclass), EDNS_MAX))
        if len(answer) <= limit:
            return answer
        short = DNSRecord.parse(answer)
    except (DNSError, ValueError, IndexError, UnicodeDecodeError):
        return answer
    short.rr, short.auth, short.ar = [], [], []
    short.header.tc = 1
    return short.pack()


def _error(req: DNSRecord, rcode: int) -> bytes:
    ans = req.reply()
    ans.header.rcode = rcode
    return ans.pack()


def upstreams(resolv_text: str, configured: str = "") -> list[Server]:
    """Where other names go: `configured` ("ip[:port],..."), else the host's resolv.conf
    nameservers (local ones too: the host reaches them, which containers could not)."""
    out: list[Server] = []
    if configured.strip():
        for item in configured.split(","):
            host, _, port = item.strip().partition(":")
            if host:
                out.append((str(ipaddress.IPv4Address(host)), int(port or 53)))
        return out
    for line in resolv_text.splitlines():
        m = re.match(r"\s*nameserver\s+(\S+)", line)
        if m:
            try:
                out.append((str(ipaddress.IPv4Address(m.group(1))), 53))
            except ValueError:
                continue  # IPv6 resolvers: not forwarded to
    return out


def forward_to(servers: Sequence[Server], timeout: float = FORWARD_TIMEOUT) -> Forward:
    """A forwarder: the query to each server in turn (UDP), the first answer with the
    query's id, or None when none answers within `timeout` each."""

    def forward(packet: bytes) -> bytes | None:
        for server in servers:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                try:
                    s.connect(server)
                    s.send(packet)
                    while True:
                        data = s.recv(65535)
                        if data[:2] == packet[:2]:
                            return data
                except OSError:  # timeout, refused (ICMP), unreachable
                    continue
        return None

    return forward
