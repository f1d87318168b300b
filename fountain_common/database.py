"""Database URL, engines and the transaction helpers the services use."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from fountain_common.embedded_postgres import embedded_url
from fountain_common.settings import Settings

T = TypeVar("T")

# SQLSTATEs after which a whole transaction may simply be run again.
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def async_database_url(settings: Settings) -> str:
    """The configured URL with the asyncpg driver named, or the embedded server's URL."""
    if not settings.database_url:
        return embedded_url(settings.data_dir, settings.database_name)
    url = make_url(settings.database_url)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+asyncpg")
    return url.render_as_string(hide_password=False)


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    # No pre-ping: it costs three round trips per checkout. A connection the server dropped fails
    # its request with 503 (see problems.py), and SQLAlchemy then replaces the pool's connections.
    return create_async_engine(
        async_database_url(settings),
        pool_size=pool_size or settings.pool_size,
        max_overflow=settings.pool_overflow,
    )


def sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE behind a DBAPIError, if any."""
    orig = getattr(error, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


async def run_in_transaction(
    engine: AsyncEngine,
    work: Callable[[AsyncConnection], Awaitable[T]],
    *,
    attempts: int = 5,
) -> T:
    """Run `work` in one transaction; run it again when PostgreSQL aborts it for a deadlock or a
    serialization conflict, which concurrent reorders can cause and a retry resolves."""
    for attempt in range(1, attempts + 1):
        try:
            async with engine.begin() as conn:
                return await work(conn)
        except DBAPIError as error:
            if sqlstate(error) not in RETRYABLE_SQLSTATES or attempt == attempts:
                raise
            await asyncio.sleep(0.005 * attempt)
    raise AssertionError("unreachable")


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose every statement commits by itself: one round trip per statement."""
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")
