"""Database URL, engines, the transaction helpers the services use, and prepared reads."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import Select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, PoolProxiedConnection

from fountain_common.embedded_postgres import embedded_url
from fountain_common.settings import Settings
from fountain_common.sync_calls import run_sync

T = TypeVar("T")
Row = Mapping[Any, Any]  # a row by column name: SQLAlchemy's RowMapping, or the driver's record

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
        pool_timeout=settings.database_pool_timeout_seconds,
        connect_args=connect_arguments(settings),
    )


def connect_arguments(settings: Settings) -> dict[str, Any]:
    """asyncpg's timeouts, so that a database that stops answering (frozen, cut off by the network)
    turns into 503 answers instead of requests that hang. The server ends a slow statement itself
    (`statement_timeout`, SQLSTATE 57014); the client gives up a little later, for a server that
    cannot even do that."""
    statement_timeout = settings.database_statement_timeout_seconds
    return {
        "timeout": settings.database_connect_timeout_seconds,
        "command_timeout": statement_timeout + 1.0,
        "server_settings": {"statement_timeout": str(max(1, round(statement_timeout * 1000)))},
    }


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


@asynccontextmanager
async def transaction_apart(engine: AsyncEngine, settings: Settings) -> AsyncIterator[AsyncConnection]:
    """A transaction of its own, committed whatever becomes of the one the caller is in: for what must
    outlive a transaction that fails or is never committed. Its connection is opened for it, outside
    `engine`'s pool, so requests that each hold a pooled connection never wait on each other for a
    second one; it costs a connection's setup, which suits rare writes only."""
    url = engine.url.render_as_string(hide_password=False)
    arguments = connect_arguments(settings)
    key = (url, repr(sorted(arguments.items())))
    if key not in _UNPOOLED:  # an engine without a pool holds no connection: kept for the process
        _UNPOOLED[key] = create_async_engine(url, poolclass=NullPool, connect_args=arguments)
    async with _UNPOOLED[key].begin() as conn:
        yield conn


_UNPOOLED: dict[tuple[str, str], AsyncEngine] = {}


class ReadConnection(AsyncConnection):
    """The connection of a read route: a pooled connection outside any transaction.

    SQLAlchemy's own connection around it is made only when a statement runs through SQLAlchemy (then
    in autocommit mode: one round trip a statement, no BEGIN/ROLLBACK). A `PreparedRead` needs none:
    it goes straight to the driver, which saves most of the CPU of reading a row by its key.
    """

    def __init__(self, engine: AsyncEngine, pooled: PoolProxiedConnection) -> None:
        super().__init__(engine)
        self.pooled = pooled

    @property
    def _proxied(self) -> Connection:
        if self.sync_connection is None:
            # No I/O: the pooled connection is checked out already, and an autocommit flag is only set.
            connection = Connection(self.sync_engine, connection=self.pooled)
            self.sync_connection = self._assign_proxied(connection.execution_options(isolation_level="AUTOCOMMIT"))
        return self.sync_connection

    async def release(self) -> None:
        """Give the pooled connection back (through SQLAlchemy's connection, if one was made)."""
        if self.sync_connection is not None:
            await self.close()
        else:
            await run_sync(self.pooled.close)


async def open_read_connection(engine: AsyncEngine) -> ReadConnection:
    """A ReadConnection of `engine`'s pool; `release()` it when done. (What `engine.raw_connection()`
    does, on a greenlet kept for the next request: see sync_calls.)"""
    return ReadConnection(engine, await run_sync(engine.sync_engine.raw_connection))


class PreparedRead:
    """A read built once with bind parameters, for the hottest reads (one row by its key).

    On a `ReadConnection` it goes straight to the driver as a prepared statement, skipping
    SQLAlchemy's execution path, which costs more CPU than the rest of such a request. On any other
    connection (a write or snapshot transaction) it runs through SQLAlchemy like any statement, so
    row locks and snapshots hold. Rows answer `row["column"]` either way; JSON columns come back
    decoded (the dialect registers the codecs on every connection).
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._sql = ""
        self._names: tuple[str, ...] = ()

    async def first(self, conn: AsyncConnection, **params: Any) -> Row | None:
        if not isinstance(conn, ReadConnection):
            row: Row | None = (await conn.execute(self.statement, params)).mappings().first()
            return row
        if not self._sql:
            compiled = self.statement.compile(dialect=conn.sync_engine.dialect)
            self._names = tuple(compiled.positiontup or ())
            self._sql = str(compiled)
        driver = conn.pooled.driver_connection
        assert driver is not None  # a connection checked out of the pool has one
        arguments = [params[name] for name in self._names]
        try:
            record = await driver.fetchrow(self._sql, *arguments)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError) as error:
            raise _translated(conn.pooled, self._sql, arguments, error) from error
        except asyncio.CancelledError:
            conn.pooled.invalidate()  # cut off mid-statement: the driver connection is out of step
            raise
        return cast(Row | None, record)


def _translated(pooled: PoolProxiedConnection, sql: str, arguments: list[Any], error: Exception) -> Exception:
    """A driver error as SQLAlchemy would raise it, so problems.py answers it alike (a lost connection
    is 503)."""
    if isinstance(error, asyncpg.PostgresError) and not str(error.sqlstate or "").startswith(("08", "57P")):
        return DBAPIError(sql, arguments, error)  # the server refused the statement; the connection is fine
    # Anything else from the driver (connection lost, closed by the server, protocol out of step) leaves
    # the connection unusable: the pool drops it and opens a new one for a later request.
    pooled.invalidate(error)
    return OperationalError(sql, arguments, error)
