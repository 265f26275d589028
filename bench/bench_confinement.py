"""What confinement (Docker's capability set, the seccomp profile, no_new_privs, the /proc
and /sys masks, the init-confining preload) adds to a container's start, same run,
interleaved:

- bare `lxc-execute /bin/true` of a busybox overlay root with our rendered config, confined
  vs unconfined (the same config with the old `lxc.cap.drop` line instead of ours: no
  profile, no masks, no no_new_privs, no preload): exactly what this work added;
- `POST /start` of `true` through the REST API, a default container vs a privileged one,
  plus the wait for its exit. Privileged also skips the device cgroup rules and proc:mixed,
  which predate confinement, so this difference overstates it.

Goal (issue 10): under 5 ms added.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

from common import median_ms, mount_busybox, p90_ms, stack

from containers.engine.confine import capabilities, initconfine, seccomp
from containers.engine.fs import rootfs
from containers.engine.run import cgroups, lxcconf

OLD_CAP_DROP = ("lxc.cap.drop = audit_control audit_write mac_admin mac_override mknod setfcap "
                "setpcap sys_admin sys_boot sys_module sys_nice sys_pacct sys_rawio sys_resource "
                "sys_time sys_tty_config\n")


def _configs(d: str, merged: str) -> tuple[str, str, str]:
    """(confined config, unconfined config, preload library)."""
    caps = capabilities.resolve([], [], False)
    profile = os.path.join(d, "seccomp.profile")
    seccomp.write(profile, caps)
    common = dict(hostname="bench", rootfs=merged, log_file=os.path.join(d, "lxc.log"),
                  cgroup_container="dwbench-conf/payload", cgroup_monitor="dwbench-conf.monitor",
                  working_dir="/", uid=0, gid=0,
                  environment=["PATH=/bin"])
    confined = lxcconf.render(lxcconf.LxcParams(**common, capabilities=caps, seccomp_profile=profile))
    # the config as it was before confinement: the same lines without ours, the old cap.drop
    ours = ("lxc.cap.keep", "lxc.no_new_privs", "lxc.seccomp.profile", "lxc.mount.entry")
    unconfined = "\n".join(ln for ln in confined.splitlines() if not ln.startswith(ours))
    unconfined += "\n" + OLD_CAP_DROP
    out = []
    for name, text in (("confined", confined), ("unconfined", unconfined)):
        path = os.path.join(d, f"{name}.conf")
        with open(path, "w") as f:
            f.write(text + "\n")
        out.append(path)
    return out[0], out[1], initconfine.library(os.path.join(d, "lib"))


def bare(root: str, n: int) -> tuple[list[float], list[float]]:
    """lxc-execute of /bin/true (overlay mounted once): confined, unconfined; interleaved."""
    layout, d, merged = mount_busybox(root, "bench-confinement")
    confined_cfg, unconfined_cfg, lib = _configs(d, merged)
    runs: dict[str, list[float]] = {"confined": [], "unconfined": []}
    try:
        for i in range(2 * n):
            which = ("confined", "unconfined")[i % 2]
            cfg = confined_cfg if which == "confined" else unconfined_cfg
            env = {**os.environ, **({"LD_PRELOAD": lib} if which == "confined" else {})}
            argv = ["lxc-execute", "-n", "dwbench-conf", "-P", layout.lxc, "-f", cfg, "--", "/bin/true"]
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, env=env)
            runs[which].append(time.perf_counter() - t0)
    finally:
        rootfs.unmount(merged)
        for ctrl in cgroups.controllers():  # LXC leaves the parent of its payload cgroup
            for name in ("dwbench-conf", "dwbench-conf.monitor"):
                cgroups.remove_tree(os.path.join(ctrl, name))
    return runs["confined"], runs["unconfined"]


def api(s, n: int) -> dict[str, list[float]]:
    """POST /start and start+wait of `true`: default vs privileged, interleaved."""
    out: dict[str, list[float]] = {k: [] for k in ("default start", "privileged start",
                                                   "default start+wait", "privileged start+wait")}
    for i in range(2 * n):
        kind = ("default", "privileged")[i % 2]
        r = s.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["true"],
                                                   "privileged": kind == "privileged",
                                                   "network_mode": "none"})
        cid = r.json()["id"]
        t0 = time.perf_counter()
        assert s.api("POST", f"/api/containers/{cid}/start/").status_code == 200
        t1 = time.perf_counter()
        assert s.api("POST", f"/api/containers/{cid}/wait/").json()["exit_code"] == 0
        t2 = time.perf_counter()
        assert s.api("DELETE", f"/api/containers/{cid}/").status_code == 204
        out[f"{kind} start"].append(t1 - t0)
        out[f"{kind} start+wait"].append(t2 - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=30)
    n = ap.parse_args().iterations
    with stack() as s:
        api(s, 2)
        bare(s.root, 2)  # warm-up
        confined, unconfined = bare(s.root, n)
        steps = api(s, n)
    print(f"start latency with vs without confinement, {n} iterations each, interleaved")
    print(f"{'what':44s} {'median ms':>10s} {'p90 ms':>8s}")
    rows = [("bare lxc-execute, confined", confined), ("bare lxc-execute, unconfined", unconfined)]
    rows += [(f"API {k}", v) for k, v in steps.items()]
    for name, xs in rows:
        print(f"{name:44s} {median_ms(xs):10.1f} {p90_ms(xs):8.1f}")
    pairs = [("bare lxc-execute", confined, unconfined),
             ("API start", steps["default start"], steps["privileged start"]),
             ("API start+wait", steps["default start+wait"], steps["privileged start+wait"])]
    for name, on, off in pairs:
        added, ratio = median_ms(on) - median_ms(off), median_ms(on) / median_ms(off)
        print(f"added by confinement, {name:18s} {added:+6.1f} ms  ratio {ratio:.2f}x  (goal < 5 ms)")


if __name__ == "__main__":
    main()
