"""Pull speed: containers.engine.image.registry.pull vs `skopeo copy docker://... oci:DIR`, plus
the whole pull into an image store (distribution.pull: download, verify, extract the layers).

Starts a local docker-registry on 127.0.0.1 (tests/registry_fixture.py), pushes a ~50 MB
image of random (incompressible) files in a few gzip layers with skopeo, then times, in
alternation, registry.pull (download + sha256 verification of every blob into temp files)
and skopeo copy to an OCI dir (the same work plus writing the layout). Neither extracts.
Everything (registry, its storage, outputs) lives in one temp dir, removed at the end.

    .venv/bin/python bench/bench_pull.py [--mb 50] [--layers 5] [--runs 5]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from containers.engine.image import distribution, registry  # noqa: E402
from containers.engine.image.store import ImageStore  # noqa: E402
from containers.engine.layout import Layout  # noqa: E402
from tests.registry_fixture import RegistryServer  # noqa: E402


def _blob(d: str, data: bytes, media_type: str) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(os.path.join(d, "blobs", "sha256", digest[7:]), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def make_layout(d: str, total_mb: int, layers: int) -> None:
    """An OCI layout tagged "bench": `layers` gzip layers of random files, `total_mb` MB in all."""
    os.makedirs(os.path.join(d, "blobs", "sha256"))
    per_layer = total_mb * (1 << 20) // layers
    descs, diff_ids = [], []
    for i in range(layers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            left, n = per_layer, 0
            while left > 0:
                ti = tarfile.TarInfo(f"layer{i}/file{n}.bin")
                ti.size, ti.mode, ti.mtime = min(left, 4 << 20), 0o644, 1000
                tar.addfile(ti, io.BytesIO(os.urandom(ti.size)))
                left, n = left - ti.size, n + 1
        raw = buf.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        descs.append(_blob(d, gzip.compress(raw, compresslevel=1, mtime=0),
                           "application/vnd.oci.image.layer.v1.tar+gzip"))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": registry.OCI_MANIFEST,
                "config": _blob(d, config, "application/vnd.oci.image.config.v1+json"), "layers": descs}
    mdesc = _blob(d, json.dumps(manifest).encode(), registry.OCI_MANIFEST)
    mdesc["annotations"] = {"org.opencontainers.image.ref.name": "bench"}
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [mdesc]}, f)
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="dwb-bench-pull-", dir="/tmp")
    try:
        with RegistryServer(os.path.join(root, "registry")) as srv:
            src = os.path.join(root, "src")
            make_layout(src, args.mb, args.layers)
            ref = f"{srv.addr}/bench/random:v1"
            srv.skopeo("copy", "--dest-tls-verify=false", f"oci:{src}:bench", f"docker://{ref}")
            ours, theirs, full = [], [], []
            for i in range(args.runs):
                dest = os.path.join(root, f"dl{i}")
                t = time.perf_counter()
                res = registry.pull(ref, dest, insecure={srv.addr})
                ours.append(time.perf_counter() - t)
                size = sum(ly.size for ly in res.layers)
                shutil.rmtree(dest)
                dest = os.path.join(root, f"oci{i}")
                t = time.perf_counter()
                srv.skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{dest}:v1")
                theirs.append(time.perf_counter() - t)
                shutil.rmtree(dest)
                store = ImageStore(Layout(os.path.join(root, f"store{i}")))
                t = time.perf_counter()
                distribution.pull(store, ref, insecure={srv.addr})
                full.append(time.perf_counter() - t)
                shutil.rmtree(store.layout.root)
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"image: {size / 1e6:.1f} MB of layer blobs in {args.layers} layers; "
              f"median of {args.runs} runs")
        print(f"registry.pull (download + verify):  {a:.3f} s ({size / a / 1e6:.0f} MB/s)  "
              f"runs {[round(x, 3) for x in ours]}")
        print(f"skopeo copy docker:// -> oci:DIR:   {b:.3f} s ({size / b / 1e6:.0f} MB/s)  "
              f"runs {[round(x, 3) for x in theirs]}")
        c = statistics.median(full)
        print(f"distribution.pull (+ extract, store): {c:.3f} s  runs {[round(x, 3) for x in full]}")
        print(f"ratio registry.pull / skopeo copy: {a / b:.2f}")
        print(f"ratio distribution.pull (into the store) / skopeo copy (no extraction): {c / b:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
