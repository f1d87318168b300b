"""Views of a scaffolded service's input, served read-only: their columns typed by PostgreSQL itself,
declared in the spec as a list without writes, and listed with a table's filters, ordering and pages.

Inputs: a small music store with views of every kind of column (views.sql), and pagila's views."""

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli.scaffold.code_writer import migration_statements, render_tables
from fountain_cli.scaffold.model import Schema, relations
from fountain_cli.scaffold.pipeline import read_input
from fountain_cli.scaffold.spec_writer import build_spec
from fountain_common.crud import Embed, Resource, list_rows
from fountain_common.embedded_postgres import embedded_url
from tests.tooling.conftest import INPUTS, commit_all, run_in

PROBE_SCHEMA = "view_probe"


def columns_of(schema: Schema, view: str) -> dict[str, str]:
    return {c.name: c.type.sql() for c in next(v for v in schema.views if v.name == view).columns}


def test_view_columns_are_typed_by_postgresql(views_schema: Schema) -> None:
    schema = views_schema
    assert columns_of(schema, "album_summary") == {
        "album_id": "integer",
        "title": "varchar(160)",
        "artist": "varchar(120)",
        "tracks": "bigint",  # count()
        "total_price": "numeric",  # sum() of numeric(10,2): exact, of any precision
        "size": "text",  # CASE of text literals
    }
    assert columns_of(schema, "track_list") == {
        "track_id": "integer",
        "name": "varchar(200)",
        "medium": "media",
        "length": "seconds",
        "unit_price": "numeric(10,2)",
        "album_by": "text",
        "released": "date",
        "names": "varchar[]",
    }
    track_list = next(v for v in schema.views if v.name == "track_list")
    assert track_list.column("medium").type.labels == ("vinyl", "cd", "stream")
    # The columns PostgreSQL traces to one table column; computed ones (count(), a CASE) have none.
    summary = next(v for v in schema.views if v.name == "album_summary")
    assert summary.origins == {
        "album_id": ("album", "album_id"),
        "title": ("album", "title"),
        "artist": ("artist", "name"),
    }
    assert track_list.origins["track_id"] == ("track", "track_id") and "album_by" not in track_list.origins
    # And so what their rows embed: the relations of those table columns.
    # (album.artist_id is not among album_summary's columns: no artist to embed.)
    assert [(r.name, r.kind, r.column, r.target) for r in relations(schema, summary)] == [
        ("track", "many", "album_id", "track")
    ]
    assert relations(schema, track_list) == []
    assert [v.name for v in schema.views if v.served] == ["album_summary", "track_list"]
    assert any(
        "view artist_card, column 'artist name'" in note and "carried into the database but not served" in note
        for note in schema.notes
    ), schema.notes


def test_pagila_views_are_typed_and_the_ones_the_api_can_name_are_served(database_url: str) -> None:
    schema = read_input(INPUTS / "realdata" / "pagila-schema.sql", "sql", database_url)
    served = {v.name for v in schema.views if v.served}
    assert served == {
        "actor_info",
        "film_list",
        "nicer_but_slower_film_list",
        "sales_by_film_category",
        "sales_by_store",
    }
    assert columns_of(schema, "film_list")["price"] == "numeric(4,2)"
    assert columns_of(schema, "film_list")["rating"] == "mpaa_rating"
    assert columns_of(schema, "film_list")["actors"] == "text"  # the input's own aggregate, group_concat
    assert columns_of(schema, "actor_info")["film_info"] == "jsonb"
    assert columns_of(schema, "sales_by_store")["total_sales"] == "numeric"
    # "zip code" is no name the API can carry; the materialized view is carried, not served.
    unserved = " ".join(schema.notes)
    assert "view customer_list" in unserved and "view staff_list" in unserved
    assert "rental_by_category" not in served


