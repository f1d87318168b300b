"""Create, read, list, update and delete rows of one table over HTTP: the logic every scaffolded
service shares (`fountain scaffold`). A service describes each table once as a `Resource`; its
operations call these functions with the connection their route opened (a write transaction for
create, update and delete) and wrap the answers in their generated models.

API field names are the columns' names in camelCase. A read answers the fields asked for
(`?select=name,total`) and embeds related rows (`?embed=artist,track(genre)`): the row a foreign key
points to, the rows that point to this one, and rows linked through a join table, nested as deep as
asked, with one query per embedded relation whatever the number of rows. select= names an embedded
row's fields by the path of relations to it (`?select=name,album.title,album.track.name`). Lists filter with PostgREST's operators (`?total=gte.10`,
`?name=ilike.*rock*`, `?composer=is.null`, `?genreId=in.(1,2)`) and order by several fields
(`?orderBy=-total.nullslast,invoiceId`).

Values keep their exact type on the wire: NUMERIC as a string holding the exact decimal, bytea as
base64, timestamps in RFC 3339, intervals, network addresses and text search vectors as
PostgreSQL writes them.
"""

import base64
import binascii
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, IPv6Network
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    Uuid,
    any_,
    bindparam,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import NullType

from fountain_common.database import PreparedRead, ReadConnection, sqlstate
from fountain_common.pagination import fetch_page
from fountain_common.problems import Problem, conflict, invalid, not_found

# Types PostgreSQL itself reads from text and writes as text: bound and selected as text.
TEXT_WIRED = (postgresql.INTERVAL, postgresql.INET, postgresql.CIDR, postgresql.MACADDR, postgresql.TSVECTOR)
FILTER = re.compile(
    r"^(?:(eq|neq|gt|gte|lt|lte|like|ilike)\.(.*)|in\.\((.*)\)|is\.(null|true|false)|(not\.is\.null))$", re.S
)
COMPARABLE = ("eq", "neq", "gt", "gte", "lt", "lte", "in")
# PostgREST's full-text operators on a tsvector column, with an optional text search configuration:
# `fts(english).rock & roll` (to_tsquery), plfts (plain words), phfts (a phrase), wfts (web search syntax).
FULL_TEXT = re.compile(r"^(fts|plfts|phfts|wfts)(?:\(([a-z_]{1,63})\))?\.(.*)$", re.S)
TS_QUERIES = {
    "fts": "to_tsquery",
    "plfts": "plainto_tsquery",
    "phfts": "phraseto_tsquery",
    "wfts": "websearch_to_tsquery",
}


