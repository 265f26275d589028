"""Queries compiled once, run many times: the hot reads of the API requests (token
authentication, a container by id or name, inspect's network reads, create's tag and hosts).

The ORM compiles a queryset into SQL at every run (the select list, the joins of
select_related, the WHERE tree, the converters of each column): ~60 % of the CPU a small
read costs the web server, where executing it in SQLite is a fraction. `Prepared` keeps,
per thread and database alias, the compiler of one run (its SQL, column converters and
the populators of select_related models) and later runs only execute that SQL with new
parameters and build the rows as the ORM does (`ModelIterable`: `from_db`, the related
models). Per thread: a compiler holds its thread's connection, and API request threads
are pooled (dockerweb/requestthreads), so each compiles once.

Contract: `build(*params)` returns a queryset whose SQL parameters are exactly `params`, in
that order, for any values (a filter on columns by value; no annotations, no prefetch).
That is checked when it is compiled (with distinct values): a query that does not keep
it is never prepared and runs through the ORM every time, as a call with repeated values
does before the first compile, and a call with a None (the ORM writes IS NULL). The rows
are those the ORM gives for `build(*params)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import connections, models, router
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=models.Model)


class _Compiled:
    """One compile of a query on one thread's connection."""

    def __init__(self, qs: models.QuerySet, alias: str):
        compiler = qs.query.get_compiler(using=alias)
        self.sql, params = compiler.as_sql()
        self.params = tuple(params)
        self.compiler = compiler
        self.converters = compiler.get_converters([s[0] for s in compiler.select[0:compiler.col_count]])
        info = compiler.klass_info
        self.model = info["model"]
        fields = info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [f[0].target.attname for f in compiler.select[self.start:self.end]]
        self.populators = get_related_populators(info, compiler.select, alias)
        self.plain = not compiler.annotation_col_map and not qs._known_related_objects

    def run(self, alias: str, params: tuple[Any, ...]) -> list[Any]:
        with connections[alias].cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        out = []
        for row in rows:
            obj = self.model.from_db(alias, self.init_list, row[self.start:self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            out.append(obj)
        return out


class Prepared(Generic[M]):
    """`build`'s query (see the module), compiled once per thread and alias."""

    def __init__(self, model: type[M], build: Callable[..., models.QuerySet[M]]):
        self.model = model
        self.build = build
        self._local = threading.local()

    def __call__(self, *params: Any) -> list[M]:
        alias = router.db_for_read(self.model)
        compiled = getattr(self._local, "by_alias", {}).get(alias)
        if compiled is not None and None not in params:
            return compiled.run(alias, params)
        if alias in getattr(self._local, "never", ()):
            return list(self.build(*params))
        qs = self.build(*params)
        if None in params or len({repr(p) for p in params}) != len(params):  # IS NULL; which is which
            return list(qs)
        compiled = _Compiled(qs, alias)
        if compiled.params != params or not compiled.plain:
            self._local.__dict__.setdefault("never", set()).add(alias)
            return list(qs)
        self._local.__dict__.setdefault("by_alias", {})[alias] = compiled
        return compiled.run(alias, params)
