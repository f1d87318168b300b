"""`fountain scaffold`: services built from SQL and from schema.json pass their own generated tests and
every check of the repository; the migrated database holds exactly what the input declared; bad
input is refused with a message naming the fault and nothing written."""

import asyncio
import json
import re
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from fountain_cli.scaffold.json_reader import read_json
from fountain_cli.scaffold.model import Schema, check_schema
from fountain_cli.scaffold.pipeline import ScaffoldError, plan
from fountain_cli.scaffold.sql_reader import read_sql
from fountain_common.embedded_postgres import embedded_url
from tests.tooling.conftest import INPUTS, commit_all, run_in, snapshot

# service name -> input file: one per input kind, SQL with identity keys, checks and defaults, and SQL
# with each construct once (every column type through the API, keys of several columns, triggers).
SCAFFOLDS = {"playwrights": "playwright.sql", "library": "library.json", "shop": "shop.sql", "stage": "constructs.sql"}
# Those whose tables are plain enough for the SQLite export and the column-by-column comparison below.
PLAIN = ["playwrights", "library", "shop"]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def scaffolded(repository_copy: Callable[[], Path], postgres_dir: Path) -> Path:
    root = repository_copy()
    env = {"FOUNTAIN_DATABASE_URL": embedded_url(postgres_dir, "fountain_scaffold")}  # where views are typed
    for service, input_name in SCAFFOLDS.items():
        option = "--from-sql" if input_name.endswith(".sql") else "--from-json"
        result = run_in(root, "-m", "fountain_cli.main", "scaffold", service, option, str(INPUTS / input_name), env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Service {service} created" in result.stdout
        commit_all(root, f"scaffold {service}")
    return root


def read_input(name: str) -> Schema:
    path = INPUTS / name
    schema = read_sql(path.read_text(), name) if name.endswith(".sql") else read_json(path.read_text(), name)
    check_schema(schema)
    return schema


# Running scaffolded services' own generated tests (contract tests included) costs about a minute for
# the two in the default run (a fresh pytest, its database and every migration, then schemathesis):
# the schema.json service (library) and the plain SQL one (playwrights). The other SQL services (shop,
# and stage with every construct) add about two minutes and run theirs with the big real-data tests.
# The default run still migrates, compares and checks them all (test_scaffold_dumps.py and the
# repository checks below).
BIG = ["shop", "stage"]


def _pass_their_own_tests(root: Path, tmp_path: Path, services: list[str]) -> None:
    tests = [f"tests/{service}" for service in services]
    result = run_in(root, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path}", *tests)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed", result.stdout)
    assert "failed" not in result.stdout.splitlines()[-1]


def test_scaffolded_services_pass_their_own_tests(scaffolded: Path, tmp_path: Path) -> None:
    _pass_their_own_tests(scaffolded, tmp_path, [service for service in SCAFFOLDS if service not in BIG])


@pytest.mark.realdata
def test_the_service_of_every_construct_passes_its_own_tests(scaffolded: Path, tmp_path: Path) -> None:
    _pass_their_own_tests(scaffolded, tmp_path, BIG)


def test_scaffolded_services_keep_every_check_of_the_repository(scaffolded: Path) -> None:
    services = list(SCAFFOLDS)
    folders = [f"services/{s}" for s in services] + [f"tests/{s}" for s in services]
    checks = [
        ("-m", "fountain_cli.main", "validate"),
        ("-m", "fountain_cli.main", "codegen", "--check"),
        ("-m", "ruff", "check", "--no-cache", *folders),
        ("-m", "ruff", "format", "--check", "--no-cache", *folders),
        ("-m", "mypy", *[f"services/{s}" for s in services]),
    ]
    for check in checks:
        result = run_in(scaffolded, *check)
        assert result.returncode == 0, f"{check}: {result.stdout}{result.stderr}"
    merged = run_in(scaffolded, "-m", "fountain_cli.main", "export-openapi")
    assert merged.returncode == 0, merged.stderr
    paths = json.loads(merged.stdout)["paths"]
    assert paths["/v1/book/{id}"]["servers"] == [{"url": "https://library.fountain.coach"}]
    for service in PLAIN:
        ddl = run_in(scaffolded, "-m", "fountain_cli.main", "export-ddl", service, "--dialect", "sqlite")
        assert ddl.returncode == 0, ddl.stderr
        sqlite3.connect(":memory:").executescript(ddl.stdout)
    imports = run_in(scaffolded, str(VENV_BIN / "lint-imports"), "--no-cache")
    assert imports.returncode == 0, imports.stdout
    assert "Contracts: 2 kept, 0 broken." in imports.stdout


