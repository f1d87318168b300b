"""`fountain accounts claim`: hand rows to an account, in every service's schema at once.

Every row belongs to an account through its `owner` column (fountain_common/ownership.py); rows
made before ownership existed, or by a server checking no keys, belong to none and only admins
see them. Claiming moves such rows (or another account's, with --from) to one account, in one
transaction over every service: either every table is moved or none is.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Table, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fountain_cli import registry
from fountain_common.ownership import UNOWNED


@dataclass(frozen=True)
class Moved:
    table: str  # schema.table
    rows: int


class TransferRefused(Exception):
    """The move would break a rule of the database (two scopes of one name for one account)."""


def owned_tables() -> list[Table]:
    """Every table of every service with an `owner` column, in the services' order."""
    return [
        table for service in registry.all_services() for table in service.metadata.sorted_tables if "owner" in table.c
    ]


@asynccontextmanager
async def _refused_at_commit() -> AsyncIterator[None]:
    """A deferred reference broken at COMMIT as a refusal (a row written meanwhile by another account)."""
    try:
        yield
    except IntegrityError as error:
        raise TransferRefused(str(error.orig).splitlines()[0]) from None


async def transfer(url: str, to: str, from_owner: str = UNOWNED) -> list[Moved]:
    """Give every row owned by `from_owner` to `to`; how many moved, per table."""
    engine = create_async_engine(url, poolclass=NullPool)
    moved = []
    try:
        async with _refused_at_commit(), engine.begin() as conn:
            # References over (owner, key) (services scaffolded with --auth) are deferrable: checked at
            # COMMIT, once every table has moved, as moving one table would break them for a moment.
            await conn.execute(text("SET CONSTRAINTS ALL DEFERRED"))
            for table in owned_tables():
                statement = update(table).where(table.c.owner == from_owner).values(owner=to)
                try:
                    result = await conn.execute(statement)
                except IntegrityError as error:
                    reason = str(error.orig).splitlines()[0]
                    raise TransferRefused(f"{table.fullname}: {reason}") from None
                moved.append(Moved(table.fullname, result.rowcount))
    finally:
        await engine.dispose()
    return moved


def run_transfer(url: str, to: str, from_owner: str = UNOWNED) -> list[Moved]:
    return asyncio.run(transfer(url, to, from_owner))
