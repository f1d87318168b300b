"""What Core Script asks of the services that own what a script refers to, through their typed clients.

- A script is numbered by the Central Sequence Service in its catalogue of scripts (the scope /v1
  numbers in), and opens a scope of its own, `script-{id}`, where it is 1 and its section headings
  follow from 2 in story order. Numbering in one script's scope never waits on another script.
- Every change to a script's headings (add, move, reorder, delete) is made here first, then sent to
  the Central Sequence Service, inside the transaction that holds the script locked: if the Central
  Sequence Service fails (502/504), nothing is stored; if the transaction finally fails after it was
  told, it is told the opposite change (`on_rollback`), so both services keep the order the database
  holds. Each call is safe to repeat: numbering an element numbered already answers its number, and
  deleting one deleted already is done.
- A script's id is reserved, in a transaction of its own, before the Central Sequence Service is
  asked for its numbers; the transaction that stores the script deletes the reservation. A create that
  dies between the two (process killed, database lost) leaves the reservation: its retry with the same
  Idempotency-Key takes the same id, so both calls answer what they answered the first attempt
  (asking again for an element's number answers its number), and a create never retried is cleaned up
  by `sweep_abandoned_creates` (`fountain sweep`) once its Idempotency-Key could no longer replay.
- A script whose scope is missing or differs (made before scopes existed, or left so by a crash
  between the two services) has it rebuilt from its rows here on its next heading change
  (`reconcile_scope`).
- A story line (a screenplay element) names, as its kind takes them, a character, an action and a
  spoken word (Character Management) and a context (Session and Context); they are checked to exist
  whenever a line is written.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from pydantic import BaseModel
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fountain_common.database import transaction_apart
from fountain_common.problems import invalid
from fountain_common.routes import idempotency_key_of, on_rollback
from fountain_common.upstream import UpstreamRefused, Upstreams, upstream_service

from . import store
from .generated.clients.central_sequence import CentralSequenceClient
from .generated.clients.central_sequence_models import ElementCreate, Reorder, ReorderEntry, SequenceRequest
from .generated.clients.character import CharacterClient
from .generated.clients.session_context import SessionContextClient
from .generated.clients.session_context_models import Context

log = structlog.get_logger("fountain.core_script")

Read = Callable[[Upstreams, int], Awaitable[BaseModel]]
# Where each id a line names lives: the service that owns it, and how to read it there.
LINE_REFERENCES: dict[str, tuple[str, Read]] = {
    "characterId": ("character", lambda upstreams, id_: CharacterClient(upstreams).get_character(character_id=id_)),
    "actionId": ("character", lambda upstreams, id_: CharacterClient(upstreams).get_action(action_id=id_)),
    "spokenWordId": (
        "character",
        lambda upstreams, id_: CharacterClient(upstreams).get_spoken_word(spoken_word_id=id_),
    ),
    "contextId": (
        "session_context",
        lambda upstreams, id_: SessionContextClient(upstreams).get_context(context_id=id_),
    ),
}


# --- numbers from the Central Sequence Service -----------------------------------------------------
FIRST_HEADING = 2  # in its scope, the script itself is 1


def scope_of(script_id: int) -> str:
    return f"script-{script_id}"


async def _catalogue_number(upstreams: Upstreams, script_id: int) -> int:
    """The script's number among all scripts; asking again answers the same one."""
    answer = await CentralSequenceClient(upstreams).generate_sequence_number(
        body=SequenceRequest(elementType="script", elementId=script_id), idempotent=True
    )
    return answer.sequenceNumber


async def _number_in_scope(
    central_sequence: CentralSequenceClient, scope: str, element_type: str, element_id: int, at: int | None = None
) -> int:
    """Number an element in a scope (at the end, or at `at`); an element numbered there already (a
    retry whose first answer was lost) answers the number it holds."""
    try:
        element = await central_sequence.create_element(
            scope=scope,
            body=ElementCreate(elementType=element_type, elementId=element_id, sequenceNumber=at),
            idempotent=True,
        )
        return element.sequenceNumber
    except UpstreamRefused as refused:
        if refused.upstream_status != 409:
            raise
    held = await central_sequence.get_element(scope=scope, element_type=element_type, element_id=element_id)
    return held.sequenceNumber