def test_scaffolded_services_are_registered_with_their_host_and_port(scaffolded: Path) -> None:
    listing = run_in(
        scaffolded,
        "-c",
        "from fountain_cli import registry\nfor s in registry.all_services(): print(s.name, s.host, s.port)",
    )
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert "playwrights playwrights.fountain.coach 8106" in lines
    assert "library library.fountain.coach 8107" in lines
    assert "shop shop.fountain.coach 8108" in lines
    assert "stage stage.fountain.coach 8109" in lines
    pyproject = (scaffolded / "pyproject.toml").read_text()
    for service in SCAFFOLDS:
        assert f'    "services.{service}",\n' in pyproject
    spec = (scaffolded / "specs" / "playwrights.yaml").read_text()
    assert "https://playwrights.fountain.coach" in spec and "http://localhost:8106" in spec


# --- the migrated database holds what the input declared ------------------------------------------

EXPECTED_TYPES = {
    "smallint": ("SMALLINT", None),
    "integer": ("INTEGER", None),
    "bigint": ("BIGINT", None),
    "text": ("TEXT", None),
    "varchar": ("VARCHAR", "length"),
    "boolean": ("BOOLEAN", None),
    "uuid": ("UUID", None),
    "timestamptz": ("TIMESTAMP", "timezone"),
    "date": ("DATE", None),
}


def normalised(sql: str | None) -> str | None:
    """A default or CHECK as PostgreSQL shows it, less casts and parentheses, to compare with the input."""
    if sql is None:
        return None
    sql = re.sub(r"::[a-z ]+(\(\d+\))?", "", sql.lower())
    return re.sub(r"[()\s]", "", sql)


def reflect(url: str, schema: str) -> dict[str, Any]:
    def read(sync: Any) -> dict[str, Any]:
        inspector = inspect(sync)
        return {
            table: {
                "columns": inspector.get_columns(table, schema=schema),
                "pk": inspector.get_pk_constraint(table, schema=schema)["constrained_columns"],
                "uniques": inspector.get_unique_constraints(table, schema=schema),
                "fks": inspector.get_foreign_keys(table, schema=schema),
                "checks": inspector.get_check_constraints(table, schema=schema),
            }
            for table in inspector.get_table_names(schema=schema)
        }

    async def run() -> dict[str, Any]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.mark.parametrize("service", PLAIN)
def test_the_migrated_schema_holds_exactly_what_the_input_declared(
    scaffolded: Path, postgres_dir: Path, database_url: str, service: str
) -> None:
    url = embedded_url(postgres_dir, "fountain_scaffold")
    upgrade = run_in(
        scaffolded, "-m", "fountain_cli.main", "db", "upgrade", service, env={"FOUNTAIN_DATABASE_URL": url}
    )
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    check = run_in(scaffolded, "-m", "fountain_cli.main", "db", "check", service, env={"FOUNTAIN_DATABASE_URL": url})
    assert check.returncode == 0, check.stdout + check.stderr  # the tables.py models match the migration
    declared = read_input(SCAFFOLDS[service])
    found = reflect(url, service)

    assert set(found) == {t.name for t in declared.tables} | {"alembic_version"}
    for table in declared.tables:
        reflected = found[table.name]
        columns = {c["name"]: c for c in reflected["columns"]}
        assert list(columns) == [c.name for c in table.columns], table.name
        for column in table.columns:
            actual = columns[column.name]
            where = f"{table.name}.{column.name}"
            type_name, attribute = EXPECTED_TYPES[column.type.name]
            assert type(actual["type"]).__name__ == type_name, where
            if attribute == "length":
                assert actual["type"].length == column.type.length, where
            if attribute == "timezone":
                assert actual["type"].timezone is True, where
            assert actual["nullable"] == column.nullable, where
            if column.generated == "serial":
                assert actual["default"] == f"nextval('{service}.{table.name}_{column.name}_seq'::regclass)", where
            elif column.generated:
                assert actual["identity"]["always"] == (column.generated == "identity_always"), where
            else:
                assert normalised(actual["default"]) == normalised(column.default), where
        assert reflected["pk"] == table.primary_key
        assert sorted(sorted(u["column_names"]) for u in reflected["uniques"]) == sorted(
            sorted(cols) for cols, _ in table.uniques
        )
        assert sorted(
            (
                fk["constrained_columns"],
                fk["referred_schema"],
                fk["referred_table"],
                fk["referred_columns"],
                (fk["options"].get("ondelete") or "NO ACTION").upper(),
            )
            for fk in reflected["fks"]
        ) == sorted(
            ([fk.column], service, fk.target_table, [fk.target_column], fk.on_delete or "NO ACTION")
            for fk in table.foreign_keys
        )
        assert sorted(normalised(c["sqltext"]) for c in reflected["checks"]) == sorted(
            normalised(c.sql) for c in table.checks
        )
        named = {c.name for c in table.checks if c.name}
        assert named <= {c["name"] for c in reflected["checks"]}