def test_views_are_declared_as_lists_without_writes(views_schema: Schema) -> None:
    spec = build_spec("records", "records.fountain.coach", 8110, views_schema)
    assert list(spec["paths"]["/v1/album-summary"]) == ["get"]
    assert not [path for path in spec["paths"] if path.startswith("/v1/album-summary/")]
    assert "/v1/artist-card" not in spec["paths"]
    listing = spec["paths"]["/v1/track-list"]["get"]
    parameters = [p.get("name") or p["$ref"] for p in listing["parameters"]]
    # The filters are declared once, under components/parameters.
    assert parameters[:3] == [f"#/components/parameters/TrackList.{name}" for name in ("trackId", "name", "medium")]
    assert spec["components"]["parameters"]["TrackList.medium"]["name"] == "medium"
    assert "orderBy" in parameters and "select" in parameters and "embed" not in parameters
    summary = spec["paths"]["/v1/album-summary"]["get"]
    embed = next(p for p in summary["parameters"] if p.get("name") == "embed")
    assert embed["schema"]["pattern"].startswith("^(track")
    select = next(p for p in summary["parameters"] if p.get("name") == "select")
    assert r"|track\.(trackId|name|" in select["schema"]["pattern"]  # the fields of the embedded tracks
    assert "text/csv" in summary["responses"]["200"]["content"]
    schemas = spec["components"]["schemas"]
    assert "AlbumSummaryCreate" not in schemas and "AlbumSummaryUpdate" not in schemas
    row = schemas["AlbumSummary"]["properties"]
    assert row["totalPrice"]["type"] == ["string", "null"]  # an exact decimal
    assert row["tracks"]["type"] == ["integer", "null"]
    assert schemas["TrackList"]["properties"]["medium"]["enum"] == ["vinyl", "cd", "stream"]


@pytest.fixture(scope="module")
def views_schema(database_url: str) -> Schema:
    return read_input(INPUTS / "views.sql", "sql", database_url)


@pytest.fixture
async def view_conn(engine: AsyncEngine, views_schema: Schema) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """views.sql migrated into a schema of its own, with rows, inside a transaction rolled back after;
    and the tables module scaffold writes for it."""
    schema = views_schema
    module: dict[str, Any] = {}
    exec(render_tables(PROBE_SCHEMA, schema, "views.sql"), module)  # noqa: S102 - the generated tables module
    async with engine.connect() as conn:
        transaction = await conn.begin()
        await conn.exec_driver_sql(f"CREATE SCHEMA {PROBE_SCHEMA}")
        await conn.exec_driver_sql(f"SET LOCAL search_path TO {PROBE_SCHEMA}")
        for statement in migration_statements(schema):
            await conn.exec_driver_sql(statement.sql)
        for rows in (
            "INSERT INTO artist VALUES (1, 'AC/DC'), (2, 'Accept'), (3, 'Aerosmith')",
            "INSERT INTO album VALUES (1, 'Let There Be Rock', 1, '1977-03-21'), (2, 'Balls to the Wall', 2, NULL),"
            " (3, 'Big Ones', 3, NULL)",
            "INSERT INTO track VALUES (1, 'Go Down', 1, 'cd', 331, 0.99), (2, 'Dog Eat Dog', 1, 'vinyl', 3300, 1.29),"
            " (3, 'Balls to the Wall', 2, 'cd', NULL, 0.99), (4, 'Walk on Water', 3, 'stream', 295, 0.99),"
            " (5, 'Love in an Elevator', 3, 'stream', 321, 0.99)",
        ):
            await conn.execute(text(rows))
        await conn.exec_driver_sql("SET LOCAL search_path TO DEFAULT")
        yield conn, module
        await transaction.rollback()


async def listed(conn: Any, table: Any, order_by: str | None = None, limit: int = 50, **filters: str) -> Any:
    resource = Resource(table, "/v1/" + table.name.replace("_", "-"))
    every = {c.name: None for c in table.columns}
    return await list_rows(conn, resource, filters={**every, **filters}, order_by=order_by, limit=limit, offset=0)


async def test_a_view_lists_with_filters_order_and_pages(view_conn: tuple[Any, dict[str, Any]]) -> None:
    conn, module = view_conn
    summary, tracks = module["album_summary"], module["track_list"]
    page = await listed(conn, summary, total_price="gt.1.5")
    assert page["items"] == [
        {
            "albumId": 1,
            "title": "Let There Be Rock",
            "artist": "AC/DC",
            "tracks": 2,
            "totalPrice": "2.28",
            "size": "long",
        },
        {"albumId": 3, "title": "Big Ones", "artist": "Aerosmith", "tracks": 2, "totalPrice": "1.98", "size": "short"},
    ]
    ordered = await listed(conn, summary, order_by="-tracks,title", limit=2)
    assert [item["title"] for item in ordered["items"]] == ["Big Ones", "Let There Be Rock"]
    assert ordered["total"] == 3
    assert [i["name"] for i in (await listed(conn, tracks, medium="in.(vinyl,stream)"))["items"]] == [
        "Dog Eat Dog",
        "Walk on Water",
        "Love in an Elevator",
    ]
    nulls_first = await listed(conn, tracks, order_by="length.nullsfirst", limit=1)
    assert nulls_first["items"][0]["name"] == "Balls to the Wall"
    assert (await listed(conn, tracks, album_by="ilike.*rock*"))["total"] == 2
    # No key: the rows' own columns end the order, so equal sort values still page the same way.
    first, second = [
        (await listed(conn, tracks, order_by="unitPrice", limit=50))["items"][i]["trackId"] for i in (0, 1)
    ]
    assert (first, second) == (1, 3)


