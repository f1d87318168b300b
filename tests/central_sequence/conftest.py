from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def reset_numbering(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE central_sequence.element_versions, central_sequence.elements, "
                "central_sequence.idempotency_keys RESTART IDENTITY CASCADE"
            )
        )
        await conn.execute(text("UPDATE central_sequence.sequence_counter SET last_value = 0"))


@pytest.fixture
async def client(
    engine: AsyncEngine, client_for: Callable[[str], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the Central Sequence Service over an empty numbering."""
    await reset_numbering(engine)
    yield client_for("central_sequence")
