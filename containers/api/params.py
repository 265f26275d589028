"""Typed query-parameter readers: a bad value is a 400 naming the parameter."""

from __future__ import annotations

from containers.engine.errors import InvalidArgument
from containers.engine.run.logfile import parse_time

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def boolean(params, name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None:
        return default
    v = value.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise InvalidArgument(f"{name} must be a boolean (1/0, true/false)")


def number(params, name: str, default: float | None = None, minimum: float | None = None) -> float | None:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        num = float(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be a number") from None
    if minimum is not None and num < minimum:
        raise InvalidArgument(f"{name} must be at least {minimum:g}")
    return num


def integer(params, name: str, default: int | None = None, minimum: int | None = None) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        num = int(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer") from None
    if minimum is not None and num < minimum:
        raise InvalidArgument(f"{name} must be at least {minimum}")
    return num


def tail(params) -> int | None:
    value = params.get("tail", "all")
    if value in ("all", ""):
        return None
    return integer(params, "tail", minimum=0)


def timestamp(params, name: str) -> float | None:
    """Unix seconds (int or float) or an RFC 3339 'Z' time."""
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return parse_time(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be unix seconds or an RFC 3339 time") from None