# --- refusals ------------------------------------------------------------------------------------

BAD_INPUTS = [
    ("syntax.sql", "CREATE TABLE a (\n  id int PRIMARY KEY,,\n);", "syntax.sql:2: SQL syntax error"),
    ("type.sql", "CREATE TABLE a (id int PRIMARY KEY, price money);", "column price: type money is not supported"),
    ("keyword.sql", 'CREATE TABLE "class" (id int PRIMARY KEY);', "table class: 'class' is a Python keyword"),
    (
        "reserved.sql",
        'CREATE TABLE a (id int PRIMARY KEY, "select" text);',
        "column select: 'select' is an SQL reserved word",
    ),
    ("ident.sql", 'CREATE TABLE a (id int PRIMARY KEY, "Bad Name" text);', "'Bad Name' is not a valid name"),
    (
        "api.sql",
        "CREATE TABLE a (id int PRIMARY KEY, order_by text);",
        "'order_by' is a parameter of the generated API",
    ),
    ("select.sql", "CREATE TABLE a (id int PRIMARY KEY);\nSELECT 1;", "select.sql:2: a SELECT statement cannot be"),
    ("update.sql", "CREATE TABLE a (id int PRIMARY KEY);\n\nUPDATE a SET id = 2;", "update.sql:3: an UPDATE statement"),
    ("nokey.sql", "CREATE TABLE a (id int);", "table a: has no primary key"),
    ("schema.sql", "CREATE TABLE other.a (id int PRIMARY KEY);", "objects of schema other cannot be carried"),
    ("inherit.sql", "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b () INHERITS (a);", "inheritance (INHERITS)"),
    ("ctas.sql", "CREATE TABLE a AS SELECT 1 AS id;", "CREATE TABLE ... AS copies rows"),
    (
        "alter.sql",
        "CREATE TABLE a (id int PRIMARY KEY, x int);\nALTER TABLE a DROP COLUMN x;",
        "alter.sql:2: ALTER TABLE a: DropColumn is not carried",
    ),
    (
        "index.sql",
        "CREATE TABLE a (id int PRIMARY KEY, x int);\nCREATE INDEX ON a (x);",
        "index.sql:2: CREATE INDEX without a name",
    ),
    ("later.sql", "ALTER TABLE a ADD PRIMARY KEY (id);", "no table a was declared before this line"),
    ("missing.sql", "CREATE TABLE a (id int PRIMARY KEY, b_id int REFERENCES b);", "table 'b' is not declared"),
    (
        "setnull.sql",
        "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL REFERENCES a ON DELETE SET NULL);",
        "ON DELETE SET NULL on a NOT NULL column",
    ),
    ("path.sql", "CREATE TABLE characters (id int PRIMARY KEY);", "path /v1/characters is served by character already"),
    (
        "self.sql",
        "CREATE TABLE a (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES a);",
        "a NOT NULL reference to its own table",
    ),
    ("temp.sql", "CREATE TEMP TABLE a (id int PRIMARY KEY);", "temporary tables are not carried"),
    ("syntax.json", '{\n  "entities": {\n    "a": {"fields": }\n  }\n}', "syntax.json:3:21: JSON syntax error"),
    (
        "type.json",
        '{"entities": {"a": {"fields": {"id": {"type": "uuid", "primaryKey": true}, "n": {"type": "money"}}}}}',
        "at /entities/a/fields/n/type: 'money' is not one of",
    ),
    ("fields.json", '{"entities": {"a": {}}}', "at /entities/a: 'fields' is a required property"),
    (
        "ref.json",
        '{"entities": {"a": {"fields": {"id": {"type": "uuid", "primaryKey": true}, "b": {"type": "uuid", "references": "nope"}}}}}',
        "table 'nope' is not declared",
    ),
    (
        "default.json",
        '{"entities": {"a": {"fields": {"id": {"type": "uuid", "primaryKey": true}, "n": {"type": "integer", "default": "x"}}}}}',
        "at /entities/a/fields/n/default: 'x' is not a integer",
    ),
    (
        "checksql.json",
        '{"entities": {"a": {"fields": {"id": {"type": "uuid", "primaryKey": true}, "n": {"type": "integer"}},'
        ' "checks": [{"sql": "n >= 0 AND"}]}}}',
        "at /entities/a/checks/0/sql: 'n >= 0 AND': SQL syntax error",
    ),
    (
        "checkfield.json",
        '{"entities": {"a": {"fields": {"id": {"type": "uuid", "primaryKey": true}, "n": {"type": "integer"}},'
        ' "checks": [{"sql": "n >= 0"}, {"sql": "m < 3"}]}}}',
        "at /entities/a/checks/1/sql: 'm' is not a field of a",
    ),
    (
        "checkvalue.json",
        '{"entities": {"a": {"fields": {"id": {"type": "uuid", "primaryKey": true}, "n": {"type": "integer"}},'
        ' "checks": [{"sql": "n + 1"}]}}}',
        "at /entities/a/checks/0/sql: 'n + 1' is not a condition (true or false)",
    ),
]


