"""Issue 14: HostConfig fields (StopTimeout, MemorySwappiness, CPU, pids, RestartPolicy,
LogConfig) through create and inspect with the real docker CLI, docker-py and REST; docker
update applied live to a running container's cgroups; the `none` log driver; top and
State.Pid without LXC's init."""

from __future__ import annotations

import json
import os

import pytest

PARENT = os.environ["DOCKERWEB_CGROUP_PARENT"]


def cgroup(cid: str, controller: str, name: str) -> str:
    with open(f"/sys/fs/cgroup/{controller}/{PARENT}/{cid}/{name}") as f:
        return f.read().strip()


def inspect(cli, ref: str) -> dict:
    return json.loads(cli("inspect", ref).stdout)[0]


def test_cli_fields_round_trip_and_apply(cli):
    cid = cli("run", "-d", "--stop-timeout", "7", "--memory", "64m", "--memory-swappiness", "30",
              "--cpu-shares", "512", "--cpus", "0.5", "--pids-limit", "99", "--restart",
              "on-failure:4", "--log-opt", "max-size=1m", "--log-opt", "max-file=2",
              "busybox", "sleep", "1000").stdout.decode().strip()
    doc = inspect(cli, cid)
    host = doc["HostConfig"]
    assert doc["Config"]["StopTimeout"] == 7
    assert host["MemorySwappiness"] == 30 and host["CpuShares"] == 512
    assert host["NanoCpus"] == 500_000_000 and host["PidsLimit"] == 99
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 4}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    assert cgroup(cid, "memory", "memory.swappiness") == "30"
    assert cgroup(cid, "cpu", "cpu.shares") == "512"
    assert cgroup(cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup(cid, "pids", "pids.max") == "99"
    cli("rm", "-f", cid)


def test_dockerpy_fields_round_trip(dpy):
    c = dpy.containers.create("busybox", ["true"], restart_policy={"Name": "unless-stopped"},
                              cpu_period=50_000, cpu_quota=25_000, mem_swappiness=0,
                              stop_signal=None, log_config={"Type": "local", "Config": {}})
    try:
        host = c.attrs["HostConfig"]
        assert host["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
        assert (host["CpuPeriod"], host["CpuQuota"], host["MemorySwappiness"]) == (50_000, 25_000, 0)
        assert host["LogConfig"]["Type"] == "local"
        assert "StopTimeout" not in c.attrs["Config"]  # unset: omitted, as Docker
    finally:
        c.remove(force=True)
    c = dpy.containers.create("busybox", ["true"])
    try:
        host = c.attrs["HostConfig"]
        assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
        assert host["MemorySwappiness"] is None and host["LogConfig"]["Type"] == "json-file"
    finally:
        c.remove(force=True)


@pytest.mark.parametrize("host_config, message", [
    ({"RestartPolicy": {"Name": "bogus"}}, "invalid restart policy: unknown policy 'bogus'"),
    ({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}},
     "maximum retry count can only be used with 'on-failure'"),
    ({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}}, "cannot be negative"),
    ({"RestartPolicy": {"Name": "always"}, "AutoRemove": True},
     "can't create 'AutoRemove' container with restart policy"),
    ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
    ({"NanoCpus": 99_000_000_000}, "Range of CPUs is from 0.01 to"),
    ({"NanoCpus": 500_000_000, "CpuPeriod": 50_000}, "Nano CPUs and CPU Period cannot both be set"),
    ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms"),
    ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms"),
    ({"LogConfig": {"Type": "syslog", "Config": {}}}, "no log driver named 'syslog'"),
    ({"LogConfig": {"Type": "json-file", "Config": {"compress": "true"}}},
     "unknown log opt 'compress' for json-file log driver"),
    ({"LogConfig": {"Type": "none", "Config": {"max-size": "1m"}}}, "unknown log opt 'max-size'"),
])
def test_bad_values_are_a_400_with_dockers_message(dpy, host_config, message):
    response = dpy.api.post(dpy.api._url("/containers/create"), data=json.dumps(
        {"Image": "busybox", "Cmd": ["true"], "HostConfig": host_config}),
        headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert message in response.json()["message"], response.text


def test_bad_stop_timeout_and_rest_fields(api):
    r = api.api("POST", "/api/containers/", json={"image": "busybox", "stop_timeout": -5})
    assert r.status_code == 400 and "StopTimeout" in r.json()["message"], r.text
    r = api.api("POST", "/api/containers/", json={"image": "busybox", "restart_policy": "sometimes"})
    assert r.status_code == 400 and "invalid restart policy" in r.json()["message"], r.text
    c = api.create(restart_policy="on-failure:2", stop_timeout=3, memory_swappiness=10,
                   log_driver="none")
    cfg = api.inspect(c["id"])["config"]
    assert (cfg["restart_policy"], cfg["restart_max_retries"], cfg["stop_timeout"]) == ("on-failure", 2, 3)
    assert (cfg["memory_swappiness"], cfg["log_driver"]) == (10, "none")


def test_update_changes_a_running_container_live(cli, dpy, api):
    cid = cli("run", "-d", "--memory", "64m", "busybox", "sleep", "1000").stdout.decode().strip()
    assert cgroup(cid, "cpu", "cpu.cfs_quota_us") == "-1"
    cli("update", "--cpus", "0.5", "--cpu-shares", "256", "--pids-limit", "77", "--memory", "96m",
        "--memory-swap", "192m", "--restart", "always", cid)
    assert cgroup(cid, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cgroup(cid, "cpu", "cpu.cfs_period_us") == "100000"
    assert cgroup(cid, "cpu", "cpu.shares") == "256"
    assert cgroup(cid, "pids", "pids.max") == "77"
    assert cgroup(cid, "memory", "memory.limit_in_bytes") == str(96 << 20)
    if os.path.exists(f"/sys/fs/cgroup/memory/{PARENT}/{cid}/memory.memsw.limit_in_bytes"):
        assert cgroup(cid, "memory", "memory.memsw.limit_in_bytes") == str(192 << 20)
    host = inspect(cli, cid)["HostConfig"]
    assert (host["NanoCpus"], host["CpuShares"], host["PidsLimit"]) == (500_000_000, 256, 77)
    assert host["Memory"] == 96 << 20 and host["RestartPolicy"]["Name"] == "always"
    # docker-py's low-level call gets Docker's answer
    assert dpy.api.update_container(cid, cpu_shares=300) == {"Warnings": []}
    assert cgroup(cid, "cpu", "cpu.shares") == "300"
    # REST: pids back to unlimited
    r = api.api("POST", f"/api/containers/{cid}/update/", json={"pids_limit": -1})
    assert r.status_code == 200 and r.json()["config"]["pids_limit"] == -1, r.text
    assert cgroup(cid, "pids", "pids.max") == "max"
    events = [e["action"] for e in api.api("GET", f"/api/events/?container={cid}").json()]
    assert events.count("update") == 3
    # Docker's refusals
    p = cli("update", "--cpu-period", "50000", cid, check=False)
    assert p.returncode != 0 and b"CPU Period cannot be updated as NanoCPUs" in p.stderr, p.stderr
    p = cli("update", "--memory", "1g", cid, check=False)
    assert p.returncode != 0 and b"smaller than already set memoryswap" in p.stderr, p.stderr
    r = api.api("POST", f"/api/containers/{cid}/update/", json={"restart_policy": "never"})
    assert r.status_code == 400 and "invalid restart policy" in r.json()["message"], r.text
    cli("rm", "-f", cid)


def test_update_of_a_created_container_applies_at_start(api):
    c = api.create(cmd=["sleep", "1000"])
    r = api.api("POST", f"/api/containers/{c['id']}/update/", json={"cpu_quota": 20000,
                                                                    "memory_swappiness": 5})
    assert r.status_code == 200, r.text
    assert api.api("POST", f"/api/containers/{c['id']}/start/").status_code == 200
    assert cgroup(c["id"], "cpu", "cpu.cfs_quota_us") == "20000"
    assert cgroup(c["id"], "memory", "memory.swappiness") == "5"


def test_none_log_driver_keeps_no_logs(cli, api):
    cid = cli("run", "-d", "--log-driver", "none", "busybox", "sh", "-c",
              "echo secret-line").stdout.decode().strip()
    assert cli("wait", cid).stdout.strip() == b"0"
    assert inspect(cli, cid)["HostConfig"]["LogConfig"] == {"Type": "none", "Config": {}}
    p = cli("logs", cid, check=False)
    assert p.returncode != 0 and b"configured logging driver does not support reading" in p.stderr
    r = api.api("GET", f"/api/containers/{cid}/logs/")
    assert r.status_code == 501, r.text
    log = f"{api.root}/containers/{cid}/container.log"
    assert not os.path.exists(log) or b"secret-line" not in open(log, "rb").read()
    # attach still streams the output live (Docker's none driver too)
    p = cli("run", "--rm", "--log-driver", "none", "busybox", "echo", "live-line")
    assert p.stdout == b"live-line\n"


def test_top_and_pid_are_the_containers_own_processes(cli, api):
    cid = cli("run", "-d", "busybox", "sleep", "1000").stdout.decode().strip()
    pid = inspect(cli, cid)["State"]["Pid"]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"1000"]
    lines = cli("top", cid).stdout.decode().splitlines()
    assert len(lines) == 2, lines  # the title line and the one process: no LXC init
    assert lines[1].split()[1] == str(pid) and lines[1].endswith("sleep 1000"), lines
    assert api.inspect(cid)["state"]["pid"] == pid
    rest = api.api("GET", f"/api/containers/{cid}/top/").json()
    assert [row[1] for row in rest["processes"]] == [str(pid)]
    cli("rm", "-f", cid)


def test_another_users_update_is_a_404_and_changes_nothing(api):
    from tests.users import new_user, remove_users

    a, b = new_user(api), new_user(api)
    try:
        r = a.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["sleep", "1000"],
                                                     "name": f"{a.name}-upd", "pids_limit": 50})
        cid = r.json()["id"]
        assert a.api("POST", f"/api/containers/{cid}/start/").status_code == 200
        r = b.api("POST", f"/api/containers/{cid}/update/", json={"pids_limit": -1,
                                                                   "restart_policy": "always"})
        assert r.status_code == 404, r.text
        assert cgroup(cid, "pids", "pids.max") == "50"
        cfg = api.inspect(cid)["config"]
        assert (cfg["pids_limit"], cfg["restart_policy"]) == (50, "no")
    finally:
        api.api("DELETE", f"/api/containers/{cid}/?force=1")
        remove_users(api, a, b)
