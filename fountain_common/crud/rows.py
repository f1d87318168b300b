"""One resource's rows one at a time: a filtered, ordered page of them, and reading, creating,
changing and deleting one row by its key.
"""

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Column, ColumnElement, Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.crud.embeds import _answer, _read_columns, _shape
from fountain_common.crud.filters import _condition, _ordering
from fountain_common.crud.resources import Resource, api_name
from fountain_common.crud.values import (
    _bound,
    _item_type,
    _parsed_item,
    _runtime_type,
    _selected,
    _text_wired,
    _to_columns,
    _wire,
    to_fields,
)
from fountain_common.crud.writes import _data_problem, _write
from fountain_common.database import PreparedRead
from fountain_common.ownership import may_touch
from fountain_common.pagination import fetch_page
from fountain_common.problems import Problem, not_found


async def list_rows(
    conn: AsyncConnection,
    resource: Resource,
    *,
    filters: Mapping[str, Any],
    order_by: str | None,
    limit: int,
    offset: int,
    embed: str | None = None,
    select_: str | None = None,
) -> dict[str, Any]:
    """One page of rows matching every filter given (column name -> `op.value`; None is no filter),
    with the exact total; each row with the fields `select_` names (all by default) and the related
    rows `embed` asks for."""
    fields, nodes = _shape(resource, select_, embed)
    conditions = [_condition(resource.table.c[name], value) for name, value in filters.items() if value is not None]
    conditions += resource.visible_rows()
    query = select(*_selected(resource.table, _read_columns(resource, fields, nodes))).where(*conditions)
    query = query.order_by(*_ordering(resource, order_by))
    try:
        page = await fetch_page(conn, query, limit=limit, offset=offset)
    except DBAPIError as error:
        if (problem := _data_problem(error)) is None:
            raise
        raise problem from error
    items = await _answer(conn, [dict(row) for row in page.rows], fields, nodes)
    return {"items": items, "total": page.total, "limit": page.limit, "offset": page.offset}


def _key_values(resource: Resource, key: Any) -> tuple[Any, ...]:
    values = key if isinstance(key, tuple) else (key,)
    return tuple(_bound(column, value) for column, value in zip(resource.keys, values, strict=True))


def _key_clause(resource: Resource, key: Any) -> ColumnElement[bool]:
    values = _key_values(resource, key)
    clause: ColumnElement[bool] = (
        resource.keys[0] == values[0] if len(values) == 1 else tuple_(*resource.keys) == tuple_(*values)
    )
    return clause


def _missing(resource: Resource, key: Any) -> Problem:
    values = key if isinstance(key, tuple) else (key,)
    described = ", ".join(f"{api_name(c.name)} {v}" for c, v in zip(resource.keys, values, strict=True))
    return not_found(f"No {resource.table.name} row with {described}.")


def location(resource: Resource, row: Mapping[str, Any]) -> str:
    return "/".join([resource.path, *(str(_wire(row[c.name])) for c in resource.keys)])


# A row by its key, prepared once per table: on a read connection it goes straight to the driver.
_KEY_READS: dict[Table, PreparedRead] = {}


def _key_read(table: Table) -> PreparedRead:
    if table not in _KEY_READS:
        keys = list(table.primary_key.columns)
        where = [key == bindparam(f"key{n}", type_=_runtime_type(key)) for n, key in enumerate(keys)]
        _KEY_READS[table] = PreparedRead(select(*_selected(table)).where(*where))
    return _KEY_READS[table]


async def _read(
    conn: AsyncConnection, resource: Resource, key: Any, columns: Sequence[Column[Any]] | None = None
) -> dict[str, Any]:
    found: Any
    every_column = columns is None or [id(c) for c in columns] == [id(c) for c in resource.table.columns]
    # Keys bound as text and cast, and a select= of some columns, take the statement's way.
    if not every_column or any(_text_wired(column) for column in resource.keys):
        query = select(*_selected(resource.table, columns)).where(_key_clause(resource, key), *resource.visible_rows())
        found = (await conn.execute(query)).mappings().first()
    else:
        values = key if isinstance(key, tuple) else (key,)
        parsed = {
            f"key{n}": _parsed_item(column, _item_type(column), value)
            for n, (column, value) in enumerate(zip(resource.keys, values, strict=True))
        }
        found = await _key_read(resource.table).first(conn, **parsed)
        # Checked after the fetch, so the prepared read stays one statement for every caller.
        if found is not None and resource.owner is not None and not may_touch(found[resource.owner]):
            found = None
    if found is None:
        raise _missing(resource, key)
    return dict(found)


async def get_row(
    conn: AsyncConnection, resource: Resource, key: Any, *, embed: str | None = None, select_: str | None = None
) -> dict[str, Any]:
    """One row by its key (a tuple of values for a key of several columns), with the fields `select_`
    names (all by default) and the related rows `embed` asks for."""
    fields, nodes = _shape(resource, select_, embed)
    row = await _read(conn, resource, key, _read_columns(resource, fields, nodes))
    return (await _answer(conn, [row], fields, nodes))[0]


class Created(NamedTuple):
    """A new row's fields and where it is: the body and Location of a 201."""

    fields: dict[str, Any]
    location: str


async def create_row(conn: AsyncConnection, resource: Resource, fields: Mapping[str, Any]) -> Created:
    """Insert a row from the fields given (the others take their defaults): one INSERT ... RETURNING,
    so that on a connection in autocommit (x-fountain-connection: statement) it is one round trip."""
    values = {**_to_columns(resource, fields), **resource.new_owner()}
    statement = insert(resource.table).values(values).returning(*_selected(resource.table))
    row = dict((await _write(conn, resource, statement)).mappings().one())
    return Created(to_fields(row), location(resource, row))


async def update_row(conn: AsyncConnection, resource: Resource, key: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Change only the fields given; an empty change answers the row as it is."""
    values = _to_columns(resource, fields)
    if not values:
        return to_fields(await _read(conn, resource, key))
    statement = (
        update(resource.table)
        .where(_key_clause(resource, key), *resource.visible_rows())
        .values(values)
        .returning(*_selected(resource.table))
    )
    row = (await _write(conn, resource, statement)).mappings().first()
    if row is None:
        raise _missing(resource, key)
    return to_fields(dict(row))


async def delete_row(conn: AsyncConnection, resource: Resource, key: Any) -> None:
    """Delete one row; 404 when there is none, 409 while other rows still point to it."""
    statement = (
        delete(resource.table).where(_key_clause(resource, key), *resource.visible_rows()).returning(*resource.keys)
    )
    deleted = (await _write(conn, resource, statement, deleting=True)).first() is not None
    if not deleted:
        raise _missing(resource, key)
