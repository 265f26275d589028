"""create + start + wait + remove of `true` through the REST API, against bare
`lxc-execute` of the same busybox rootfs with the same overlay mount/unmount, measured in
the same run, rounds interleaved (the machine is shared: both see the same load).

Two pairs: network mode none vs bare lxc-execute without a network, and the default bridge
network vs bare lxc-execute with a veth on the same bridge. Goal (issue 13): API <= 2x bare
for both. Prints medians, p90 and the ratios, plus where the API time goes (each request).

A floor, in the same rounds: four authenticated GETs of one container (the cheapest
authenticated request, one per step of a lifecycle) plus the confined bare run with its mount
and unmount (mode none: with a veth the bare runs wait for LXC's own deletion of the host end,
which the API's runs leave to the kernel). No lifecycle through this API stack can take
less: it adds the records, the worker's calls, the supervisor and the exit's recording on
top. Its ratio to the bare run says how much of the 2x goal the stack leaves for that work.

A third baseline, in the same interleaved rounds, separates the price of confinement from
dockerweb's own overhead: bare lxc-execute with dockerweb's confined config, i.e. the
config.lxc the engine rendered for an API container of the same network mode (seccomp
profile, kept capabilities, no_new_privs, masked and read-only paths, the devices cgroup,
the /etc bind mounts, its log level and start hook if any) run by hand on the bench's own
overlay with the init confinement library preloaded, as the supervisor runs it (its
network lines are the bare baseline's, its cgroups the bench's own). Its veth's host end is
deleted by LXC at the end, as in the bare run: no supervisor tells the library the init's
pid, so it does not leave it to the kernel as the API's runs do (initconfine.c).

    python bench/bench_lifecycle.py [--iterations 30] [--network none|bridge|both]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import time

from bench_burst import host_busy
from client import lean
from common import median_ms, p90_ms, stack

from containers.engine.fs import initlayer, rootfs
from containers.engine.image.store import ImageStore
from containers.engine.layout import Layout

BARE_CONFIG = """lxc.uts.name = bench
lxc.rootfs.path = dir:{rootfs}
lxc.mount.auto = proc:mixed sys:ro
lxc.autodev = 1
{network}
lxc.log.file = {log}
lxc.log.level = ERROR
"""
NO_NETWORK = "lxc.net.0.type = empty"
VETH = """lxc.net.0.type = veth
lxc.net.0.link = {bridge}
lxc.net.0.flags = up
lxc.net.0.veth.pair = dwbbare{tag}
lxc.net.0.ipv4.address = {ip}/{prefix}
lxc.net.0.ipv4.gateway = {gateway}"""


def veth_lines(s) -> str:
    """A veth on the stack's bridge with the subnet's last host address (the API's
    containers take the lowest free ones), as the API's bridge containers get."""
    import ipaddress

    net = ipaddress.IPv4Network(s.env["DOCKERWEB_SUBNET"])
    return VETH.format(bridge=s.env["DOCKERWEB_BRIDGE"], tag=s.env["DOCKERWEB_BRIDGE"][-6:],
                       ip=net.broadcast_address - 1, prefix=net.prefixlen,
                       gateway=net.network_address + 1)


def bare(root: str, n: int, network: str = NO_NETWORK, config: str = "",
         env: dict[str, str] | None = None, name: str = "bare") -> tuple[list[float], list[float]]:
    """(lxc-execute only, overlay mount + lxc-execute + umount) durations; `network` is the
    config's lxc.net lines (NO_NETWORK, or veth_lines(stack)). `config` replaces the bench's
    minimal config (its `{rootfs}` and `{log}` filled in as the minimal one's), `env` is added
    to lxc-execute's environment, `name` names the bench's directory under the state root."""
    layout = Layout(root)
    img = ImageStore(layout).get(_busybox_id(layout))
    d = os.path.join(root, name)
    upper, work, merged = (os.path.join(d, x) for x in ("upper", "work", "merged"))
    cfg = os.path.join(d, "config")
    os.makedirs(d, exist_ok=True)
    with open(cfg, "w") as f:
        f.write((config or BARE_CONFIG).format(rootfs=merged, network=network,
                                               log=os.path.join(d, "lxc.log")))
    lowers = ImageStore(layout).lower_dirs(img)
    init = initlayer.path(layout.lib)
    shared = bool(config) and os.path.isdir(init) and initlayer.fits(lowers)
    if shared:  # the /etc bind mounts' points from the engine's shared init layer, as its own
        lowers = [init, *lowers]
    argv = [LXC_EXECUTE, "-n", f"dwbench-{name}", "-P", layout.lxc, "-f", cfg, "--", "/bin/true"]
    only, full = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        rootfs.mount_overlay(lowers, upper, work, merged)
        for point in ETC_POINTS if config and not shared else ():  # else made in the upper layer
            open(os.path.join(merged, point), "a").close()
        t1 = time.perf_counter()
        subprocess.run(argv, check=True, env={**os.environ, **(env or {})})
        t2 = time.perf_counter()
        rootfs.unmount(merged)
        t3 = time.perf_counter()
        only.append(t2 - t1)
        full.append(t3 - t0)
    return only, full


