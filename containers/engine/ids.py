"""Container and image identifiers, and container names."""

import re
import secrets

ID_RE = re.compile(r"^[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")

ADJECTIVES = (
    "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid",
    "merry", "nifty", "proud", "quick", "sharp", "tender", "vivid", "witty", "zen",
)
NOUNS = (
    "turing", "hopper", "lovelace", "ritchie", "thompson", "knuth", "dijkstra",
    "lamport", "liskov", "torvalds", "stallman", "wirth", "hamilton", "shannon",
)


def new_id() -> str:
    """A fresh 64-hex-char id."""
    return secrets.token_hex(32)


def short(full_id: str) -> str:
    """The 12-char short form used as default hostname and in listings."""
    return full_id[:12]


def random_name() -> str:
    """A Docker-style generated name; callers retry on a clash."""
    return f"{secrets.choice(ADJECTIVES)}_{secrets.choice(NOUNS)}_{secrets.token_hex(2)}"


def validate_name(name: str) -> str:
    """Return `name` (without a leading '/') or raise InvalidArgument."""
    from .errors import InvalidArgument

    name = name[1:] if name.startswith("/") else name
    if not NAME_RE.match(name):
        raise InvalidArgument(
            f"invalid container name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name


def is_hex_prefix(value: str) -> bool:
    """True when `value` could be an id or id prefix."""
    return bool(value) and len(value) <= 64 and all(c in "0123456789abcdef" for c in value)
