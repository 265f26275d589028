"""engine/net/netconf.write_etc: the /etc files of a start are written in place (a restart
allocates no inode), 0644 whatever the umask, with the run's names and address."""

from __future__ import annotations

import ipaddress
import os
import stat

from containers.engine.net import netconf


def test_written_in_place_0644_with_the_runs_names(tmp_path):
    old = os.umask(0o077)
    try:
        out = netconf.write_etc(str(tmp_path), "h1", "web", "c" * 64, ipaddress.IPv4Address("10.1.2.3"))
        inodes = {p: os.stat(h).st_ino for p, h in out.items()}
        out2 = netconf.write_etc(str(tmp_path), "h2", "web", "c" * 64, None, nameserver="10.9.0.1")
    finally:
        os.umask(old)
    assert out == out2 == {p: str(tmp_path / n) for p, n in netconf.ETC_FILES.items()}
    assert {p: os.stat(h).st_ino for p, h in out2.items()} == inodes  # no new inode
    for h in out2.values():
        assert stat.S_IMODE(os.stat(h).st_mode) == 0o644
    assert open(out2["/etc/hostname"]).read() == "h2\n"
    assert "10.1.2.3" not in open(out2["/etc/hosts"]).read()  # truncated, not appended
    assert "nameserver 10.9.0.1" in open(out2["/etc/resolv.conf"]).read()
    assert sorted(os.listdir(tmp_path)) == sorted(netconf.ETC_FILES.values())  # no temporaries