def test_checks_of_schema_json_reach_the_migration_the_tables_and_the_spec(clean_copy: Path, tmp_path: Path) -> None:
    source = tmp_path / "priced.json"
    fields = {"id": {"type": "uuid", "primaryKey": True}, "price": {"type": "integer"}, "sale": {"type": "integer"}}
    checks = [{"sql": "price >= 0"}, {"sql": "sale <= price", "name": "sale_not_dearer"}]
    source.write_text(json.dumps({"entities": {"item": {"fields": fields, "checks": checks}}}))
    planned = plan(clean_copy, "priced", source, "json")
    files = {str(path): text for path, text in planned.files.items()}
    migration = files["services/priced/migrations/0001_initial_tables.py"]
    assert "CONSTRAINT item_price_check CHECK (price >= 0)" in migration
    assert "CONSTRAINT sale_not_dearer CHECK (sale <= price)" in migration
    tables = files["services/priced/tables.py"]
    assert "CheckConstraint('price >= 0', name='item_price_check')" in tables
    spec = yaml.safe_load(files["specs/priced.yaml"])
    assert spec["components"]["schemas"]["ItemCreate"]["properties"]["price"]["minimum"] == 0


@pytest.fixture(scope="module")
def clean_copy(repository_copy: Callable[[], Path]) -> Path:
    return repository_copy()


@pytest.mark.parametrize(("file_name", "content", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_naming_the_fault(
    clean_copy: Path, tmp_path: Path, file_name: str, content: str, message: str
) -> None:
    source = tmp_path / file_name
    source.write_text(content)
    with pytest.raises(ScaffoldError) as refused:
        plan(clean_copy, "fresh", source, "sql" if file_name.endswith(".sql") else "json")
    assert any(message in problem for problem in refused.value.problems), refused.value.problems


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("central_sequence", "'central_sequence' exists already"),
        ("class", "'class' is a Python keyword"),
        ("select", "'select' is an SQL reserved word"),
        ("Bad-Name", "'Bad-Name' is not a valid name"),
    ],
)
def test_a_taken_or_invalid_name_is_refused(clean_copy: Path, name: str, message: str) -> None:
    with pytest.raises(ScaffoldError) as refused:
        plan(clean_copy, name, INPUTS / "playwright.sql", "sql")
    assert any(message in problem for problem in refused.value.problems), refused.value.problems


def test_the_command_writes_nothing_when_it_refuses(repository_copy: Callable[[], Path], tmp_path: Path) -> None:
    root = repository_copy()
    before = snapshot(root)
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE a (id int PRIMARY KEY, price money);")
    for args in (
        ["fresh", "--from-sql", str(bad)],
        ["central_sequence", "--from-sql", str(INPUTS / "playwright.sql")],
        ["fresh", "--from-json", str(tmp_path / "missing.json")],
    ):
        result = run_in(root, "-m", "fountain_cli.main", "scaffold", *args)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Nothing was written" in result.stderr
    both = run_in(root, "-m", "fountain_cli.main", "scaffold", "fresh")
    assert both.returncode == 2
    assert snapshot(root) == before

    # A generated tree with uncommitted changes is refused, and left as it was.
    spec = root / "specs" / "character.yaml"
    spec.write_text(spec.read_text() + "\n# an edit\n")
    changed = snapshot(root)
    dirty = run_in(root, "-m", "fountain_cli.main", "scaffold", "fresh", "--from-sql", str(INPUTS / "playwright.sql"))
    assert dirty.returncode == 1
    assert "uncommitted changes" in dirty.stderr and "specs/character.yaml" in dirty.stderr
    assert snapshot(root) == changed
