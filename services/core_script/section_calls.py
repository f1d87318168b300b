"""Changes to a script's section headings: made here, and sent to the script's scope in the Central
Sequence Service in the same transaction (the rules in scopes.py), so both keep the same order.
"""

from collections.abc import Mapping

import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.upstream import Upstreams

from . import store
from .generated.clients.central_sequence import CentralSequenceClient
from .generated.clients.central_sequence_models import ElementBatch, ElementKey, Reorder, ReorderEntry
from .scopes import FIRST_HEADING, number_in_scope, reconcile_scope, remove_from_scope, scope_of, undo_on_rollback

log = structlog.get_logger("fountain.core_script")


async def _scoped(conn: AsyncConnection, upstreams: Upstreams, script_id: int) -> list[RowMapping]:
    """Lock the script and its headings (in order), its scope rebuilt first when it has none."""
    script = await store.get_script(conn, script_id, lock=True)
    if not script["sections_scoped"]:
        await reconcile_scope(conn, upstreams, script_id)
    return await store.lock_headings(conn, script_id)


async def insert_heading(
    conn: AsyncConnection, upstreams: Upstreams, script_id: int, title: str, scene_number: str | None = None
) -> RowMapping:
    """A new heading at the end of the script. The script lock keeps it from being deleted, and other
    headings from being added, before the heading is stored."""
    headings = await _scoped(conn, upstreams, script_id)
    number = FIRST_HEADING + len(headings)
    heading_id = await store.next_heading_id(conn)
    central_sequence = CentralSequenceClient(upstreams)
    scope = scope_of(script_id)

    async def take_back() -> None:
        await remove_from_scope(central_sequence, scope, heading_id)

    undo_on_rollback(conn, script_id, "add section", take_back)
    given = await number_in_scope(central_sequence, scope, "section", heading_id)
    row = await store.insert_heading(conn, heading_id, script_id, title, number, scene_number)
    if given != number:  # the scope held something it should not: rebuild it from the rows here
        log.warning("section_scope_differs", script_id=script_id, expected=number, given=given)
        await reconcile_scope(conn, upstreams, script_id)
    return row


async def append_headings(
    conn: AsyncConnection, upstreams: Upstreams, script_id: int, headings: list[tuple[str, str | None]]
) -> list[RowMapping]:
    """New headings (title, scene number) at the end of the script, numbered in the Central Sequence
    Service in one call. Should the transaction finally fail, they are taken out of the scope again."""
    existing = await _scoped(conn, upstreams, script_id)
    first = FIRST_HEADING + len(existing)
    heading_ids = await store.next_heading_ids(conn, len(headings))
    central_sequence = CentralSequenceClient(upstreams)
    scope = scope_of(script_id)

    async def take_back() -> None:
        for heading_id in heading_ids:
            await remove_from_scope(central_sequence, scope, heading_id)

    undo_on_rollback(conn, script_id, "add sections", take_back)
    numbered = await central_sequence.append_elements(
        scope=scope,
        body=ElementBatch(elements=[ElementKey(elementType="section", elementId=hid) for hid in heading_ids]),
        idempotent=True,
    )
    rows = await store.insert_headings(
        conn,
        [
            {"id": hid, "script_id": script_id, "title": title, "scene_number": scene, "sequence_number": first + i}
            for i, (hid, (title, scene)) in enumerate(zip(heading_ids, headings, strict=True))
        ],
    )
    given = [element.sequenceNumber for element in numbered.items]
    if given != list(range(first, first + len(headings))):  # the scope held something it should not
        log.warning("section_scope_differs", script_id=script_id, expected=first, given=given[:1])
        await reconcile_scope(conn, upstreams, script_id)
    return rows


async def delete_heading(
    conn: AsyncConnection, upstreams: Upstreams, script_id: int, heading_id: int, if_match: str | None
) -> None:
    """Delete a heading with its lines; the later headings move up by one, here and in the scope."""
    await _scoped(conn, upstreams, script_id)
    deleted = await store.delete_heading(conn, script_id, heading_id, if_match)
    central_sequence = CentralSequenceClient(upstreams)
    scope = scope_of(script_id)
    number = int(deleted["sequence_number"])

    async def put_back() -> None:
        await number_in_scope(central_sequence, scope, "section", heading_id, at=number)

    undo_on_rollback(conn, script_id, "delete section", put_back)
    await remove_from_scope(central_sequence, scope, heading_id)


async def _send_order(central_sequence: CentralSequenceClient, script_id: int, numbers: Mapping[int, int]) -> None:
    """Give the headings (id -> number) their numbers in the script's scope (the numbers must permute
    those the headings hold there, as they do here)."""
    entries = [ReorderEntry(elementType="section", elementId=hid, sequenceNumber=n) for hid, n in numbers.items()]
    await central_sequence.apply_reorder(
        scope=scope_of(script_id),
        body=Reorder(elements=entries),
        idempotent=True,  # the same target order again is no change
    )


async def lock_headings(conn: AsyncConnection, upstreams: Upstreams, script_id: int) -> list[RowMapping]:
    """The script and its headings locked for a change of order, its scope built first if missing."""
    return await _scoped(conn, upstreams, script_id)


async def renumber_headings(
    conn: AsyncConnection, upstreams: Upstreams, script_id: int, numbers: Mapping[int, int], held: Mapping[int, int]
) -> None:
    """Give the headings (id -> number) of a script locked by `conn` their new numbers, here and in the
    Central Sequence Service; `held` are the numbers they hold now. Should the transaction finally
    fail, the Central Sequence Service is sent `held` back."""
    if not numbers:
        return
    await store.renumber_headings(conn, numbers)
    central_sequence = CentralSequenceClient(upstreams)
    old = dict(held)

    async def send_back() -> None:
        await _send_order(central_sequence, script_id, old)

    undo_on_rollback(conn, script_id, "reorder sections", send_back)
    await _send_order(central_sequence, script_id, numbers)