LXC_EXECUTE = shutil.which("lxc-execute") or "lxc-execute"
ETC_POINTS = ("etc/hostname", "etc/hosts", "etc/resolv.conf")


def confined_config(s, network: str) -> tuple[str, dict[str, str]]:
    """dockerweb's confined config for a bare run, and lxc-execute's environment: the config
    the engine rendered for an API container of network mode `network` (kept in `s`'s root
    under confined-<network>/), made to run by hand: its rootfs, log file and cgroups the
    bench's own ({rootfs}, {log}, {network} are filled in by `bare`), its network lines the
    bare baseline's (only the confinement differs), a start hook (if any) writing to
    /dev/null instead of the supervisor's fifo. The environment preloads the init
    confinement library as the supervisor does."""
    r = s.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["true"],
                                                 "network_mode": network})
    cid = r.json()["id"]
    assert s.api("POST", f"/api/containers/{cid}/start/").status_code == 200
    s.api("POST", f"/api/containers/{cid}/wait/")
    cdir = os.path.join(s.root, "containers", cid)
    rundir = os.path.join(s.root, "runtime", cid)  # its runtime files (Layout.runtime)
    d = os.path.join(s.root, f"confined-{network}")
    os.makedirs(os.path.join(d, "etc"), exist_ok=True)
    # the seccomp profile is the engine's shared one under lib/ (seccomp.shared): used in place
    for f in ("hostname", "hosts", "resolv.conf"):
        shutil.copy(os.path.join(rundir, "etc", f), os.path.join(d, "etc", f))
    with open(os.path.join(rundir, "config.lxc")) as f:
        text = f.read()
    assert s.api("DELETE", f"/api/containers/{cid}/").status_code == 204
    parent = s.env["DOCKERWEB_CGROUP_PARENT"]
    text = text.replace("{", "{{").replace("}", "}}")
    text = text.replace(os.path.join(cdir, "rootfs"), "{rootfs}").replace(cdir + "/", d + "/")
    text = text.replace(rundir + "/", d + "/")
    text = re.sub(r"(?m)^lxc\.log\.file = .*$", "lxc.log.file = {log}", text)
    text = re.sub(r"(?m)^(lxc\.hook\.start-host = \S+) .*$", r"\1 /dev/null", text)
    text = re.sub(r"(?m)^lxc\.cgroup\.dir\.container = .*$",
                  f"lxc.cgroup.dir.container = {parent}/bench-confined/payload", text)
    text = re.sub(r"(?m)^lxc\.cgroup\.dir\.monitor = .*$",
                  f"lxc.cgroup.dir.monitor = {parent}/bench-confined.monitor", text)
    text = re.sub(r"(?m)^lxc\.net\..*\n", "", text) + "{network}\n"
    lib = glob.glob(os.path.join(s.root, "lib", "initconfine-*.so"))
    return text, {"LD_PRELOAD": lib[0]} if lib else {}


def _busybox_id(layout: Layout) -> str:
    return next(f[:-5] for f in os.listdir(layout.images) if f.endswith(".json"))


STEPS = ("create", "start", "wait", "remove", "total")


def api(s, n: int, network: str = "none") -> dict[str, list[float]]:
    """Durations of each request of `n` REST lifecycles of `true` in network mode `network`;
    `s` is what sends them: a stack (its `requests` session) or a bench/client.LeanClient."""
    steps: dict[str, list[float]] = {k: [] for k in STEPS}
    for _ in range(n):
        t0 = time.perf_counter()
        r = s.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["true"],
                                                     "network_mode": network})
        cid = r.json()["id"]
        t1 = time.perf_counter()
        assert s.api("POST", f"/api/containers/{cid}/start/").status_code == 200
        t2 = time.perf_counter()
        assert s.api("POST", f"/api/containers/{cid}/wait/").json()["exit_code"] == 0
        t3 = time.perf_counter()
        assert s.api("DELETE", f"/api/containers/{cid}/").status_code == 204
        t4 = time.perf_counter()
        for k, a, b in (("create", t0, t1), ("start", t1, t2), ("wait", t2, t3),
                        ("remove", t3, t4), ("total", t0, t4)):
            steps[k].append(b - a)
    return steps


