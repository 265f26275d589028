"""Dockerfiles: parsing, and what each instruction does to an image config (the classic
builder's semantics, Docker 28). Pure functions on text and dicts: no filesystem, no
containers (the build service runs the steps; buildcontext.py copies files).

`parse(text)` gives the instructions (comments and blank lines dropped, line continuations
joined, `# escape=` honoured, keywords upper-cased, flags such as `--chown=` split off);
unknown instructions, a second FROM (multi-stage) and BuildKit-only flags are refused with
InvalidArgument naming the line. `Plan` walks them: ARG/ENV substitution as Docker's shell
lexer does it (`$V`, `${V}`, `${V:-w}`, `${V:+w}`, quotes, `\\` escapes), then
`Plan.step(instruction)` says what one instruction does: a new config only ("meta"), a
command to run in a container ("run") or files to copy ("copy"), with the history line
(`created_by`) that is also its cache key together with the parent image and the config.

`apply_config_line` is the same logic for one line outside a Dockerfile (commit/import
`changes`): CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, ONBUILD.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgument, shown

MAX_DOCKERFILE = 1 << 20  # bytes
DEFAULT_SHELL = ["/bin/sh", "-c"]
META = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR", "STOPSIGNAL",
        "ONBUILD", "MAINTAINER", "SHELL", "ARG")
KNOWN = ("FROM", "RUN", "COPY", "ADD", *META)
UNSUPPORTED = {"HEALTHCHECK": "HEALTHCHECK is not supported by this builder"}
EXPANDED = ("ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
            "ARG")
FLAGS = {"COPY": ("chown", "chmod", "from", "link", "parents", "exclude"),
         "ADD": ("chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"),
         "FROM": ("platform",), "RUN": ("mount", "network", "security")}
SUPPORTED_FLAGS = {"FROM": ("platform",), "COPY": ("chown",), "ADD": ("chown",)}
OWNER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?\Z")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PORT = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?\Z", re.IGNORECASE)
DIRECTIVE = re.compile(r"#\s*([A-Za-z]+)\s*=\s*(.*?)\s*\Z")


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # the rest of the line, continuations joined, flags removed
    flags: dict[str, str]
    line: int  # 1-based line where it starts
    original: str  # as written (continuations joined): what "Step N/M : ..." shows


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile; InvalidArgument naming the line for a bad one."""
    if len(text.encode("utf-8", "surrogateescape")) > MAX_DOCKERFILE:
        raise InvalidArgument(f"Dockerfile is larger than {MAX_DOCKERFILE} bytes")
    if "\x00" in text:
        raise InvalidArgument("Dockerfile must not contain NUL")
    lines = text.replace("\r\n", "\n").split("\n")
    escape = _escape_directive(lines)
    out: list[Instruction] = []
    i = 0
    while i < len(lines):
        start, line = i, lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [line]
        while _continues(parts[-1], escape):
            parts[-1] = parts[-1].rstrip()[:-1]
            while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                i += 1  # blank and comment lines inside a continuation are dropped
            if i >= len(lines):
                break
            parts.append(lines[i])
            i += 1
        joined = "".join(parts).strip()
        out.append(_instruction(joined, start + 1))
    if not out:
        raise InvalidArgument("the Dockerfile (Dockerfile) cannot be empty")
    _check_stages(out)
    return out


def _escape_directive(lines: list[str]) -> str:
    """The escape character from a leading `# escape=` directive (\\ by default)."""
    for line in lines:
        m = DIRECTIVE.match(line.strip())
        if not m:
            break
        if m.group(1).lower() == "escape":
            if m.group(2) not in ("\\", "`"):
                raise InvalidArgument(f"invalid escape token {shown(m.group(2))}: must be ` or \\")
            return m.group(2)
    return "\\"


def _continues(line: str, escape: str) -> bool:
    return line.rstrip().endswith(escape)


