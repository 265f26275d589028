""".dockerignore: Docker's patterns (moby/patternmatcher), exactly its semantics.

A line is a pattern relative to the context root (a leading "/" and "./" mean nothing,
the path is cleaned as Go's filepath.Clean does); `#` at the start of a line is a comment,
blank lines are skipped, `!` makes an exception. Matching is Go's filepath.Match plus `**`:
`*` any run of non-"/" characters, `?` one non-"/" character, `[...]` a class (`[^...]`
negated), `\\` escapes the next character, `**` any number of directories (also none).
A path is excluded when the last pattern that matches it, or one of its parent
directories, is not an exception (MatchesOrParentMatches). Pure functions.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from ..errors import InvalidArgument, shown

MAX_PATTERNS = 10_000


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool  # a "!" exception
    regex: re.Pattern[str]


def parse(text: str) -> list[Pattern]:
    """The patterns of a .dockerignore file; InvalidArgument for a malformed one."""
    out: list[Pattern] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if not line:
            continue
        line = posixpath.normpath(line)
        if line.startswith("/") and len(line) > 1:
            line = line.lstrip("/")
        if line == ".":
            continue
        out.append(Pattern(line, exclusion, _compile(line)))
        if len(out) > MAX_PATTERNS:
            raise InvalidArgument(f".dockerignore has more than {MAX_PATTERNS} patterns")
    return out


def _compile(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match pattern (with `**`) as a regular expression."""
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(re.escape("\\"))
        elif ch == "[":
            end = pattern.find("]", i + 1 if i < n and pattern[i] in "^!" else i)
            if end < 0:
                raise InvalidArgument(f"invalid .dockerignore pattern {shown(pattern)}: unclosed [")
            body = pattern[i:end]
            i = end + 1
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
        else:
            out.append(re.escape(ch))
    out.append("$")
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as e:
        raise InvalidArgument(f"invalid .dockerignore pattern {shown(pattern)}: {e}") from None


def excluded(patterns: list[Pattern], path: str) -> bool:
    """Whether `path` (relative to the context root, "/"-separated) is left out."""
    path = posixpath.normpath(path).lstrip("/")
    parent = posixpath.dirname(path)
    parents = parent.split("/") if parent else []
    matched = False
    for p in patterns:
        if p.exclusion != matched:
            continue
        hit = bool(p.regex.match(path))
        if not hit and parents:
            hit = any(p.regex.match("/".join(parents[: i + 1])) for i in range(len(parents)))
        if hit:
            matched = not p.exclusion
    return matched
