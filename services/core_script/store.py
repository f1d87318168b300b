"""Scripts (with the ids reserved for scripts being created) and section headings on a database
connection: the rules /v1 and /v2 share. Story lines are in line_store.py, the dual dialogue partner
rules in dual_dialogue.py.

Every change bumps the changed rows' `revision` (their /v2 ETag), including rows renumbered as a side
effect. Writes that change heading numbers lock the script row first (SELECT ... FOR UPDATE), so
concurrent inserts, moves and deletes in one script run one at a time and keep the numbers of its
headings without gaps; the deferrable unique constraints back this up.
"""

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Select, and_, func, literal_column, null, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.etags import check_etag
from fountain_common.id_lists import one_of
from fountain_common.identity import current_caller
from fountain_common.ownership import owner_of_new_rows
from fountain_common.problems import invalid, not_found

from .tables import script_reservations, script_shares, scripts, section_headings

SCRIPT_COLUMNS = (
    scripts.c.id,
    scripts.c.title,
    scripts.c.author,
    scripts.c.description,
    scripts.c.csound_file_path,
    scripts.c.lilypond_file_path,
    scripts.c.midi_file_path,
    scripts.c.sequence_number,
    scripts.c.sections_scoped,
    scripts.c.title_page,
    scripts.c.owner,
    scripts.c.revision,
)
HEADING_COLUMNS = (
    section_headings.c.id,
    section_headings.c.script_id,
    section_headings.c.title,
    section_headings.c.sequence_number,
    section_headings.c.scene_number,
    section_headings.c.revision,
)
BUMP = {"revision": text("revision + 1"), "updated_at": func.now()}


async def _next_id(conn: AsyncConnection, table: str) -> int:
    """Reserve the id of a new row before it is numbered, so the Central Sequence Service can be told
    the element's id in the same transaction that stores the row."""
    query = text("SELECT nextval(pg_get_serial_sequence(:table, 'id'))")
    return int((await conn.execute(query, {"table": f"core_script.{table}"})).scalar_one())


# --- scripts -------------------------------------------------------------------------------------
async def next_script_id(conn: AsyncConnection) -> int:
    return await _next_id(conn, "scripts")


async def reserve_script_id(conn: AsyncConnection, idempotency_key: str | None) -> int:
    """The id of a script about to be created: the one reserved by an earlier attempt with the same
    Idempotency-Key (whose retry this is), else a new one. `conn` commits it by itself."""
    if idempotency_key is not None:
        again = await conn.execute(
            script_reservations.update()
            .where(script_reservations.c.idempotency_key == idempotency_key)
            .values(attempted_at=func.now())
            .returning(script_reservations.c.script_id)
        )
        if (script_id := again.scalar_one_or_none()) is not None:
            return int(script_id)
    reserved = await conn.execute(
        insert(script_reservations)
        .values(script_id=await next_script_id(conn), idempotency_key=idempotency_key, owner=owner_of_new_rows())
        .on_conflict_do_update(index_elements=["idempotency_key"], set_={"attempted_at": func.now()})
        .returning(script_reservations.c.script_id)
    )
    return int(reserved.scalar_one())


async def release_reservation(conn: AsyncConnection, script_id: int) -> None:
    await conn.execute(script_reservations.delete().where(script_reservations.c.script_id == script_id))


async def next_abandoned_reservation(conn: AsyncConnection, ttl_hours: int) -> tuple[int, str, bool] | None:
    """A reservation whose last attempt is older than `ttl_hours`, locked (one a sweep elsewhere holds
    is skipped): its script id, whose script it would be, and whether it exists; None when there is
    none left."""
    row = (
        await conn.execute(
            select(
                script_reservations.c.script_id,
                script_reservations.c.owner,
                scripts.c.id.is_not(None).label("made"),
            )
            .outerjoin(scripts, scripts.c.id == script_reservations.c.script_id)
            .where(script_reservations.c.attempted_at < func.now() - text(f"interval '{int(ttl_hours)} hours'"))
            .order_by(script_reservations.c.attempted_at)
            .limit(1)
            .with_for_update(of=script_reservations, skip_locked=True)
        )
    ).first()
    return None if row is None else (int(row.script_id), str(row.owner), bool(row.made))


async def insert_script(conn: AsyncConnection, script_id: int, fields: Mapping[str, Any], number: int) -> RowMapping:
    inserted = await conn.execute(
        scripts.insert()
        .values(id=script_id, sequence_number=number, sections_scoped=True, owner=owner_of_new_rows(), **fields)
        .returning(*SCRIPT_COLUMNS)
    )
    return inserted.mappings().one()


