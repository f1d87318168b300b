"""Story lines (a script's screenplay elements) on a database connection: the rules /v1 and /v2
share for their positions within a section heading, 1..n without gaps.

Every change bumps the changed rows' `revision` (their /v2 ETag), including lines shifted as a side
effect. Writes that change line positions lock the script row first (SELECT ... FOR UPDATE), so
concurrent inserts, moves and deletes in one script run one at a time and keep the positions of every
section 1..n without gaps; the deferrable unique constraints back this up. A change that would leave a
dual dialogue without its partner is refused (dual_dialogue.py).
"""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.etags import check_etag
from fountain_common.problems import invalid, not_found

from .dual_dialogue import check_dual_pairs, check_dual_partner
from .store import BUMP, get_heading, get_script
from .tables import MAX_LINES_PER_SCRIPT, section_headings, story_lines

LINE_COLUMNS = (
    story_lines.c.id,
    story_lines.c.script_id,
    story_lines.c.heading_id,
    story_lines.c.position,
    story_lines.c.kind,
    story_lines.c.character_id,
    story_lines.c.action_id,
    story_lines.c.spoken_word_id,
    story_lines.c.context_id,
    story_lines.c.extensions,
    story_lines.c.parentheticals,
    story_lines.c.text,
    story_lines.c.dual,
    story_lines.c.depth,
    story_lines.c.revision,
)


async def append_lines(conn: AsyncConnection, script_id: int, lines: list[dict[str, Any]]) -> int:
    """Insert lines (heading_id, position and columns given) of a script locked by `conn` in one
    statement, within the script's bound on lines; answers how many."""
    if not lines:
        return 0
    held = await _count_lines(conn, story_lines.c.script_id == script_id)
    if held + len(lines) > MAX_LINES_PER_SCRIPT:
        raise invalid(
            f"Script {script_id} holds {held} lines; {len(lines)} more would pass {MAX_LINES_PER_SCRIPT}, "
            "the most a script may hold."
        )
    await conn.execute(story_lines.insert(), [{"script_id": script_id, **line} for line in lines])
    return len(lines)


async def get_line(
    conn: AsyncConnection, script_id: int, heading_id: int, line_id: int, *, lock: bool = False
) -> RowMapping:
    query = select(*LINE_COLUMNS).where(
        story_lines.c.id == line_id, story_lines.c.heading_id == heading_id, story_lines.c.script_id == script_id
    )
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        await get_heading(conn, script_id, heading_id)
        raise not_found(f"Section heading {heading_id} has no line {line_id}.")
    return row


async def _count_lines(conn: AsyncConnection, *conditions: Any) -> int:
    return int((await conn.execute(select(func.count()).select_from(story_lines).where(*conditions))).scalar_one())


async def _shift(conn: AsyncConnection, heading_id: int, low: int, delta: int) -> None:
    """Add `delta` to the positions from `low` on of one heading, in one statement."""
    condition = and_(story_lines.c.heading_id == heading_id, story_lines.c.position >= low)
    await conn.execute(story_lines.update().where(condition).values(position=story_lines.c.position + delta, **BUMP))


async def insert_line(
    conn: AsyncConnection, script_id: int, heading_id: int, position: int | None, fields: Mapping[str, Any]
) -> RowMapping:
    """Insert at `position` (1..n+1, default the end), shifting the later lines down by one."""
    await get_script(conn, script_id, lock=True)
    await get_heading(conn, script_id, heading_id)
    if await _count_lines(conn, story_lines.c.script_id == script_id) >= MAX_LINES_PER_SCRIPT:
        raise invalid(f"Script {script_id} already holds {MAX_LINES_PER_SCRIPT} lines, the most a script may hold.")
    count = await _count_lines(conn, story_lines.c.heading_id == heading_id)
    position = _checked_position(position, count + 1)
    if fields.get("dual"):
        await check_dual_partner(conn, heading_id, position)
    if position <= count:
        await _shift(conn, heading_id, position, +1)
    inserted = await conn.execute(
        story_lines.insert()
        .values(script_id=script_id, heading_id=heading_id, position=position, **fields)
        .returning(*LINE_COLUMNS)
    )
    row = inserted.mappings().one()
    if position <= count:
        # The line now stands before the one that was at its place, which may be a dual dialogue.
        await check_dual_pairs(conn, [heading_id], f"Inserting a line at position {position}")
    return row


