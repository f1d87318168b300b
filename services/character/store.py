"""Reading and writing characters, actions, spoken words and their paraphrases.

The three parent kinds have the same shape (an id, their own text fields, a revision and
timestamps) and each owns paraphrases through its own foreign key column of `paraphrases`; a
`Parent` names the table and column of one kind, so every query is written once for all three.

Each parent row belongs to an account (`owner`); its paraphrases belong to it too. A caller reads,
lists and changes only the rows it may touch (fountain_common/ownership.py): any other row is
answered exactly as a missing one, and lists leave it out.
"""

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Column, Select, Table, bindparam, delete, func, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.database import PreparedRead, Row
from fountain_common.etags import check_etag
from fountain_common.id_lists import one_of
from fountain_common.ownership import may_touch, owner_of_new_rows, restrict, visible
from fountain_common.problems import not_found

from .tables import actions, characters, paraphrases, spoken_words


@dataclass(frozen=True)
class Parent:
    table: Table
    label: str  # as it appears in messages: "Character 3 not found."
    original_type: str  # the /v2 `originalType` of its paraphrases
    paraphrase_column: Column[Any]  # the paraphrases column that points at it
    search_column: Column[Any]  # what the list's ...Contains filter searches
    sort_columns: dict[str, Column[Any]]


def _sort_columns(table: Table, *extra: str) -> dict[str, Column[Any]]:
    columns = {"id": table.c.id, "createdAt": table.c.created_at, "updatedAt": table.c.updated_at}
    return columns | {name: table.c[name] for name in extra}


CHARACTER = Parent(
    characters, "Character", "character", paraphrases.c.character_id, characters.c.name,
    _sort_columns(characters, "name"),
)  # fmt: skip
ACTION = Parent(actions, "Action", "action", paraphrases.c.action_id, actions.c.description, _sort_columns(actions))
SPOKEN_WORD = Parent(
    spoken_words, "Spoken word", "spokenWord", paraphrases.c.spoken_word_id, spoken_words.c.text,
    _sort_columns(spoken_words),
)  # fmt: skip
PARAPHRASE_SORT = _sort_columns(paraphrases)


def _ordered(query: Select[Any], columns: dict[str, Column[Any]], sort: str, id_column: Column[Any]) -> Select[Any]:
    column = columns[sort.removeprefix("-")]
    key = column.desc() if sort.startswith("-") else column.asc()
    return query.order_by(key) if column is id_column else query.order_by(key, id_column.asc())


def _filtered(
    query: Select[Any], table: Table, ids: Collection[int] | None, column: Column[Any], contains: str | None
) -> Select[Any]:
    if ids is not None:
        query = query.where(one_of(table.c.id, ids))
    if contains is not None:
        query = query.where(column.icontains(contains, autoescape=True))
    return query


# --- parents -------------------------------------------------------------------------------------
def list_query(
    parent: Parent, *, ids: Collection[int] | None = None, contains: str | None = None, sort: str = "id"
) -> Select[Any]:
    query = restrict(select(parent.table), parent.table.c.owner)
    query = _filtered(query, parent.table, ids, parent.search_column, contains)
    return _ordered(query, parent.sort_columns, sort, parent.table.c.id)


async def insert(conn: AsyncConnection, parent: Parent, values: dict[str, Any]) -> RowMapping:
    statement = parent.table.insert().values(**values, owner=owner_of_new_rows()).returning(*parent.table.c)
    return (await conn.execute(statement)).mappings().one()


async def insert_many(conn: AsyncConnection, parent: Parent, values: list[dict[str, Any]]) -> list[RowMapping]:
    """Insert every row in one statement; the rows come back in the order given."""
    if not values:
        return []
    owner = owner_of_new_rows()
    statement = parent.table.insert().returning(*parent.table.c, sort_by_parameter_order=True)
    return list((await conn.execute(statement, [{**row, "owner": owner} for row in values])).mappings().all())


async def delete_many(conn: AsyncConnection, parent: Parent, ids: Collection[int]) -> None:
    """Delete the rows with these ids (their paraphrases go with them); missing ids, and those of rows
    the caller may not touch, are skipped."""
    if ids:
        table = parent.table
        await conn.execute(delete(table).where(table.c.id.in_(list(ids)), visible(table.c.owner)))


