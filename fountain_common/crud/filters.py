"""List filters in PostgREST's syntax (`?total=gte.10`, `?name=ilike.*rock*`, full-text search on
tsvector columns) as SQL conditions, and ?orderBy= as an ordering that keeps pages stable.
"""

import re
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Date,
    Enum,
    Float,
    Integer,
    LargeBinary,
    String,
    Text,
    bindparam,
    cast,
    false,
    func,
    literal,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import NullType

from fountain_common.crud.resources import Resource, api_name
from fountain_common.crud.values import _bad, _item_type, _parsed_item, _runtime_type, _text_wired
from fountain_common.problems import Problem, invalid

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


def _sorts(column: Column[Any]) -> bool:
    kind = _item_type(column)
    return not isinstance(kind, NullType) and not (isinstance(kind, JSON) and not isinstance(kind, postgresql.JSONB))


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
