"""Issue 14: restart policies on the real stack. Crash loops (`sh -c 'exit 3'`) with
on-failure:3 and always, counted and timed from the events (Docker's back-off: 100 ms
doubling); a user's stop ends the restarts until the user's next start; unless-stopped
survives a worker restart (the schedule is in the database), a user-stopped one stays
stopped across it; every die says why it happened."""

from __future__ import annotations

import json
import time
from datetime import datetime

from tests.waiting import until

QUIET_WINDOW_S = 1.5  # a negative: no restart within this (the back-off is 100-800 ms here)


def events(api, cid: str) -> list[dict]:
    return api.api("GET", f"/api/events/?container={cid}&limit=10000").json()


def actions(api, cid: str, *wanted: str) -> list[dict]:
    return [e for e in events(api, cid) if e["action"] in wanted]


def ts(event: dict) -> float:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def gaps(api, cid: str) -> list[float]:
    """Seconds from each die to the start that followed it."""
    seq = actions(api, cid, "die", "start")
    return [ts(b) - ts(a) for a, b in zip(seq, seq[1:], strict=False)
            if a["action"] == "die" and b["action"] == "start"]


def docker_inspect(cli, cid: str) -> dict:
    return json.loads(cli("inspect", cid).stdout)[0]


def test_on_failure_3_restarts_three_times_with_a_growing_back_off(cli, api):
    cid = cli("run", "-d", "--restart", "on-failure:3", "busybox", "sh", "-c",
              "exit 3").stdout.decode().strip()
    until(lambda: len(actions(api, cid, "die")) == 4, timeout=60)
    doc = until(lambda: (d := docker_inspect(cli, cid))["State"]["Status"] == "exited" and d)
    assert doc["RestartCount"] == 3 and doc["State"]["ExitCode"] == 3
    assert not doc["State"]["Restarting"]
    time.sleep(QUIET_WINDOW_S)  # a negative: the fourth failure is not restarted
    assert len(actions(api, cid, "start")) == 4 and len(actions(api, cid, "die")) == 4
    waits = gaps(api, cid)
    assert len(waits) == 3
    for n, waited in enumerate(waits):  # 100, 200, 400 ms at least (event times: ms)
        assert waited >= 0.1 * 2 ** n - 0.02, waits
    dies = actions(api, cid, "die")
    assert all(d["attributes"]["exitCode"] == "3" for d in dies)
    assert dies[0]["attributes"]["reason"] == "the command exited with code 3"
    assert api.inspect(cid)["state"]["exit_reason"] == "the command exited with code 3"


def test_always_backs_off_until_the_users_stop_and_start_resets(cli, api):
    cid = cli("run", "-d", "--restart", "always", "busybox", "sh", "-c",
              "exit 3").stdout.decode().strip()
    until(lambda: len(gaps(api, cid)) >= 5, timeout=60)
    waits = gaps(api, cid)[:5]
    for n, waited in enumerate(waits):  # 100, 200, 400, 800, 1600 ms at least
        assert waited >= 0.1 * 2 ** n - 0.02, waits
    assert waits[4] > waits[0] + 1.0, waits  # it grows
    assert docker_inspect(cli, cid)["RestartCount"] >= 5
    # the user's stop: during a back-off (Docker's "restarting") or a run, it ends the loop
    cli("stop", "-t", "1", cid)
    settled = until(lambda: (d := docker_inspect(cli, cid))["State"]["Status"] == "exited" and d)
    assert not settled["State"]["Restarting"]
    starts = len(actions(api, cid, "start"))
    time.sleep(QUIET_WINDOW_S)  # a negative: no restart after the user's stop
    assert len(actions(api, cid, "start")) == starts
    assert docker_inspect(cli, cid)["State"]["Status"] == "exited"
    # the user's start: the count and the back-off start afresh (Docker's RestartCount)
    cli("start", cid)
    until(lambda: len(actions(api, cid, "start")) >= starts + 2, timeout=30)
    assert docker_inspect(cli, cid)["RestartCount"] in (1, 2, 3)
    cli("rm", "-f", cid)


def test_restarting_shows_in_ps_and_inspect(cli, api):
    """A back-off long enough to be seen: after 6 quick failures the wait is 3.2 s."""
    cid = cli("run", "-d", "--restart", "always", "busybox", "sh", "-c",
              "exit 1").stdout.decode().strip()
    doc = until(lambda: (d := docker_inspect(cli, cid))["State"]["Restarting"] and d, timeout=60)
    assert doc["State"]["Status"] == "restarting" and not doc["State"]["Running"]
    until(lambda: "Restarting (1)" in cli("ps", "-a", "--filter", f"id={cid}").stdout.decode(),
          timeout=30)
    cli("rm", "-f", cid)


def test_no_policy_and_zero_exit_do_not_restart(cli, api):
    plain = cli("run", "-d", "busybox", "sh", "-c", "exit 3").stdout.decode().strip()
    ok = cli("run", "-d", "--restart", "on-failure", "busybox", "true").stdout.decode().strip()
    for cid in (plain, ok):
        until(lambda c=cid: len(actions(api, c, "die")) == 1)
    time.sleep(QUIET_WINDOW_S)  # a negative: nothing restarts them
    for cid in (plain, ok):
        assert len(actions(api, cid, "start")) == 1
        assert docker_inspect(cli, cid)["RestartCount"] == 0


def test_unless_stopped_survives_a_worker_restart(cli, api):
    """The container exits while the worker is away: the new worker's boot records the exit
    and restarts it; one the user stopped stays stopped; a running one is adopted."""
    script = "while [ ! -f /go ]; do sleep 0.05; done; rm /go; exit 5"
    crashing = cli("run", "-d", "--restart", "unless-stopped", "busybox", "sh", "-c",
                   script).stdout.decode().strip()
    stopped = cli("run", "-d", "--restart", "unless-stopped", "busybox", "sleep",
                  "1000").stdout.decode().strip()
    steady = cli("run", "-d", "--restart", "always", "busybox", "sleep", "1000").stdout.decode().strip()
    cli("stop", "-t", "1", stopped)
    api.kill("worker")
    try:
        cli("exec", crashing, "touch", "/go")  # exec needs no worker
        until(lambda: api.api("GET", f"/api/containers/{crashing}/top/").status_code == 409
              or not any(r[-1].startswith("sh") for r in
                         api.api("GET", f"/api/containers/{crashing}/top/").json()["processes"]))
    finally:
        api.restart("worker")
    until(lambda: len(actions(api, crashing, "start")) == 2, timeout=30)
    doc = until(lambda: (d := docker_inspect(cli, crashing))["State"]["Running"] and d)
    assert doc["RestartCount"] == 1
    die = actions(api, crashing, "die")[-1]
    assert die["attributes"]["exitCode"] == "5"
    time.sleep(QUIET_WINDOW_S)  # a negative: the user's stop holds across the worker restart
    assert docker_inspect(cli, stopped)["State"]["Status"] == "exited"
    assert len(actions(api, stopped, "start")) == 1
    assert actions(api, stopped, "die")[-1]["attributes"]["reason"] == "stopped by the user"
    assert docker_inspect(cli, steady)["State"]["Running"]
    assert len(actions(api, steady, "start")) == 1
    for cid in (crashing, stopped, steady):
        cli("rm", "-f", cid)