async def _remove_from_scope(central_sequence: CentralSequenceClient, scope: str, element_id: int) -> None:
    """Remove a heading from a scope; one removed already is done."""
    try:
        await central_sequence.delete_element(
            scope=scope, element_type="section", element_id=element_id, idempotent=True
        )
    except UpstreamRefused as refused:
        if refused.upstream_status != 404:
            raise


def _undo(conn: AsyncConnection, script_id: int, what: str, undo: Callable[[], Awaitable[None]]) -> None:
    """Should the transaction finally fail, run `undo` against the Central Sequence Service (best
    effort: its failure is logged; the next heading added to the script finds the numbers differ and
    rebuilds the scope).
    Registered before the call, not after: its answer may be lost once the change was made."""

    async def run() -> None:
        try:
            await undo()
            log.warning("section_change_undone", script_id=script_id, change=what)
        except Exception as error:  # the transaction's own error is what the client gets
            log.error("section_change_undo_failed", script_id=script_id, change=what, error=repr(error))

    on_rollback(conn, run)


async def insert_script(conn: AsyncConnection, upstreams: Upstreams, fields: Mapping[str, Any]) -> RowMapping:
    key = idempotency_key_of(conn)
    async with transaction_apart(conn.engine, upstreams.settings) as apart:  # committed before the calls
        script_id = await store.reserve_script_id(apart, key)
    if key is None:  # no retry can come back for it: a create that fails and lives to say so drops it

        async def release() -> None:
            try:
                async with transaction_apart(conn.engine, upstreams.settings) as apart:
                    await store.release_reservation(apart, script_id)
            except Exception as error:  # left for `fountain sweep`; the client gets the create's own error
                log.warning("script_reservation_kept", script_id=script_id, error=repr(error))

        on_rollback(conn, release)
    number = await _catalogue_number(upstreams, script_id)
    central_sequence = CentralSequenceClient(upstreams)
    scope = scope_of(script_id)

    async def close_scope() -> None:
        await _delete_scope(central_sequence, scope)

    _undo(conn, script_id, "open scope", close_scope)
    await _number_in_scope(central_sequence, scope, "script", script_id, at=1)
    row = await store.insert_script(conn, script_id, fields, number)
    await store.release_reservation(conn, script_id)
    return row


async def sweep_abandoned_creates(engine: AsyncEngine, upstreams: Upstreams) -> list[str]:
    """Clean up after creates that died before their commit and were not retried within the
    Idempotency-Key's lifetime (`idempotency_ttl_hours`, after which a retry would count as a new
    create anyway): their scope in the Central Sequence Service is deleted, and the reservation. The
    script's number in the catalogue of scripts stays taken, as a deleted script's does: giving it
    back would move every later number there. Safe to run anywhere, any time, several at once.
    Answers a line for each create cleaned up."""
    central_sequence = CentralSequenceClient(upstreams)
    swept: list[str] = []
    while True:
        async with engine.begin() as conn:
            found = await store.next_abandoned_reservation(conn, upstreams.settings.idempotency_ttl_hours)
            if found is None:
                return swept
            script_id, made = found
            # A reservation is deleted with the script's insert; a script that exists keeps its scope.
            if not made:
                await _delete_scope(central_sequence, scope_of(script_id))
            await store.release_reservation(conn, script_id)
        log.warning("abandoned_script_create_swept", script_id=script_id, made=made)
        swept.append(
            f"script {script_id}: "
            + ("created; its reservation removed" if made else f"never created; scope {scope_of(script_id)} deleted")
        )


async def _delete_scope(central_sequence: CentralSequenceClient, scope: str) -> None:
    try:
        await central_sequence.delete_scope(scope=scope, idempotent=True)
    except UpstreamRefused as refused:
        if refused.upstream_status != 404:  # nothing numbered there: nothing to delete
            raise


async def delete_script(conn: AsyncConnection, upstreams: Upstreams, script_id: int, if_match: str | None) -> None:
    """The script with its headings and lines, and its scope in the Central Sequence Service."""
    script = await store.get_script(conn, script_id, lock=True)
    headings = await store.lock_headings(conn, script_id)
    await store.delete_script(conn, script_id, if_match)
    central_sequence = CentralSequenceClient(upstreams)
    scope = scope_of(script_id)

    async def rebuild() -> None:
        if not script["sections_scoped"]:
            return  # it had no scope to give back
        await _number_in_scope(central_sequence, scope, "script", script_id, at=1)
        for heading in headings:  # in order: each lands at its number
            await _number_in_scope(central_sequence, scope, "section", int(heading["id"]))

    _undo(conn, script_id, "delete scope", rebuild)
    await _delete_scope(central_sequence, scope)


