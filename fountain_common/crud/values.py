"""Column types and values: a request's values parsed and bound as their column's type, and values
read from the database answered as the API carries them (exact decimals as strings, bytea as base64,
times in RFC 3339, text-wired types as PostgreSQL writes them).
"""

import base64
import binascii
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Enum,
    Float,
    LargeBinary,
    Numeric,
    Table,
    Text,
    Time,
    Uuid,
    bindparam,
    cast,
)
from sqlalchemy.dialects import postgresql

from fountain_common.crud.resources import Resource, api_name
from fountain_common.problems import Problem, invalid

# Types PostgreSQL itself reads from text and writes as text: bound and selected as text.
TEXT_WIRED = (postgresql.INTERVAL, postgresql.INET, postgresql.CIDR, postgresql.MACADDR, postgresql.TSVECTOR)


def _item_type(column: Column[Any]) -> Any:
    """The type of one value of the column: an array's item, a domain's base type."""
    kind = column.type.item_type if isinstance(column.type, ARRAY) else column.type
    return kind.data_type if isinstance(kind, postgresql.DOMAIN) else kind


def _runtime_type(column: Column[Any]) -> Any:
    """The type values are bound and cast as: an enum named with the table's schema (the tables
    module names it bare, as the database shows it to its own migrations), a domain as its base type."""
    kind = _item_type(column)
    if isinstance(kind, Enum):
        kind = postgresql.ENUM(*kind.enums, name=kind.name, schema=column.table.schema, create_type=False)
    return ARRAY(kind) if isinstance(column.type, ARRAY) else kind


def _text_wired(column: Column[Any]) -> bool:
    return isinstance(_item_type(column), TEXT_WIRED)


def _selected_as_text(column: Column[Any]) -> bool:
    # Intervals and text search vectors as PostgreSQL writes them; network addresses as asyncpg reads
    # them (a cast to text would add /32 to a host); an enum array as text, which asyncpg reads unaided.
    if isinstance(_item_type(column), postgresql.INTERVAL | postgresql.TSVECTOR):
        return True
    return isinstance(column.type, ARRAY) and isinstance(_item_type(column), Enum)


def _bad(column: Column[Any], value: Any, error: Exception | None = None) -> Problem:
    kind = _item_type(column).__visit_name__.lower()
    return invalid(f"{api_name(column.name)}: {value!r} is not a valid {kind}.")


def _parsed_item(column: Column[Any], kind: Any, value: Any) -> Any:
    """One value as the column's Python type (the API carries exact decimals, binary and times as text)."""
    if not isinstance(value, str):
        return value
    try:
        if isinstance(kind, Uuid):
            return uuid.UUID(value)
        if isinstance(kind, DateTime):
            moment = datetime.fromisoformat(value.replace("z", "Z"))
            if kind.timezone:
                moment.astimezone(UTC)  # a time near year 1 or 9999 may not exist in UTC
            return moment
        if isinstance(kind, Date):
            return date.fromisoformat(value)
        if isinstance(kind, Time):
            return time.fromisoformat(value)
        if isinstance(kind, Numeric) and not isinstance(kind, Float):
            return Decimal(value)
        if isinstance(kind, LargeBinary):
            return base64.b64decode(value, validate=True)
    except (ValueError, OverflowError, InvalidOperation, binascii.Error) as error:
        raise _bad(column, value, error) from error
    return value


def _bound(column: Column[Any], value: Any) -> Any:
    """A value to write to `column`: parsed, or for text-wired types and enums the text PostgreSQL reads."""
    kind = _item_type(column)
    if _text_wired(column) or isinstance(kind, Enum):
        text_type = ARRAY(Text) if isinstance(value, list) else Text
        return cast(bindparam(None, value, type_=text_type), _runtime_type(column))
    if isinstance(value, list):
        parsed = [_parsed_item(column, kind, item) for item in value]
    else:
        parsed = _parsed_item(column, kind, value)
    return bindparam(None, parsed, type_=_runtime_type(column))


def _wire(value: Any) -> Any:
    """A value read from the database as the API carries it."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return [_wire(item) for item in value]
    if isinstance(value, IPv4Address | IPv6Address | IPv4Interface | IPv6Interface | IPv4Network | IPv6Network):
        return str(value)
    return value


def to_fields(row: Mapping[str, Any], names: Sequence[str] | None = None) -> dict[str, Any]:
    """A row as the API answers it: every column, or the columns `names`."""
    if names is None:
        return {api_name(name): _wire(value) for name, value in row.items()}
    return {api_name(name): _wire(row[name]) for name in names}


def _selected(table: Table, columns: Sequence[Column[Any]] | None = None) -> list[ColumnElement[Any]]:
    """The table's columns (or `columns`) as the API answers them: text-wired ones as PostgreSQL writes them."""
    return [
        cast(c, ARRAY(Text) if isinstance(c.type, ARRAY) else Text).label(c.name) if _selected_as_text(c) else c
        for c in (table.columns if columns is None else columns)
    ]


def _to_columns(resource: Resource, fields: Mapping[str, Any]) -> dict[str, Any]:
    columns = resource.columns_by_field()
    if resource.owner is not None and (owner := api_name(resource.owner)) in fields:
        # A row is the account's that made it: no request gives a row away or makes one for another.
        raise invalid(
            f"{owner}: a {resource.table.name} row belongs to the account that made it; no request sets it.",
            [{"location": f"body.{owner}", "message": "Set by the service."}],
        )
    return {columns[name].name: _bound(columns[name], value) for name, value in fields.items()}
