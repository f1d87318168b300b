"""What Core Script asks of the services that own what a script refers to, through their typed clients.

- Scripts and section headings are numbered by the Central Sequence Service. The number is asked for
  inside the transaction that stores the row, so a Central Sequence failure (502/504) stores nothing;
  asking again for the same element answers the same number, so the call is safe to retry.
- Heading numbers change (v1 reorder, v2 move) locally first, then in the Central Sequence Service,
  still inside the transaction: if it refuses, nothing changed; if the transaction finally fails after
  the new order was sent, it is sent the old order back.
- A story line names a character, an action and a spoken word (Character Management) and optionally a
  context (Session and Context); they are checked to exist whenever a line is written.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog
from pydantic import BaseModel
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.problems import invalid
from fountain_common.routes import on_rollback
from fountain_common.upstream import UpstreamRefused, Upstreams, upstream_service

from . import store
from .generated.clients.central_sequence import CentralSequenceClient
from .generated.clients.central_sequence_models import ReorderItem, ReorderRequest, SequenceRequest
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
async def _number(upstreams: Upstreams, element_type: str, element_id: int) -> int:
    """The element's number; asking again for the same element answers the same one."""
    answer = await CentralSequenceClient(upstreams).generate_sequence_number(
        body=SequenceRequest(elementType=element_type, elementId=element_id), idempotent=True
    )
    return answer.sequenceNumber


async def insert_script(conn: AsyncConnection, upstreams: Upstreams, fields: Mapping[str, str]) -> RowMapping:
    script_id = await store.next_script_id(conn)
    number = await _number(upstreams, "script", script_id)
    return await store.insert_script(conn, script_id, fields, number)


async def insert_heading(conn: AsyncConnection, upstreams: Upstreams, script_id: int, title: str) -> RowMapping:
    # The script lock keeps the script from being deleted before the heading is stored.
    await store.get_script(conn, script_id, lock=True)
    heading_id = await store.next_heading_id(conn)
    number = await _number(upstreams, "section", heading_id)
    return await store.insert_heading(conn, heading_id, script_id, title, number)


async def _send_order(central_sequence: CentralSequenceClient, numbers: Mapping[int, int]) -> None:
    """Give the headings (id -> number) their numbers in the Central Sequence Service (v1 reorder: the
    numbers must permute those the headings hold there, as they do here)."""
    elements = [ReorderItem(elementId=hid, newSequence=number) for hid, number in numbers.items()]
    await central_sequence.reorder_elements(
        body=ReorderRequest(elementType="section", elements=elements),
        idempotent=True,  # the same target order again is no change
    )


async def renumber_headings(
    conn: AsyncConnection, upstreams: Upstreams, script_id: int, numbers: Mapping[int, int], held: Mapping[int, int]
) -> None:
    """Give the headings (id -> number) of a script locked by `conn` their new numbers, here and in the
    Central Sequence Service; `held` are the numbers they hold now. Should the transaction finally fail,
    the Central Sequence Service is sent `held` back (best effort: logged when that fails too), so both
    services keep the order the database holds."""
    if not numbers:
        return
    await store.renumber_headings(conn, numbers)
    central_sequence = CentralSequenceClient(upstreams)
    old = dict(held)

    async def send_back() -> None:
        try:
            await _send_order(central_sequence, old)
            log.warning("section_order_restored", script_id=script_id, headings=len(old))
        except Exception as error:  # the transaction's own error is what the client gets
            log.error("section_order_restore_failed", script_id=script_id, numbers=old, error=repr(error))

    # Registered before the call, not after: its answer may be lost once the order was taken.
    on_rollback(conn, send_back)
    await _send_order(central_sequence, numbers)


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
