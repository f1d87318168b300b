"""Numbering rules of the Central Sequence Service, on a database connection.

Elements are numbered within a scope (typically one story). Invariant, under any concurrency and any
number of service processes: the elements of a scope hold exactly the numbers 1..N, each once, and an
element's version numbers are 1..V without repeats. Everything that changes a scope's numbers locks
the scope's row first, so numbering within a scope is serialised by PostgreSQL itself while other
scopes are never waited on; the deferrable unique constraint on (scope, sequence_number) backs the
invariant up. Every shift touches the rows of one scope only, through that constraint's index, so its
cost grows with the scope, not with the system.

A scope's name is looked up in the namespace of the account the request acts for (`namespace()`), for
every caller, admins included: a scope of another account is never reached, it simply is not there.
With no identity checked, every name is in the namespace of no account, as before accounts.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Subquery, bindparam, case, cast, func, literal, null, select, text, tuple_, union_all
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.etags import check_etag
from fountain_common.ownership import owner_of_new_rows
from fountain_common.pagination import Page, fetch_page
from fountain_common.problems import conflict, invalid, not_found

from .tables import element_versions, elements, scopes


@dataclass(frozen=True)
class ElementKey:
    element_type: str
    element_id: int

    def __str__(self) -> str:
        return f"{self.element_type}/{self.element_id}"


@dataclass(frozen=True)
class LockedScope:
    """A scope whose row this transaction holds locked: its id and the last number it gave."""

    id: int
    last: int


ELEMENT_COLUMNS = (
    elements.c.id,
    elements.c.element_type,
    elements.c.element_id,
    elements.c.sequence_number,
    elements.c.version,
    elements.c.revision,
    elements.c.created_at,
    elements.c.updated_at,
)


def namespace() -> str:
    """The account whose scopes this request names: the one the caller acts for (an admin's own too),
    or no account when no identity is checked. It also owns the scopes the request creates."""
    return owner_of_new_rows()


_SCOPE_ROW = (
    select(scopes.c.id, scopes.c.last_value)
    .where(scopes.c.owner == bindparam("owner"), scopes.c.name == bindparam("scope"))
    .with_for_update()
)


def create_scope(owner: str, scope: str) -> Any:
    """The statement creating a scope, empty; nothing when it exists already."""
    return pg_insert(scopes).values(owner=owner, name=scope).on_conflict_do_nothing(index_elements=["owner", "name"])


async def lock_scope(conn: AsyncConnection, scope: str, *, create: bool = False) -> LockedScope | None:
    """Take the scope's numbering lock. A scope never used is None, or created empty with `create`."""
    params = {"owner": namespace(), "scope": scope}
    row = (await conn.execute(_SCOPE_ROW, params)).first()
    if row is None and create:
        await conn.execute(create_scope(params["owner"], scope))
        row = (await conn.execute(_SCOPE_ROW, params)).first()
    return None if row is None else LockedScope(int(row.id), int(row.last_value))


async def _set_last(conn: AsyncConnection, scope: LockedScope, last: int) -> None:
    await conn.execute(scopes.update().where(scopes.c.id == scope.id).values(last_value=last))


def _in_scope(scope: str) -> Any:
    """The WHERE clause naming a scope by name, for queries that select from elements alone."""
    scope_id = select(scopes.c.id).where(scopes.c.owner == namespace(), scopes.c.name == scope).scalar_subquery()
    return elements.c.scope_id == scope_id


async def find(conn: AsyncConnection, scope: str, key: ElementKey, *, lock: bool = False) -> RowMapping | None:
    query = select(*ELEMENT_COLUMNS).where(
        _in_scope(scope), elements.c.element_type == key.element_type, elements.c.element_id == key.element_id
    )
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def get(conn: AsyncConnection, scope: str, key: ElementKey, *, lock: bool = False) -> RowMapping:
    row = await find(conn, scope, key, lock=lock)
    if row is None:
        raise not_found(f"Element {key} is not numbered in scope {scope}.")
    return row


async def insert_element(conn: AsyncConnection, scope: str, key: ElementKey, position: int | None) -> RowMapping:
    """v2: number a new element at the end of the scope, or at `position` shifting the later ones up."""
    locked = await lock_scope(conn, scope, create=True)
    assert locked is not None  # created when missing
    existing = await find(conn, scope, key)
    if existing is not None:
        raise conflict(f"Element {key} is already numbered {existing['sequence_number']} in scope {scope}.")
    if position is None:
        position = locked.last + 1
    elif position > locked.last + 1:
        raise invalid(
            f"sequenceNumber {position} is past the end of scope {scope}: the next free number is {locked.last + 1}."
        )
    if position <= locked.last:
        await _shift(conn, locked, position, locked.last, +1)
    await _set_last(conn, locked, locked.last + 1)
    inserted = await conn.execute(
        elements.insert()
        .values(scope_id=locked.id, element_type=key.element_type, element_id=key.element_id, sequence_number=position)
        .returning(*ELEMENT_COLUMNS)
    )
    return inserted.mappings().one()


async def append_elements(conn: AsyncConnection, scope: str, keys: list[ElementKey]) -> list[RowMapping]:
    """v2: number new elements at the end of the scope in the order given, in one statement; one
    numbered already (or listed twice) is 409 and none is numbered."""
    if len(set(keys)) != len(keys):
        twice = next(key for key in keys if keys.count(key) > 1)
        raise conflict(f"Element {twice} is listed more than once.")
    locked = await lock_scope(conn, scope, create=True)
    assert locked is not None  # created when missing
    pairs = [(key.element_type, key.element_id) for key in keys]
    numbered = (
        await conn.execute(
            select(elements.c.element_type, elements.c.element_id, elements.c.sequence_number).where(
                elements.c.scope_id == locked.id, tuple_(elements.c.element_type, elements.c.element_id).in_(pairs)
            )
        )
    ).first()
    if numbered is not None:
        raise conflict(
            f"Element {numbered.element_type}/{numbered.element_id} is already numbered "
            f"{numbered.sequence_number} in scope {scope}."
        )
    values = [
        {"scope_id": locked.id, "element_type": key.element_type, "element_id": key.element_id, "sequence_number": n}
        for n, key in enumerate(keys, start=locked.last + 1)
    ]
    rows = (
        await conn.execute(elements.insert().returning(*ELEMENT_COLUMNS, sort_by_parameter_order=True), values)
    ).mappings()
    await _set_last(conn, locked, locked.last + len(keys))
    return list(rows.all())


async def _shift(conn: AsyncConnection, scope: LockedScope, low: int, high: int, delta: int) -> None:
    """Add `delta` to the scope's numbers in [low, high] in one statement (checked as a whole)."""
    await conn.execute(
        elements.update()
        .where(elements.c.scope_id == scope.id, elements.c.sequence_number.between(low, high))
        .values(
            sequence_number=elements.c.sequence_number + delta,
            revision=elements.c.revision + 1,
            updated_at=func.now(),
        )
    )


async def _locked_element(conn: AsyncConnection, scope: str, key: ElementKey) -> tuple[LockedScope, RowMapping]:
    locked = await lock_scope(conn, scope)
    row = None if locked is None else await find(conn, scope, key, lock=True)
    if locked is None or row is None:
        raise not_found(f"Element {key} is not numbered in scope {scope}.")
    return locked, row


async def move_element(
    conn: AsyncConnection, scope: str, key: ElementKey, position: int, if_match: str | None
) -> RowMapping:
    """v2: move an element to `position`; the elements in between shift by one towards its old place."""
    locked, row = await _locked_element(conn, scope, key)
    check_etag(row, if_match, what="Element")
    if position > locked.last:
        raise invalid(f"sequenceNumber {position} is past the end of scope {scope}: the last number is {locked.last}.")
    current = int(row["sequence_number"])
    if position == current:
        return row
    # One statement moves the element and shifts the ones between its old and new place by one
    # towards the old place; the unique check runs once, at its end.
    low, high, delta = (position, current, 1) if position < current else (current, position, -1)
    moved = await conn.execute(
        elements.update()
        .where(elements.c.scope_id == locked.id, elements.c.sequence_number.between(low, high))
        .values(
            sequence_number=case((elements.c.id == row["id"], position), else_=elements.c.sequence_number + delta),
            revision=elements.c.revision + 1,
            updated_at=func.now(),
        )
        .returning(*ELEMENT_COLUMNS)
    )
    return next(r for r in moved.mappings().all() if r["id"] == row["id"])


async def delete_element(conn: AsyncConnection, scope: str, key: ElementKey, if_match: str | None) -> None:
    """v2: remove an element and its versions; the scope's later elements shift down by one."""
    locked, row = await _locked_element(conn, scope, key)
    check_etag(row, if_match, what="Element")
    await conn.execute(elements.delete().where(elements.c.id == row["id"]))
    number = int(row["sequence_number"])
    if number < locked.last:
        await _shift(conn, locked, number + 1, locked.last, -1)
    await _set_last(conn, locked, locked.last - 1)


async def delete_scope(conn: AsyncConnection, scope: str) -> None:
    """v2: a scope with all its elements and their versions (the foreign keys cascade)."""
    locked = await lock_scope(conn, scope)
    if locked is None or locked.last == 0:
        raise not_found(f"Scope {scope} holds no elements.")
    await conn.execute(scopes.delete().where(scopes.c.id == locked.id))


def assignments(pairs: Iterable[tuple[ElementKey, int]]) -> dict[ElementKey, int]:
    """The new number of each element a reorder lists; an element listed twice is refused."""
    result: dict[ElementKey, int] = {}
    for key, number in pairs:
        if key in result:
            raise invalid(f"Element {key} is listed more than once.")
        result[key] = number
    return result


async def reorder(conn: AsyncConnection, scope: str, assignments: dict[ElementKey, int]) -> list[RowMapping]:
    """Give each listed element of the scope its new number. The new numbers must be a permutation of
    the numbers the listed elements hold now; an element not in the scope is 404. All or nothing."""
    locked = await lock_scope(conn, scope)
    keys = list(assignments)
    rows = (
        []
        if locked is None
        else (
            await conn.execute(
                select(*ELEMENT_COLUMNS)
                .where(
                    elements.c.scope_id == locked.id,
                    tuple_(elements.c.element_type, elements.c.element_id).in_(
                        [(k.element_type, k.element_id) for k in keys]
                    ),
                )
                .order_by(elements.c.id)
                .with_for_update()
            )
        )
        .mappings()
        .all()
    )
    found = {ElementKey(r["element_type"], r["element_id"]): r for r in rows}
    missing = [str(k) for k in keys if k not in found]
    if missing:
        raise not_found(f"Not numbered in scope {scope}: {', '.join(missing[:10])}.")
    held = sorted(int(r["sequence_number"]) for r in rows)
    wanted = sorted(assignments.values())
    if held != wanted:
        raise invalid(
            "The new numbers must be a permutation of the numbers the listed elements hold now "
            f"({_preview(held)}); got {_preview(wanted)}."
        )
    changes = [(found[k]["id"], n) for k, n in assignments.items() if found[k]["sequence_number"] != n]
    if changes:
        await conn.execute(
            text(
                """
                UPDATE central_sequence.elements AS e
                SET sequence_number = v.sequence_number, revision = e.revision + 1, updated_at = now()
                FROM unnest(CAST(:ids AS bigint[]), CAST(:numbers AS bigint[])) AS v(id, sequence_number)
                WHERE e.id = v.id
                """
            ),
            {"ids": [c[0] for c in changes], "numbers": [c[1] for c in changes]},
        )
    result = await conn.execute(
        select(*ELEMENT_COLUMNS).where(elements.c.id.in_([r["id"] for r in rows])).order_by(elements.c.sequence_number)
    )
    return list(result.mappings().all())


def _preview(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (", ..." if len(numbers) > 10 else "")


async def append_version(
    conn: AsyncConnection, scope: str, key: ElementKey, data: dict[str, Any], if_match: str | None = None
) -> tuple[RowMapping, RowMapping]:
    """Append the next version; answers (element after, version). The row lock makes version numbers
    consecutive under concurrent appends."""
    row = await get(conn, scope, key, lock=True)
    check_etag(row, if_match, what="Element")
    element = (
        (
            await conn.execute(
                elements.update()
                .where(elements.c.id == row["id"])
                .values(version=elements.c.version + 1, revision=elements.c.revision + 1, updated_at=func.now())
                .returning(*ELEMENT_COLUMNS)
            )
        )
        .mappings()
        .one()
    )
    version = (
        (
            await conn.execute(
                element_versions.insert()
                .values(element_pk=row["id"], version=element["version"], data=data)
                .returning(element_versions.c.version, element_versions.c.data, element_versions.c.created_at)
            )
        )
        .mappings()
        .one()
    )
    return element, version


def list_query(scope: str, element_type: str | None, from_sequence: int | None, to_sequence: int | None) -> Select[Any]:
    query = select(*ELEMENT_COLUMNS).where(_in_scope(scope)).order_by(elements.c.sequence_number)
    if element_type is not None:
        query = query.where(elements.c.element_type == element_type)
    if from_sequence is not None:
        query = query.where(elements.c.sequence_number >= from_sequence)
    if to_sequence is not None:
        query = query.where(elements.c.sequence_number <= to_sequence)
    return query


def scopes_query() -> Select[Any]:
    """The scopes of the request's account that hold elements, by name, with how many (their last
    number: they are gapless)."""
    return (
        select(scopes.c.name.label("scope"), scopes.c.last_value.label("elements"))
        .where(scopes.c.owner == namespace(), scopes.c.last_value > 0)
        .order_by(scopes.c.name)
    )


def _versions(element: RowMapping) -> Subquery:
    """All versions of an element; version 1 is the element as first numbered, without data."""
    first = select(
        literal(1).label("version"),
        cast(null(), JSONB).label("data"),
        bindparam("first_created", element["created_at"]).label("created_at"),
    )
    later = select(element_versions.c.version, element_versions.c.data, element_versions.c.created_at).where(
        element_versions.c.element_pk == element["id"]
    )
    return union_all(first, later).subquery()


async def list_versions(conn: AsyncConnection, element: RowMapping, *, limit: int, offset: int) -> Page:
    versions = _versions(element)
    return await fetch_page(conn, select(versions).order_by(versions.c.version), limit=limit, offset=offset)


async def get_version(conn: AsyncConnection, element: RowMapping, version: int) -> RowMapping:
    versions = _versions(element)
    row = (await conn.execute(select(versions).where(versions.c.version == version))).mappings().first()
    if row is None:
        raise not_found(f"Element {element['element_type']}/{element['element_id']} has no version {version}.")
    return row
