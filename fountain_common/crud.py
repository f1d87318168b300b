"""Create, read, list, update and delete rows of one table over HTTP: the logic every scaffolded
service shares (`fountain scaffold`). A service describes each table once as a `Resource`; its
operations call these functions with the connection their route opened (a write transaction for
create, update and delete) and wrap the answers in their generated models.

API field names are the columns' names in camelCase; a row can embed the rows its foreign keys
point to (`?embed=author`).
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Column, Date, DateTime, Table, Uuid, delete, false, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.database import sqlstate
from fountain_common.pagination import fetch_page
from fountain_common.problems import Problem, conflict, invalid, not_found


def api_name(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Embed:
    """A foreign key a reader may follow: ?embed=<name> adds the row `column` points to."""

    name: str
    column: str
    target: Table
    target_column: str


@dataclass(frozen=True)
class Resource:
    table: Table
    path: str  # the collection's URL path; a row is at path/<key>
    embeds: Sequence[Embed] = ()

    @property
    def key(self) -> Column[Any]:
        return next(iter(self.table.primary_key.columns))

    def columns_by_field(self) -> dict[str, Column[Any]]:
        return {api_name(c.name): c for c in self.table.columns}


def _parsed(column: Column[Any], value: Any) -> Any:
    """A query or path value as the column's Python type (routes pass UUIDs and dates as text)."""
    if not isinstance(value, str):
        return value
    try:
        if isinstance(column.type, Uuid):
            return uuid.UUID(value)
        if isinstance(column.type, DateTime):
            moment = datetime.fromisoformat(value)
            moment.astimezone(UTC)  # a time near year 1 or 9999 may not exist in UTC
            return moment
        if isinstance(column.type, Date):
            return date.fromisoformat(value)
    except (ValueError, OverflowError) as error:
        raise invalid(f"{api_name(column.name)}: {value!r} is not a valid {column.type.__visit_name__}.") from error
    return value


def to_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    return {api_name(name): value for name, value in row.items()}


def _to_columns(resource: Resource, fields: Mapping[str, Any]) -> dict[str, Any]:
    columns = resource.columns_by_field()
    return {columns[name].name: _parsed(columns[name], value) for name, value in fields.items()}


def _embeds(resource: Resource, embed: str | None) -> list[Embed]:
    if not embed:
        return []
    known = {e.name: e for e in resource.embeds}
    wanted = [name.strip() for name in embed.split(",")]
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise invalid(f"Cannot embed {', '.join(unknown)}; embeddable: {', '.join(known) or 'nothing'}.")
    return [known[name] for name in dict.fromkeys(wanted)]


async def _with_embeds(conn: AsyncConnection, rows: list[dict[str, Any]], embeds: list[Embed]) -> list[dict[str, Any]]:
    """Add each embedded row (one query per foreign key, for the whole page)."""
    items = [to_fields(row) for row in rows]
    for embed in embeds:
        target_key = embed.target.c[embed.target_column]
        wanted = {row[embed.column] for row in rows if row[embed.column] is not None}
        found: dict[Any, dict[str, Any]] = {}
        if wanted:
            result = await conn.execute(select(embed.target).where(target_key.in_(wanted)))
            found = {row[embed.target_column]: to_fields(dict(row)) for row in result.mappings()}
        for item, row in zip(items, rows, strict=True):
            item[embed.name] = found.get(row[embed.column])
    return items


def _integrity_problem(error: IntegrityError, resource: Resource, *, deleting: bool = False) -> Problem:
    cause = getattr(error.orig, "__cause__", None)
    detail = getattr(cause, "detail", None) or str(error.orig).splitlines()[-1]
    code = sqlstate(error)
    name = resource.table.name
    if code == "23505":
        return conflict(f"A {name} row with these values exists already: {detail}")
    if code == "23503":
        if deleting:
            return conflict(f"The {name} row is still referenced by other rows: {detail}")
        return invalid(f"A referenced row does not exist: {detail}")
    return invalid(f"The {name} row breaks a rule of its table: {detail}")


