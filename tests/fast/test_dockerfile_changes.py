"""engine/image/dockerfile_changes.py: dockerd's semantics for `import -c` / `commit -c`."""

from __future__ import annotations

import pytest

from containers.engine.errors import InvalidArgument
from containers.engine.image.dockerfile_changes import ConfigBuilder, apply, expand, parse

BASE = {"Env": ["PATH=/bin"], "Cmd": ["sh"]}


def test_each_instruction():
    got = apply(BASE, ['CMD ["echo","hi"]', "ENV A=B C=d", "WORKDIR /srv", "WORKDIR sub", "USER nobody",
                       "EXPOSE 80/tcp 53/udp 8000-8001", 'LABEL a=b "c d"="e f"', "VOLUME /data",
                       'VOLUME ["/x", "/y"]', "ENTRYPOINT []", "STOPSIGNAL SIGTERM", "ENV OLD some value"])
    assert got == {"Env": ["PATH=/bin", "A=B", "C=d", "OLD=some value"], "Cmd": ["echo", "hi"],
                   "WorkingDir": "/srv/sub", "User": "nobody",
                   "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}},
                   "Labels": {"a": "b", "c d": "e f"}, "Volumes": {"/data": {}, "/x": {}, "/y": {}},
                   "Entrypoint": [], "StopSignal": "SIGTERM"}
    assert BASE == {"Env": ["PATH=/bin"], "Cmd": ["sh"]}  # not changed in place


def test_shell_form_and_entrypoint_clearing_cmd():
    assert apply(BASE, ["CMD echo $A"])["Cmd"] == ["/bin/sh", "-c", "echo $A"]  # no expansion in CMD
    assert "Cmd" not in apply(BASE, ['ENTRYPOINT ["/x"]'])  # as a Dockerfile ENTRYPOINT
    assert apply(BASE, ["CMD x", 'ENTRYPOINT ["/x"]'])["Cmd"] == ["/bin/sh", "-c", "x"]
    assert apply(BASE, ['CMD ["unterminated'])["Cmd"] == ["/bin/sh", "-c", '["unterminated']  # text


def test_variables_from_the_env_before_the_instruction():
    got = apply(BASE, ["ENV A=1", "ENV A=2 B=$A C=${A}x D=${Z:-def} E=${A:+alt} F='$A' G=\"q $A\""])
    assert got["Env"][1:] == ["A=2", "B=1", "C=1x", "D=def", "E=alt", "F=$A", "G=q 1"]
    assert apply(BASE, ["ENV P=/srv", "WORKDIR $P/app", "USER ${U:-daemon}"])["WorkingDir"] == "/srv/app"
    assert expand(r'a\ b"c d"', {}) == "a bc d"


def test_continuations_and_comments():
    assert parse("CMD a \\\n b\n# note\n\nlabel x=y") == [("CMD", "a  b"), ("LABEL", "x=y")]


@pytest.mark.parametrize("change, words", [
    ("FROM x", "not a valid change command"), ("RUN echo", "RUN"), ("ADD a b", "ADD"),
    ("ONBUILD RUN x", "ONBUILD"), ("HEALTHCHECK NONE", "HEALTHCHECK"),
    ("ENV", "at least one argument"), ("ENV =x", "blank"), ("LABEL novalue", "two arguments"),
    ("LABEL a=b c", "can't find ="), ("EXPOSE 99999", "1-65535"), ("EXPOSE 80/foo", "proto"),
    ("EXPOSE x", "invalid containerPort"), ("STOPSIGNAL NOPE", "invalid signal"),
    ("USER a:b:c", "invalid user"), ("VOLUME []", "at least one argument"), ('VOLUME [""]', "empty"),
    ('ENV A="x', "unterminated"), ("ENV A=${B", "}"), ("ENV A=${B!}", "bad substitution"),
    ("ENV 1A=x", "env entry"), ("WORKDIR", "one argument"),
])
def test_bad_changes_are_refused_with_a_message(change, words):
    with pytest.raises(InvalidArgument) as e:
        apply(BASE, ["ENV OK=1", change])
    assert words in e.value.message


def test_builder_one_instruction_at_a_time():
    b = ConfigBuilder({})
    for ins in parse("CMD [\"a\"]\nENTRYPOINT [\"/e\"]"):
        b.apply(ins)
    assert b.config == {"Cmd": ["a"], "Entrypoint": ["/e"]} and b.cmd_set
