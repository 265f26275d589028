"""OCI image configs: the documents import and commit write, Docker's merge of config
changes, layer chains and history. Pure functions on dicts and bytes (no filesystem).

An image id is the sha256 of its config's bytes, so a config is stored, saved and loaded as
the exact bytes it was made of; `canonical` is how this engine serialises the ones it makes.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..errors import InvalidArgument

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_CONFIG = 8 << 20  # bytes; a config or manifest larger than this is refused
REPLACED = ("Cmd", "Entrypoint", "WorkingDir", "User", "StopSignal", "Shell", "Healthcheck",
            "OnBuild", "Volumes")


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def digest_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def parse(raw: bytes) -> dict[str, Any]:
    """A config document from bytes; InvalidArgument unless it is an object whose
    rootfs.diff_ids are sha256 digests."""
    if len(raw) > MAX_CONFIG:
        raise InvalidArgument("image config too large")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("image config is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("image config is not a JSON object")
    diff_ids(doc)
    return doc


def diff_ids(doc: dict[str, Any]) -> list[str]:
    """The layers' diff_ids (64 hex, bottom-most first); InvalidArgument if malformed (they
    name directories: nothing but a sha256 digest may pass)."""
    rootfs = doc.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list):
        raise InvalidArgument("image config has no rootfs.diff_ids")
    out = []
    for d in ids:
        hexid = d[len("sha256:"):] if isinstance(d, str) and d.startswith("sha256:") else ""
        if not HEX64.fullmatch(hexid):
            raise InvalidArgument(f"invalid diff_id {d!r} in image config")
        out.append(hexid)
    return out


def chain_ids(ids: list[str]) -> list[str]:
    """OCI ChainIDs (hex) of a layer stack: the identity of each layer with all below it."""
    out: list[str] = []
    for d in ids:
        out.append(d if not out else digest_hex(f"sha256:{out[-1]} sha256:{d}".encode()))
    return out


def merge_config(base: dict[str, Any], changes: dict[str, Any] | None) -> dict[str, Any]:
    """`base` (an image's "config" section) with `changes` applied the way Docker merges a
    commit's config: Env by variable name (changes win, the image's others kept), Labels
    and ExposedPorts and Volumes by key, the rest replaced; a new Entrypoint without a Cmd
    drops the image's Cmd (as a Dockerfile ENTRYPOINT does)."""
    out = dict(base)
    changes = changes or {}
    for key, value in changes.items():
        if key == "Env":
            mine = list(value or [])
            names = {e.split("=", 1)[0] for e in mine}
            out["Env"] = mine + [e for e in base.get("Env") or [] if e.split("=", 1)[0] not in names]
        elif key in ("Labels", "ExposedPorts"):
            out[key] = {**(base.get(key) or {}), **(value or {})}
        else:
            out[key] = value
    if changes.get("Entrypoint") and "Cmd" not in changes:
        out.pop("Cmd", None)
    return {k: v for k, v in out.items() if v is not None}


def import_base_config() -> dict[str, Any]:
    """The config section an imported rootfs starts from (before `changes`)."""
    return {"Env": [f"PATH={DEFAULT_PATH}"]}


def import_config(diff_id: str, *, created: str, comment: str = "", author: str = "",
                  created_by: str = "", changes: dict[str, Any] | None = None,
                  architecture: str = "amd64", os_name: str = "linux") -> dict[str, Any]:
    """The config of a single-layer image imported from a rootfs tar (docker import)."""
    return {
        "architecture": architecture, "os": os_name, "created": created,
        **_signed(author, comment),
        "config": merge_config(import_base_config(), changes),
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": created, **_signed(author, comment, created_by)}],
    }


def _signed(author: str, comment: str, created_by: str = "") -> dict[str, str]:
    """The author, comment (and created_by) keys of a config or history entry, when set."""
    return {k: v for k, v in (("created_by", created_by), ("author", author), ("comment", comment)) if v}


def commit_config(base: dict[str, Any], diff_id: str | None, *, created: str, author: str = "",
                  comment: str = "", created_by: str = "",
                  changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The config of `base` plus one layer: its rootfs and history extended, its config
    section with `changes` merged (docker commit). `diff_id` None: no layer, the history
    entry is an empty_layer one (a build's ENV, CMD, ...)."""
    doc = {k: v for k, v in base.items() if k not in ("author", "comment", "container",
                                                       "container_config", "parent")}
    doc["created"] = created
    doc.update(_signed(author, comment))
    doc["config"] = merge_config(base.get("config") or {}, changes)
    layers = [*diff_ids(base), *([diff_id] if diff_id else [])]
    doc["rootfs"] = {"type": "layers", "diff_ids": [f"sha256:{d}" for d in layers]}
    step = {"created": created, **_signed(author, comment, created_by),
            **({} if diff_id else {"empty_layer": True})}
    doc["history"] = [*(base.get("history") or []), step]
    return doc


def layer_history(doc: dict[str, Any]) -> list[tuple[dict[str, Any], str | None]]:
    """Each history entry (oldest first) with the diff_id of the layer it made (None for an
    empty_layer entry). Layers no history entry accounts for get an empty entry each."""
    layers = iter(diff_ids(doc))
    out: list[tuple[dict[str, Any], str | None]] = []
    for h in doc.get("history") or []:
        h = h if isinstance(h, dict) else {}
        out.append((h, None if h.get("empty_layer") else next(layers, None)))
    out.extend(({}, d) for d in layers)
    return out
