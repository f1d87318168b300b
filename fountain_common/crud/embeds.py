"""?select= and ?embed=: parsing them, resolving them against a resource's relations, and fetching
the related rows, one query per embedded relation whatever the number of rows.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, Column, ColumnElement, Integer, String, Table, Text, Uuid, any_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.crud.resources import Embed, Relations, Resource, api_name, owned_by_caller
from fountain_common.crud.values import _item_type, _selected, to_fields
from fountain_common.problems import Problem, invalid


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
    owner: str | None = None  # the owner column of the resource read: its embedded rows are limited too


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


def _resolve_embeds(relations: Relations, table: Table, tree: EmbedTree, owner: str | None) -> list[EmbedNode]:
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
        nodes.append(EmbedNode(embed, fields, tuple(_resolve_embeds(relations, embed.target, children, owner)), owner))
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
    return fields, _resolve_embeds(resource.relations, resource.table, _embed_tree(embed, paths), resource.owner)


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
    # Another account's row is left out (a row pointing to it embeds null): the target's, and a join table's.
    hidden = owned_by_caller(target, node.owner)
    if embed.through is not None:
        hidden += owned_by_caller(embed.through, node.owner)
    query = query.where(_among(link, values), *hidden).order_by(*target.primary_key.columns)
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
