"""A row read by its key (GET of a scaffolded service's row) goes straight to the driver on a read
connection, as a prepared statement, and answers exactly what the SQLAlchemy path answers, for keys
of every kind: several columns, uuid, date, timestamp, enum, text."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import Column, Date, DateTime, Integer, MetaData, Numeric, String, Table, Uuid, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.crud import Resource, create_row, get_row
from fountain_common.database import open_read_connection
from fountain_common.problems import Problem

SCHEMA = "key_read_probe"
metadata = MetaData(schema=SCHEMA)
show = Table(
    "show",
    metadata,
    Column("venue_id", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("ticket", Uuid, primary_key=True),
    Column("starts", DateTime(timezone=True), primary_key=True),
    Column("mood", postgresql.ENUM("calm", "loud", name="mood", schema=None, create_type=False), primary_key=True),
    Column("code", String(10), primary_key=True),
    Column("price", Numeric(8, 2), nullable=False),
    Column("span", postgresql.INTERVAL, nullable=True),
    Column("details", postgresql.JSONB, nullable=True),
)
SHOWS = Resource(show, "/v1/show")
ROW = {
    "venueId": 7,
    "day": "2026-11-21",
    "ticket": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "starts": "2026-11-21T20:00:00+00:00",
    "mood": "loud",
    "code": "A-1",
    "price": "12.50",
    "span": "02:00:00",
    "details": {"hall": ["main", 2]},
}
KEY = (7, "2026-11-21", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "2026-11-21T20:00:00Z", "loud", "A-1")


@pytest.fixture
async def stored(engine: AsyncEngine) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.execute(text(f"CREATE TYPE {SCHEMA}.mood AS ENUM ('calm', 'loud')"))
        await conn.execute(text(f"SET LOCAL search_path TO {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
        await conn.execute(text("SET LOCAL search_path TO DEFAULT"))
        await create_row(conn, SHOWS, ROW)
    yield
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))


async def test_a_row_by_its_key_is_read_through_the_driver_with_the_same_answer(
    engine: AsyncEngine, stored: None
) -> None:
    async with engine.begin() as conn:
        through_sqlalchemy = await get_row(conn, SHOWS, KEY)
    assert through_sqlalchemy == ROW
    read: Any = await open_read_connection(engine)
    try:
        assert await get_row(read, SHOWS, KEY) == through_sqlalchemy
        with pytest.raises(Problem) as missing:
            await get_row(read, SHOWS, (*KEY[:-1], "B-2"))
        assert missing.value.status == 404
        # No SQLAlchemy connection was made around the pooled one: the statement went to the driver.
        assert read.sync_connection is None
    finally:
        await read.release()
