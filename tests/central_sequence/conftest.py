from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def reset_numbering(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE central_sequence.element_versions, central_sequence.elements, central_sequence.scopes, "
                "central_sequence.idempotency_keys RESTART IDENTITY CASCADE"
            )
        )
        # As the migration leaves it: the scope /v1 numbers in exists, empty.
        await conn.execute(text("INSERT INTO central_sequence.scopes (name) VALUES ('default')"))


@pytest.fixture
async def client(
    engine: AsyncEngine, client_for: Callable[[str], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the Central Sequence Service over an empty numbering."""
    await reset_numbering(engine)
    yield client_for("central_sequence")
