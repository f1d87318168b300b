"""Creating and deleting a script across Core Script and the Central Sequence Service.

- A script is numbered by the Central Sequence Service in its catalogue of scripts (the scope /v1
  numbers in), and opens a scope of its own (scopes.py).
- A script's id is reserved, in a transaction of its own, before the Central Sequence Service is
  asked for its numbers; the transaction that stores the script deletes the reservation. A create that
  dies between the two (process killed, database lost) leaves the reservation: its retry with the same
  Idempotency-Key takes the same id, so both calls answer what they answered the first attempt
  (asking again for an element's number answers its number), and a create never retried is cleaned up
  by `sweep_abandoned_creates` (`fountain sweep`) once its Idempotency-Key could no longer replay.
"""

from collections.abc import Mapping
from typing import Any

import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fountain_common.database import transaction_apart
from fountain_common.idempotency import caller_key
from fountain_common.ownership import operator_acting_for
from fountain_common.routes import idempotency_key_of, on_rollback
from fountain_common.upstream import Upstreams

from . import store
from .generated.clients.central_sequence import CentralSequenceClient
from .generated.clients.central_sequence_models import SequenceRequest
from .scopes import delete_scope, number_in_scope, scope_of, undo_on_rollback

log = structlog.get_logger("fountain.core_script")


async def _catalogue_number(upstreams: Upstreams, script_id: int) -> int:
    """The script's number among all scripts; asking again answers the same one."""
    answer = await CentralSequenceClient(upstreams).generate_sequence_number(
        body=SequenceRequest(elementType="script", elementId=script_id), idempotent=True
    )
    return answer.sequenceNumber


async def insert_script(conn: AsyncConnection, upstreams: Upstreams, fields: Mapping[str, Any]) -> RowMapping:
    """A new script of the caller's (`owner_of_new_rows`): its calls to the Central Sequence Service
    are the caller's own, so its numbers and scope are in the namespace of the script's owner."""
    sent = idempotency_key_of(conn)
    key = None if sent is None else caller_key(sent)  # two accounts' same key: two creates
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
        await delete_scope(central_sequence, scope)

    undo_on_rollback(conn, script_id, "open scope", close_scope)
    await number_in_scope(central_sequence, scope, "script", script_id, at=1)
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
            script_id, owner, made = found
            # A reservation is deleted with the script's insert; a script that exists keeps its scope.
            if not made:
                with operator_acting_for(owner, tool="fountain-sweep"):  # the scope is in its owner's namespace
                    await delete_scope(central_sequence, scope_of(script_id))
            await store.release_reservation(conn, script_id)
        log.warning("abandoned_script_create_swept", script_id=script_id, made=made)
        swept.append(
            f"script {script_id}: "
            + ("created; its reservation removed" if made else f"never created; scope {scope_of(script_id)} deleted")
        )


async def delete_script(conn: AsyncConnection, upstreams: Upstreams, script_id: int, if_match: str | None) -> None:
    """The script with its headings and lines, its shares, and its scope in the Central Sequence
    Service (call it acting for the script's owner: access.py)."""
    script = await store.get_script(conn, script_id, lock=True)
    headings = await store.lock_headings(conn, script_id)
    await store.delete_script(conn, script_id, if_match)
    central_sequence = CentralSequenceClient(upstreams)
    scope = scope_of(script_id)

    async def rebuild() -> None:
        if not script["sections_scoped"]:
            return  # it had no scope to give back
        await number_in_scope(central_sequence, scope, "script", script_id, at=1)
        for heading in headings:  # in order: each lands at its number
            await number_in_scope(central_sequence, scope, "section", int(heading["id"]))

    undo_on_rollback(conn, script_id, "delete scope", rebuild)
    await delete_scope(central_sequence, scope)
