"""The shared CRUD logic of scaffolded services (fountain_common/crud/) against a real table: filters
with PostgREST's operators, ordering by several fields with nulls first or last, keys of several
columns, and values that keep their exact type on the wire."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.crud import Resource, create_row, delete_row, get_row, list_rows, update_row
from fountain_common.problems import Problem, invalid

SCHEMA = "crud_probe"
metadata = MetaData(schema=SCHEMA)
track = Table(
    "track",
    metadata,
    Column("album_id", Integer, primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("price", Numeric(10, 2), nullable=False),
    Column("composer", String(100), nullable=True),
    Column("released", DateTime, nullable=True),
    Column("explicit", Boolean, nullable=False),
    Column("mood", postgresql.ENUM("calm", "loud", name="mood", schema=None, create_type=False), nullable=True),
    Column("cover", LargeBinary, nullable=True),
    Column("span", postgresql.INTERVAL, nullable=True),
    Column("words", postgresql.TSVECTOR, nullable=True),
)
TRACKS = Resource(track, "/v1/track")
ROWS = [
    {"albumId": 1, "position": 1, "name": "Intro", "price": "0.99", "explicit": False, "mood": "calm"},
    {"albumId": 1, "position": 2, "name": "Rock On", "price": "1.29", "composer": "Ann", "explicit": True},
    {"albumId": 2, "position": 1, "name": "rock bottom", "price": "10.10", "composer": "Bo", "explicit": False},
    {"albumId": 2, "position": 2, "name": "Outro", "price": "0.99", "composer": None, "explicit": False},
]


@pytest.fixture
async def conn(engine: AsyncEngine) -> AsyncIterator[Any]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await connection.execute(text(f"CREATE TYPE {SCHEMA}.mood AS ENUM ('calm', 'loud')"))
        # The tables name the enum bare, as a scaffolded service's do: create them with the schema on the
        # search path, then serve them without it, as the services' connections do.
        await connection.execute(text(f"SET LOCAL search_path TO {SCHEMA}"))
        await connection.run_sync(metadata.create_all)
        await connection.execute(text("SET LOCAL search_path TO DEFAULT"))
        for row in ROWS:
            await create_row(connection, TRACKS, row)
        yield connection
        await transaction.rollback()


async def names(conn: Any, order_by: str | None = None, **filters: str) -> list[str]:
    columns = {"album_id": None, "position": None, "name": None, "price": None, "composer": None}
    columns |= {"released": None, "explicit": None, "mood": None, "cover": None, "span": None, "words": None}
    page = await list_rows(conn, TRACKS, filters={**columns, **filters}, order_by=order_by, limit=50, offset=0)
    assert page["total"] == len(page["items"])
    return [item["name"] for item in page["items"]]


async def test_filters_take_postgrest_operators(conn: Any) -> None:
    assert await names(conn, price="eq.0.99") == ["Intro", "Outro"]
    assert await names(conn, price="gt.1") == ["Rock On", "rock bottom"]
    assert await names(conn, price="lte.1.29", album_id="eq.1") == ["Intro", "Rock On"]
    assert await names(conn, position="neq.1") == ["Rock On", "Outro"]
    assert await names(conn, name="like.R*") == ["Rock On"]
    assert await names(conn, name="ilike.rock*") == ["Rock On", "rock bottom"]
    assert await names(conn, album_id="in.(2,3)") == ["rock bottom", "Outro"]
    assert await names(conn, composer="is.null") == ["Intro", "Outro"]
    assert await names(conn, composer="not.is.null") == ["Rock On", "rock bottom"]
    assert await names(conn, explicit="is.true") == ["Rock On"]
    assert await names(conn, mood="eq.calm") == ["Intro"]
    assert await names(conn, position="1") == ["Intro", "rock bottom"]  # a bare value is equality
    assert await names(conn, name="Outro") == ["Outro"]


@pytest.mark.parametrize(
    ("field", "given", "message"),
    [
        ("price", "gt.cheap", "price: 'cheap' is not a valid"),
        ("position", "one", "position: 'one' is not a valid integer"),
        ("explicit", "gt.true", "true/false fields take eq, neq and is only"),
        ("price", "like.1*", "like applies to text fields only"),
        ("cover", "eq.aGk=", "only be filtered with is.null or not.is.null"),
        ("mood", "eq.sad", "invalid input value for enum"),
    ],
)
async def test_a_bad_filter_is_a_400_naming_it(conn: Any, field: str, given: str, message: str) -> None:
    with pytest.raises(Problem) as refused:
        await names(conn, **{field: given})
    assert refused.value.status == invalid("").status  # an invalid request: 400 on /v1
    assert message in str(refused.value.detail)


async def test_ordering_by_several_fields_places_the_nulls(conn: Any) -> None:
    assert await names(conn, "composer.nullsfirst") == ["Intro", "Outro", "Rock On", "rock bottom"]
    assert await names(conn, "-composer.nullslast,position") == ["rock bottom", "Rock On", "Intro", "Outro"]
    assert await names(conn, "price,-albumId") == ["Outro", "Intro", "Rock On", "rock bottom"]
    with pytest.raises(Problem):
        await names(conn, "price.nullsmiddle")


async def test_rows_of_a_key_of_several_columns_are_read_changed_and_deleted_by_every_key_column(conn: Any) -> None:
    row = await get_row(conn, TRACKS, (2, 1))
    assert row["name"] == "rock bottom"
    assert (await update_row(conn, TRACKS, (2, 1), {"composer": "Cy"}))["composer"] == "Cy"
    assert (await get_row(conn, TRACKS, (2, 2)))["composer"] is None
    await delete_row(conn, TRACKS, (2, 1))
    with pytest.raises(Problem) as missing:
        await get_row(conn, TRACKS, (2, 1))
    assert missing.value.status == 404
    assert "albumId 2, position 1" in str(missing.value.detail)


async def test_values_keep_their_exact_type_on_the_wire(conn: Any) -> None:
    created = await create_row(
        conn,
        TRACKS,
        {
            "albumId": 3,
            "position": 1,
            "name": "Exact",
            "price": "12345678.91",
            "explicit": False,
            "released": "2009-01-01T00:00:00.250000",
            "cover": "aGVsbG8=",
            "span": "1 day 02:00:00",
        },
    )
    assert created.location == "/v1/track/3/1"
    fields = created.fields
    assert fields["price"] == "12345678.91"  # no float on the way
    assert fields["released"] == "2009-01-01T00:00:00.250000"
    assert fields["cover"] == "aGVsbG8="
    assert fields["span"] == "1 day 02:00:00"
    assert await get_row(conn, TRACKS, (3, 1)) == fields


async def test_a_text_search_vector_filters_by_full_text(conn: Any) -> None:
    await conn.execute(text(f"UPDATE {SCHEMA}.track SET words = to_tsvector('english', name)"))
    assert await names(conn, words="fts(english).rock") == ["Rock On", "rock bottom"]
    assert await names(conn, words="fts(english).rock & !bottom") == ["Rock On"]
    assert await names(conn, words="plfts(english).rocks bottoms") == ["rock bottom"]
    assert await names(conn, words="phfts(english).bottom rock") == []
    assert await names(conn, words='wfts(english)."rock bottom" or intro') == ["Intro", "rock bottom"]
    assert await names(conn, words="plfts.outro") == ["Outro"]
    for given, message in [
        ("fts(english).rock &", "A full-text filter cannot be read: no operand in tsquery"),
        ("fts(klingon).rock", 'A full-text filter cannot be read: text search configuration "klingon" does not exist'),
        ("eq.rock", "only be filtered with is.null or not.is.null, or with fts, plfts, phfts or wfts"),
    ]:
        with pytest.raises(Problem) as refused:
            async with conn.begin_nested():
                await names(conn, words=given)
        assert refused.value.status == invalid("").status
        assert message in str(refused.value.detail)
