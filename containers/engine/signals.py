"""Signal names and numbers as Docker clients send them ("KILL", "SIGKILL", "9")."""

from __future__ import annotations

import signal

from .errors import InvalidArgument


def parse(value: str | int | None, default: int = signal.SIGKILL) -> int:
    """Signal number for `value`; InvalidArgument for an unknown signal."""
    if value is None or value == "":
        return int(default)
    if isinstance(value, int) or str(value).isdigit():
        num = int(value)
        if not 1 <= num < signal.NSIG:
            raise InvalidArgument(f"invalid signal: {value}")
        return num
    name = str(value).upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f"invalid signal: {value}") from None


def name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)