@cache
def _by_id(table: Table, lock: str | None) -> PreparedRead:
    # Built once (the hottest read path): see PreparedRead.
    query = select(table).where(table.c.id == bindparam("id"))
    if lock == "update":
        query = query.with_for_update()
    elif lock == "key share":
        query = query.with_for_update(read=True, key_share=True)
    return PreparedRead(query)


async def get(conn: AsyncConnection, parent: Parent, item_id: int, *, lock: str | None = None) -> Row:
    """The row, or 404 (also when the caller may not touch it: the same answer, so another account's
    ids stay unknown). `lock="update"` locks it for a change; `"key share"` only keeps it from being
    deleted (what adding a paraphrase needs). Every paraphrase route reads its parent here first."""
    row = await _by_id(parent.table, lock).first(conn, id=item_id)
    # Checked after the fetch: the prepared read stays one statement for every caller.
    if row is None or not may_touch(row["owner"]):
        raise not_found(f"{parent.label} {item_id} not found.")
    return row


async def change(
    conn: AsyncConnection, parent: Parent, item_id: int, values: dict[str, Any], if_match: str | None
) -> RowMapping:
    row = await get(conn, parent, item_id, lock="update")
    check_etag(row, if_match, what=f"{parent.label} {item_id}")
    return await _update(conn, parent.table, item_id, values)


async def remove(conn: AsyncConnection, parent: Parent, item_id: int, if_match: str | None) -> None:
    """Deletes the row; its paraphrases go with it (ON DELETE CASCADE)."""
    row = await get(conn, parent, item_id, lock="update")
    check_etag(row, if_match, what=f"{parent.label} {item_id}")
    await conn.execute(delete(parent.table).where(parent.table.c.id == item_id))


async def _update(conn: AsyncConnection, table: Table, item_id: int, values: dict[str, Any]) -> RowMapping:
    statement = (
        update(table)
        .where(table.c.id == item_id)
        .values(**values, revision=table.c.revision + 1, updated_at=func.now())
        .returning(*table.c)
    )
    return (await conn.execute(statement)).mappings().one()


# --- paraphrases ---------------------------------------------------------------------------------
def paraphrase_query(
    parent: Parent, parent_id: int, *, ids: Collection[int] | None = None, contains: str | None = None, sort: str = "id"
) -> Select[Any]:
    query = select(paraphrases).where(parent.paraphrase_column == parent_id)
    query = _filtered(query, paraphrases, ids, paraphrases.c.text, contains)
    return _ordered(query, PARAPHRASE_SORT, sort, paraphrases.c.id)


async def insert_paraphrase(
    conn: AsyncConnection, parent: Parent, parent_id: int, *, text: str, commentary: str
) -> RowMapping:
    """Adds a paraphrase; 404 when the parent does not exist. The parent stays locked against
    deletion until the transaction ends, so the insert never meets a vanished parent."""
    await get(conn, parent, parent_id, lock="key share")
    statement = (
        paraphrases.insert()
        .values({parent.paraphrase_column.name: parent_id, "text": text, "commentary": commentary})
        .returning(*paraphrases.c)
    )
    return (await conn.execute(statement)).mappings().one()


async def get_paraphrase(
    conn: AsyncConnection, parent: Parent, parent_id: int, paraphrase_id: int, *, lock: bool = False
) -> RowMapping:
    """The paraphrase of this parent, or 404 naming what is missing (the parent, or its paraphrase)."""
    await get(conn, parent, parent_id)
    query = select(paraphrases).where(paraphrases.c.id == paraphrase_id, parent.paraphrase_column == parent_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise not_found(f"{parent.label} {parent_id} has no paraphrase {paraphrase_id}.")
    return row


async def change_paraphrase(
    conn: AsyncConnection,
    parent: Parent,
    parent_id: int,
    paraphrase_id: int,
    values: dict[str, Any],
    if_match: str | None,
) -> RowMapping:
    row = await get_paraphrase(conn, parent, parent_id, paraphrase_id, lock=True)
    check_etag(row, if_match, what=f"Paraphrase {paraphrase_id}")
    return await _update(conn, paraphrases, paraphrase_id, values)


async def remove_paraphrase(
    conn: AsyncConnection, parent: Parent, parent_id: int, paraphrase_id: int, if_match: str | None
) -> None:
    row = await get_paraphrase(conn, parent, parent_id, paraphrase_id, lock=True)
    check_etag(row, if_match, what=f"Paraphrase {paraphrase_id}")
    await conn.execute(delete(paraphrases).where(paraphrases.c.id == paraphrase_id))
