"""Numbering many concurrent requests for one scope in one statement.

Every new number takes the lock of its scope's row, so under load the requests of one scope queue on
that lock one commit after another. Instead, each service process keeps one numberer per scope, which
gathers the requests that arrive while a statement is running and numbers them all with the next one:
one lock, one commit, one round trip for the whole batch. A single request is numbered at once.
Numberers of different scopes run side by side and lock different rows. A numberer is one account's
scope (the namespace is part of its key), so requests of two accounts are never numbered together.
The invariants are those of store.py: PostgreSQL, not this process, guarantees them.
"""

import asyncio
import weakref
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.database import autocommit

from .store import ElementKey, create_scope

MAX_BATCH = 500

# Number the new elements of a batch at the end of their scope, in the order given, and read the
# numbers of those that have one already. Autocommitted as one statement: if a concurrent batch
# numbered one of them first, the unique key fails the whole statement (nothing is numbered) and the
# batch is run again. A scope that does not exist yet numbers nothing (no counter row): it is created
# and the batch run again.
_NUMBER_BATCH = text(
    """
    WITH input AS (
        SELECT t.element_type, t.element_id, t.ord
        FROM unnest(CAST(:types AS varchar[]), CAST(:ids AS bigint[])) WITH ORDINALITY AS t(element_type, element_id, ord)
    ), scope AS (
        SELECT id FROM central_sequence.scopes WHERE owner = :owner AND name = :scope
    ), looked_up AS (
        -- A subquery per element, not a join: it stays an index lookup even in a plan chosen while
        -- the table was empty (prepared statements keep their plan).
        SELECT i.element_type, i.element_id, i.ord,
               (SELECT e.sequence_number FROM central_sequence.elements e
                WHERE e.scope_id = (SELECT id FROM scope)
                  AND e.element_type = i.element_type AND e.element_id = i.element_id) AS existing_number
        FROM input i
    ), fresh AS (
        SELECT element_type, element_id, ord, row_number() OVER (ORDER BY ord) AS rank
        FROM looked_up WHERE existing_number IS NULL
    ), counter AS (
        UPDATE central_sequence.scopes
        SET last_value = last_value + (SELECT count(*) FROM fresh)
        WHERE id = (SELECT id FROM scope) AND EXISTS (SELECT 1 FROM fresh)
        RETURNING id, last_value - (SELECT count(*) FROM fresh) AS base
    ), inserted AS (
        INSERT INTO central_sequence.elements (scope_id, element_type, element_id, sequence_number)
        SELECT c.id, f.element_type, f.element_id, c.base + f.rank FROM fresh f CROSS JOIN counter c
        RETURNING element_type, element_id, sequence_number
    )
    SELECT f.ord, n.sequence_number, true AS created
    FROM inserted n JOIN fresh f ON f.element_type = n.element_type AND f.element_id = n.element_id
    UNION ALL
    SELECT ord, existing_number, false AS created FROM looked_up WHERE existing_number IS NOT NULL
    """
)


@dataclass
class _Waiting:
    futures: list["asyncio.Future[tuple[int, bool]]"] = field(default_factory=list)


class BatchNumberer:
    """One per engine (so per process) and scope of an account: a queue of numbering requests and one
    worker draining it. The worker runs in the context of whichever request started it, so the
    account is given here, never read from the current caller."""

    def __init__(self, engine: AsyncEngine, owner: str, scope: str) -> None:
        self.engine = engine
        self.owner = owner
        self.scope = scope
        self.pending: dict[ElementKey, _Waiting] = {}
        self.worker: asyncio.Task[None] | None = None

    async def number(self, key: ElementKey) -> tuple[int, bool]:
        """The element's number and whether this request gave it (201) or found it (200)."""
        future: asyncio.Future[tuple[int, bool]] = asyncio.get_running_loop().create_future()
        self.pending.setdefault(key, _Waiting()).futures.append(future)
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            await self._drain_batches()
        finally:
            # An idle scope keeps no numberer: a system holds many scopes, each used now and then.
            by_scope = _numberers.get(self.engine, {})
            if not self.pending and by_scope.get((self.owner, self.scope)) is self:
                del by_scope[self.owner, self.scope]

    async def _drain_batches(self) -> None:
        while self.pending:
            keys = list(self.pending)[:MAX_BATCH]
            batch = {key: self.pending.pop(key) for key in keys}
            try:
                numbers = await self._number_batch(keys)
            except Exception as error:  # every waiting request answers with the database's error
                for waiting in batch.values():
                    for future in waiting.futures:
                        if not future.done():
                            future.set_exception(error)
                continue
            for key, waiting in batch.items():
                number, created = numbers[key]
                for position, future in enumerate(waiting.futures):
                    if not future.done():
                        # Requests for the same element in one batch: the first numbered it.
                        future.set_result((number, created and position == 0))

    async def _number_batch(self, keys: list[ElementKey]) -> dict[ElementKey, tuple[int, bool]]:
        params = {
            "owner": self.owner,
            "scope": self.scope,
            "types": [k.element_type for k in keys],
            "ids": [k.element_id for k in keys],
        }
        for attempt in range(1, 4):
            try:
                async with autocommit(self.engine) as conn:
                    rows = (await conn.execute(_NUMBER_BATCH, params)).all()
                    if len(rows) < len(keys):  # the scope is new: nothing was numbered
                        await conn.execute(create_scope(self.owner, self.scope))
                        rows = (await conn.execute(_NUMBER_BATCH, params)).all()
                return {keys[row.ord - 1]: (int(row.sequence_number), bool(row.created)) for row in rows}
            except IntegrityError:
                if attempt == 3:
                    raise
                # A concurrent batch numbered one of these elements first; the next pass reads it.
        raise AssertionError("unreachable")


_numberers: "weakref.WeakKeyDictionary[AsyncEngine, dict[tuple[str, str], BatchNumberer]]" = weakref.WeakKeyDictionary()


def numberer_for(engine: AsyncEngine, owner: str, scope: str) -> BatchNumberer:
    """The numberer of `owner`'s scope named `scope` in this process."""
    by_scope = _numberers.setdefault(engine, {})
    if (owner, scope) not in by_scope:
        by_scope[owner, scope] = BatchNumberer(engine, owner, scope)
    return by_scope[owner, scope]
