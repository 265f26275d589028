"""Dockerfile parsing, Docker's word expansion and .dockerignore patterns (pure functions)."""

from __future__ import annotations

import pytest

from containers.engine.errors import InvalidArgument
from containers.engine.image import dockerfile, dockerignore


def test_parse_continuations_comments_and_escape_directive():
    text = ("# escape=`\nFROM busybox\nRUN echo a `\n  # a comment inside\n\n  && echo b\n\n# done\n"
            "CMD [\"sh\"]\n")
    ins = dockerfile.parse(text)
    assert [i.keyword for i in ins] == ["FROM", "RUN", "CMD"]
    assert ins[1].args == "echo a   && echo b" and ins[1].line == 3
    lower = dockerfile.parse("from busybox\nrun true\n")
    assert [i.keyword for i in lower] == ["FROM", "RUN"]


@pytest.mark.parametrize(("text", "message"), [
    ("FROM busybox\nFOO bar\n", "unknown instruction"),
    ("", "cannot be empty"),
    ("RUN true\n", "must be FROM"),
    ("FROM a\nFROM b\n", "multi-stage"),
    ("FROM busybox\nCOPY --chmod=755 a b\n", "not supported"),
    ("FROM busybox\nRUN --mount=type=cache,target=/x true\n", "not supported"),
    ("FROM busybox\nCOPY --bogus a b\n", "unknown flag"),
    ("FROM busybox\nHEALTHCHECK NONE\n", "HEALTHCHECK"),
    ("FROM busybox\nWORKDIR\n", "requires at least one argument"),
    ("FROM busybox\x00\n", "NUL"),
])
def test_parse_refusals(text, message):
    with pytest.raises(InvalidArgument, match=message):
        dockerfile.parse(text)


def test_expand_like_dockers_shell_lexer():
    env = {"A": "x", "E": "", "S": "two words"}
    assert dockerfile.expand("$A${A}_${A:-d}${B:-d}${E:-d}${E-d}${A:+y}${B:+y}", env) == "xx_xdd" + "y"
    assert dockerfile.expand("'$A' \"$A\" \\$A", env) == "$A x $A"
    assert dockerfile.expand_words('a "b c" $S', env) == ["a", "b c", "two", "words"]
    assert dockerfile.expand_words('"$S"', env) == ["two words"]
    with pytest.raises(InvalidArgument):
        dockerfile.expand("${A", env)
    with pytest.raises(InvalidArgument, match="B: must be set"):
        dockerfile.expand("${B:?must be set}", env)


def _plan(text: str, args=None, base=None):
    ins = dockerfile.parse(text)
    plan = dockerfile.Plan(args)
    while ins[0].keyword == "ARG":
        plan.meta_arg(ins.pop(0))
    image = plan.base_image(ins.pop(0))
    plan.start(base or {"Env": ["PATH=/bin"], "Cmd": ["sh"]})
    return image, plan, [plan.step(i) for i in ins]


def test_plan_config_and_history_lines():
    image, plan, steps = _plan(
        "ARG TAG=latest\nFROM busybox:$TAG\nARG V=1\nENV A=1 B=\"x y\"\nENV C $A-$V\nWORKDIR /app\n"
        "WORKDIR sub\nUSER 1000\nEXPOSE 80 53/udp 8000-8001\nLABEL k=v \"a b\"=c\nVOLUME /d /e\n"
        "ENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD echo hi\nSTOPSIGNAL SIGINT\nRUN echo $V\n",
        args={"V": "7", "UNUSED": "u"})
    assert image == "busybox:latest"
    c = plan.config
    assert c["Env"] == ["PATH=/bin", "A=1", "B=x y", "C=1-7"]
    assert c["WorkingDir"] == "/app/sub" and c["User"] == "1000" and c["StopSignal"] == "SIGINT"
    assert set(c["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert c["Labels"] == {"k": "v", "a b": "c"} and c["Volumes"] == {"/d": {}, "/e": {}}
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    run = steps[-1]
    assert run.kind == "run" and run.argv == ["/bin/sh", "-c", "echo $V"] and run.env == ["V=7"]
    assert run.created_by == "|1 V=7 /bin/sh -c echo $V"
    assert steps[1].created_by == "/bin/sh -c #(nop)  ENV A=1 B=x y"
    assert plan.unused_args() == ["UNUSED"]


def test_entrypoint_clears_an_inherited_cmd_only():
    _, plan, _ = _plan("FROM b\nENTRYPOINT [\"x\"]\n")
    assert "Cmd" not in plan.config
    _, plan, _ = _plan("FROM b\nCMD [\"y\"]\nENTRYPOINT [\"x\"]\n")
    assert plan.config["Cmd"] == ["y"]


def test_copy_destinations_and_refusals():
    _, _, steps = _plan("FROM b\nWORKDIR /w\nCOPY a .\nCOPY a b/\nCOPY [\"a b\", \"/c d\"]\nADD x.tar /opt\n")
    assert [(s.copy.sources, s.copy.dest, s.copy.add) for s in steps[1:]] == [
        (["a"], "/w/", False), (["a"], "/w/b/", False), (["a b"], "/c d", False), (["x.tar"], "/opt", True)]
    for text, message in (("ADD http://example.invalid/a /", "remote URL"),
                          ("COPY a b c", "must be a directory"), ("COPY a", "at least two")):
        with pytest.raises(InvalidArgument, match=message):
            _plan(f"FROM b\n{text}\n")
    with pytest.raises(InvalidArgument, match="scratch"):
        _plan("FROM scratch\n")


def test_apply_config_line_for_commit_changes():
    cfg = {"Env": ["PATH=/bin"], "Cmd": ["sh"]}
    cfg = dockerfile.apply_config_line(cfg, "ENV X=$PATH:/x")
    cfg = dockerfile.apply_config_line(cfg, "CMD [\"echo\", \"hi\"]")
    cfg = dockerfile.apply_config_line(cfg, "EXPOSE 80")
    assert cfg == {"Env": ["PATH=/bin", "X=/bin:/x"], "Cmd": ["echo", "hi"], "ExposedPorts": {"80/tcp": {}}}
    with pytest.raises(InvalidArgument):
        dockerfile.apply_config_line(cfg, "RUN true")


@pytest.mark.parametrize(("patterns", "path", "out"), [
    ("secret.txt", "secret.txt", True),
    ("secret.txt", "sub/secret.txt", False),  # relative to the root, not gitignore's any depth
    ("*.md", "a.md", True),
    ("*.md", "docs/a.md", False),
    ("**/*.md", "docs/deep/a.md", True),
    ("**/*.md", "a.md", True),
    ("logs", "logs/a/b.log", True),  # a parent directory matches
    ("logs\n!logs/keep.log", "logs/keep.log", False),
    ("logs\n!logs/keep.log", "logs/other.log", True),
    ("/abs/./x/../y", "abs/y", True),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("[a-c]x", "bx", True),
    ("[^a-c]x", "bx", False),
    ("\\*x", "*x", True),
    ("\\*x", "ax", False),
    ("# comment\n\n  spaced.txt  ", "spaced.txt", True),
    ("docs/**", "docs/a/b", True),
    ("*\n!keep", "keep", False),
])
def test_dockerignore_semantics(patterns, path, out):
    assert dockerignore.excluded(dockerignore.parse(patterns), path) is out


def test_dockerignore_bad_pattern():
    with pytest.raises(InvalidArgument, match="unclosed"):
        dockerignore.parse("[abc\n")
