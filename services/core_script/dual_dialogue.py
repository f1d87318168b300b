"""The dual dialogue partner rules: a dual dialogue (the right-hand side of two characters speaking
at once) pairs with the dialogue just before it in its section, which is not dual itself. Checked on a
database connection when a line is written dual and after any change that moves the lines around one.
"""

from collections.abc import Collection

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.id_lists import one_of
from fountain_common.problems import conflict, invalid

from .tables import story_lines


async def check_dual_pairs(conn: AsyncConnection, heading_ids: Collection[int], change: str) -> None:
    """409 naming every dual dialogue of these sections that the change (described by `change`, run
    already in this transaction, which the 409 rolls back) leaves without its partner: a dialogue, not
    dual itself, just before it in its section."""
    before = story_lines.alias("before")
    orphans = (
        await conn.execute(
            select(story_lines.c.id, story_lines.c.heading_id, story_lines.c.position, before.c.kind, before.c.dual)
            .outerjoin(
                before,
                and_(before.c.heading_id == story_lines.c.heading_id, before.c.position == story_lines.c.position - 1),
            )
            .where(
                one_of(story_lines.c.heading_id, heading_ids),
                story_lines.c.dual,
                or_(before.c.id.is_(None), before.c.kind != "dialogue", before.c.dual),
            )
            .order_by(story_lines.c.heading_id, story_lines.c.position)
        )
    ).all()
    if orphans:
        named = "; ".join(
            f"line {o.id} of section {o.heading_id} would follow "
            + ("nothing" if o.kind is None else "a dual dialogue" if o.kind == "dialogue" else f"a {o.kind} element")
            for o in orphans
        )
        raise conflict(
            f"{change} would leave a dual dialogue without the dialogue it pairs with: {named}. A dual dialogue "
            "needs a dialogue that is not dual itself just before it in its section; move or delete the dual "
            "dialogue, or clear its dual, first. Nothing was changed."
        )


async def check_dual_partner(conn: AsyncConnection, heading_id: int, position: int) -> None:
    """422 unless the line before `position` in the section is a dialogue that is not dual itself: the
    left-hand side a dual dialogue at `position` pairs with."""
    before = (
        (
            await conn.execute(
                select(story_lines.c.kind, story_lines.c.dual).where(
                    story_lines.c.heading_id == heading_id, story_lines.c.position == position - 1
                )
            )
        )
        .mappings()
        .one_or_none()
    )
    if before is None or before["kind"] != "dialogue" or before["dual"]:
        what = (
            "nothing"
            if before is None
            else "a dual dialogue"
            if before["kind"] == "dialogue"
            else f"a {before['kind']} element"
        )
        raise invalid(
            f"A dual dialogue pairs with the dialogue just before it; at position {position} it would follow {what}.",
            [{"location": "body.dual", "message": "needs a dialogue (not itself dual) just before it"}],
        )