def _instruction(text: str, line: int) -> Instruction:
    word, _, rest = text.partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    keyword = word.upper()
    if keyword in UNSUPPORTED:
        raise InvalidArgument(f"Dockerfile line {line}: {UNSUPPORTED[keyword]}")
    if keyword not in KNOWN:
        raise InvalidArgument(f"Dockerfile parse error line {line}: unknown instruction: {shown(word)}")
    rest = rest.strip()
    flags: dict[str, str] = {}
    while rest.startswith("--") and keyword in FLAGS:
        token, _, after = rest.partition(" ")
        name, sep, value = token[2:].partition("=")
        if name not in FLAGS[keyword]:
            raise InvalidArgument(f"Dockerfile line {line}: unknown flag: --{shown(name)}")
        if name not in SUPPORTED_FLAGS.get(keyword, ()):
            raise InvalidArgument(f"Dockerfile line {line}: {keyword} --{name} is not supported by this "
                                  "builder (the classic builder)")
        flags[name] = value if sep else "true"
        rest = after.strip()
    if not rest and keyword not in ("CMD", "ENTRYPOINT"):
        raise InvalidArgument(f"Dockerfile line {line}: {keyword} requires at least one argument")
    return Instruction(keyword, rest, flags, line, text)


def _check_stages(instructions: list[Instruction]) -> None:
    """Only ARG may come before FROM; one FROM (multi-stage builds are refused)."""
    froms = [i for i in instructions if i.keyword == "FROM"]
    first = next(i for i in instructions if i.keyword != "ARG") if any(
        i.keyword != "ARG" for i in instructions) else None
    if first is None or first.keyword != "FROM":
        where = f" (line {first.line}: {first.keyword})" if first else ""
        raise InvalidArgument(f"no build stage in current context: the first instruction must be FROM{where}")
    if len(froms) > 1:
        raise InvalidArgument(f"Dockerfile line {froms[1].line}: multi-stage builds (a second FROM) are not "
                              "supported by this builder")


