"""Each service's Alembic history: upgrade, downgrade to base and upgrade again, with the models
and migrations in agreement, each service confined to its own schema."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from fountain_cli import registry
from fountain_common.embedded_postgres import embedded_url
from fountain_common.migrations import alembic_config


def tables_by_schema(url: str) -> dict[str, set[str]]:
    async def read() -> dict[str, set[str]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: {s: set(inspect(sync).get_table_names(schema=s)) for s in registry.service_names()}
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_every_history_round_trips_within_its_own_schema(postgres_dir: Path, database_url: str) -> None:
    url = embedded_url(postgres_dir, "fountain_migrations")  # a database of its own: other tests keep theirs
    services = registry.all_services()
    for service in services:
        command.upgrade(alembic_config(service, url), "head")
    before = tables_by_schema(url)
    assert before["central_sequence"] == {
        "alembic_version",
        "elements",
        "element_versions",
        "scopes",
        "idempotency_keys",
    }
    for service in services:
        config = alembic_config(service, url)
        command.downgrade(config, "base")
        after_down = tables_by_schema(url)
        assert after_down[service.schema] == {"alembic_version"}, service.name
        assert {k: v for k, v in after_down.items() if k != service.schema} == {
            k: v for k, v in before.items() if k != service.schema
        }, f"downgrading {service.name} touched another schema"
        command.upgrade(config, "head")
        command.check(config)  # raises when models and migrations disagree
    assert tables_by_schema(url) == before


def _run(url: str, *statements: str) -> list[list[tuple[object, ...]]]:
    """Execute each statement in one transaction; answers the rows of those that return rows."""

    async def go() -> list[list[tuple[object, ...]]]:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                results = []
                for statement in statements:
                    result = await conn.execute(text(statement))
                    results.append([tuple(r) for r in result.all()] if result.returns_rows else [])
                return results
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_numbering_moves_into_scopes_and_back_with_the_data(postgres_dir: Path) -> None:
    url = embedded_url(postgres_dir, "fountain_scope_migration")
    central = alembic_config(registry.load_service("central_sequence"), url)
    core = alembic_config(registry.load_service("core_script"), url)
    command.upgrade(central, "0001")
    command.upgrade(core, "0002")
    # Before scopes: one counter for everything; two scripts whose headings interleave.
    _run(
        url,
        "INSERT INTO central_sequence.elements (element_type, element_id, sequence_number) VALUES "
        "('script', 1, 1), ('section', 1, 2), ('script', 2, 3), ('section', 2, 4), ('section', 3, 5), ('section', 4, 6)",
        "UPDATE central_sequence.sequence_counter SET last_value = 6",
        "INSERT INTO central_sequence.element_versions (element_pk, version, data) "
        "SELECT id, 2, '{\"text\": \"kept\"}' FROM central_sequence.elements WHERE element_type = 'section' AND element_id = 3",
        "UPDATE central_sequence.elements SET version = 2 WHERE element_type = 'section' AND element_id = 3",
        "INSERT INTO core_script.scripts (id, title, sequence_number) VALUES (1, 'One', 1), (2, 'Two', 3)",
        "INSERT INTO core_script.section_headings (id, script_id, title, sequence_number) VALUES "
        "(1, 1, 'a', 2), (2, 2, 'b', 4), (3, 1, 'c', 5), (4, 2, 'd', 6)",
    )
    command.upgrade(central, "head")
    command.upgrade(core, "head")
    scoped, versions, headings, flags = _run(
        url,
        "SELECT s.name, e.element_type, e.element_id, e.sequence_number, s.last_value FROM central_sequence.elements e "
        "JOIN central_sequence.scopes s ON s.id = e.scope_id ORDER BY e.sequence_number",
        "SELECT v.data->>'text' FROM central_sequence.element_versions v",
        "SELECT script_id, id, sequence_number FROM core_script.section_headings ORDER BY script_id, sequence_number",
        "SELECT id, sections_scoped FROM core_script.scripts ORDER BY id",
    )
    # Everything numbered before keeps its number in `default`, the /v1 scope; versions stay.
    assert scoped == [
        ("default", "script", 1, 1, 6),
        ("default", "section", 1, 2, 6),
        ("default", "script", 2, 3, 6),
        ("default", "section", 2, 4, 6),
        ("default", "section", 3, 5, 6),
        ("default", "section", 4, 6, 6),
    ]
    assert versions == [("kept",)]
    # Each script's headings keep their order, numbered from 2 (the script is 1 in its scope).
    assert headings == [(1, 1, 2), (1, 3, 3), (2, 2, 2), (2, 4, 3)]
    assert flags == [(1, False), (2, False)]  # their scopes are built on first use

    # A story scope (with a second place for section 3, without versions) merges back after `default`.
    _run(
        url,
        "INSERT INTO central_sequence.scopes (name, last_value) VALUES ('script-1', 3)",
        "INSERT INTO central_sequence.elements (scope_id, element_type, element_id, sequence_number) "
        "SELECT id, t.element_type, t.element_id, t.n FROM central_sequence.scopes, "
        "(VALUES ('script', 1, 1), ('section', 9, 2), ('section', 3, 3)) AS t(element_type, element_id, n) "
        "WHERE name = 'script-1'",
    )
    command.downgrade(core, "0002")
    command.downgrade(central, "0001")
    merged, counter, headings = _run(
        url,
        "SELECT element_type, element_id, sequence_number FROM central_sequence.elements ORDER BY sequence_number",
        "SELECT last_value FROM central_sequence.sequence_counter",
        "SELECT script_id, id, sequence_number FROM core_script.section_headings ORDER BY sequence_number",
    )
    assert merged == [
        ("script", 1, 1),
        ("section", 1, 2),
        ("script", 2, 3),
        ("section", 2, 4),
        ("section", 3, 5),
        ("section", 4, 6),
        ("section", 9, 7),
    ]
    assert counter == [(7,)]
    assert headings == [(1, 1, 1), (1, 3, 2), (2, 2, 3), (2, 4, 4)]


def test_scopes_refuse_to_merge_when_versions_would_be_lost(postgres_dir: Path) -> None:
    url = embedded_url(postgres_dir, "fountain_scope_merge_refused")
    central = alembic_config(registry.load_service("central_sequence"), url)
    command.upgrade(central, "head")
    _run(
        url,
        "INSERT INTO central_sequence.scopes (name, last_value) VALUES ('story', 1)",
        "INSERT INTO central_sequence.elements (scope_id, element_type, element_id, sequence_number, version) "
        "SELECT id, 'line', 1, 1, CASE name WHEN 'default' THEN 1 ELSE 2 END FROM central_sequence.scopes",
        "UPDATE central_sequence.scopes SET last_value = 1",
        "INSERT INTO central_sequence.element_versions (element_pk, version, data) "
        "SELECT e.id, 2, '{}' FROM central_sequence.elements e WHERE e.version = 2",
    )
    with pytest.raises(DBAPIError, match="cannot merge the numbering scopes"):
        command.downgrade(central, "0001")
    assert _run(url, "SELECT count(*) FROM central_sequence.scopes")[0] == [(2,)]  # nothing changed


def test_scopes_get_owners_and_one_namespace_again_only_without_clashing_names(postgres_dir: Path) -> None:
    url = embedded_url(postgres_dir, "fountain_scope_owners")
    central = alembic_config(registry.load_service("central_sequence"), url)
    command.upgrade(central, "0002")
    _run(url, "INSERT INTO central_sequence.scopes (name, last_value) VALUES ('script-1', 0)")
    command.upgrade(central, "head")
    # The scopes there were belong to no account: a deployment without identities sees no change.
    assert _run(url, "SELECT owner, name FROM central_sequence.scopes ORDER BY id")[0] == [
        ("", "default"),
        ("", "script-1"),
    ]
    _run(url, "INSERT INTO central_sequence.scopes (owner, name) VALUES ('alice', 'default'), ('alice', 'story')")
    with pytest.raises(DBAPIError, match="several accounts hold a scope named default"):
        command.downgrade(central, "0002")
    assert _run(url, "SELECT count(*) FROM central_sequence.scopes")[0] == [(4,)]  # nothing changed
    _run(url, "DELETE FROM central_sequence.scopes WHERE owner = 'alice' AND name = 'default'")
    command.downgrade(central, "0002")
    assert _run(url, "SELECT name FROM central_sequence.scopes ORDER BY id")[0] == [
        ("default",),
        ("script-1",),
        ("story",),
    ]
