"""Dockerfile instructions that change an image's config: `docker import -c`, `docker commit
-c` (`changes=` on POST /images/create and /commit), and the metadata steps of a build.

Semantics are dockerd's (builder/dockerfile `BuildFromConfig` and its dispatchers, buildkit's
parser), for the instructions a config can take:

    CMD, ENTRYPOINT   JSON array (exec form) or text (shell form: ["/bin/sh", "-c", text]);
                      an ENTRYPOINT clears Cmd unless a CMD with arguments came before it
                      in the same batch
    ENV               `k=v k2="v 2"` or the old `k value`; replaces by name, else appends
    LABEL             `k=v "k 2"="v 2"` or `k value`; merged by key
    EXPOSE            `80 443/tcp 53/udp 8000-8002`; tcp, udp or sctp, ports 1-65535
    VOLUME            JSON array or words; merged
    USER, WORKDIR     WORKDIR relative to the current one
    STOPSIGNAL        a signal name or number

ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR and STOPSIGNAL expand `$VAR`, `${VAR}`,
`${VAR:-word}` and `${VAR:+word}` from the config's Env as it was before the instruction
(so `ENV A=1 B=$A` sees the old A, as Docker); quotes and backslash escapes are removed.
ONBUILD and HEALTHCHECK are refused (this engine runs neither); any other instruction
(FROM, RUN, COPY, ...) is "X is not a valid change command", as dockerd says.

Interface (no Django; errors are InvalidArgument, a 400 with the message):

    apply(config, changes) -> dict          the whole batch: a new "config" section
    parse(text) -> list[Instruction]        a Dockerfile's lines: continuations, comments
    ConfigBuilder(config).apply(instr)      one instruction at a time (a build's metadata
                                            steps), `.config` the result, `.cmd_set`
    expand(word, env) -> str                one shell word: quotes removed, variables expanded
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .. import signals
from ..errors import InvalidArgument, shown
from ..spec import validate_cmd, validate_env, validate_labels, validate_user, validate_working_dir

CHANGE_INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "LABEL", "EXPOSE", "VOLUME", "USER", "WORKDIR",
                       "STOPSIGNAL")
REFUSED = {"ONBUILD": "ONBUILD triggers are not supported by this engine",
           "HEALTHCHECK": "HEALTHCHECK is not supported by this engine (no health checks are run)"}
DEFAULT_SHELL = ["/bin/sh", "-c"]
MAX_CHANGES = 1 << 20  # bytes of instructions in one batch
PROTOCOLS = ("tcp", "udp", "sctp")
PORT_RE = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?(?:/([A-Za-z]+))?")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BRACED_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])(.*))?", re.S)  # inside ${...}


class Instruction(NamedTuple):
    keyword: str  # upper case
    rest: str  # the text after the keyword, continuations joined


def parse(text: str) -> list[Instruction]:
    """The instructions of Dockerfile text: `\\` at a line's end continues it, `#` lines and
    blank lines are skipped (also inside a continuation, as buildkit)."""
    out: list[Instruction] = []
    pending = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1]
            continue
        out.append(_instruction(pending + line))
        pending = ""
    if pending.strip():
        out.append(_instruction(pending))
    return out


def _instruction(line: str) -> Instruction:
    word, _, rest = line.strip().partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    return Instruction(word.upper(), rest.strip())


def apply(config: Mapping[str, Any], changes: Iterable[str]) -> dict[str, Any]:
    """`config` (an image's "config" section, unchanged) with `changes` applied, in order;
    each change may hold several lines. The whole batch is checked before anything is
    applied: InvalidArgument names the first bad instruction."""
    changes = list(changes)
    if sum(len(c) for c in changes) > MAX_CHANGES:
        raise InvalidArgument("changes too large")
    instructions = parse("\n".join(changes))
    for ins in instructions:
        check_keyword(ins.keyword)
    builder = ConfigBuilder(config)
    for ins in instructions:
        builder.apply(ins)
    return builder.config


def check_keyword(keyword: str) -> None:
    """InvalidArgument unless `keyword` is one a config change may use."""
    if keyword in REFUSED:
        raise InvalidArgument(REFUSED[keyword])
    if keyword not in CHANGE_INSTRUCTIONS:
        raise InvalidArgument(f"{shown(keyword)} is not a valid change command")


class ConfigBuilder:
    """Applies instructions to a copy of a config section, one at a time."""

    def __init__(self, config: Mapping[str, Any]):
        self.config: dict[str, Any] = json.loads(json.dumps(dict(config)))  # a deep copy
        self.cmd_set = False  # a CMD with arguments was applied (ENTRYPOINT keeps Cmd then)

    def env(self) -> dict[str, str]:
        return dict(e.split("=", 1) if "=" in e else (e, "") for e in self.config.get("Env") or [])

    def apply(self, ins: Instruction) -> None:
        check_keyword(ins.keyword)
        getattr(self, "_" + ins.keyword.lower())(ins.rest)

    # -- the instructions -------------------------------------------------------------------
    def _cmd(self, rest: str) -> None:
        self.config["Cmd"] = _command(rest, "CMD", self.config.get("Shell"))
        if self.config["Cmd"]:
            self.cmd_set = True

    def _entrypoint(self, rest: str) -> None:
        self.config["Entrypoint"] = _command(rest, "ENTRYPOINT", self.config.get("Shell"))
        if not self.cmd_set:
            self.config.pop("Cmd", None)

    def _env(self, rest: str) -> None:
        env = list(self.config.get("Env") or [])
        for key, value in _pairs(rest, "ENV", self.env()):
            entry = f"{key}={value}"
            validate_env([entry])
            names = [e.split("=", 1)[0] for e in env]
            if key in names:
                env[names.index(key)] = entry
            else:
                env.append(entry)
        self.config["Env"] = env

    def _label(self, rest: str) -> None:
        labels = dict(self.config.get("Labels") or {})
        labels.update(_pairs(rest, "LABEL", self.env()))
        validate_labels(labels)
        self.config["Labels"] = labels

    def _expose(self, rest: str) -> None:
        words = [w for raw in _words(rest) for w in expand(raw, self.env()).split()]
        if not words:
            raise InvalidArgument("EXPOSE requires at least one argument")
        ports = dict(self.config.get("ExposedPorts") or {})
        for word in words:
            ports.update(dict.fromkeys(_port_spec(word), {}))
        self.config["ExposedPorts"] = ports

    def _volume(self, rest: str) -> None:
        listed = _json_list(rest)
        paths = listed if listed is not None else [expand(w, self.env()) for w in _words(rest)]
        if not paths:
            raise InvalidArgument("VOLUME requires at least one argument")
        volumes = dict(self.config.get("Volumes") or {})
        for path in paths:
            if not path:
                raise InvalidArgument("VOLUME specified can not be an empty string")
            validate_working_dir(path if path.startswith("/") else "/" + path)  # a path the kernel takes
            volumes[path] = {}
        self.config["Volumes"] = volumes

    def _user(self, rest: str) -> None:
        user = expand(_one(rest, "USER"), self.env())
        validate_user(user)
        self.config["User"] = user

    def _workdir(self, rest: str) -> None:
        path = expand(_one(rest, "WORKDIR"), self.env())
        if not path:
            raise InvalidArgument("WORKDIR requires a path")
        path = posixpath.normpath(posixpath.join("/", self.config.get("WorkingDir") or "/", path))
        validate_working_dir(path)
        self.config["WorkingDir"] = path

    def _stopsignal(self, rest: str) -> None:
        sig = expand(_one(rest, "STOPSIGNAL"), self.env())
        signals.parse(sig)
        self.config["StopSignal"] = sig


# -- words, quotes, variables ---------------------------------------------------------------
def _one(rest: str, keyword: str) -> str:
    if not rest.strip():
        raise InvalidArgument(f"{keyword} requires exactly one argument")
    return rest.strip()


def _json_list(rest: str) -> list[str] | None:
    """The JSON array of strings `rest` is, else None (then it is text, as Docker)."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def _command(rest: str, keyword: str, shell: Any) -> list[str]:
    listed = _json_list(rest)
    if listed is None:
        if not rest:
            raise InvalidArgument(f"{keyword} requires at least one argument")
        listed = [*(shell if isinstance(shell, list) and shell else DEFAULT_SHELL), rest]
    validate_cmd(listed, keyword)
    return listed


def _words(text: str) -> list[str]:
    """Whitespace-separated words; quotes and escapes kept (buildkit's parseWords)."""
    words, word, quote, i = [], "", "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "'" and i + 1 < len(text):
            word += text[i:i + 2]
            i += 2
            continue
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch.isspace():
            if word:
                words.append(word)
            word = ""
            i += 1
            continue
        word += ch
        i += 1
    if quote:
        raise InvalidArgument(f"unterminated quote in {shown(text)}")
    if word:
        words.append(word)
    return words


def _pairs(rest: str, keyword: str, env: dict[str, str]) -> list[tuple[str, str]]:
    """ENV/LABEL arguments: `k=v ...`, or the old `k value` (the rest of the line)."""
    words = _words(rest)
    if not words:
        raise InvalidArgument(f"{keyword} requires at least one argument")
    if "=" not in words[0]:
        parts = rest.strip().split(None, 1)
        if len(parts) < 2:
            raise InvalidArgument(f"{keyword} must have two arguments")
        pairs = [(parts[0], parts[1])]
    else:
        pairs = []
        for w in words:
            if "=" not in w:
                raise InvalidArgument(f"Syntax error - can't find = in {shown(w)}. "
                                      "Must be of the form: name=value")
            pairs.append(tuple(w.split("=", 1)))
    out = []
    for k, v in pairs:
        key = expand(k, env)
        if not key:
            raise InvalidArgument(f"{keyword} names can not be blank")
        out.append((key, expand(v, env)))
    return out


def expand(word: str, env: Mapping[str, str]) -> str:
    """One shell word as Docker's builder reads it: quotes removed, `\\` escapes, `$VAR`,
    `${VAR}`, `${VAR:-default}`, `${VAR:+alternative}` (unset variables are empty; none
    inside single quotes)."""
    out, quote, i = [], "", 0
    while i < len(word):
        ch = word[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                out.append(ch)
            i += 1
        elif ch == "\\" and i + 1 < len(word):
            nxt = word[i + 1]
            out.append(nxt if not quote or nxt in '"\\$' else ch + nxt)
            i += 2
        elif ch == '"':
            quote = "" if quote else '"'
            i += 1
        elif ch == "'" and not quote:
            quote = "'"
            i += 1
        elif ch == "$":
            value, i = _variable(word, i, env)
            out.append(value)
        else:
            out.append(ch)
            i += 1
    if quote:
        raise InvalidArgument(f"unterminated quote in {shown(word)}")
    return "".join(out)


def _variable(word: str, i: int, env: Mapping[str, str]) -> tuple[str, int]:
    """The value of the variable reference at word[i] ("$"), and the index after it."""
    if word.startswith("${", i):
        end = word.find("}", i)
        if end < 0:
            raise InvalidArgument(f"missing '}}' in {shown(word)}")
        ref = BRACED_RE.fullmatch(word, i + 2, end)
        if ref is None:
            raise InvalidArgument(f"bad substitution in {shown(word)}")
        name, op, arg = ref.groups()
        value = env.get(name, "")
        if op == ":-":
            value = value or expand(arg, env)
        elif op == ":+":
            value = expand(arg, env) if value else ""
        return value, end + 1
    m = NAME_RE.match(word, i + 1)
    if m is None:
        return "$", i + 1
    return env.get(m.group(), ""), m.end()


def _port_spec(word: str) -> list[str]:
    """EXPOSE's `port[-port][/proto]` as ExposedPorts keys ("80/tcp", ...)."""
    m = PORT_RE.fullmatch(word)
    if m is None:
        raise InvalidArgument(f"invalid containerPort: {shown(word)}")
    first, last, proto = int(m[1]), int(m[2] or m[1]), (m[3] or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {shown(m[3] or '')}")
    if not 1 <= first <= last <= 65535:
        raise InvalidArgument(f"invalid port range in {shown(word)}: ports are 1-65535")
    if last - first > 65535:
        raise InvalidArgument(f"invalid port range: {shown(word)}")
    return [f"{p}/{proto}" for p in range(first, last + 1)]
