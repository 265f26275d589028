"""Docker's reference grammar (distribution/reference): repositories, tags, digests.

Every check is a full-string match (`fullmatch`): Python's `$` also matches before a trailing
newline, so `^…$` with `.match` lets `"evil:1\\n"` through. `\\w` is ASCII only (re.ASCII), as
in Go's regexp. Errors quote at most a short prefix of the refused value (`errors.shown`).

    name       := [domain '/'] path-component ('/' path-component)*   (total length <= 255)
    domain     := host [':' port]   host := domain-component ('.' domain-component)* | '[' ipv6 ']'
    path-component := [a-z0-9]+ (('.' | '_' | '__' | '-'+) [a-z0-9]+)*
    tag        := [\\w][\\w.-]{0,127}
    digest     := 'sha256:' [0-9a-f]{64}
"""

from __future__ import annotations

import re

from ..errors import InvalidArgument, shown

NAME_TOTAL_MAX = 255  # Docker's NameTotalLengthMax: domain and path together
TAG_MAX = 128

COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
PATH_RE = re.compile(rf"{COMPONENT}(?:/{COMPONENT})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
DOMAIN_RE = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
TAG_RE = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def is_domain(first: str) -> bool:
    """Whether a name's first component names a registry (Docker's rule: it has a '.' or ':'
    or is 'localhost')."""
    return "." in first or ":" in first or first == "localhost"


def split_domain(name: str) -> tuple[str, str]:
    """('reg:5000', 'a/b') for 'reg:5000/a/b'; ('', 'a/b') when there is no domain."""
    first, sep, rest = name.partition("/")
    return (first, rest) if sep and is_domain(first) else ("", name)


def validate_repository(name: str) -> str:
    """Return `name` ([domain/]path) or raise InvalidArgument naming what is wrong."""
    if not isinstance(name, str) or not name:
        raise InvalidArgument("invalid reference format: repository name must not be empty")
    if len(name) > NAME_TOTAL_MAX:
        raise InvalidArgument(
            f"invalid reference format: repository name must not be more than {NAME_TOTAL_MAX} "
            f"characters: {shown(name)}")
    domain, path = split_domain(name)
    if domain and not DOMAIN_RE.fullmatch(domain):
        raise InvalidArgument(f"invalid reference format: bad registry host: {shown(name)}")
    if not PATH_RE.fullmatch(path):
        why = "repository name must be lowercase" if path != path.lower() else \
            "repository name must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/…)*"
        raise InvalidArgument(f"invalid reference format: {why}: {shown(name)}")
    return name


def validate_tag(tag: str) -> str:
    """Return `tag` or raise InvalidArgument (`[\\w][\\w.-]{0,127}`, ASCII)."""
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise InvalidArgument(
            f"invalid tag {shown(tag)}: want [A-Za-z0-9_][A-Za-z0-9_.-]*, at most {TAG_MAX} characters")
    return tag


def validate_digest(digest: str) -> str:
    """Return `digest` or raise InvalidArgument (`sha256:` and 64 lowercase hex digits)."""
    if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
        raise InvalidArgument(f"invalid digest {shown(digest)}: want sha256:<64 hex digits>")
    return digest
