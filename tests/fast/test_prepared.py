"""containers/prepared.py: a query compiled once gives the rows the ORM gives, on every
later run with other parameters, and falls back to the ORM where it cannot be prepared."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from knox.models import AuthToken

from containers import lookup, tokens
from containers.models import Container, Image
from containers.prepared import Prepared


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.fixture
def rows(db):
    img = Image.objects.create(id="a" * 64)
    alice = User.objects.create_user("alice", password="pw-alice-1")
    made = [Container.objects.create(id=c * 64, name=f"n{c}", image=img, image_ref="busybox",
                                     spec={"cmd": ["true"], "n": i}, hostname="h", host="here",
                                     owner=alice if i else None, oom_killed=bool(i))
            for i, c in enumerate("bcd")]
    return alice, made


def test_every_run_gives_the_orms_rows(rows, django_assert_num_queries):
    alice, made = rows
    by_name = Prepared(Container, lambda owner, name: Container.objects.filter(owner=owner, name=name))
    for c in made[1:] * 2:  # the first run compiles, the others reuse it
        with django_assert_num_queries(1):
            got = by_name(alice.pk, c.name)
        want = list(Container.objects.filter(owner=alice.pk, name=c.name))
        assert [_fields(x) for x in got] == [_fields(x) for x in want] and got[0].spec == c.spec
        assert got[0].created.tzinfo is not None and got[0].oom_killed is True
    assert by_name(alice.pk, "nb") == []  # the system's, not alice's


def test_select_related_models_are_built(rows, django_assert_num_queries):
    alice, _ = rows
    token, key = tokens.issue(alice)
    AuthToken.objects.create(user=User.objects.create_user("bob", password="pw-bob-12"), expiry=None)
    for _ in range(2):
        with django_assert_num_queries(1):
            found = tokens._ROWS(key[:15])
            assert [(t.digest, t.user.username) for t in found] == [(token.digest, "alice")]
    wrong = key[:-1] + ("1" if key[-1] == "0" else "0")
    assert tokens.user_for_key(key) == alice and tokens.user_for_key(wrong) is None


def test_lookup_by_id_and_name_as_before(rows):
    alice, made = rows
    for user, seen in ((None, made), (alice, made[1:])):
        for c in made:
            for ref in (c.id, c.name):
                if c in seen:
                    assert lookup.container(ref, user).pk == c.pk
                else:
                    with pytest.raises(lookup.NotFound):
                        lookup.container(ref, user)


def test_what_cannot_be_prepared_runs_through_the_orm(rows):
    alice, made = rows
    swapped = Prepared(Container, lambda name, owner: Container.objects.filter(owner=owner, name=name))
    assert [c.pk for c in swapped("nc", alice.pk)] == [made[1].pk]  # params in another order
    assert [c.pk for c in swapped("nd", alice.pk)] == [made[2].pk]
    same = Prepared(Container, lambda a, b: Container.objects.filter(name=a, hostname=b))
    assert same("h", "h") == []  # repeated values: not compiled from this call
    assert [c.pk for c in same("nc", "h")] == [made[1].pk]
    nullable = Prepared(Container, lambda owner, name: Container.objects.filter(owner=owner, name=name))
    assert [c.pk for c in nullable(None, "nb")] == [made[0].pk]  # IS NULL: the ORM's own
    assert [c.pk for c in nullable(alice.pk, "nc")] == [made[1].pk]
    assert [c.pk for c in nullable(None, "nb")] == [made[0].pk]


def test_tags_as_before(rows, django_assert_num_queries):
    from containers.models import Tag

    alice, _ = rows
    bob = User.objects.create_user("bob", password="pw-bob-12")
    img = Image.objects.get()
    Tag.objects.create(repository="busybox", tag="latest", image=img)  # the system's
    Tag.objects.create(repository="mine", tag="1", image=img, owner=alice)
    Tag.objects.create(repository="bobs", tag="1", image=img, owner=bob)
    for _ in range(2):
        assert lookup.tag("busybox", alice).image.pk == img.pk
        assert lookup.tag("mine:1", alice).owner_id == alice.pk
        assert lookup.tag("bobs:1", alice) is None and lookup.tag("bobs:1", None).owner_id == bob.pk
        with django_assert_num_queries(1):
            assert lookup.image("docker.io/library/busybox:latest", bob).pk == img.pk