def api_name(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Embed:
    """A related table a reader may embed with ?embed=<name>: the row `column` points to (`target`'s
    `target_column` equals it), or with `many` the rows of `target` whose `target_column` equals this
    row's `column`; with `through`, the rows of `target` linked by a join table whose `through_source`
    equals this row's `column` and whose `through_target` equals the target's `target_column`."""

    name: str
    column: str
    target: Table
    target_column: str
    many: bool = False
    through: Table | None = None
    through_source: str = ""
    through_target: str = ""


# The relations of every table of a service by table name, so embedded rows embed theirs in turn.
Relations = Mapping[str, Sequence[Embed]]


@dataclass(frozen=True)
class Resource:
    table: Table
    path: str  # the collection's URL path; a row is at path/<key>[/<key>...], one segment per key column
    relations: Relations = field(default_factory=dict)

    @property
    def keys(self) -> list[Column[Any]]:
        return list(self.table.primary_key.columns)

    @property
    def key(self) -> Column[Any]:
        return self.keys[0]

    @property
    def embeds(self) -> Sequence[Embed]:
        return self.relations.get(self.table.name, ())

    def columns_by_field(self) -> dict[str, Column[Any]]:
        return {api_name(c.name): c for c in self.table.columns}


def _sorts(column: Column[Any]) -> bool:
    kind = _item_type(column)
    return not isinstance(kind, NullType) and not (isinstance(kind, JSON) and not isinstance(kind, postgresql.JSONB))


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


def _fields(resource: Resource, select_: str | None) -> list[Column[Any]]:
    """The columns `?select=a,b` asks for, in the order asked; all of them when it is absent."""
    if select_ is None:
        return list(resource.table.columns)
    columns = resource.columns_by_field()
    wanted = select_.split(",")
    unknown = [name for name in wanted if name not in columns]
    if unknown:
        named = ", ".join(repr(name) for name in unknown) or "nothing"
        raise invalid(
            f"select: {named} is not a field of {resource.table.name}; fields: {', '.join(columns)}.",
            [{"location": "query.select", "message": f"Unknown field {named}."}],
        )
    return [columns[name] for name in dict.fromkeys(wanted)]


def _to_columns(resource: Resource, fields: Mapping[str, Any]) -> dict[str, Any]:
    columns = resource.columns_by_field()
    return {columns[name].name: _bound(columns[name], value) for name, value in fields.items()}


# How deep ?embed= nests below the row: artist?embed=album(track(genre)) is three levels.
EMBED_DEPTH = 3
EMBED_TOKEN = re.compile(r"\w+|.", re.S)  # names, and one character at a time (spaces are faults too)


@dataclass(frozen=True)
class EmbedNode:
    """One relation asked for by ?embed=, the fields of its rows to answer (None: all of them), and
    the relations to embed in its rows in turn."""

    embed: Embed
    fields: tuple[Column[Any], ...] | None
    children: "tuple[EmbedNode, ...]"


def _parse_embed(given: str) -> list[tuple[str, list[Any]]]:
    """`artist,track(genre,album(artist))` -> [(name, [children...]), ...]."""
    tokens = EMBED_TOKEN.findall(given)
    position = 0

    def fault(message: str) -> Problem:
        return invalid(
            f"embed: {message} in {given!r}; write names comma-separated, nested ones in parentheses, "
            "e.g. artist,track(genre)."
        )

    def names(depth: int) -> list[tuple[str, list[Any]]]:
        nonlocal position
        parsed: list[tuple[str, list[Any]]] = []
        while True:
            if position >= len(tokens) or not re.fullmatch(r"\w+", tokens[position]):
                found = repr(tokens[position]) if position < len(tokens) else "the end"
                raise fault(f"a name expected, {found} found")
            name, children = tokens[position], []
            position += 1
            if position < len(tokens) and tokens[position] == "(":
                if depth >= EMBED_DEPTH:
                    raise fault(f"at most {EMBED_DEPTH} levels of nesting")
                position += 1
                children = names(depth + 1)
                if position >= len(tokens) or tokens[position] != ")":
                    raise fault("a parenthesis is not closed")
                position += 1
            parsed.append((name, children))
            if position < len(tokens) and tokens[position] == ",":
                position += 1
                continue
            return parsed

    parsed = names(1)
    if position != len(tokens):
        raise fault(f"{tokens[position]!r} unexpected")
    return parsed


# What a read embeds, by relation name: the relations to embed in its rows, and the fields of its
# rows select= names (none named: all of them).
EmbedTree = dict[str, tuple["EmbedTree", list[str]]]


def _embed_tree(embed: str | None, paths: list[list[str]]) -> EmbedTree:
    tree: EmbedTree = {}

    def add(level: EmbedTree, parsed: list[tuple[str, list[Any]]]) -> None:
        for name, children in parsed:
            add(level.setdefault(name, ({}, []))[0], children)

    if embed is not None:
        add(tree, _parse_embed(embed))
    for *relations, name in paths:
        level = tree
        for relation in relations[:-1]:
            level = level.setdefault(relation, ({}, []))[0]
        level.setdefault(relations[-1], ({}, []))[1].append(name)
    return tree


def _resolve_embeds(relations: Relations, table: Table, tree: EmbedTree) -> list[EmbedNode]:
    known = {e.name: e for e in relations.get(table.name, ())}
    unknown = [name for name in tree if name not in known]
    if unknown:
        raise invalid(
            f"Cannot embed {', '.join(unknown)} in {table.name} rows; embeddable: {', '.join(known) or 'nothing'}.",
            [{"location": "query.embed", "message": f"Unknown relation {', '.join(unknown)}."}],
        )
    nodes = []
    for name, (children, names) in tree.items():
        embed = known[name]
        columns = {api_name(c.name): c for c in embed.target.columns}
        missing = [repr(field) for field in names if field not in columns]
        if missing:
            raise invalid(
                f"select: {', '.join(missing)} is not a field of {embed.target.name} ({name}); fields: "
                f"{', '.join(columns)}.",
                [{"location": "query.select", "message": f"Unknown field {', '.join(missing)}."}],
            )
        fields = tuple(columns[field] for field in dict.fromkeys(names)) or None
        nodes.append(EmbedNode(embed, fields, tuple(_resolve_embeds(relations, embed.target, children))))
    return nodes


def _shape(resource: Resource, select_: str | None, embed: str | None) -> tuple[list[Column[Any]], list[EmbedNode]]:
    """What a read answers: the row's fields, and the related rows to embed with theirs. embed= names
    relations (nested in parentheses); select= names fields, an embedded row's by the path of
    relations to it (`album.title`, `album.track.name`), which embeds them as embed= would. A level
    none of whose fields select= names answers all of them."""
    named = select_.split(",") if select_ is not None else []
    paths = [name.split(".") for name in named if "." in name]
    for path in paths:
        if not all(re.fullmatch(r"\w+", part) for part in path) or len(path) > EMBED_DEPTH + 1:
            raise invalid(
                f"select: {'.'.join(path)!r} is not a field path; write relation.field, at most "
                f"{EMBED_DEPTH} relations deep (album.track.genre.name).",
                [{"location": "query.select", "message": "Malformed field path."}],
            )
    own = [name for name in named if "." not in name]
    fields = _fields(resource, None if select_ is None or (paths and not own) else ",".join(own))
    return fields, _resolve_embeds(resource.relations, resource.table, _embed_tree(embed, paths))


def _among(column: Column[Any], values: list[Any]) -> ColumnElement[bool]:
    """`column = ANY($1)`: one parameter however many values (IN would take one each)."""
    kind = _item_type(column)
    if isinstance(kind, Integer | String | Text | Uuid) and not isinstance(column.type, ARRAY):
        return column == any_(bindparam(None, values, type_=ARRAY(kind)))
    return column.in_(values)


async def _related(conn: AsyncConnection, node: EmbedNode, values: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """The rows of the node's target related to rows whose `embed.column` holds one of `values`, each
    with the value it relates to: one query, of the fields asked for and those its own embeds join on."""
    embed, target = node.embed, node.embed.target
    wanted = None if node.fields is None else [*node.fields, *(target.c[child.embed.column] for child in node.children)]
    columns = _selected(target, None if wanted is None else list(dict.fromkeys(wanted)))
    if embed.through is not None:
        link = embed.through.c[embed.through_source]
        joined = embed.through.join(target, embed.through.c[embed.through_target] == target.c[embed.target_column])
        query = select(*columns, link.label("__link")).select_from(joined)
    else:
        link = target.c[embed.target_column]
        query = select(*columns, link.label("__link"))
    query = query.where(_among(link, values)).order_by(*target.primary_key.columns)
    found = []
    for row in (await conn.execute(query)).mappings():
        fields = dict(row)
        found.append((fields.pop("__link"), fields))
    return found


async def _with_embeds(
    conn: AsyncConnection, rows: list[dict[str, Any]], items: list[dict[str, Any]], nodes: Sequence[EmbedNode]
) -> None:
    """Add to each item the related rows each node asks for: one query per node for all the rows, then
    its children's for all the rows found, level by level."""
    for node in nodes:
        embed = node.embed
        values = list({row[embed.column] for row in rows if row[embed.column] is not None})
        found = await _related(conn, node, values) if values else []
        found_rows = [fields for _, fields in found]
        names = None if node.fields is None else [c.name for c in node.fields]
        found_items = [to_fields(fields, names) for fields in found_rows]
        await _with_embeds(conn, found_rows, found_items, node.children)
        grouped: dict[Any, list[dict[str, Any]]] = {}
        for (link, _), item in zip(found, found_items, strict=True):
            grouped.setdefault(link, []).append(item)
        for item, row in zip(items, rows, strict=True):
            related = grouped.get(row[embed.column], [])
            if embed.many or embed.through is not None:
                item[embed.name] = related
            else:
                item[embed.name] = related[0] if related else None


async def _answer(
    conn: AsyncConnection, rows: list[dict[str, Any]], fields: list[Column[Any]], nodes: list[EmbedNode]
) -> list[dict[str, Any]]:
    items = [to_fields(row, [c.name for c in fields]) for row in rows]
    await _with_embeds(conn, rows, items, nodes)
    return items


def _read_columns(resource: Resource, fields: list[Column[Any]], nodes: list[EmbedNode]) -> list[Column[Any]]:
    """The columns to read: those answered, and those the embedded relations join on."""
    joined = [resource.table.c[node.embed.column] for node in nodes]
    return list(dict.fromkeys([*fields, *joined]))


def _integrity_problem(error: IntegrityError, resource: Resource, *, deleting: bool = False) -> Problem:
    cause = getattr(error.orig, "__cause__", None)
    detail = getattr(cause, "detail", None) or str(error.orig).splitlines()[-1]
    code = sqlstate(error)
    name = resource.table.name
    if code in ("23505", "23P01"):
        return conflict(f"A {name} row with these values exists already: {detail}")
    if code == "23503":
        if deleting:
            return conflict(f"The {name} row is still referenced by other rows: {detail}")
        return invalid(f"A referenced row does not exist: {detail}")
    return invalid(f"The {name} row breaks a rule of its table: {detail}")


def _data_problem(error: DBAPIError) -> Problem | None:
    """A value PostgreSQL could not read as its column's type (class 22), or a full-text filter's
    query or language it could not read: the client's to fix."""
    cause = getattr(error.orig, "__cause__", None)
    reason = (str(cause) if cause else str(error.orig).split(": ", 1)[-1]).splitlines()[0]
    if (sqlstate(error) or "").startswith("22"):
        return invalid(f"A value does not fit its field: {reason}")
    if sqlstate(error) in ("42601", "42704") and ("tsquery" in reason or "text search configuration" in reason):
        return invalid(f"A full-text filter cannot be read: {reason}")
    return None


def _compared(column: Column[Any], value: str) -> Any:
    """A filter's value as the column's type: parsed here, or read by PostgreSQL from text."""
    kind = _item_type(column)
    if isinstance(kind, Enum) or _text_wired(column):
        return cast(literal(value, Text), _runtime_type(column))
    parsed: Any = value
    if isinstance(kind, Boolean):
        if value not in ("true", "false"):
            raise _bad(column, value)
        parsed = value == "true"
    try:
        if isinstance(kind, Float):
            parsed = float(value)
        elif isinstance(kind, Integer):
            parsed = int(value)
    except ValueError as error:
        raise _bad(column, value, error) from error
    if not isinstance(kind, String | Text | Boolean | Float | Integer):
        parsed = _parsed_item(column, kind, value)
    return bindparam(None, parsed, type_=_runtime_type(column))


def _condition(column: Column[Any], given: str) -> ColumnElement[bool]:
    """`op.value` (PostgREST's filter syntax) on one column."""
    # A bare value is equality, as before operators: `?authorId=7` is `?authorId=eq.7`.
    if isinstance(_item_type(column), postgresql.TSVECTOR) and (search := FULL_TEXT.match(given)):
        operator, language, words = search.groups()
        arguments: list[Any] = [bindparam(None, words, type_=Text)]
        if language:
            arguments.insert(0, cast(bindparam(None, language, type_=Text), postgresql.REGCONFIG))
        return column.op("@@")(getattr(func, TS_QUERIES[operator])(*arguments))
    match = FILTER.match(given) or FILTER.match(f"eq.{given}")
    field = api_name(column.name)
    assert match is not None  # eq.<anything> always matches
    op, value, listed, is_value, not_null = match.groups()
    if not_null:
        return column.is_not(None)
    if is_value:
        if is_value != "null" and not isinstance(column.type, Boolean):
            raise invalid(f"{field}: is.{is_value} applies to true/false fields only.")
        return column.is_(None) if is_value == "null" else column.is_({"true": True, "false": False}[is_value])
    kind = _item_type(column)
    if isinstance(column.type, ARRAY | JSON) or isinstance(kind, postgresql.TSVECTOR | LargeBinary):
        also = ", or with fts, plfts, phfts or wfts" if isinstance(kind, postgresql.TSVECTOR) else ""
        raise invalid(f"{field}: this field can only be filtered with is.null or not.is.null{also}.")
    if op in ("like", "ilike"):
        if not isinstance(kind, String | Text):
            raise invalid(f"{field}: {op} applies to text fields only.")
        pattern = value.replace("*", "%")  # PostgREST's wildcard, which needs no URL escaping
        return column.like(pattern) if op == "like" else column.ilike(pattern)
    try:
        if listed is not None:
            items = [item.strip().strip('"') for item in listed.split(",")] if listed.strip() else []
            return column.in_([_compared(column, item) for item in items]) if items else false()
        operand = _compared(column, value)
    except Problem:
        if not isinstance(kind, Date):
            raise
        return false()  # a well-formed date no row can hold: 29 February 2026
    if isinstance(kind, Boolean) and op not in ("eq", "neq"):
        raise invalid(f"{field}: true/false fields take eq, neq and is only.")
    comparisons: dict[str, ColumnElement[bool]] = {
        "eq": column == operand,
        "neq": column != operand,
        "gt": column > operand,
        "gte": column >= operand,
        "lt": column < operand,
        "lte": column <= operand,
    }
    return comparisons[op]


def _tiebreak(resource: Resource) -> list[Column[Any]]:
    """What ends every order, so pages are stable: the key, or for a view (which has none) every
    column whose type sorts."""
    return resource.keys or [c for c in resource.table.columns if _sorts(c)]


def _ordering(resource: Resource, order_by: str | None) -> list[Any]:
    """`[-]field[.nullsfirst|.nullslast]`, comma-separated; the key ends every order, so pages are stable."""
    columns = resource.columns_by_field()
    ordering: list[Any] = []
    for item in (order_by or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, nulls = item.lstrip("-").partition(".")
        if name not in columns or nulls not in ("", "nullsfirst", "nullslast"):
            raise invalid(
                f"Cannot order by {item}; fields: {', '.join(columns)}, each may end .nullsfirst or .nullslast."
            )
        term = columns[name].desc() if item.startswith("-") else columns[name].asc()
        ordering.append(term.nulls_first() if nulls == "nullsfirst" else term.nulls_last() if nulls else term)
    return ordering + [key.asc() for key in _tiebreak(resource)]


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
        query = select(*_selected(resource.table, columns)).where(_key_clause(resource, key))
        found = (await conn.execute(query)).mappings().first()
    else:
        values = key if isinstance(key, tuple) else (key,)
        parsed = {
            f"key{n}": _parsed_item(column, _item_type(column), value)
            for n, (column, value) in enumerate(zip(resource.keys, values, strict=True))
        }
        found = await _key_read(resource.table).first(conn, **parsed)
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


def _defers_checks(table: Table) -> bool:
    return any(fk.deferrable for other in table.metadata.tables.values() for fk in other.foreign_key_constraints)


def _autocommit(conn: AsyncConnection) -> bool:
    if isinstance(conn, ReadConnection):
        return True
    sync = conn.sync_connection
    return sync is not None and sync.get_execution_options().get("isolation_level") == "AUTOCOMMIT"


async def _write(conn: AsyncConnection, resource: Resource, statement: Any, *, deleting: bool = False) -> Any:
    try:
        if _defers_checks(resource.table) and not _autocommit(conn):
            # A deferred check would fail at COMMIT, after the answer is chosen: check now, one row at a time.
            # (A statement in autocommit commits by itself: its checks fail the statement.)
            await conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        return await conn.execute(statement)
    except IntegrityError as error:  # the constraints are immediate: the statement itself breaks them
        raise _integrity_problem(error, resource, deleting=deleting) from error
    except DBAPIError as error:
        if sqlstate(error) == "21000":  # ON CONFLICT DO UPDATE reaching one row twice
            raise invalid(
                f"Two rows of the request have the same key; each {resource.table.name} row can be written once."
            ) from error
        if (problem := _data_problem(error)) is None:
            raise
        raise problem from error


async def create_row(conn: AsyncConnection, resource: Resource, fields: Mapping[str, Any]) -> Created:
    """Insert a row from the fields given (the others take their defaults): one INSERT ... RETURNING,
    so that on a connection in autocommit (x-fountain-connection: statement) it is one round trip."""
    statement = insert(resource.table).values(_to_columns(resource, fields)).returning(*_selected(resource.table))
    row = dict((await _write(conn, resource, statement)).mappings().one())
    return Created(to_fields(row), location(resource, row))


async def update_row(conn: AsyncConnection, resource: Resource, key: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Change only the fields given; an empty change answers the row as it is."""
    values = _to_columns(resource, fields)
    if not values:
        return to_fields(await _read(conn, resource, key))
    statement = (
        update(resource.table).where(_key_clause(resource, key)).values(values).returning(*_selected(resource.table))
    )
    row = (await _write(conn, resource, statement)).mappings().first()
    if row is None:
        raise _missing(resource, key)
    return to_fields(dict(row))


async def delete_row(conn: AsyncConnection, resource: Resource, key: Any) -> None:
    """Delete one row; 404 when there is none, 409 while other rows still point to it."""
    statement = delete(resource.table).where(_key_clause(resource, key)).returning(*resource.keys)
    deleted = (await _write(conn, resource, statement, deleting=True)).first() is not None
    if not deleted:
        raise _missing(resource, key)


# Rows one request may write at once.
BATCH_LIMIT = 1000


def _rows_to_columns(resource: Resource, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the columns of one INSERT: a field some row leaves out takes its DEFAULT in that row."""
    if not 1 <= len(rows) <= BATCH_LIMIT:
        raise invalid(f"Give 1 to {BATCH_LIMIT} rows; {len(rows)} given.")
    bound = [_to_columns(resource, fields) for fields in rows]
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


def conflict_targets(table: Table) -> dict[str, list[Column[Any]]]:
    """What an upsert may match rows on: the primary key, a unique constraint, or a unique index of
    plain columns without a WHERE; each named by its fields, comma-separated (`playlistId,trackId`)."""
    targets = [list(table.primary_key.columns)]
    targets += [list(c.columns) for c in table.constraints if isinstance(c, UniqueConstraint)]
    for index in table.indexes:
        plain = all(isinstance(e, Column) for e in index.expressions)
        if index.unique and plain and not index.dialect_options["postgresql"].get("where"):
            targets.append(list(index.columns))
    return {",".join(api_name(c.name) for c in columns): columns for columns in targets}


async def upsert_rows(
    conn: AsyncConnection, resource: Resource, rows: Sequence[Mapping[str, Any]], on_conflict: str | None = None
) -> list[dict[str, Any]]:
    """Insert every row, or where a row with the same `on_conflict` fields (the primary key by default)
    exists, change it to the fields given; one statement, all or none."""
    targets = conflict_targets(resource.table)
    name = on_conflict or next(iter(targets))
    if name not in targets:
        raise invalid(f"onConflict: {name!r} is neither the key nor unique; one of: {'; '.join(targets)}.")
    if not 1 <= len(rows) <= BATCH_LIMIT:
        raise invalid(f"Give 1 to {BATCH_LIMIT} rows; {len(rows)} given.")
    given = [list(row) for row in rows]
    if any(set(fields) != set(given[0]) for fields in given):
        raise invalid("Every row of an upsert gives the same fields (a field left out would be reset).")
    target = targets[name]
    missing = [api_name(c.name) for c in target if api_name(c.name) not in given[0]]
    if missing:
        raise invalid(f"Every row of an upsert on {name} gives {', '.join(missing)}.")
    inserting = postgresql.insert(resource.table).values(_rows_to_columns(resource, rows))
    changed = [resource.columns_by_field()[field].name for field in given[0]]
    # A row that only repeats its key is still answered: "change" the key to itself.
    changed = [column for column in changed if column not in {c.name for c in target}] or [target[0].name]
    statement = inserting.on_conflict_do_update(
        index_elements=target, set_={column: inserting.excluded[column] for column in changed}
    ).returning(*_selected(resource.table))
    return [to_fields(dict(row)) for row in (await _write(conn, resource, statement)).mappings()]


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
    conditions = _filtered(resource, filters, all_rows)
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
    conditions = _filtered(resource, filters, all_rows)
    statement = delete(resource.table).where(*conditions)
    return {"count": (await _write(conn, resource, statement, deleting=True)).rowcount}