def _checked_position(position: int | None, last: int) -> int:
    if position is None:
        return last
    if position > last:
        raise invalid(
            f"position {position} is past the end: the last possible position is {last}.",
            [{"location": "body.position", "message": f"At most {last}"}],
        )
    return position


async def update_line(conn: AsyncConnection, line: RowMapping, changes: Mapping[str, Any]) -> RowMapping:
    """Set the given columns of a line already locked; the revision moves only on a real change."""
    changed = {name: value for name, value in changes.items() if line[name] != value}
    if not changed:
        return line
    updated = await conn.execute(
        story_lines.update().where(story_lines.c.id == line["id"]).values(**changed, **BUMP).returning(*LINE_COLUMNS)
    )
    return updated.mappings().one()


async def delete_line(
    conn: AsyncConnection, script_id: int, heading_id: int, line_id: int, if_match: str | None
) -> None:
    """Deletes the line and closes the gap: the later lines of its section move up by one."""
    await get_script(conn, script_id, lock=True)
    row = await get_line(conn, script_id, heading_id, line_id, lock=True)
    check_etag(row, if_match, what=f"Line {line_id}")
    await conn.execute(story_lines.delete().where(story_lines.c.id == line_id))
    await _shift(conn, heading_id, int(row["position"]) + 1, -1)
    await check_dual_pairs(conn, [heading_id], f"Deleting line {line_id}")


async def move_line(
    conn: AsyncConnection,
    script_id: int,
    heading_id: int,
    line_id: int,
    position: int,
    target_heading_id: int | None,
    if_match: str | None,
) -> RowMapping:
    """Move a line within its section (1..n) or to another section of the script (1..m+1); the lines in
    between shift by one, so both sections keep positions without gaps."""
    await get_script(conn, script_id, lock=True)
    row = await get_line(conn, script_id, heading_id, line_id, lock=True)
    check_etag(row, if_match, what=f"Line {line_id}")
    current = int(row["position"])
    target = heading_id if target_heading_id is None else target_heading_id
    if target == heading_id:
        position = _checked_position(position, await _count_lines(conn, story_lines.c.heading_id == heading_id))
        if position == current:
            return row
        # One statement moves the line and shifts the ones between its old and new place by one
        # towards the old place; the unique check runs once, at its end.
        low, high, delta = (position, current, 1) if position < current else (current, position, -1)
        await conn.execute(
            story_lines.update()
            .where(story_lines.c.heading_id == heading_id, story_lines.c.position.between(low, high))
            .values(
                position=case((story_lines.c.id == line_id, position), else_=story_lines.c.position + delta), **BUMP
            )
        )
    else:
        await get_heading(conn, script_id, target)
        position = _checked_position(position, await _count_lines(conn, story_lines.c.heading_id == target) + 1)
        await _shift(conn, target, position, +1)
        await conn.execute(
            story_lines.update().where(story_lines.c.id == line_id).values(heading_id=target, position=position, **BUMP)
        )
        await _shift(conn, heading_id, current + 1, -1)
    if row["dual"]:
        # Refused (and the move undone with the transaction) where the line would lose its partner.
        await check_dual_partner(conn, target, position)
    # The lines around its old and new places now follow other lines.
    await check_dual_pairs(conn, {heading_id, target}, f"Moving line {line_id}")
    return (await conn.execute(select(*LINE_COLUMNS).where(story_lines.c.id == line_id))).mappings().one()


def lines_query(heading_id: int) -> Select[Any]:
    return select(*LINE_COLUMNS).where(story_lines.c.heading_id == heading_id).order_by(story_lines.c.position)


def script_lines_query(script_id: int) -> Select[Any]:
    """All lines of a script in story order: sections by sequence number, then lines by position."""
    return (
        select(*LINE_COLUMNS)
        .join(section_headings, section_headings.c.id == story_lines.c.heading_id)
        .where(story_lines.c.script_id == script_id)
        .order_by(section_headings.c.sequence_number, story_lines.c.position)
    )
