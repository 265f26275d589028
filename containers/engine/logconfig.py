"""Log drivers and rotation options: Docker's LogConfig.Type (json-file, local, none) and
json-file's `max-size` and `max-file` (LogConfig.Config).

json-file and local both store logs as json-file records in container.log (local's own
format is not reproduced: only its options and reading matter to clients); `none` stores
nothing (the supervisor writes to /dev/null) and `docker logs` answers Docker's 501
"configured logging driver does not support reading". Unknown drivers and options are
refused with Docker's messages.

A container's `log_opts` (validated here when the spec is made) override the engine's
defaults (settings DOCKERWEB_LOG_MAX_SIZE / DOCKERWEB_LOG_MAX_FILE). The supervisor rotates
container.log when a write would take it past max-size and keeps max-file files in all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import InvalidArgument, shown

DEFAULT_DRIVER = "json-file"
NONE = "none"
DRIVERS = ("json-file", "local", NONE)  # Docker's LogConfig.Type values we take
OPTIONS = ("max-size", "max-file")  # of json-file and local; none takes no option
MAX_FILES = 1000  # as engine/run/logfile.py reads them
SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmg]?)i?b?\s*\Z", re.IGNORECASE)
UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass(frozen=True)
class LogLimits:
    max_size: int = 0  # bytes; 0: unlimited (never rotated)
    max_file: int = 1


def parse_size(text: str, what: str = "max-size") -> int:
    """A size as Docker writes it ("10", "512k", "1.5m", "1g"; units of 1024) in bytes;
    "-1" is unlimited (0)."""
    if isinstance(text, str) and text.strip() == "-1":
        return 0
    m = SIZE_RE.match(text) if isinstance(text, str) else None
    size = int(float(m.group(1)) * UNITS[m.group(2).lower()]) if m else 0
    if not m or size < 1:
        raise InvalidArgument(f"invalid {what} {shown(str(text))}: expected a positive size "
                              "with an optional unit k, m or g (e.g. 10m), or -1")
    return size


def parse_count(text: str) -> int:
    """max-file: a whole number from 1 to MAX_FILES."""
    if not isinstance(text, str) or not text.strip().isdigit() or not 1 <= int(text) <= MAX_FILES:
        raise InvalidArgument(f"invalid max-file {shown(str(text))}: expected a whole number "
                              f"from 1 to {MAX_FILES}")
    return int(text)


def validate_opts(opts: Any, driver: str = DEFAULT_DRIVER) -> None:
    """`opts` is {"max-size": size, "max-file": count} (either may be left out) for
    json-file and local; none takes none. Docker's "unknown log opt" otherwise."""
    if not isinstance(opts, dict):
        raise InvalidArgument("log_opts must be an object of option names to strings")
    for key, value in opts.items():
        if key not in OPTIONS or driver == NONE:
            raise InvalidArgument(f"unknown log opt {shown(str(key))} for {driver or DEFAULT_DRIVER} "
                                  "log driver")
        if key == "max-size":
            parse_size(value)
        else:
            parse_count(value)


def validate_driver(driver: Any) -> None:
    """A LogConfig.Type we have ("" is the default, json-file); Docker's message otherwise."""
    if driver != "" and driver not in DRIVERS:
        raise InvalidArgument(f"logger: no log driver named {shown(str(driver))} is registered")


def limits(opts: dict[str, str], default: LogLimits) -> LogLimits:
    """The limits of a container: its options over the engine's defaults."""
    size = parse_size(opts["max-size"]) if "max-size" in opts else default.max_size
    count = parse_count(opts["max-file"]) if "max-file" in opts else default.max_file
    return LogLimits(size, count)
