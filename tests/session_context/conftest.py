from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def reset_sessions(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE session_context.contexts, session_context.sessions, "
                "session_context.idempotency_keys RESTART IDENTITY CASCADE"
            )
        )


@pytest.fixture
async def client(
    engine: AsyncEngine, client_for: Callable[[str], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the Session and Context Service with no sessions."""
    await reset_sessions(engine)
    yield client_for("session_context")
