"""Many rows in one statement, all or none: inserting, upserting on the key or a unique
constraint, and changing or deleting every row that matches a filter.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Table,
    UniqueConstraint,
    and_,
    delete,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.crud.filters import _condition
from fountain_common.crud.resources import Resource, api_name
from fountain_common.crud.values import _selected, _to_columns, to_fields
from fountain_common.crud.writes import _write
from fountain_common.problems import conflict, invalid

# Rows one request may write at once.
BATCH_LIMIT = 1000


def _rows_to_columns(resource: Resource, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the columns of one INSERT: a field some row leaves out takes its DEFAULT in that row."""
    if not 1 <= len(rows) <= BATCH_LIMIT:
        raise invalid(f"Give 1 to {BATCH_LIMIT} rows; {len(rows)} given.")
    bound = [{**_to_columns(resource, fields), **resource.new_owner()} for fields in rows]
    named = list(dict.fromkeys(name for row in bound for name in row))
    return [{name: row.get(name, literal_column("DEFAULT")) for name in named} for row in bound]


async def create_rows(
    conn: AsyncConnection, resource: Resource, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Insert every row in one statement: all of them or, on any fault, none. Answers them in the order given."""
    values = _rows_to_columns(resource, rows)
    if not values[0]:  # no row gives a field: every column takes its default
        values = [{resource.key.name: literal_column("DEFAULT")} for _ in rows]
    statement = insert(resource.table).values(values).returning(*_selected(resource.table))
    return [to_fields(dict(row)) for row in (await _write(conn, resource, statement)).mappings()]


def conflict_targets(table: Table, owner: str | None = None) -> dict[str, list[Column[Any]]]:
    """What an upsert may match rows on: the primary key, a unique constraint, or a unique index of
    plain columns without a WHERE; each named by its fields, comma-separated (`playlistId,trackId`).
    A unique constraint of the owner column and others is unique per account: named by the others."""
    targets = [list(table.primary_key.columns)]
    targets += [list(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
    for index in table.indexes:
        plain = all(isinstance(e, Column) for e in index.expressions)
        if index.unique and plain and not index.dialect_options["postgresql"].get("where"):
            targets.append(list(index.columns))
    named: dict[str, list[Column[Any]]] = {}
    for columns in targets:
        name = ",".join(api_name(c.name) for c in columns if c.name != owner)
        named.setdefault(name, columns)  # (owner, key) is the key's constraint for references: the key it is
    return named


async def upsert_rows(
    conn: AsyncConnection, resource: Resource, rows: Sequence[Mapping[str, Any]], on_conflict: str | None = None
) -> list[dict[str, Any]]:
    """Insert every row, or where a row with the same `on_conflict` fields (the primary key by default)
    exists, change it to the fields given; one statement, all or none."""
    targets = conflict_targets(resource.table, resource.owner)
    name = on_conflict or next(iter(targets))
    if name not in targets:
        raise invalid(f"onConflict: {name!r} is neither the key nor unique; one of: {'; '.join(targets)}.")
    if not 1 <= len(rows) <= BATCH_LIMIT:
        raise invalid(f"Give 1 to {BATCH_LIMIT} rows; {len(rows)} given.")
    given = [list(row) for row in rows]
    if any(set(fields) != set(given[0]) for fields in given):
        raise invalid("Every row of an upsert gives the same fields (a field left out would be reset).")
    target = targets[name]
    # The owner is the service's to give (the caller's own rows): never the request's.
    missing = [api_name(c.name) for c in target if api_name(c.name) not in given[0] and c.name != resource.owner]
    if missing:
        raise invalid(f"Every row of an upsert on {name} gives {', '.join(missing)}.")
    inserting = postgresql.insert(resource.table).values(_rows_to_columns(resource, rows))
    changed = [resource.columns_by_field()[field].name for field in given[0]]
    # A row that only repeats its key is still answered: "change" the key to itself.
    changed = [column for column in changed if column not in {c.name for c in target}] or [target[0].name]
    # A stored row the caller may not touch is not changed (nor answered); its key stays taken: 409 below.
    hidden = resource.visible_rows()
    statement = inserting.on_conflict_do_update(
        index_elements=target,
        set_={column: inserting.excluded[column] for column in changed},
        where=and_(*hidden) if hidden else None,
    ).returning(*_selected(resource.table))
    written = [to_fields(dict(row)) for row in (await _write(conn, resource, statement)).mappings()]
    if len(written) < len(rows):
        raise conflict(f"A {resource.table.name} row with the {name} of a row given exists already.")
    return written


def _filtered(resource: Resource, filters: Mapping[str, Any], all_rows: bool | None) -> list[ColumnElement[bool]]:
    """The conditions of a change or delete by filter; none at all only when asked for with allRows=true."""
    conditions = [_condition(resource.table.c[name], value) for name, value in filters.items() if value is not None]
    if not conditions and not all_rows:
        raise invalid(
            f"Give at least one filter to choose the {resource.table.name} rows, or allRows=true to touch every row."
        )
    if conditions and all_rows:
        raise invalid("allRows=true touches every row: give it without filters.")
    return conditions


async def update_rows(
    conn: AsyncConnection,
    resource: Resource,
    filters: Mapping[str, Any],
    fields: Mapping[str, Any],
    *,
    all_rows: bool | None = None,
) -> dict[str, int]:
    """Change the fields given in every row matching the filters; answers how many rows matched."""
    conditions = _filtered(resource, filters, all_rows) + resource.visible_rows()
    values = _to_columns(resource, fields)
    if not values:
        query = select(func.count()).select_from(resource.table).where(*conditions)
        return {"count": (await _write(conn, resource, query)).scalar_one()}
    statement = update(resource.table).where(*conditions).values(values)
    return {"count": (await _write(conn, resource, statement)).rowcount}


async def delete_rows(
    conn: AsyncConnection, resource: Resource, filters: Mapping[str, Any], *, all_rows: bool | None = None
) -> dict[str, int]:
    """Delete every row matching the filters; 409 while other rows still point to one of them."""
    conditions = _filtered(resource, filters, all_rows) + resource.visible_rows()
    statement = delete(resource.table).where(*conditions)
    return {"count": (await _write(conn, resource, statement, deleting=True)).rowcount}
