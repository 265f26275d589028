"""Queries compiled once, run many times: the hot reads of the API requests (token
authentication, a container by id or name, inspect's network reads, create's tag and hosts).

The ORM compiles a queryset into SQL at every run (the select list, the joins of
select_related, the WHERE tree, the converters of each column): ~60 % of the CPU a small
read costs the web server, where executing it in SQLite is a fraction. `Prepared` keeps
what one compile gives (its SQL, column converters and the populators of select_related
models) and later runs only execute that SQL with new parameters and build the rows as the
ORM does (`ModelIterable`: `from_db`, the related models). Once per process and database
alias, shared by all threads (it was per thread until branch `create`): a burst of N
concurrent requests runs on up to N request threads (dockerweb/requestthreads keeps 16, and
up to 128 for 30 s after a burst), and a per-thread compile was ~7 % of the web's CPU in a
burst of 100 creates (issue 13).
A run executes on the calling thread's own connection and passes it to the column
converters; the backend's converters are bound to the compiling connection's operations,
which depend only on the alias's settings (time zone), the same for every thread.

Contract: `build(*params)` returns a queryset whose SQL parameters are exactly `params`, in
that order, for any values (a filter on columns by value; no annotations, no prefetch).
That is checked when it is compiled (with distinct values): a query that does not keep
it is never prepared and runs through the ORM every time, as a call with repeated values
does before the first compile, and a call with a None (the ORM writes IS NULL). The rows
are those the ORM gives for `build(*params)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import connections, models, router
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=models.Model)


class _Compiled:
    """One compile of a query, on the connection of the thread that first ran it and then
    shared by every thread of the process (its converters stay bound to that connection's
    backend operations, which keeps that connection object alive for the process's life)."""

    def __init__(self, qs: models.QuerySet, alias: str):
        compiler = qs.query.get_compiler(using=alias)
        self.sql, params = compiler.as_sql()
        self.params = tuple(params)
        self.converters = compiler.get_converters([s[0] for s in compiler.select[0:compiler.col_count]])
        info = compiler.klass_info
        self.model = info["model"]
        fields = info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [f[0].target.attname for f in compiler.select[self.start:self.end]]
        self.populators = get_related_populators(info, compiler.select, alias)
        self.plain = not compiler.annotation_col_map and not qs._known_related_objects

    def run(self, alias: str, params: tuple[Any, ...]) -> list[Any]:
        connection = connections[alias]  # this thread's
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows = cursor.fetchall()
        if self.converters:  # as SQLCompiler.apply_converters, with this thread's connection
            converted = []
            for row in map(list, rows):
                for pos, (convs, expression) in self.converters.items():
                    value = row[pos]
                    for convert in convs:
                        value = convert(value, expression, connection)
                    row[pos] = value
                converted.append(row)
            rows = converted
        out = []
        for row in rows:
            obj = self.model.from_db(alias, self.init_list, row[self.start:self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            out.append(obj)
        return out


class Prepared(Generic[M]):
    """`build`'s query (see the module), compiled once per process and alias."""

    def __init__(self, model: type[M], build: Callable[..., models.QuerySet[M]]):
        self.model = model
        self.build = build
        self._by_alias: dict[str, _Compiled] = {}
        self._never: set[str] = set()

    def __call__(self, *params: Any) -> list[M]:
        alias = router.db_for_read(self.model)
        compiled = self._by_alias.get(alias)
        if compiled is not None and None not in params:
            return compiled.run(alias, params)
        if alias in self._never:
            return list(self.build(*params))
        qs = self.build(*params)
        if None in params or len({repr(p) for p in params}) != len(params):  # IS NULL; which is which
            return list(qs)
        compiled = _Compiled(qs, alias)
        if compiled.params != params or not compiled.plain:
            self._never.add(alias)
            return list(qs)
        self._by_alias[alias] = compiled  # two threads compiling at once: either one is kept
        return compiled.run(alias, params)