async def test_a_view_selects_fields_and_embeds_along_its_tables_relations(
    view_conn: tuple[Any, dict[str, Any]],
) -> None:
    conn, module = view_conn
    # What the operations module declares for album_summary (relations(), asserted above).
    relations = {"album_summary": (Embed("track", "album_id", module["track"], "album_id", many=True),)}
    summaries = Resource(module["album_summary"], "/v1/album-summary", relations)
    page = await list_rows(
        conn, summaries, filters={}, order_by="albumId", limit=2, offset=0, select_="title,track.name"
    )
    assert page["items"] == [
        {"title": "Let There Be Rock", "track": [{"name": "Go Down"}, {"name": "Dog Eat Dog"}]},
        {"title": "Balls to the Wall", "track": [{"name": "Balls to the Wall"}]},
    ]


@pytest.mark.realdata
def test_a_scaffolded_service_serves_its_views_read_only(
    repository_copy: Callable[[], Path], postgres_dir: Path, tmp_path: Path
) -> None:
    root = repository_copy()
    url = embedded_url(postgres_dir, "scaffolded_records")
    env = {"FOUNTAIN_DATABASE_URL": url}
    made = run_in(
        root, "-m", "fountain_cli.main", "scaffold", "records", "--from-sql", str(INPUTS / "views.sql"), env=env
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "view artist_card" in made.stdout
    commit_all(root, "scaffold records")
    for command in ("upgrade", "check"):
        done = run_in(root, "-m", "fountain_cli.main", "db", command, "records", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    probe = tmp_path / "probe.py"
    probe.write_text(SERVED_PROBE)
    served = run_in(root, str(probe), env={**env, "FOUNTAIN_LOG_LEVEL": "WARNING"})
    assert served.returncode == 0, served.stdout + served.stderr
    answers = json.loads(served.stdout.splitlines()[-1])
    assert answers["list"] == [200, 2, ["Balls to the Wall", "Let There Be Rock"]]
    assert answers["filtered"] == [200, 1, ["Let There Be Rock"]]
    assert answers["post"] == 405 and answers["bad_filter"] == 400 and answers["item"] == 404


SERVED_PROBE = """
import asyncio, json, httpx
from fountain_cli import registry
from fountain_common.app import create_service_app
from fountain_common.database import create_engine
from fountain_common.settings import get_settings


async def main():
    settings = get_settings()
    engine = create_engine(settings)
    app = create_service_app(registry.load_service("records"), settings=settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://records") as client:
        for path, body in [
            ("/v1/artist", {"artistId": 1, "name": "AC/DC"}),
            ("/v1/artist", {"artistId": 2, "name": "Accept"}),
            ("/v1/album", {"albumId": 1, "title": "Let There Be Rock", "artistId": 1}),
            ("/v1/album", {"albumId": 2, "title": "Balls to the Wall", "artistId": 2}),
            ("/v1/track", {"trackId": 1, "name": "Go Down", "albumId": 1, "unitPrice": "0.99"}),
            ("/v1/track", {"trackId": 2, "name": "Dog Eat Dog", "albumId": 1, "unitPrice": "1.29"}),
        ]:
            assert (await client.post(path, json=body)).status_code == 201
        answers = {}
        for name, params in [("list", {"orderBy": "title"}), ("filtered", {"totalPrice": "gte.2.28"})]:
            page = await client.get("/v1/album-summary", params=params)
            answers[name] = [page.status_code, page.json()["total"], [i["title"] for i in page.json()["items"]]]
        answers["post"] = (await client.post("/v1/album-summary", json={})).status_code
        answers["bad_filter"] = (await client.get("/v1/album-summary", params={"tracks": "gt.x"})).status_code
        answers["item"] = (await client.get("/v1/album-summary/1")).status_code
    await engine.dispose()
    print(json.dumps(answers))


asyncio.run(main())
"""
