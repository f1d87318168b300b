"""`fountain export-ddl`, `export-openapi`, `export-docs` and `reset`."""

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate
from sqlalchemy import JSON, CheckConstraint, Column, DateTime, ForeignKey, MetaData, String, Table, func, inspect, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from fountain_cli import registry
from fountain_cli.exports import ddl_statements, er_diagram, merged_openapi, portable_metadata, render_docs
from fountain_cli.main import app
from fountain_common.embedded_postgres import embedded_url
from fountain_common.service import REPO_ROOT, ServiceDefinition

runner = CliRunner()


def fountain(*args: str, url: str | None = None, answer: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if url:
        env["FOUNTAIN_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "fountain_cli.main", *args],
        cwd=REPO_ROOT,
        env=env,
        input=answer,
        capture_output=True,
        text=True,
        check=False,
    )


async def _execute(url: str, statements: list[str]) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


async def _tables(url: str, schema: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: set(inspect(sync).get_table_names(schema=schema)))
    finally:
        await engine.dispose()


# A service with the types that need a portable form: PostgreSQL UUID and JSONB, server-side defaults.
portable = MetaData(schema="portable")
parent = Table(
    "parent",
    portable,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
child = Table(
    "child",
    portable,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("parent_id", UUID(as_uuid=True), ForeignKey(parent.c.id, ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("nickname", String(100)),
    CheckConstraint("char_length(name) >= 1", name="child_name_not_empty"),
    CheckConstraint("num_nonnulls(nickname, parent_id) >= 1", name="child_named_or_parented"),
    # A function a migration would create: the models alone cannot carry this one.
    CheckConstraint("portable.is_valid(name)", name="child_name_valid"),
)
PORTABLE = ServiceDefinition(
    name="portable", host="portable.fountain.coach", port=1, metadata=portable, build_router=object, operations=object
)  # type: ignore[arg-type]


def test_postgresql_ddl_creates_every_table_on_a_fresh_database(postgres_dir: Path, database_url: str) -> None:
    url = embedded_url(postgres_dir, "fountain_ddl")
    for service in [*registry.all_services(), PORTABLE]:
        asyncio.run(_execute(url, ddl_statements(service, "postgresql")))
        assert asyncio.run(_tables(url, service.schema)) == {t.name for t in service.metadata.tables.values()}


@pytest.mark.parametrize("service", [*registry.all_services(), PORTABLE], ids=lambda s: s.name)
def test_sqlite_ddl_runs_on_sqlite(service: ServiceDefinition) -> None:
    database = sqlite3.connect(":memory:")
    database.executescript(";\n".join(ddl_statements(service, "sqlite")) + ";")
    created = {row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert created == {t.name for t in service.metadata.tables.values()}
    assert all(table.schema is None for table in portable_metadata(service, "sqlite")[0].tables.values())


def test_portable_types_and_defaults() -> None:
    sqlite_ddl = "\n".join(ddl_statements(PORTABLE, "sqlite"))
    assert "JSONB" not in sqlite_ddl and "gen_random_uuid" not in sqlite_ddl and "now()" not in sqlite_ddl
    assert "portable." not in sqlite_ddl
    assert "CHAR(32)" in sqlite_ddl and "DEFAULT CURRENT_TIMESTAMP" in sqlite_ddl
    database = sqlite3.connect(":memory:")
    database.executescript(";\n".join(ddl_statements(PORTABLE, "sqlite")) + ";")
    database.execute("INSERT INTO parent (id, data) VALUES ('a', '{}')")
    assert database.execute("SELECT created_at IS NOT NULL FROM parent").fetchone() == (1,)

    database.execute("INSERT INTO child (id, parent_id, name) VALUES ('c', 'a', 'x')")
    with pytest.raises(sqlite3.IntegrityError, match="child_name_not_empty"):
        database.execute("INSERT INTO child (id, parent_id, name) VALUES ('d', 'a', '')")
    assert "'{}'" in sqlite_ddl and "::" not in sqlite_ddl

    for dialect in ("postgresql", "sqlite", "mssql"):
        omitted = portable_metadata(PORTABLE, dialect)[1]
        assert omitted == [
            "child: CHECK child_name_valid (portable.is_valid(name)) calls a function that a migration creates; "
            "it is not part of the models"
        ]
    mssql_ddl = "\n".join(ddl_statements(PORTABLE, "mssql"))
    assert "LEN(name) >= 1" in mssql_ddl
    assert "CASE WHEN nickname IS NULL THEN 0 ELSE 1 END + CASE WHEN parent_id IS NULL THEN 0 ELSE 1 END" in mssql_ddl
    assert "CREATE SCHEMA portable" in mssql_ddl
    assert "UNIQUEIDENTIFIER" in mssql_ddl and "NEWID()" in mssql_ddl and "NVARCHAR(max)" in mssql_ddl
    assert "JSONB" not in mssql_ddl and "now()" not in mssql_ddl
    assert isinstance(portable_metadata(PORTABLE, "mssql")[0].tables["portable.parent"].c.data.type, JSON)


def test_export_ddl_command() -> None:
    result = runner.invoke(app, ["export-ddl", "central_sequence", "--dialect", "sqlite"])
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE elements (" in result.output
    assert runner.invoke(app, ["export-ddl", "--dialect", "oracle"]).exit_code == 2
    unknown = runner.invoke(app, ["export-ddl", "nope"])
    assert unknown.exit_code == 2
    assert "Unknown service 'nope'" in unknown.output


# --- one OpenAPI document ------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def test_merged_openapi_is_valid_and_keeps_every_host() -> None:
    document = merged_openapi()
    validate(document)
    services = {s.name: s for s in registry.all_services()}
    expected_paths = set()
    for service in services.values():
        spec_paths = yaml.safe_load(service.spec_path.read_text())["paths"]
        for path in spec_paths:
            if path.startswith(("/v1/", "/v2/")):
                expected_paths.add(path)
                assert document["paths"][path]["servers"] == [{"url": f"https://{service.host}"}]
    assert set(document["paths"]) == expected_paths
    for ref in _refs(document):
        kind, name = ref.split("/")[2:]
        assert name in document["components"][kind], ref
    assert "CentralSequenceElement" in document["components"]["schemas"]
    ids = [
        op["operationId"]
        for item in document["paths"].values()
        for m, op in item.items()
        if m in ("get", "put", "post", "delete", "patch")
    ]
    assert len(ids) == len(set(ids))


def test_export_openapi_writes_json_or_yaml(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export-openapi"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["openapi"] == "3.1.0"
    target = tmp_path / "fountain.yaml"
    assert runner.invoke(app, ["export-openapi", "--output", str(target)]).exit_code == 0
    validate(yaml.safe_load(target.read_text()))


# --- Markdown docs -------------------------------------------------------------------------------


def test_docs_are_deterministic_and_describe_each_service(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        result = runner.invoke(app, ["export-docs", "--output", str(folder)])
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert names == sorted(["README.md", *(f"{n}.md" for n in registry.service_names())])
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    central = (first / "central_sequence.md").read_text()
    assert "| POST | `/v1/sequence` | `generateSequenceNumber` | Generate Sequence Number |" in central
    assert "erDiagram" in central and 'elements ||--o{ element_versions : "element_pk"' in central
    assert "bigint id PK" in central
    story = (first / "story_factory.md").read_text()
    assert "sequenceDiagram" in story and "par" in story
    for service in ("core_script", "character", "session_context"):
        assert f"story_factory->>{service}: " in story
    # The parts are read by id lists, one request per kind and chunk, after the script content that names them.
    assert story.index("(getScriptContent)") < story.index("    par\n") < story.index("/v2/characters?ids=")
    assert render_docs(["story_factory"]) == render_docs(["story_factory"])


def test_docs_of_an_unknown_service_write_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export-docs", "nope", "--output", str(tmp_path / "docs")])
    assert result.exit_code == 2
    assert "Unknown service 'nope'" in result.output
    assert not (tmp_path / "docs").exists()


def test_the_story_diagram_names_only_operations_the_specs_declare(monkeypatch: pytest.MonkeyPatch) -> None:
    from fountain_cli import exports

    monkeypatch.setattr(exports, "STORY_PARTS", [*exports.STORY_PARTS, ("character", "noSuchOperation", "", "nothing")])
    result = runner.invoke(app, ["export-docs", "story_factory", "--output", "/nonexistent/never"])
    assert result.exit_code == 1
    assert "specs/character.yaml has no operation noSuchOperation" in result.output


# --- reset ---------------------------------------------------------------------------------------


async def _count(url: str, table: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
    finally:
        await engine.dispose()


def test_reset_drops_only_its_own_schema(postgres_dir: Path, database_url: str) -> None:
    url = embedded_url(postgres_dir, "fountain_reset")
    assert fountain("db", "upgrade", url=url).returncode == 0
    asyncio.run(
        _execute(
            url,
            [
                "INSERT INTO central_sequence.elements (scope_id, element_type, element_id, sequence_number) "
                "SELECT id, 'script', 1, 1 FROM central_sequence.scopes WHERE name = 'default'",
                "INSERT INTO character.idempotency_keys (key, request_fingerprint, response_status, response_body, "
                "response_headers) VALUES ('k', 'f', 201, '{}', '{}')",
            ],
        )
    )
    refused = fountain("reset", "character", url=url, answer="n\n")
    assert refused.returncode == 1
    assert asyncio.run(_count(url, "character.idempotency_keys")) == 1

    done = fountain("reset", "character", "--yes", url=url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[1/2] dropping schema character" in done.stdout
    assert asyncio.run(_count(url, "character.idempotency_keys")) == 0
    assert asyncio.run(_count(url, "central_sequence.elements")) == 1
    character = registry.load_service("character")
    assert asyncio.run(_tables(url, "character")) == {
        "alembic_version",
        *(t.name for t in character.metadata.tables.values()),
    }
    assert fountain("db", "check", "character", url=url).returncode == 0

    assert fountain("reset", "nope", "--yes", url=url).returncode == 2


def test_checks_on_a_json_columns_shape_stay_with_postgresql_and_are_named_elsewhere() -> None:
    core_script = registry.load_service("core_script")
    assert portable_metadata(core_script, "postgresql")[1] == []
    for dialect in ("sqlite", "mssql"):
        omitted = portable_metadata(core_script, dialect)[1]
        assert [note.split(" (")[0] for note in omitted] == ["story_lines: CHECK story_lines_extensions"]
        assert omitted[0].endswith(f"uses PostgreSQL's JSON functions, which {dialect} does not have")
        assert "jsonb_" not in "\n".join(ddl_statements(core_script, dialect))


def test_the_er_diagram_says_how_many_rows_point_at_one_row() -> None:
    metadata = MetaData()
    Table("author", metadata, Column("id", String, primary_key=True))
    Table(
        "book",
        metadata,
        Column("id", String, primary_key=True),
        Column("author_id", String, ForeignKey("author.id"), nullable=False),  # many books, one author each
        Column("editor_id", String, ForeignKey("author.id"), nullable=True),  # many books, an editor or none
    )
    Table(
        "biography",
        metadata,
        Column("id", String, primary_key=True),
        Column("author_id", String, ForeignKey("author.id"), nullable=False, unique=True),  # at most one each
    )
    Table("pen_name", metadata, Column("author_id", String, ForeignKey("author.id"), primary_key=True))
    relations = [line.strip() for line in er_diagram(metadata) if "--" in line]
    assert relations == [
        'author ||--o| biography : "author_id"',
        'author ||--o{ book : "author_id"',
        'author |o--o{ book : "editor_id"',
        'author ||--o| pen_name : "author_id"',
    ]
