"""Networking, same run:
1. throughput of 1 GB through a port mapping (127.0.0.1:HOSTPORT, DNAT) vs straight to
   the container's IP (goal >= 0.9x); the sink is a Python server inside the container's
   network namespace so the container side is not the bottleneck;
2. API create+start+wait+remove latency with bridge networking vs network mode none.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time

from common import median_ms, stack

SINK = ("import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('0.0.0.0', 9000)); s.listen()\n"
        "while True:\n c,_=s.accept()\n while c.recv(1<<20): pass\n c.close()\n")
GB = 1 << 30
RUNS = 5


def send(host: str, port: int) -> float:
    """Seconds to push 1 GiB to host:port."""
    chunk = b"\0" * (1 << 20)
    with socket.create_connection((host, port)) as s:
        t0 = time.perf_counter()
        for _ in range(GB // len(chunk)):
            s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
        return time.perf_counter() - t0


def lifecycle(s, mode: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        cid = s.api("POST", "/api/containers/", json={"image": "busybox", "cmd": ["true"],
                                                       "network_mode": mode}).json()["id"]
        s.api("POST", f"/api/containers/{cid}/start/")
        s.api("POST", f"/api/containers/{cid}/wait/")
        s.api("DELETE", f"/api/containers/{cid}/")
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    with stack() as s:
        c = s.run(cmd=["sleep", "1000"], ports=["9000"])
        ip = c["network_settings"]["ip"]
        port = c["network_settings"]["ports"]["9000/tcp"][0]["host_port"]
        pid = s.inspect(c["id"])["state"]["pid"]
        sink = subprocess.Popen(["nsenter", "-t", str(pid), "-n", sys.executable, "-c", SINK])
        time.sleep(0.5)
        try:
            send(ip, 9000)  # warm-up
            direct, mapped = [], []
            for _ in range(RUNS):  # interleaved: both see the same machine
                direct.append(send(ip, 9000))
                mapped.append(send("127.0.0.1", port))
        finally:
            sink.kill()
            sink.wait()
        lifecycle(s, "bridge", 3)
        bridge_ms = lifecycle(s, "bridge", 15)
        none_ms = lifecycle(s, "none", 15)
    d, m = GB / statistics.median(direct) / 1e9, GB / statistics.median(mapped) / 1e9
    print(f"throughput, 1 GiB per transfer, median of {RUNS} interleaved runs")
    print(f"  straight to container IP   {d:6.2f} GB/s")
    print(f"  through 127.0.0.1 mapping  {m:6.2f} GB/s")
    print(f"  ratio mapping/direct       {m / d:6.2f}x  (goal >= 0.9x)")
    print("create+start+wait+remove of `true`, median of 15")
    print(f"  network mode none          {median_ms(none_ms):6.1f} ms")
    print(f"  bridge (veth + IP)         {median_ms(bridge_ms):6.1f} ms")
    print(f"  ratio bridge/none          {median_ms(bridge_ms) / median_ms(none_ms):6.2f}x")


if __name__ == "__main__":
    main()