async def reconcile_scope(conn: AsyncConnection, upstreams: Upstreams, script_id: int) -> None:
    """Make the script's scope in the Central Sequence Service hold exactly the script at 1 and its
    headings at the numbers they hold here, renumbering them here to 2..n+1 first should they have
    gaps. Used for scripts made before scopes existed and to repair a scope left different by a
    failure between the two services. `conn` holds the script locked."""
    headings = await store.lock_headings(conn, script_id)
    wanted = {int(h["id"]): FIRST_HEADING + i for i, h in enumerate(headings)}
    await store.renumber_headings(
        conn, {int(h["id"]): wanted[int(h["id"])] for h in headings if h["sequence_number"] != wanted[int(h["id"])]}
    )
    central_sequence = CentralSequenceClient(upstreams)
    scope = scope_of(script_id)
    numbered: dict[tuple[str, int], int] = {}
    offset = 0
    while True:
        page = await central_sequence.list_elements(scope=scope, limit=500, offset=offset)
        numbered.update({(e.elementType, e.elementId): e.sequenceNumber for e in page.items})
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    belongs = {("script", script_id)} | {("section", hid) for hid in wanted}
    for element_type, element_id in sorted(set(numbered) - belongs):
        try:
            await central_sequence.delete_element(scope=scope, element_type=element_type, element_id=element_id)
        except UpstreamRefused as refused:
            if refused.upstream_status != 404:
                raise
    if ("script", script_id) not in numbered:
        await _number_in_scope(central_sequence, scope, "script", script_id, at=1)
    for hid in wanted:
        if ("section", hid) not in numbered:
            await _number_in_scope(central_sequence, scope, "section", hid)
    entries = [ReorderEntry(elementType="script", elementId=script_id, sequenceNumber=1)]
    entries += [ReorderEntry(elementType="section", elementId=hid, sequenceNumber=n) for hid, n in wanted.items()]
    await central_sequence.apply_reorder(scope=scope, body=Reorder(elements=entries), idempotent=True)
    await store.mark_scoped(conn, script_id)
    log.info("section_scope_rebuilt", script_id=script_id, headings=len(wanted))


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
        await _remove_from_scope(central_sequence, scope, heading_id)

    _undo(conn, script_id, "add section", take_back)
    given = await _number_in_scope(central_sequence, scope, "section", heading_id)
    row = await store.insert_heading(conn, heading_id, script_id, title, number, scene_number)
    if given != number:  # the scope held something it should not: rebuild it from the rows here
        log.warning("section_scope_differs", script_id=script_id, expected=number, given=given)
        await reconcile_scope(conn, upstreams, script_id)
    return row


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
        await _number_in_scope(central_sequence, scope, "section", heading_id, at=number)

    _undo(conn, script_id, "delete section", put_back)
    await _remove_from_scope(central_sequence, scope, heading_id)


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

    _undo(conn, script_id, "reorder sections", send_back)
    await _send_order(central_sequence, script_id, numbers)


# --- the ids a line names --------------------------------------------------------------------------
async def _read(upstreams: Upstreams, name: str, value: int) -> BaseModel | None:
    """What `name` = `value` names, from the service that owns it; None when it has no such id."""
    try:
        return await LINE_REFERENCES[name][1](upstreams, value)
    except UpstreamRefused as refused:
        if refused.upstream_status != 404:
            raise
        return None


async def check_references(upstreams: Upstreams, values: Mapping[str, int], character_id: int) -> None:
    """Each id in `values` must exist in the service that owns it, and a context must belong to
    `character_id`; all are asked for at once. 422 names every field at fault."""
    names = list(values)
    found = await asyncio.gather(*(_read(upstreams, name, values[name]) for name in names))
    errors: list[dict[str, str]] = []
    for name, record in zip(names, found, strict=True):
        if record is None:
            title = upstream_service(LINE_REFERENCES[name][0]).title
            errors.append({"location": f"body.{name}", "message": f"{name} {values[name]} does not exist in {title}."})
        elif isinstance(record, Context) and record.characterId != character_id:
            errors.append(
                {
                    "location": "body.contextId",
                    "message": f"Context {values[name]} belongs to character {record.characterId}, not {character_id}.",
                }
            )
    if errors:
        raise invalid(" ".join(e["message"] for e in errors), errors)