async def list_rows(
    conn: AsyncConnection,
    resource: Resource,
    *,
    filters: Mapping[str, Any],
    order_by: str | None,
    limit: int,
    offset: int,
    embed: str | None = None,
) -> dict[str, Any]:
    """One page of rows equal to every filter given (column name -> value; None is no filter)."""
    embeds = _embeds(resource, embed)
    query = select(resource.table)
    for column, value in filters.items():
        if value is None:
            continue
        target = resource.table.c[column]
        try:
            query = query.where(target == _parsed(target, value))
        except Problem:
            if not isinstance(target.type, Date):
                raise
            query = query.where(false())  # a well-formed date no row can hold: 29 February 2026
    field = (order_by or api_name(resource.key.name)).lstrip("-")
    columns = resource.columns_by_field()
    if field not in columns:
        raise invalid(f"Cannot order by {field}; fields: {', '.join(columns)}.")
    ordered = columns[field].desc() if (order_by or "").startswith("-") else columns[field].asc()
    query = query.order_by(ordered, resource.key.asc())
    page = await fetch_page(conn, query, limit=limit, offset=offset)
    items = await _with_embeds(conn, [dict(row) for row in page.rows], embeds)
    return {"items": items, "total": page.total, "limit": page.limit, "offset": page.offset}


def _missing(resource: Resource, key: Any) -> Problem:
    return not_found(f"No {resource.table.name} row with {api_name(resource.key.name)} {key}.")


async def _read(conn: AsyncConnection, resource: Resource, key: Any) -> dict[str, Any]:
    key = _parsed(resource.key, key)
    row = (await conn.execute(select(resource.table).where(resource.key == key))).mappings().first()
    if row is None:
        raise _missing(resource, key)
    return dict(row)


async def get_row(conn: AsyncConnection, resource: Resource, key: Any, *, embed: str | None = None) -> dict[str, Any]:
    embeds = _embeds(resource, embed)
    return (await _with_embeds(conn, [await _read(conn, resource, key)], embeds))[0]


class Created(NamedTuple):
    """A new row's fields and where it is: the body and Location of a 201."""

    fields: dict[str, Any]
    location: str


async def create_row(conn: AsyncConnection, resource: Resource, fields: Mapping[str, Any]) -> Created:
    """Insert a row from the fields given (the others take their defaults)."""
    statement = insert(resource.table).values(_to_columns(resource, fields)).returning(resource.table)
    try:
        row = dict((await conn.execute(statement)).mappings().one())
    except IntegrityError as error:  # the constraints are immediate: the INSERT itself breaks them
        raise _integrity_problem(error, resource) from error
    return Created(to_fields(row), f"{resource.path}/{row[resource.key.name]}")


async def update_row(conn: AsyncConnection, resource: Resource, key: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Change only the fields given; an empty change answers the row as it is."""
    values = _to_columns(resource, fields)
    key = _parsed(resource.key, key)
    if not values:
        return to_fields(await _read(conn, resource, key))
    statement = update(resource.table).where(resource.key == key).values(values).returning(resource.table)
    try:
        row = (await conn.execute(statement)).mappings().first()
    except IntegrityError as error:
        raise _integrity_problem(error, resource) from error
    if row is None:
        raise _missing(resource, key)
    return to_fields(dict(row))


async def delete_row(conn: AsyncConnection, resource: Resource, key: Any) -> None:
    """Delete one row; 404 when there is none, 409 while other rows still point to it."""
    key = _parsed(resource.key, key)
    statement = delete(resource.table).where(resource.key == key).returning(resource.key)
    try:
        deleted = (await conn.execute(statement)).first() is not None
    except IntegrityError as error:
        raise _integrity_problem(error, resource, deleting=True) from error
    if not deleted:
        raise _missing(resource, key)
