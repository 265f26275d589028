"""Container and image identifiers, and container names."""

import re
import secrets

# `\Z`, not `$` (which also matches before a trailing newline): safe with match and fullmatch
ID_RE = re.compile(r"^[0-9a-f]{64}\Z")
NAME_MAX = 255  # characters, without the leading '/'; the name column holds as many
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")

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
    """Return `name` (without a leading '/') or raise InvalidArgument: Docker's
    `/?[a-zA-Z0-9][a-zA-Z0-9_.-]*`, matched in full, at most NAME_MAX characters."""
    from .errors import InvalidArgument, shown

    if not isinstance(name, str):
        raise InvalidArgument("container name must be a string")
    name = name[1:] if name.startswith("/") else name
    if len(name) > NAME_MAX:
        raise InvalidArgument(f"invalid container name {shown(name)}: at most {NAME_MAX} characters")
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f"invalid container name {shown(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name


def is_hex_prefix(value: str) -> bool:
    """True when `value` could be an id or id prefix."""
    return bool(value) and len(value) <= 64 and all(c in "0123456789abcdef" for c in value)