def cpu_ms(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU milliseconds of each process of `pids` (name -> pid) so far."""
    out = {}
    for name, pid in pids.items():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    return out


def gets(client, cid: str) -> float:
    """Seconds for four authenticated GETs of container `cid` (the API's floor per lifecycle)."""
    t0 = time.perf_counter()
    for _ in range(4):
        assert client.api("GET", f"/api/containers/{cid}/").status_code == 200
    return time.perf_counter() - t0


def interleaved(s, n: int, network: str, client=None) -> tuple[
        dict[str, list[float]], list[float], list[float], list[float], list[float], dict[str, float],
        list[float]]:
    """API lifecycles in mode `network` and the matching bare baselines, one round of each
    at a time: (API steps, bare lxc-execute, bare mount + lxc-execute + umount, the same two
    with dockerweb's confined config, CPU ms per API lifecycle of each stack process, four
    GETs of a container). The API requests go through `client` (default: the stack's
    `requests` session)."""
    client = client or s
    lines = NO_NETWORK if network == "none" else veth_lines(s)
    config, env = confined_config(s, network)
    steps: dict[str, list[float]] = {k: [] for k in STEPS}
    only: list[float] = []
    full: list[float] = []
    conf_only: list[float] = []
    conf_full: list[float] = []
    floor: list[float] = []
    kept = client.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["true"],
                                                         "network_mode": network}).json()["id"]
    api(client, 3, network)
    bare(s.root, 3, lines)  # warm-up
    bare(s.root, 3, lines, config, env, "confined")
    pids = {name: p.pid for name, p in s.procs.items() if name != "dockerapi"}
    cpu = dict.fromkeys(pids, 0.0)
    for _ in range(n):
        before = cpu_ms(pids)
        for k, xs in api(client, 1, network).items():
            steps[k] += xs
        time.sleep(0.05)  # the worker's last hint and its trash thread belong to this round
        for name, ms in cpu_ms(pids).items():
            cpu[name] += (ms - before[name]) / n
        o, f = bare(s.root, 1, lines)
        only += o
        full += f
        o, f = bare(s.root, 1, lines, config, env, "confined")
        conf_only += o
        conf_full += f
        floor.append(gets(client, kept))
    assert client.api("DELETE", f"/api/containers/{kept}/").status_code == 204
    return steps, only, full, conf_only, conf_full, cpu, floor


def report(network: str, n: int, steps: dict[str, list[float]], only: list[float],
           full: list[float], conf_only: list[float], conf_full: list[float],
           cpu: dict[str, float], floor: list[float]) -> None:
    peer = "no network" if network == "none" else "a veth on the same bridge"
    print(f"lifecycle of `true`, network {network}, {n} interleaved rounds (bare: {peer})")
    print(f"{'what':52s} {'median ms':>10s} {'p90 ms':>8s}")
    rows = [("bare lxc-execute", only), ("bare overlay mount + lxc-execute + umount", full),
            ("bare lxc-execute with dockerweb's confined config", conf_only),
            ("  same + overlay mount + umount", conf_full),
            ("4 authenticated GETs of a container", floor),
            ("API create+start+wait+remove", steps["total"])]
    rows += [(f"  API {k}", steps[k]) for k in STEPS[:-1]]
    for name, xs in rows:
        print(f"{name:52s} {median_ms(xs):10.1f} {p90_ms(xs):8.1f}")
    total = median_ms(steps["total"])
    print(f"ratio API / bare lxc-execute:          {total / median_ms(only):.2f}x")
    print(f"ratio API / bare mount+execute+umount: {total / median_ms(full):.2f}x  (goal <= 2x)")
    print(f"ratio confined / bare lxc-execute:     {median_ms(conf_only) / median_ms(only):.2f}x"
          f"  (the price of confinement: {median_ms(conf_only) - median_ms(only):+.1f} ms)")
    print(f"ratio API / confined mount+execute+umount: {total / median_ms(conf_full):.2f}x"
          f"  (dockerweb's own overhead: {total - median_ms(conf_full):+.1f} ms)")
    if network == "none":  # with a veth the bare runs wait for LXC's deletion of its host
        # end (RCU grace periods), which the API's runs leave to the kernel (initconfine.c)
        least = median_ms(conf_full) + median_ms(floor)
        print(f"floor (confined mount+execute+umount + 4 GETs): {least:.1f} ms = "
              f"{least / median_ms(full):.2f}x bare mount+execute+umount, leaving "
              f"{2 * median_ms(full) - least:+.1f} ms of the 2x goal for the lifecycle's own work")
    print("CPU per API lifecycle, ms (clock ticks summed over the rounds): "
          + ", ".join(f"{name} {ms:.1f}" for name, ms in cpu.items()))
    print(f"load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--network", default="both", choices=("none", "bridge", "both"))
    ap.add_argument("--client", default="lean", choices=("lean", "requests"),
                    help="the API's client: http.client kept alive (bench/client.py) or requests")
    a = ap.parse_args()
    modes = ("none", "bridge") if a.network == "both" else (a.network,)
    with stack() as s:
        client = lean(s) if a.client == "lean" else s
        results, stolen = {}, {}
        for m in modes:
            t0, st0 = time.monotonic(), host_busy()[1]
            results[m] = interleaved(s, a.iterations, m, client)
            stolen[m] = (host_busy()[1] - st0) / ((time.monotonic() - t0) * (os.cpu_count() or 1)) * 100
    for m in modes:
        print(f"client: {a.client}")
        report(m, a.iterations, *results[m])
        print(f"CPU time stolen by the hypervisor during these rounds: {stolen[m]:.0f} %")


if __name__ == "__main__":
    main()