async def get_script(conn: AsyncConnection, script_id: int, *, lock: bool = False) -> RowMapping:
    query = select(*SCRIPT_COLUMNS).where(scripts.c.id == script_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise not_found(f"Script {script_id} not found.")
    return row


async def update_script(
    conn: AsyncConnection, script_id: int, changes: Mapping[str, Any], if_match: str | None = None
) -> RowMapping:
    """Set the given columns; the revision moves only when a value really changes."""
    row = await get_script(conn, script_id, lock=True)
    check_etag(row, if_match, what=f"Script {script_id}")
    changed = {name: value for name, value in changes.items() if row[name] != value}
    if not changed:
        return row
    updated = await conn.execute(
        scripts.update().where(scripts.c.id == script_id).values(**changed, **BUMP).returning(*SCRIPT_COLUMNS)
    )
    return updated.mappings().one()


async def delete_script(conn: AsyncConnection, script_id: int, if_match: str | None) -> None:
    """Deletes the script; its headings and lines go with it (ON DELETE CASCADE)."""
    row = await get_script(conn, script_id, lock=True)
    check_etag(row, if_match, what=f"Script {script_id}")
    await conn.execute(scripts.delete().where(scripts.c.id == script_id))


async def mark_scoped(conn: AsyncConnection, script_id: int) -> None:
    """The script's scope in the Central Sequence Service now holds its headings (not a change a
    client sees: the revision stays)."""
    await conn.execute(scripts.update().where(scripts.c.id == script_id).values(sections_scoped=True))


def scripts_query(ids: Collection[int] | None = None, title_contains: str | None = None) -> Select[Any]:
    """The scripts the caller may reach by ascending id: its own and those shared with it (every one
    for an admin, and with no identity checked), each with the role it is shared with the caller as
    (`shared_as`, null when it is not)."""
    caller = current_caller()
    if caller is None or caller.is_admin:
        query = select(*SCRIPT_COLUMNS, null().label("shared_as"))
    else:
        shared = and_(script_shares.c.script_id == scripts.c.id, script_shares.c.account == caller.username)
        query = (
            select(*SCRIPT_COLUMNS, script_shares.c.role.label("shared_as"))
            .select_from(scripts.outerjoin(script_shares, shared))
            .where(or_(scripts.c.owner == caller.owner, script_shares.c.role.is_not(None)))
        )
    query = query.order_by(scripts.c.id)
    if ids is not None:
        query = query.where(one_of(scripts.c.id, ids))
    if title_contains is not None:
        # strpos, not LIKE: % and _ in the text are plain characters.
        query = query.where(func.strpos(func.lower(scripts.c.title), func.lower(title_contains)) > 0)
    return query


# --- section headings ----------------------------------------------------------------------------
async def next_heading_id(conn: AsyncConnection) -> int:
    return await _next_id(conn, "section_headings")


async def insert_heading(
    conn: AsyncConnection, heading_id: int, script_id: int, title: str, number: int, scene_number: str | None = None
) -> RowMapping:
    inserted = await conn.execute(
        section_headings.insert()
        .values(id=heading_id, script_id=script_id, title=title, sequence_number=number, scene_number=scene_number)
        .returning(*HEADING_COLUMNS)
    )
    return inserted.mappings().one()


async def next_heading_ids(conn: AsyncConnection, count: int) -> list[int]:
    query = text(
        "SELECT nextval(pg_get_serial_sequence('core_script.section_headings', 'id')) FROM generate_series(1, :n)"
    )
    return [int(value) for value in (await conn.execute(query, {"n": count})).scalars()]


async def insert_headings(conn: AsyncConnection, values: list[dict[str, Any]]) -> list[RowMapping]:
    """Insert headings (ids and numbers given) in one statement; answered in the order given."""
    statement = section_headings.insert().returning(*HEADING_COLUMNS, sort_by_parameter_order=True)
    return list((await conn.execute(statement, values)).mappings().all())


async def get_heading(conn: AsyncConnection, script_id: int, heading_id: int, *, lock: bool = False) -> RowMapping:
    """The heading if it belongs to the script; 404 naming whichever is missing."""
    query = select(*HEADING_COLUMNS).where(
        section_headings.c.id == heading_id, section_headings.c.script_id == script_id
    )
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        await get_script(conn, script_id)
        raise not_found(f"Script {script_id} has no section heading {heading_id}.")
    return row


async def rename_heading(
    conn: AsyncConnection, script_id: int, heading_id: int, title: str | None, if_match: str | None = None
) -> RowMapping:
    return await edit_heading(conn, script_id, heading_id, {} if title is None else {"title": title}, if_match)


async def edit_heading(
    conn: AsyncConnection, script_id: int, heading_id: int, changes: Mapping[str, Any], if_match: str | None = None
) -> RowMapping:
    """Set the given columns (title, scene_number); the revision moves only on a real change."""
    row = await get_heading(conn, script_id, heading_id, lock=True)
    check_etag(row, if_match, what=f"Section heading {heading_id}")
    changed = {name: value for name, value in changes.items() if row[name] != value}
    if not changed:
        return row
    updated = await conn.execute(
        section_headings.update()
        .where(section_headings.c.id == heading_id)
        .values(**changed, **BUMP)
        .returning(*HEADING_COLUMNS)
    )
    return updated.mappings().one()


async def delete_heading(conn: AsyncConnection, script_id: int, heading_id: int, if_match: str | None) -> RowMapping:
    """Deletes the heading and its lines (ON DELETE CASCADE); the later headings move up by one.
    Answers the heading as it was."""
    await get_script(conn, script_id, lock=True)
    row = await get_heading(conn, script_id, heading_id, lock=True)
    check_etag(row, if_match, what=f"Section heading {heading_id}")
    await conn.execute(section_headings.delete().where(section_headings.c.id == heading_id))
    later = and_(section_headings.c.script_id == script_id, section_headings.c.sequence_number > row["sequence_number"])
    await conn.execute(
        section_headings.update().where(later).values(sequence_number=section_headings.c.sequence_number - 1, **BUMP)
    )
    return row


def headings_query(script_id: int) -> Select[Any]:
    return (
        select(*HEADING_COLUMNS)
        .where(section_headings.c.script_id == script_id)
        .order_by(section_headings.c.sequence_number)
    )


async def lock_headings(conn: AsyncConnection, script_id: int) -> list[RowMapping]:
    """The script row and all of its headings locked, the headings in sequence order."""
    await get_script(conn, script_id, lock=True)
    return list((await conn.execute(headings_query(script_id).with_for_update())).mappings().all())


async def renumber_headings(conn: AsyncConnection, numbers: Mapping[int, int]) -> None:
    """Give each heading (id -> number) its new number in one statement; the unique check runs at its end."""
    if not numbers:
        return
    await conn.execute(
        text(
            """
            UPDATE core_script.section_headings AS h
            SET sequence_number = v.sequence_number, revision = h.revision + 1, updated_at = now()
            FROM unnest(CAST(:ids AS bigint[]), CAST(:numbers AS bigint[])) AS v(id, sequence_number)
            WHERE h.id = v.id
            """
        ),
        {"ids": list(numbers), "numbers": list(numbers.values())},
    )


def moved_numbers(headings: list[RowMapping], heading_id: int, position: int) -> dict[int, int]:
    """New numbers (id -> number, only those that change) when `heading_id` moves to the 1-based place
    `position` among `headings` (in sequence order): the same numbers, handed out in the new order."""
    if position > len(headings):
        raise invalid(
            f"position {position} is past the last section heading ({len(headings)}).",
            [{"location": "body.position", "message": f"At most {len(headings)}"}],
        )
    numbers = [int(h["sequence_number"]) for h in headings]
    order = [int(h["id"]) for h in headings if h["id"] != heading_id]
    order.insert(position - 1, heading_id)
    current = {int(h["id"]): int(h["sequence_number"]) for h in headings}
    return {hid: number for hid, number in zip(order, numbers, strict=True) if current[hid] != number}


# --- shares --------------------------------------------------------------------------------------
def shares_query(script_id: int) -> Select[Any]:
    return (
        select(script_shares.c.account, script_shares.c.role)
        .where(script_shares.c.script_id == script_id)
        .order_by(script_shares.c.account)
    )


async def put_share(conn: AsyncConnection, script_id: int, account: str, role: str) -> bool:
    """Share the script with `account` as `role`, or give an existing share that role; answers whether
    the share is new."""
    statement: Any = (
        insert(script_shares)
        .values(script_id=script_id, account=account, role=role)
        .on_conflict_do_update(
            index_elements=[script_shares.c.script_id, script_shares.c.account],
            set_={"role": role, "updated_at": func.now()},
        )
        .returning(literal_column("xmax = 0").label("created"))  # no older row version: inserted
    )
    return bool((await conn.execute(statement)).scalar_one())


async def delete_share(conn: AsyncConnection, script_id: int, account: str) -> bool:
    """Stop sharing the script with `account`; answers whether it was shared with it."""
    deleted = await conn.execute(
        script_shares.delete()
        .where(script_shares.c.script_id == script_id, script_shares.c.account == account)
        .returning(script_shares.c.account)
    )
    return deleted.first() is not None