# ---- words: Docker's shell lexer ------------------------------------------------------------
def expand(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """One word: variables substituted, quotes and escapes removed (ProcessWord)."""
    words = _Lexer(text, env, escape, split=False).run()
    return words[0] if words else ""


def expand_words(text: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """Words split on unquoted whitespace, then each as `expand` (ProcessWords)."""
    return _Lexer(text, env, escape, split=True).run()


def split_words(text: str) -> list[str]:
    """Words split on unquoted whitespace, quotes kept (for KEY=VALUE lists)."""
    out: list[str] = []
    cur = ""
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur += ch
            if ch == "\\" and quote == '"' and i + 1 < len(text):
                cur += text[i + 1]
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch == "\\" and i + 1 < len(text):
            cur += ch + text[i + 1]
            i += 1
        elif ch.isspace():
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    if quote:
        raise InvalidArgument(f"unexpected end of statement while looking for matching {quote}")
    if cur:
        out.append(cur)
    return out


class _Lexer:
    def __init__(self, text: str, env: dict[str, str], escape: str, split: bool):
        self.text, self.env, self.escape, self.split = text, env, escape, split
        self.pos = 0
        self.words: list[str] = []
        self.cur: list[str] = []
        self.started = False

    def run(self) -> list[str]:
        self._until("")
        self._flush()
        return self.words

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _next(self) -> str:
        ch = self._peek()
        self.pos += 1
        return ch

    def _add(self, s: str) -> None:
        self.cur.append(s)
        self.started = True

    def _flush(self) -> None:
        if self.started:
            self.words.append("".join(self.cur))
        self.cur, self.started = [], False

    def _add_unquoted(self, value: str) -> None:
        if not self.split:
            self._add(value)
            return
        for ch in value:
            if ch.isspace():
                self._flush()
            else:
                self._add(ch)

    def _until(self, stop: str) -> None:
        while self.pos < len(self.text):
            ch = self._peek()
            if stop and ch == stop:
                return
            self.pos += 1
            if ch == self.escape:
                nxt = self._next()
                self._add(nxt if nxt else ch)
            elif ch == "'":
                self._single()
            elif ch == '"':
                self._double()
            elif ch == "$":
                self._add_unquoted(self._dollar())
            elif ch.isspace() and self.split and not stop:
                self._flush()
            else:
                self._add(ch)

    def _single(self) -> None:
        self.started = True
        end = self.text.find("'", self.pos)
        if end < 0:
            raise InvalidArgument("unexpected end of statement while looking for matching '")
        self._add(self.text[self.pos:end])
        self.pos = end + 1

    def _double(self) -> None:
        self.started = True
        while True:
            if self.pos >= len(self.text):
                raise InvalidArgument('unexpected end of statement while looking for matching "')
            ch = self._next()
            if ch == '"':
                return
            if ch == self.escape and self._peek() in ('"', "$", self.escape):
                self._add(self._next())
            elif ch == "$":
                self._add(self._dollar())
            else:
                self._add(ch)

    def _dollar(self) -> str:
        ch = self._peek()
        if ch == "{":
            self.pos += 1
            return self._braced()
        m = NAME.match(self.text, self.pos)
        if not m:
            if ch.isdigit():
                self.pos += 1
                return ""
            return "$"
        self.pos = m.end()
        return self.env.get(m.group(0), "")

    def _braced(self) -> str:
        m = NAME.match(self.text, self.pos)
        if not m:
            raise InvalidArgument(f"bad substitution in {shown(self.text)}")
        name = m.group(0)
        self.pos = m.end()
        ch = self._next()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self._next()
        if ch not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier ({ch}) in substitution in {shown(self.text)}")
        sub = _Lexer(self.text, self.env, self.escape, split=False)
        sub.pos = self.pos
        sub._until("}")
        if sub._next() != "}":
            raise InvalidArgument(f"missing '}}' in {shown(self.text)}")
        self.pos = sub.pos
        word = "".join(sub.cur)
        set_ = name in self.env and (not colon or self.env[name] != "")
        if ch == "-":
            return self.env[name] if set_ else word
        if ch == "+":
            return word if set_ else ""
        if not set_:
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
        return self.env[name]


# ---- instruction semantics -------------------------------------------------------------------
@dataclass(frozen=True)
class CopySpec:
    sources: list[str]  # as written (context-relative, maybe with wildcards)
    dest: str  # absolute in the image, "/" ended when it must be a directory
    add: bool  # ADD: local tar archives are extracted
    chown: str = ""  # --chown=user[:group] (names resolved in the image), "" = root


@dataclass(frozen=True)
class Step:
    """What one instruction does. kind "meta": `config` is the new config section;
    "run": run `argv` with `env` added (build args) in a container of the current image;
    "copy": copy `copy` into it. `created_by` is its history line (and cache key)."""

    kind: str
    created_by: str
    config: dict[str, Any]
    argv: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    copy: CopySpec | None = None
    author: str = ""


class Plan:
    """The state of a build between instructions: the image config, declared ARGs, the
    shell. `build_args` are the client's --build-arg values."""

    def __init__(self, build_args: dict[str, str | None] | None = None, escape: str = "\\"):
        self.build_args = dict(build_args or {})
        self.used_args: set[str] = set()
        self.meta_args: dict[str, str] = {}
        self.args: dict[str, str | None] = {}
        self.config: dict[str, Any] = {}
        self.cmd_set = False
        self.escape = escape

    # -- FROM and what comes before it --
    def meta_arg(self, ins: Instruction) -> None:
        """An ARG before FROM: usable in FROM only (unless declared again after it)."""
        name, value = self._arg(ins, dict(self.meta_args))
        if value is not None:
            self.meta_args[name] = value

    def base_image(self, ins: Instruction) -> str:
        """The image FROM names (ARGs before it substituted); `AS name` allowed and ignored."""
        words = expand_words(ins.args, self.meta_args, self.escape)
        if len(words) == 3 and words[1].lower() == "as":
            words = words[:1]
        if len(words) != 1:
            raise InvalidArgument(f"Dockerfile line {ins.line}: FROM requires one argument (an image), "
                                  "optionally followed by AS name")
        if ins.flags.get("platform") not in (None, "linux/amd64", "linux"):
            raise InvalidArgument(f"Dockerfile line {ins.line}: only platform linux/amd64 is available")
        if words[0] == "scratch":
            raise _bad(ins, "FROM scratch is not supported by this builder")
        return words[0]

    def start(self, config: dict[str, Any]) -> None:
        """The base image's config section."""
        self.config = json.loads(json.dumps(config or {}))

    # -- the environment words are expanded in --
    def env(self) -> dict[str, str]:
        out = {k: v for k, v in self.args.items() if v is not None}
        for item in self.config.get("Env") or []:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    def shell(self) -> list[str]:
        return list(self.config.get("Shell") or DEFAULT_SHELL)

    def unused_args(self) -> list[str]:
        return sorted(set(self.build_args) - self.used_args - set(self.meta_args))

    def _arg(self, ins: Instruction, env: dict[str, str]) -> tuple[str, str | None]:
        words = split_words(ins.args)
        if len(words) != 1:
            raise InvalidArgument(f"Dockerfile line {ins.line}: ARG requires exactly one argument")
        name, sep, default = words[0].partition("=")
        if not NAME.fullmatch(name):
            raise InvalidArgument(f"Dockerfile line {ins.line}: invalid ARG name {shown(name)}")
        value: str | None = expand(default, env, self.escape) if sep else None
        if name in self.build_args:
            self.used_args.add(name)
            if self.build_args[name] is not None:
                value = self.build_args[name]
        return name, value

    # -- one instruction after FROM --
    def step(self, ins: Instruction) -> Step:
        """What `ins` does; the plan moves on to the config it leaves."""
        kw = ins.keyword
        if kw == "FROM":
            raise InvalidArgument(f"Dockerfile line {ins.line}: FROM is only allowed once")
        if kw == "RUN":
            return self._run(ins)
        if kw in ("COPY", "ADD"):
            return self._copy(ins)
        if kw == "ARG":
            name, value = self._arg(ins, self.env())
            self.args[name] = value
            shown_arg = f"{name}={value}" if value is not None else name
            return self._meta(f"ARG {shown_arg}", {})
        if kw == "MAINTAINER":
            return Step("meta", self._nop(f"MAINTAINER {ins.args}"), dict(self.config), author=ins.args)
        env = self.env() if kw in EXPANDED else None
        changes = config_changes(kw, ins.args, self.config, env, self.escape, cmd_set=self.cmd_set)
        if kw == "CMD":
            self.cmd_set = True
        text = _shown_changes(kw, changes, ins.args)
        if kw == "ENV":  # as Docker's history shows it: the values substituted
            text = " ".join(f"{k}={v}" for k, v in name_values(kw, ins.args, env or {}, self.escape))
        return self._meta(f"{kw} {text}", changes)

    def _meta(self, text: str, changes: dict[str, Any]) -> Step:
        for key, value in changes.items():
            if value is None:
                self.config.pop(key, None)
            else:
                self.config[key] = value
        return Step("meta", self._nop(text), dict(self.config))

    def _nop(self, text: str) -> str:
        return " ".join([*self.shell(), "#(nop) ", text])

    def _arg_env(self) -> list[str]:
        """Build args in force as KEY=VALUE, those the config's Env does not set."""
        env_names = {e.partition("=")[0] for e in self.config.get("Env") or []}
        return [f"{k}={v}" for k, v in sorted(self.args.items()) if v is not None and k not in env_names]

    def _run(self, ins: Instruction) -> Step:
        argv = exec_form(ins.args)
        if argv is None:
            argv = [*self.shell(), ins.args]
        if not argv:
            raise InvalidArgument(f"Dockerfile line {ins.line}: RUN needs a command")
        env = self._arg_env()
        prefix = [f"|{len(env)}", *env] if env else []
        return Step("run", " ".join([*prefix, *argv]), dict(self.config), argv=argv, env=env)

    def _copy(self, ins: Instruction) -> Step:
        words = exec_form(ins.args)
        env = self.env()
        if words is not None:
            words = [expand(w, env, self.escape) for w in words]
        else:
            words = expand_words(ins.args, env, self.escape)
        if len(words) < 2:
            raise _bad(ins, f"{ins.keyword} requires at least two arguments")
        *sources, dest = words
        for src in sources:
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", src) or src.startswith("git@"):
                if ins.keyword == "ADD":
                    raise _bad(ins, f"ADD from a remote URL ({shown(src)}) is not supported: this builder "
                                    "fetches nothing from the network; download it into the build context "
                                    "and COPY or ADD it from there")
                raise _bad(ins, f"COPY cannot copy from a URL ({shown(src)})")
        workdir = self.config.get("WorkingDir") or "/"
        slash = dest.endswith("/") or dest.endswith("/.") or dest in (".", "..")
        dest = posixpath.normpath(posixpath.join(workdir, dest))
        if slash and not dest.endswith("/"):
            dest += "/"
        if len(sources) > 1 and not dest.endswith("/"):
            raise InvalidArgument(f"Dockerfile line {ins.line}: When using {ins.keyword} with more than one "
                                  "source file, the destination must be a directory and end with a /")
        chown = expand(ins.flags.get("chown", ""), env, self.escape)
        if chown and not OWNER.match(chown):
            raise _bad(ins, f"invalid --chown {shown(chown)}: use user, uid, user:group or uid:gid")
        return Step("copy", "", dict(self.config), copy=CopySpec(sources, dest, ins.keyword == "ADD", chown))

    def copy_created_by(self, ins: Instruction, digest: str, kind: str) -> str:
        """The history line of a COPY/ADD once its sources' digest is known."""
        assert ins.keyword in ("COPY", "ADD")
        step_dest = self._copy(ins).copy
        assert step_dest is not None
        chown = f"--chown={step_dest.chown} " if step_dest.chown else ""
        return " ".join([*self.shell(), f"#(nop) {ins.keyword} {chown}{kind}:{digest} in {step_dest.dest} "])


def _bad(ins: Instruction, message: str) -> InvalidArgument:
    return InvalidArgument(f"Dockerfile line {ins.line}: {message}")


def exec_form(args: str) -> list[str] | None:
    """The JSON array form of RUN/CMD/ENTRYPOINT/COPY/VOLUME, or None when not JSON."""
    text = args.strip()
    if not text.startswith("["):
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, list) or not all(isinstance(x, str) for x in doc):
        return None
    return doc


def config_changes(keyword: str, args: str, config: dict[str, Any], env: dict[str, str] | None,
                   escape: str = "\\", *, cmd_set: bool = True) -> dict[str, Any]:
    """The config keys one instruction sets (None: removed), given the config so far and
    the environment words are expanded in (None: no expansion). The one place that knows
    what CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, ONBUILD and
    SHELL mean for an image config. `cmd_set`: a CMD came earlier in the same Dockerfile
    (else ENTRYPOINT clears the inherited Cmd, as Docker does)."""
    kw = keyword.upper()
    words_env = env or {}
    shell = list(config.get("Shell") or DEFAULT_SHELL)
    if kw in ("CMD", "ENTRYPOINT"):
        argv = exec_form(args)
        if argv is None:
            argv = [*shell, args] if args.strip() else []
        key = "Cmd" if kw == "CMD" else "Entrypoint"
        out: dict[str, Any] = {key: argv or None}
        if kw == "ENTRYPOINT" and not cmd_set:
            out["Cmd"] = None
        return out
    if kw in ("ENV", "LABEL"):
        pairs = name_values(kw, args, words_env, escape)
        if kw == "LABEL":
            return {"Labels": {**(config.get("Labels") or {}), **dict(pairs)}}
        env_list = list(config.get("Env") or [])
        for k, v in pairs:
            env_list = [e for e in env_list if e.partition("=")[0] != k] + [f"{k}={v}"]
        return {"Env": env_list}
    if kw == "EXPOSE":
        ports = dict(config.get("ExposedPorts") or {})
        for word in expand_words(args, words_env, escape):
            for port in _ports(word):
                ports[port] = {}
        return {"ExposedPorts": ports}
    if kw == "VOLUME":
        paths = exec_form(args)
        paths = [expand(p, words_env, escape) for p in paths] if paths is not None else expand_words(
            args, words_env, escape)
        vols = dict(config.get("Volumes") or {})
        for p in paths:
            if not p.strip():
                raise InvalidArgument("VOLUME specified can not be an empty string")
            vols[p] = {}
        return {"Volumes": vols}
    if kw == "WORKDIR":
        path = expand(args, words_env, escape) if env is not None else args.strip()
        return {"WorkingDir": posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", path))}
    if kw == "USER":
        user = expand(args, words_env, escape) if env is not None else args.strip()
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?", user):
            raise InvalidArgument(f"invalid USER {shown(user)}: use name, uid, name:group or uid:gid")
        return {"User": user}
    if kw == "STOPSIGNAL":
        return {"StopSignal": expand(args, words_env, escape) if env is not None else args.strip()}
    if kw == "ONBUILD":
        trigger = args.strip()
        first = trigger.split(None, 1)[0].upper() if trigger else ""
        if first in ("ONBUILD", "FROM", "MAINTAINER", ""):
            raise InvalidArgument(f"{first or 'an empty'} isn't allowed as an ONBUILD trigger")
        return {"OnBuild": [*(config.get("OnBuild") or []), trigger]}
    if kw == "SHELL":
        argv = exec_form(args)
        if not argv:
            raise InvalidArgument("SHELL requires the arguments to be in JSON form")
        return {"Shell": argv}
    raise InvalidArgument(f"{kw} is not a valid change command")


def name_values(keyword: str, args: str, env: dict[str, str], escape: str = "\\") -> list[tuple[str, str]]:
    """ENV/LABEL/ARG pairs: `K=V K2="V 2"`, or the legacy `K V W` (value: the rest)."""
    words = split_words(args)
    if not words:
        raise InvalidArgument(f"{keyword} requires at least one argument")
    if "=" not in words[0]:
        if len(words) < 2:
            raise InvalidArgument(f"{keyword} {words[0]} must have two arguments")
        name = expand(words[0], env, escape)
        value = expand(args.strip()[len(words[0]):].strip(), env, escape)
        pairs = [(name, value)]
    else:
        pairs = []
        for word in words:
            if "=" not in word:
                raise InvalidArgument(f"{keyword} names can not be blank: {shown(word)} has no '='")
            text = expand(word, env, escape)
            k, _, v = text.partition("=")
            pairs.append((k, v))
    for k, v in pairs:
        if not k:
            raise InvalidArgument(f"{keyword} names can not be blank")
        if keyword == "ENV" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", k):
            raise InvalidArgument(f"invalid ENV name {shown(k)}")
        if any(c in v for c in "\n\r\x00") or any(c in k for c in "\n\r\x00"):
            raise InvalidArgument(f"{keyword} {shown(k)} must not contain newline or NUL")
    return pairs


def _ports(word: str) -> list[str]:
    m = PORT.match(word)
    if not m:
        raise InvalidArgument(f"invalid containerPort: {shown(word)}")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    proto = (m.group(3) or "tcp").lower()
    if not 1 <= lo <= hi <= 65535 or hi - lo > 1024:
        raise InvalidArgument(f"invalid port range: {shown(word)}")
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]


def _shown_changes(kw: str, changes: dict[str, Any], args: str) -> str:
    """The instruction as the history shows it: JSON forms as Docker prints its slices."""
    if kw in ("CMD", "ENTRYPOINT", "SHELL"):
        value = changes.get({"CMD": "Cmd", "ENTRYPOINT": "Entrypoint", "SHELL": "Shell"}[kw]) or []
        return "[" + " ".join(json.dumps(a) for a in value) + "]"
    if kw == "WORKDIR":
        return changes["WorkingDir"]
    if kw == "USER":
        return changes["User"]
    return args.strip()


def apply_config_line(config: dict[str, Any], line: str) -> dict[str, Any]:
    """`config` (an image's config section) with one Dockerfile instruction applied, for
    commit/import `changes` lines; InvalidArgument for anything else."""
    keyword, _, args = line.strip().partition(" ")
    keyword = keyword.upper()
    if keyword not in META or keyword in ("ARG", "MAINTAINER"):
        raise InvalidArgument(f"{keyword or 'an empty line'} is not a valid change command")
    env = {k: v for k, _, v in (e.partition("=") for e in config.get("Env") or [])}
    out = dict(config)
    for key, value in config_changes(keyword, args, config, env).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out
