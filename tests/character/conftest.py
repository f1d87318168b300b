from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

TABLES = ("paraphrases", "characters", "actions", "spoken_words", "idempotency_keys")


async def reset_characters(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        tables = ", ".join(f"character.{name}" for name in TABLES)
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            name: (await conn.execute(text(f"SELECT count(*) FROM character.{name}"))).scalar_one() for name in TABLES
        }


@pytest.fixture
async def client(
    engine: AsyncEngine, client_for: Callable[[str], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the Character Management Service over empty tables."""
    await reset_characters(engine)
    yield client_for("character")
