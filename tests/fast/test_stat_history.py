"""Stats history (issue 15): the worker's sampling into a bounded table, pruning by age,
reading back as documents of the live shape; and the engine's parsers of /proc/<pid>/net/dev
and the v1 blkio files."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from containers import stathistory
from containers.engine.run import stats
from containers.models import StatSample

NET_DEV = "\n".join([  # /proc/<pid>/net/dev, its columns squeezed
    "Inter-|   Receive                                                |  Transmit",
    " face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls"
    " carrier compressed",
    "    lo: 840 10 0 0 0 0 0 0 840 10 0 0 0 0 0 0",
    "  eth0: 123456 789 1 2 0 0 0 0 65432 321 3 4 0 0 0 0",
    "  eth1: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0", ""])
BLKIO = """254:0 Read 4096
254:0 Write 8192
254:0 Sync 12288
254:0 Async 0
254:0 Discard 0
254:0 Total 12288
253:0 Read 100
Total 12388
"""


def test_net_dev_is_parsed_without_lo():
    nets = stats.parse_net_dev(NET_DEV)
    assert set(nets) == {"eth0", "eth1"}
    assert nets["eth0"] == stats.NetIO(rx_bytes=123456, rx_packets=789, rx_errors=1, rx_dropped=2,
                                       tx_bytes=65432, tx_packets=321, tx_errors=3, tx_dropped=4)
    assert stats.parse_net_dev("garbage\n\n eth9: 1 2\n") == {}


def test_blkio_lines_and_totals():
    entries = stats.parse_blkio(BLKIO)
    assert stats.BlkEntry(254, 0, "Read", 4096) in entries and len(entries) == 7  # no "Total N"
    assert stats.blk_total(entries, "Read") == 4196 and stats.blk_total(entries, "Write") == 8192


def fake_sample(cpu_ns: int, rx: int = 0, read: int = 0) -> stats.Sample:
    return stats.Sample(
        read="", cpu_usage_ns=cpu_ns, system_cpu_ns=cpu_ns * 4, online_cpus=2, memory_usage=5 << 20,
        memory_cache=1 << 20, memory_max_usage=6 << 20, memory_limit=64 << 20, memory_limited=True,
        pids=3, pids_limit=None,
        networks={"eth0": stats.NetIO(rx, rx // 100, 0, 0, rx // 2, rx // 200, 0, 0)},
        blkio_bytes=(stats.BlkEntry(254, 0, "Read", read), stats.BlkEntry(254, 0, "Write", 2 * read)))


def test_sample_writes_one_row_per_running_container_of_this_host_in_one_insert(fake, make, monkeypatch):
    from containers.engine.state import State

    running = [make() for _ in range(100)]
    make(State.EXITED)
    make(host="another-host")
    monkeypatch.setattr(stats, "read", lambda parent, cid: fake_sample(10**9, rx=1000, read=512))
    with CaptureQueriesContext(connection) as q:
        assert stathistory.sample(settings.DOCKERWEB_HOST) == 100
    # cheap at 100 containers: one SELECT of the running ids and the INSERT (two on SQLite,
    # whose 999-variable limit splits 100 rows of 16 columns), nothing per container
    sql = [x["sql"].split()[0] for x in q.captured_queries]
    assert sql.count("SELECT") == 1 and sql.count("INSERT") <= 2 and len(sql) <= 3, sql
    assert set(StatSample.objects.values_list("container_id", flat=True)) == {c.id for c in running}
    r = StatSample.objects.get(container=running[0])
    assert (r.memory, r.net_rx, r.net_tx, r.blk_read, r.blk_write) == (4 << 20, 1000, 500, 512, 1024)


def test_prune_keeps_the_last_hour_in_one_delete(fake, make):
    c = make()
    now = timezone.now()
    for age in (7200, 3700, 3500, 10):
        StatSample.objects.create(container=c, at=now - timedelta(seconds=age), **_counters(age))
    with CaptureQueriesContext(connection) as q:
        assert stathistory.prune(3600) == 2
    assert len(q.captured_queries) == 1
    assert StatSample.objects.count() == 2


def _counters(n: int, **over) -> dict:
    base = dict(cpu_ns=n, system_ns=4 * n, online_cpus=2, memory=1, memory_limit=2, memory_limited=False,
                pids=1, net_rx=n, net_tx=n, net_rx_packets=0, net_tx_packets=0, blk_read=0, blk_write=0)
    return {**base, **over}


def test_history_documents_percent_gaps_and_restarts(fake, make):
    c = make()
    now = timezone.now()
    rows = [(50, 1000), (40, 2000), (30, 3000),  # steady
            (0, 500)]  # counters went back: restarted
    StatSample.objects.create(container=c, at=now - timedelta(seconds=300), **_counters(10))  # after a gap
    for age, cpu in rows:
        StatSample.objects.create(container=c, at=now - timedelta(seconds=age), **_counters(cpu))
    docs = stathistory.history(c.id, 3600, interval=10)
    assert [d["cpu"]["percent"] for d in docs] == [None, None, 50.0, 50.0, None]
    assert docs[1]["network"] == {"rx_bytes": 1000, "tx_bytes": 1000, "rx_packets": 0, "tx_packets": 0}
    assert set(docs[0]) == {"read", "cpu", "memory", "pids", "network", "blkio"}
    assert docs[0]["read"].endswith("Z")
    assert len(stathistory.history(c.id, 100, interval=10)) == 4  # only what is that recent


def test_rows_go_with_their_container(fake, make):
    c = make()
    StatSample.objects.create(container=c, at=timezone.now(), **_counters(1))
    c.delete()
    assert StatSample.objects.count() == 0


def test_io_accounting_is_a_no_limit_rule_on_the_state_roots_disk(tmp_path, monkeypatch):
    """The kernel counts v1 blkio only on a disk with a throttle rule: the worker gives the
    dockerweb parent a rule of 0 (no limit) on the disk under the state root."""
    (tmp_path / "blkio").mkdir()
    monkeypatch.setattr(stats, "CGROUP_ROOT", str(tmp_path))
    monkeypatch.setattr(stats, "whole_disk", lambda dev: (254, 0))
    assert stats.enable_io_accounting("dwparent", str(tmp_path)) is True
    assert (tmp_path / "blkio/dwparent/blkio.throttle.read_bps_device").read_text() == "254:0 0\n"
    monkeypatch.setattr(stats, "whole_disk", lambda dev: None)  # tmpfs, overlay: nothing to count
    assert stats.enable_io_accounting("dwparent", str(tmp_path)) is False
