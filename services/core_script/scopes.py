"""A script's scope in the Central Sequence Service, and the rules every change sent there keeps.

- A script opens a scope of its own, `script-{id}`, where it is 1 and its section headings follow from
  2 in story order. Numbering in one script's scope never waits on another script.
- Every change to a script's headings (add, move, reorder, delete) is made here first, then sent to
  the Central Sequence Service, inside the transaction that holds the script locked: if the Central
  Sequence Service fails (502/504), nothing is stored; if the transaction finally fails after it was
  told, it is told the opposite change (`undo_on_rollback`), so both services keep the order the
  database holds. Each call is safe to repeat: numbering an element numbered already answers its
  number, and deleting one deleted already is done.
- A script whose scope is missing or differs (made before scopes existed, or left so by a crash
  between the two services) has it rebuilt from its rows here on its next heading change
  (`reconcile_scope`).
"""

from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.identity import current_caller, reset_caller, set_caller
from fountain_common.routes import on_rollback
from fountain_common.upstream import UpstreamRefused, Upstreams

from . import store
from .generated.clients.central_sequence import CentralSequenceClient
from .generated.clients.central_sequence_models import ElementCreate, Reorder, ReorderEntry

log = structlog.get_logger("fountain.core_script")


FIRST_HEADING = 2  # in its scope, the script itself is 1


def scope_of(script_id: int) -> str:
    return f"script-{script_id}"


async def number_in_scope(
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


async def remove_from_scope(central_sequence: CentralSequenceClient, scope: str, element_id: int) -> None:
    """Remove a heading from a scope; one removed already is done."""
    try:
        await central_sequence.delete_element(
            scope=scope, element_type="section", element_id=element_id, idempotent=True
        )
    except UpstreamRefused as refused:
        if refused.upstream_status != 404:
            raise


async def delete_scope(central_sequence: CentralSequenceClient, scope: str) -> None:
    try:
        await central_sequence.delete_scope(scope=scope, idempotent=True)
    except UpstreamRefused as refused:
        if refused.upstream_status != 404:  # nothing numbered there: nothing to delete
            raise


def undo_on_rollback(conn: AsyncConnection, script_id: int, what: str, undo: Callable[[], Awaitable[None]]) -> None:
    """Should the transaction finally fail, run `undo` against the Central Sequence Service (best
    effort: its failure is logged; the next heading added to the script finds the numbers differ and
    rebuilds the scope), for the caller the change was made for (the script's owner's scope).
    Registered before the call, not after: its answer may be lost once the change was made."""
    caller = current_caller()  # the undo runs after the operation, outside its `acting_for`

    async def run() -> None:
        token = set_caller(caller)
        try:
            await undo()
            log.warning("section_change_undone", script_id=script_id, change=what)
        except Exception as error:  # the transaction's own error is what the client gets
            log.error("section_change_undo_failed", script_id=script_id, change=what, error=repr(error))
        finally:
            reset_caller(token)

    on_rollback(conn, run)


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
        await number_in_scope(central_sequence, scope, "script", script_id, at=1)
    for hid in wanted:
        if ("section", hid) not in numbered:
            await number_in_scope(central_sequence, scope, "section", hid)
    entries = [ReorderEntry(elementType="script", elementId=script_id, sequenceNumber=1)]
    entries += [ReorderEntry(elementType="section", elementId=hid, sequenceNumber=n) for hid, n in wanted.items()]
    await central_sequence.apply_reorder(scope=scope, body=Reorder(elements=entries), idempotent=True)
    await store.mark_scoped(conn, script_id)
    log.info("section_scope_rebuilt", script_id=script_id, headings=len(wanted))
