"""Plain-SQL row writes for the worker's hot path (start, exit, removal) and the web's
create (the Container row, `create`); reads of a row by key go through
containers/prepared.py (`get`), the one mechanism for compiled-once reads.

Django's ORM compiles every statement anew: 0.25-0.7 ms of CPU per statement on this host
against 0.03-0.07 ms for the same statement sent through the connection's cursor, and a
lifecycle made ~35 of them in the worker (issue 13). These helpers send the statement the
ORM would send for a few simple shapes, built from the models' metadata (table and column
names, quoted by the connection's backend) and with every value converted by its field as
the ORM converts it (`get_db_prep_save` for written values, `get_db_prep_value` for
compared ones: datetimes, JSON, booleans), so SQLite and PostgreSQL get the same SQL and
the same parameters. They go through `connection.cursor()`, so transactions (atomic blocks,
autocommit), execute wrappers and query logging apply as to any ORM statement.

Shapes: equality on concrete fields (None compares with IS NULL), `<field>__in` with a
list, `Add(n)` as a written value (`col = col + n`), and the INSERT of one row (`insert`,
`create` for a new instance whose key is given). No joins, no expressions, no
signals: `delete_row` checks that none is connected; the other helpers rely on their
callers writing only models that have none ("no signals doing work").
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import Model

from containers.prepared import Prepared


@dataclass(frozen=True)
class Add:
    """A written value `col = col + n` (an F("col") + n without the ORM)."""

    n: int


def _conn(model: type[Model]):
    return connections[router.db_for_write(model)]


def _column(model: type[Model], name: str):
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return field, field.column


def _where(model: type[Model], where: dict[str, Any], conn) -> tuple[str, list[Any]]:
    """` WHERE a = %s AND b IN (%s, %s) AND c IS NULL` and its parameters."""
    q = conn.ops.quote_name
    parts: list[str] = []
    params: list[Any] = []
    for key, value in where.items():
        name, _, lookup = key.partition("__")
        field, col = _column(model, name)
        if lookup == "in":
            values = list(value)
            if not values:
                return " WHERE 1 = 0", []  # as the ORM: an empty IN matches nothing
            parts.append(f"{q(col)} IN ({', '.join(['%s'] * len(values))})")
            params += [field.get_db_prep_value(v, conn, prepared=False) for v in values]
        elif lookup:
            raise ValueError(f"rowsql supports only equality and __in, not {key!r}")
        elif value is None:
            parts.append(f"{q(col)} IS NULL")
        else:
            parts.append(f"{q(col)} = %s")
            params.append(field.get_db_prep_value(value, conn, prepared=False))
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


def update(model: type[Model], where: dict[str, Any], values: dict[str, Any]) -> int:
    """`UPDATE <table> SET values WHERE where`; returns the number of rows changed (as
    QuerySet.update). Equivalent to model.objects.filter(**where).update(**values) for the
    shapes above. Fields with auto_now are not touched (this project has none)."""
    conn = _conn(model)
    q = conn.ops.quote_name
    sets: list[str] = []
    params: list[Any] = []
    for name, value in values.items():
        field, col = _column(model, name)
        if isinstance(value, Add):
            sets.append(f"{q(col)} = {q(col)} + %s")
            params.append(value.n)
        else:
            sets.append(f"{q(col)} = %s")
            params.append(field.get_db_prep_save(value, conn))
    clause, wparams = _where(model, where, conn)
    with conn.cursor() as cur:
        cur.execute(f"UPDATE {q(model._meta.db_table)} SET {', '.join(sets)}{clause}", params + wparams)
        return cur.rowcount


def delete(model: type[Model], where: dict[str, Any]) -> int:
    """`DELETE FROM <table> WHERE where` without Django's delete collector (no cascades, no
    signals: the caller deletes dependent rows first, see `delete_container`). Returns
    the number of rows deleted."""
    conn = _conn(model)
    clause, params = _where(model, where, conn)
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {conn.ops.quote_name(model._meta.db_table)}{clause}", params)
        return cur.rowcount


def insert(model: type[Model], values: dict[str, Any]) -> Any:
    """`INSERT INTO <table> (...) VALUES (...)` of one row; returns its primary key: the
    one `values` gives, else the one the database makes (an AutoField: `RETURNING <pk>`).
    `values` must name every column without a database default the row needs (model
    defaults are not applied here: `create` applies them). The statement of a model and
    set of names is made once per connection (`_inserter`)."""
    conn = _conn(model)
    sql, fields, pk_at = _inserter(model, tuple(values), conn)
    params = [field.get_db_prep_save(value, conn)
              for field, value in zip(fields, values.values(), strict=True)]
    with conn.cursor() as cur:
        cur.execute(sql, params)
        if pk_at is not None:
            return list(values.values())[pk_at]
        return cur.fetchone()[0]


_INSERTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # connection -> key -> inserter


def _inserter(model: type[Model], names: tuple[str, ...], conn) -> tuple[str, list[Any], int | None]:
    """The INSERT of `names`' columns of `model` (with `RETURNING <pk>` when the key is not
    among them), their fields in that order and the index of the primary key among them
    (None: the database makes it), made once per connection, model and names."""
    per_conn = _INSERTERS.setdefault(conn, {})
    key = (model, names)
    if key not in per_conn:
        q = conn.ops.quote_name
        pk_field = model._meta.pk
        fields = [_column(model, name)[0] for name in names]
        pk_at = next((i for i, f in enumerate(fields) if f is pk_field), None)
        sql = (f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "
               f"VALUES ({', '.join(['%s'] * len(fields))})")
        if pk_at is None:
            sql += f" RETURNING {q(pk_field.column)}"
        per_conn[key] = (sql, fields, pk_at)
    return per_conn[key]


def create(obj: Model) -> Model:
    """Write the new instance `obj` (made as `Model(...)`: the model's defaults applied,
    its primary key given) as one INSERT of every concrete field, each value as the ORM's
    save takes it (`Field.pre_save(obj, add=True)`: auto_now_add and the like), and mark
    it saved. What `Model.objects.create(...)` does for such a model, without compiling
    the statement (~0.5 ms of CPU for a Container's ~40 columns) and without save signals
    (the caller's model has no receivers). An IntegrityError (a taken unique name) is
    raised as the ORM raises it; inside atomic() as any statement."""
    model = type(obj)
    insert(model, {f.name: f.pre_save(obj, True) for f in model._meta.concrete_fields})
    obj._state.adding, obj._state.db = False, _conn(model).alias
    return obj


_GETS: dict[type[Model], Any] = {}  # model -> its prepared read by primary key


def get(model: type[Model], pk: Any) -> Model | None:
    """The row of `model` with primary key `pk` as a model instance, or None: what
    `model.objects.filter(pk=pk).first()` returns, without compiling a query each time
    (containers/prepared.py compiles it once per process, as the API's hot reads)."""
    read = _GETS.get(model)
    if read is None:
        read = _GETS.setdefault(model, Prepared(
            model, lambda key: model._base_manager.filter(pk=key).order_by()[:1]))
    rows = read(pk)
    return rows[0] if rows else None


def exists(model: type[Model], where: dict[str, Any]) -> bool:
    """`SELECT 1 FROM <table> WHERE where LIMIT 1` found a row."""
    conn = connections[router.db_for_read(model)]
    clause, params = _where(model, where, conn)
    with conn.cursor() as cur:
        cur.execute(f"SELECT 1 FROM {conn.ops.quote_name(model._meta.db_table)}{clause} LIMIT 1", params)
        return cur.fetchone() is not None


def column(model: type[Model], name: str, where: dict[str, Any]) -> list[Any]:
    """`SELECT <name> FROM <table> WHERE where`: the column's values as the database gives
    them (no field conversion: for plain text and number columns)."""
    conn = connections[router.db_for_read(model)]
    clause, params = _where(model, where, conn)
    q = conn.ops.quote_name
    with conn.cursor() as cur:
        cur.execute(f"SELECT {q(_column(model, name)[1])} FROM {q(model._meta.db_table)}{clause}", params)
        return [row[0] for row in cur.fetchall()]


def leaf_cascades(model: type[Model]) -> list[tuple[type[Model], str]] | None:
    """(dependent model, its foreign key's field name) for every relation pointing at
    `model`, when deleting a row of `model` is exactly deleting the dependent rows first:
    every relation is a CASCADE from a model that nothing points at itself, and no model
    involved has delete signal receivers or many-to-many fields. None when not (then only
    Django's collector deletes correctly)."""
    from django.db.models import CASCADE, signals

    out = []
    involved = [model]
    if model._meta.many_to_many:
        return None
    for rel in _relations_to(model):
        child = rel.related_model
        if rel.on_delete is not CASCADE or child._meta.many_to_many or _relations_to(child):
            return None
        out.append((child, rel.field.name))
        involved.append(child)
    for m in involved:
        if any(s.has_listeners(m) for s in (signals.pre_delete, signals.post_delete)):
            return None
    return out


def _relations_to(model: type[Model]) -> list:
    """Every relation pointing at `model`, hidden ones (related_name "+") included: what
    Django's collector walks (deletion.get_candidate_relations_to_delete), many-to-many
    ones too."""
    return [f for f in model._meta.get_fields(include_hidden=True)
            if f.auto_created and not f.concrete and (f.one_to_one or f.one_to_many or f.many_to_many)]


def delete_row(model: type[Model], pk: Any) -> int:
    """Delete the row `pk` of `model` and the rows that depend on it (CASCADE), as
    `model.objects.filter(pk=pk).delete()` does: one DELETE per dependent table, then the
    row, without the collector's SELECT of the row and its per-statement compilation; the
    collector itself when the relations are not all leaf cascades (`leaf_cascades`). The
    caller holds a transaction (atomic) so that all go or none. Returns the rows of `model`
    deleted (0 or 1)."""
    deps = leaf_cascades(model)
    if deps is None:
        return model._base_manager.filter(pk=pk).delete()[1].get(model._meta.label, 0)
    for child, fk in deps:
        delete(child, {fk: pk})
    return delete(model, {"pk": pk})
