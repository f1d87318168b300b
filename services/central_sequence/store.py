"""Numbering rules of the Central Sequence Service, on a database connection.

Invariant, under any concurrency and any number of service processes: the elements hold exactly the
numbers 1..N, each once, and an element's version numbers are 1..V without repeats. Everything that
changes numbers locks the single counter row first, so numbering is serialised by PostgreSQL itself;
the deferrable unique constraint on sequence_number backs the invariant up.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Subquery, bindparam, case, cast, func, literal, null, select, text, tuple_, union_all
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.etags import check_etag
from fountain_common.pagination import Page, fetch_page
from fountain_common.problems import conflict, invalid, not_found

from .tables import element_versions, elements, sequence_counter


@dataclass(frozen=True)
class ElementKey:
    element_type: str
    element_id: int

    def __str__(self) -> str:
        return f"{self.element_type}/{self.element_id}"


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


async def _lock_counter(conn: AsyncConnection) -> int:
    """Take the numbering lock; answers the last number given."""
    return int(
        (
            await conn.execute(
                select(sequence_counter.c.last_value).where(sequence_counter.c.id == 1).with_for_update()
            )
        ).scalar_one()
    )


async def find(conn: AsyncConnection, key: ElementKey, *, lock: bool = False) -> RowMapping | None:
    query = select(*ELEMENT_COLUMNS).where(
        elements.c.element_type == key.element_type, elements.c.element_id == key.element_id
    )
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def get(conn: AsyncConnection, key: ElementKey) -> RowMapping:
    row = await find(conn, key)
    if row is None:
        raise not_found(f"Element {key} not found.")
    return row


async def insert_element(conn: AsyncConnection, key: ElementKey, position: int | None) -> RowMapping:
    """v2: number a new element at the end, or at `position` shifting the later ones up by one."""
    last = await _lock_counter(conn)
    existing = await find(conn, key)
    if existing is not None:
        raise conflict(f"Element {key} is already numbered {existing['sequence_number']}.")
    if position is None:
        position = last + 1
    elif position > last + 1:
        raise invalid(f"sequenceNumber {position} is past the end: the next free number is {last + 1}.")
    if position <= last:
        await _shift(conn, position, last, +1)
    await conn.execute(sequence_counter.update().where(sequence_counter.c.id == 1).values(last_value=last + 1))
    inserted = await conn.execute(
        elements.insert()
        .values(element_type=key.element_type, element_id=key.element_id, sequence_number=position)
        .returning(*ELEMENT_COLUMNS)
    )
    return inserted.mappings().one()


async def _shift(conn: AsyncConnection, low: int, high: int, delta: int) -> None:
    """Add `delta` to the numbers in [low, high] in one statement (checked as a whole)."""
    await conn.execute(
        elements.update()
        .where(elements.c.sequence_number.between(low, high))
        .values(
            sequence_number=elements.c.sequence_number + delta,
            revision=elements.c.revision + 1,
            updated_at=func.now(),
        )
    )


async def move_element(conn: AsyncConnection, key: ElementKey, position: int, if_match: str | None) -> RowMapping:
    """v2: move an element to `position`; the elements in between shift by one towards its old place."""
    last = await _lock_counter(conn)
    row = await find(conn, key, lock=True)
    if row is None:
        raise not_found(f"Element {key} not found.")
    check_etag(row, if_match, what="Element")
    if position > last:
        raise invalid(f"sequenceNumber {position} is past the end: the last number is {last}.")
    current = int(row["sequence_number"])
    if position == current:
        return row
    # One statement moves the element and shifts the ones between its old and new place by one
    # towards the old place; the unique check runs once, at its end.
    low, high, delta = (position, current, 1) if position < current else (current, position, -1)
    moved = await conn.execute(
        elements.update()
        .where(elements.c.sequence_number.between(low, high))
        .values(
            sequence_number=case((elements.c.id == row["id"], position), else_=elements.c.sequence_number + delta),
            revision=elements.c.revision + 1,
            updated_at=func.now(),
        )
        .returning(*ELEMENT_COLUMNS)
    )
    return next(r for r in moved.mappings().all() if r["id"] == row["id"])


def assignments(pairs: Iterable[tuple[ElementKey, int]]) -> dict[ElementKey, int]:
    """The new number of each element a reorder lists; an element listed twice is refused."""
    result: dict[ElementKey, int] = {}
    for key, number in pairs:
        if key in result:
            raise invalid(f"Element {key} is listed more than once.")
        result[key] = number
    return result


async def reorder(conn: AsyncConnection, assignments: dict[ElementKey, int]) -> list[RowMapping]:
    """Give each listed element its new number. The new numbers must be a permutation of the numbers
    the listed elements hold now; an unknown element is 404. All or nothing."""
    await _lock_counter(conn)
    keys = list(assignments)
    rows = (
        (
            await conn.execute(
                select(*ELEMENT_COLUMNS)
                .where(
                    tuple_(elements.c.element_type, elements.c.element_id).in_(
                        [(k.element_type, k.element_id) for k in keys]
                    )
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
        raise not_found(f"Unknown element(s): {', '.join(missing[:10])}.")
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
    conn: AsyncConnection, key: ElementKey, data: dict[str, Any], if_match: str | None = None
) -> tuple[RowMapping, RowMapping]:
    """Append the next version; answers (element after, version). The row lock makes version numbers
    consecutive under concurrent appends."""
    row = await find(conn, key, lock=True)
    if row is None:
        raise not_found(f"Element {key} not found.")
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


def list_query(element_type: str | None, from_sequence: int | None, to_sequence: int | None) -> Select[Any]:
    query = select(*ELEMENT_COLUMNS).order_by(elements.c.sequence_number)
    if element_type is not None:
        query = query.where(elements.c.element_type == element_type)
    if from_sequence is not None:
        query = query.where(elements.c.sequence_number >= from_sequence)
    if to_sequence is not None:
        query = query.where(elements.c.sequence_number <= to_sequence)
    return query


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
