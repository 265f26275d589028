"""Images, same run:
1. import of a ~200 MB rootfs tar through the REST API vs `tar -xf` of the same tar
   (goal <= 1.3x), and export of a container with that rootfs vs `tar -cf` (goal <= 1.3x);
2. `changes` (docker diff) of 10,000 changed files in an overlay upper dir (goal <= 100 ms).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time

from common import stack

from containers.engine.fs.changes import changes
from containers.engine.fs.tarcreate import tar_stream
from containers.engine.image.store import ImageStore
from containers.engine.layout import Layout

FILES, SIZE = 2000, 100 * 1024  # ~200 MB


def make_rootfs(root: str) -> str:
    src = os.path.join(root, "src")
    for i in range(FILES):
        d = os.path.join(src, "data", f"d{i % 50}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i}"), "wb") as f:
            f.write(os.urandom(SIZE))
    os.makedirs(os.path.join(src, "bin"))
    shutil.copy("/bin/busybox", os.path.join(src, "bin", "busybox"))
    tarball = os.path.join(root, "rootfs.tar")
    subprocess.run(["tar", "-C", src, "-cf", tarball, "."], check=True)
    return tarball


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


RUNS = 5


def interleaved(*fns) -> list[float]:
    """Median seconds of each of `fns` (each returns its own duration), run in turns so
    that all of them see the same machine."""
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(RUNS):
        for out, fn in zip(samples, fns, strict=True):
            out.append(fn())
    return [statistics.median(x) for x in samples]


def _drain(resp) -> None:
    with resp:
        for _ in resp.iter_content(1 << 20):
            pass


def best(fn, n: int = 3) -> float:
    return min(timed(fn) for _ in range(n))


def diff_bench(root: str) -> float:
    lower, upper = os.path.join(root, "lower"), os.path.join(root, "upper")
    for base in (lower, upper):
        for i in range(100):
            os.makedirs(os.path.join(base, f"d{i}"), exist_ok=True)
    for i in range(10_000):
        path = f"d{i % 100}/f{i}"
        if i % 2 == 0:  # half changed (present below), half added
            open(os.path.join(lower, path), "w").close()
        with open(os.path.join(upper, path), "w") as f:
            f.write("x")
    return best(lambda: changes(upper, [lower]), 5)


def main() -> None:
    work = tempfile.mkdtemp(prefix="dwb-img-", dir="/tmp")
    try:
        tarball = make_rootfs(work)
        mb = os.path.getsize(tarball) / 1e6
        with stack() as s:
            def api_import() -> float:
                with open(tarball, "rb") as f:
                    t0 = time.perf_counter()
                    r = s.api("POST", "/api/images/import/?repo=big&tag=1", data=f,
                              headers={"Content-Type": "application/x-tar"}, timeout=600)
                    took = time.perf_counter() - t0
                assert r.status_code == 201, r.text
                return took

            def gnu_extract() -> float:
                d = tempfile.mkdtemp(dir=work)
                t0 = time.perf_counter()
                subprocess.run(["tar", "-C", d, "-xf", tarball], check=True)
                took = time.perf_counter() - t0
                shutil.rmtree(d)
                return took

            def engine_import() -> float:
                store = ImageStore(Layout(tempfile.mkdtemp(dir=work)))
                with open(tarball, "rb") as f:
                    t0 = time.perf_counter()
                    store.add_layer(f)
                    took = time.perf_counter() - t0
                shutil.rmtree(store.layout.root)
                return took

            t_import, t_xf, t_engine_import = interleaved(api_import, gnu_extract, engine_import)
            c = s.create(image="big:1", cmd=["/bin/busybox", "true"])
            layer = os.path.join(s.root, "layers", s.api("GET", "/api/images/big:1/").json()["layers"][0])

            def api_export() -> float:
                return timed(lambda: _drain(s.api("GET", f"/api/containers/{c['id']}/export/", stream=True,
                                                  timeout=600)))

            def engine_export() -> float:
                def run():
                    with open("/dev/null", "wb") as out:
                        for chunk in tar_stream(layer):
                            out.write(chunk)
                return timed(run)

            def gnu_create() -> float:
                # through a pipe: GNU tar does not even read the files when its output is /dev/null
                return timed(lambda: subprocess.run(f"tar -C {layer} -cf - . | cat > /dev/null", shell=True,
                                                    check=True))

            t_export, t_cf, t_engine_export = interleaved(api_export, gnu_create, engine_export)
        t_diff = diff_bench(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"rootfs tar: {mb:.0f} MB, {FILES} files; median of {RUNS} interleaved runs")
    for what, ours, gnu, tool in (("import", t_import, t_xf, "-xf"), ("export", t_export, t_cf, "-cf")):
        print(f"  {what} via API  {ours:6.2f} s   GNU tar {tool} {gnu:6.2f} s   ratio {ours / gnu:.2f}x"
              "  (goal <= 1.3x)")
    print("  the engine alone (no HTTP, no upload spooling):")
    for what, ours, gnu in (("import", t_engine_import, t_xf), ("export", t_engine_export, t_cf)):
        print(f"  {what} engine   {ours:6.2f} s   ratio to GNU tar {ours / gnu:.2f}x")
    print(f"changes() of 10,000 changed files: {t_diff * 1000:.1f} ms  (goal <= 100 ms)")


if __name__ == "__main__":
    main()
