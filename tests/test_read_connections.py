"""The connections generated routes open (fountain_common/routes.py, database.py): reads outside any
transaction, prepared reads by key that go straight to the driver only there, and a lost connection
that answers 503 once and is then replaced; the pool's checkout and checkin on greenlets kept for the
next request (sync_calls.py)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi import Request
from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import await_

from fountain_common.database import PreparedRead, ReadConnection, open_read_connection
from fountain_common.routes import Route
from fountain_common.settings import Settings
from fountain_common.sync_calls import run_sync
from services.character.tables import characters
from tests.in_process import service_app


@pytest.fixture
async def juliet(engine: AsyncEngine) -> AsyncIterator[int]:
    async with engine.begin() as conn:
        row = await conn.execute(
            characters.insert().values(name="Juliet", description="A Capulet.").returning(characters.c.id)
        )
        character_id = int(row.scalar_one())
    yield character_id
    async with engine.begin() as conn:
        await conn.execute(characters.delete().where(characters.c.id == character_id))


def by_id() -> PreparedRead:
    return PreparedRead(select(characters).where(characters.c.id == bindparam("id")))


async def test_a_prepared_read_answers_the_same_row_on_a_read_connection_and_in_a_transaction(
    engine: AsyncEngine, juliet: int
) -> None:
    query = by_id()
    reader = await open_read_connection(engine)
    try:
        direct = await query.first(reader, id=juliet)
        assert reader.sync_connection is None  # no SQLAlchemy connection was needed
    finally:
        await reader.release()
    async with engine.begin() as conn:
        through_sqlalchemy = await query.first(conn, id=juliet)
    assert direct is not None and through_sqlalchemy is not None
    assert dict(direct) == dict(through_sqlalchemy)
    assert direct["name"] == "Juliet"


async def test_a_read_connection_runs_each_statement_on_its_own_and_a_transaction_does_not(
    engine: AsyncEngine,
) -> None:
    # now() is the start of the transaction: equal within one, different between autocommit statements.
    now_twice = text("SELECT now() AS a, pg_sleep(0.01), clock_timestamp() AS b")
    reader = await open_read_connection(engine)
    try:
        first = (await reader.execute(text("SELECT now()"))).scalar_one()
        second = (await reader.execute(text("SELECT now()"))).scalar_one()
        assert first != second
        assert isinstance(reader, ReadConnection) and reader.sync_connection is not None
    finally:
        await reader.release()
    async with engine.begin() as conn:
        first = (await conn.execute(text("SELECT now()"))).scalar_one()
        await conn.execute(now_twice)
        second = (await conn.execute(text("SELECT now()"))).scalar_one()
        assert first == second


async def test_a_lost_connection_answers_503_once_and_is_replaced(database_url: str, juliet: int) -> None:
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0)
    app = service_app("character", Settings(database_url=database_url), engine)
    try:
        async with (
            app.router.lifespan_context(app),  # its shutdown takes its pool out of the metrics
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
        ):
            assert (await client.get(f"/v2/characters/{juliet}")).status_code == 200
            reader = await open_read_connection(engine)  # the pool's one connection
            try:
                driver = reader.pooled.driver_connection
                assert driver is not None
                pid = driver.get_server_pid()
            finally:
                await reader.release()
            async with create_async_engine(database_url).connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            lost = await client.get(f"/v2/characters/{juliet}")
            assert lost.status_code == 503
            assert lost.headers["content-type"] == "application/problem+json"
            again = await client.get(f"/v2/characters/{juliet}")
            assert again.status_code == 200 and again.json()["name"] == "Juliet"
    finally:
        await engine.dispose()


class SentQueries:
    """The statements the driver sends outside prepared statements: BEGIN, COMMIT, ROLLBACK."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, record: Any) -> None:
        self.seen.append(record.query)


async def test_a_statement_route_writes_in_one_round_trip_and_a_write_route_in_a_transaction(
    engine: AsyncEngine,
) -> None:
    request = cast(Request, SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(engine=engine))))
    sent: dict[str, SentQueries] = {}

    def insert(name: str) -> Callable[[AsyncConnection], Awaitable[int]]:
        async def operation(conn: AsyncConnection) -> int:
            driver = (await conn.get_raw_connection()).driver_connection
            sent[name] = SentQueries()
            driver.add_query_logger(sent[name])
            try:
                created = characters.insert().values(name=name, description="").returning(characters.c.id)
                return int((await conn.execute(created)).scalar_one())
            finally:
                driver.remove_query_logger(sent[name])

        return operation

    one = await Route("createOne", status=201, connection="statement").statement(request, insert("Mercutio"))
    await Route("createTwo", status=201, connection="write").write(request, insert("Tybalt"))
    assert sent["Mercutio"].seen == []  # the INSERT alone, prepared: no BEGIN or COMMIT around it
    # A transaction: BEGIN first, a round trip of its own (COMMIT, another, once the operation returns).
    assert [query.split()[0] for query in sent["Tybalt"].seen] == ["BEGIN"]
    async with engine.begin() as conn:
        names = (await conn.execute(select(characters.c.name).where(characters.c.id == one))).scalars().all()
        assert names == ["Mercutio"]  # committed by itself
        await conn.execute(characters.delete().where(characters.c.name.in_(["Mercutio", "Tybalt"])))


async def test_sync_calls_wait_on_the_loop_see_the_callers_context_and_raise_what_they_raise() -> None:
    """run_sync keeps greenlets for the next call: each call must still behave as greenlet_spawn."""
    request_id: ContextVar[str] = ContextVar("request_id")

    def checks_out() -> str:
        await_(asyncio.sleep(0))  # waits on the event loop from synchronous code, as the pool does
        return request_id.get()

    def fails() -> None:
        await_(asyncio.sleep(0))
        raise LookupError("no such row")

    async def call(name: str) -> str:
        request_id.set(name)
        return await run_sync(checks_out)

    assert await asyncio.gather(*(call(f"r{i}") for i in range(50))) == [f"r{i}" for i in range(50)]
    with pytest.raises(LookupError, match="no such row"):
        await run_sync(fails)
    assert await call("after an error") == "after an error"


async def test_a_request_cancelled_while_waiting_for_a_connection_takes_none(database_url: str) -> None:
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        held = await open_read_connection(engine)
        waiting = asyncio.create_task(open_read_connection(engine))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await held.release()
        pool = engine.sync_engine.pool
        assert pool.checkedout() == 0  # type: ignore[attr-defined]
        again = await asyncio.wait_for(open_read_connection(engine), timeout=1)
        assert (await again.execute(text("SELECT 1"))).scalar_one() == 1
        await again.release()
    finally:
        await engine.dispose()
