"""`fountain scaffold --with-data`: the rows of the input (INSERT statements, pg_dump's COPY blocks,
setval()) load through a data migration and equal those of the input applied by psql; the
downgrade removes exactly them."""

import re
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli.scaffold.code_writer import migration_statements, render_data
from fountain_cli.scaffold.model import SchemaError, check_schema
from fountain_cli.scaffold.pipeline import ScaffoldError, read_input
from fountain_cli.scaffold.sql_reader import read_sql
from fountain_common import seed_data
from fountain_common.embedded_postgres import embedded_url
from fountain_common.seed_data import RowsStillReferenced, load, remove
from tests.tooling.conftest import INPUTS, commit_all, run_in
from tests.tooling.test_scaffold_dumps import _bin, _run

TABLES = {"artist": "artist_id", "album": "album_id", "track": "track_id", "playlist_track": "playlist_id, track_id"}
PROBE_SCHEMA = "seed_probe"


def rows_of(postgres_dir: Path, database: str, schema: str) -> dict[str, str]:
    """Every table's rows as COPY writes them, in key order."""
    return {
        table: _run(
            postgres_dir,
            _bin("psql"),
            "-X",
            "-q",
            "-d",
            database,
            "-c",
            f"COPY (SELECT * FROM {schema}.{table} ORDER BY {key}) TO STDOUT",
        )
        for table, key in TABLES.items()
    }


def applied_by_psql(postgres_dir: Path, database: str) -> dict[str, str]:
    for sql in (f'DROP DATABASE IF EXISTS "{database}"', f'CREATE DATABASE "{database}"'):
        _run(postgres_dir, _bin("psql"), "-X", "-q", "-d", "postgres", "-c", sql)
    seed = str(INPUTS / "seed.sql")
    _run(postgres_dir, _bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-f", seed)
    return rows_of(postgres_dir, database, "public")


def test_rows_are_read_with_their_keys_in_an_order_that_loads() -> None:
    schema = read_sql((INPUTS / "seed.sql").read_text(), "seed.sql", with_data=True)
    check_schema(schema)
    # album's rows come first in the file, but point to artist's: artist loads first; setval() last.
    assert [rows.table for rows in schema.data] == [
        "artist",
        "artist",
        "album",
        "track",
        "playlist_track",
        "playlist_track",
        None,
    ]
    assert schema.data[3].keys == [["1"], ["2"], ["3"], ["4"], ["5"]]
    assert schema.data[3].copy is not None and schema.data[3].copy.count("\n") == 5
    assert schema.data[4].keys == [["1", "1"], ["1", "3"], ["2", "1"]]
    assert schema.data[-1].sql == "SELECT pg_catalog.setval('artist_artist_id_seq', 40, true)"
    # Without --with-data the rows are skipped, each kind with a note.
    plain = read_sql((INPUTS / "seed.sql").read_text(), "seed.sql")
    assert plain.data == []
    assert any("INSERT/COPY of rows (loaded only with --with-data): lines 40, 45, 46, 48" in n for n in plain.notes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("INSERT INTO a (name) VALUES ('x');", "rows of a without their key (id)"),
        ("INSERT INTO a VALUES (nextval('s'), 'x');", "a row of a whose key is not a constant"),
        ("INSERT INTO a SELECT 1, 'x';", "only rows given as VALUES are loaded"),
        ("INSERT INTO b VALUES (1);", "INSERT INTO b: no table b was declared"),
        ("COPY a FROM '/tmp/rows.csv';", "only COPY ... FROM stdin in text format"),
    ],
)
def test_rows_that_cannot_be_loaded_exactly_are_refused(tmp_path: Path, content: str, message: str) -> None:
    source = tmp_path / "rows.sql"
    source.write_text(f"CREATE TABLE a (id serial PRIMARY KEY, name text);\n{content}\n")
    with pytest.raises(SchemaError) as refused:
        read_input(source, "sql", with_data=True)
    assert any(message in problem and "rows.sql:2:" in problem for problem in refused.value.problems), (
        refused.value.problems
    )


async def test_loaded_rows_equal_those_psql_applies_and_the_downgrade_removes_them(
    engine: AsyncEngine, postgres_dir: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of two rows: the COPY block and the INSERTs load in several, and track's rows that point
    # to earlier tracks (4 -> 2 -> 1) are removed across batches.
    monkeypatch.setattr(seed_data, "BATCH_ROWS", 2)
    expected = applied_by_psql(postgres_dir, "applied_seed")
    assert expected["track"].count("\n") == 5 and "\\\\slash" in expected["track"]

    schema = read_sql((INPUTS / "seed.sql").read_text(), "seed.sql", with_data=True)
    data = tmp_path / "0002_data.jsonl"
    data.write_text(render_data(schema))
    database = str(make_url(database_url).database)
    async with engine.connect() as conn:
        await conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {PROBE_SCHEMA} CASCADE")
        await conn.exec_driver_sql(f"CREATE SCHEMA {PROBE_SCHEMA}")
        await conn.exec_driver_sql(f"SET search_path TO {PROBE_SCHEMA}")
        for statement in migration_statements(schema):
            await conn.exec_driver_sql(statement.sql)
        await conn.run_sync(lambda sync: load(sync, data, PROBE_SCHEMA))
        await conn.commit()
        try:
            assert rows_of(postgres_dir, database, PROBE_SCHEMA) == expected
            # Sequences move past the rows given with their keys, or where the dump set them.
            assert (await conn.exec_driver_sql("SELECT nextval('artist_artist_id_seq')")).scalar() == 41
            await conn.exec_driver_sql("INSERT INTO artist (name) VALUES ('New artist')")  # 42
            await conn.exec_driver_sql("INSERT INTO album (title, artist_id) VALUES ('New', 42)")  # 4, identity
            await conn.exec_driver_sql("INSERT INTO track (track_id, name, unit_price) VALUES (6, 'Kept', 1)")
            await conn.commit()
            # A row added since that points to a loaded row: nothing is removed, and the reason is given.
            await conn.exec_driver_sql("INSERT INTO playlist_track VALUES (9, 1, 1)")
            with pytest.raises(RowsStillReferenced, match="rows loaded into track cannot be removed"):
                await conn.run_sync(lambda sync: remove(sync, data))
            await conn.rollback()
            assert rows_of(postgres_dir, database, PROBE_SCHEMA)["track"].startswith(expected["track"])

            await conn.exec_driver_sql(f"SET search_path TO {PROBE_SCHEMA}")  # in a transaction, as a migration
            await conn.run_sync(lambda sync: remove(sync, data))
            await conn.commit()
            # Exactly the loaded rows are gone: the rows added afterwards stay.
            assert rows_of(postgres_dir, database, PROBE_SCHEMA) == {
                "artist": "42\tNew artist\n",
                "album": "4\tNew\t42\t\\N\t\\N\t\\N\t\\N\n",
                "track": "6\tKept\t\\N\tcd\t1.00\t\\N\n",
                "playlist_track": "",
            }
        finally:
            await conn.rollback()
            await conn.exec_driver_sql(f"DROP SCHEMA {PROBE_SCHEMA} CASCADE")
            await conn.commit()


@pytest.mark.realdata
def test_a_service_scaffolded_with_data_migrates_its_rows_up_and_down(
    repository_copy: Callable[[], Path], postgres_dir: Path
) -> None:
    expected = applied_by_psql(postgres_dir, "applied_seed_service")
    root = repository_copy()
    url = embedded_url(postgres_dir, "scaffolded_seeded")
    env = {"FOUNTAIN_DATABASE_URL": url}
    made = run_in(
        root,
        "-m",
        "fountain_cli.main",
        "scaffold",
        "seeded",
        "--from-sql",
        str(INPUTS / "seed.sql"),
        "--with-data",
        env=env,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert (root / "services/seeded/migrations/0002_data.jsonl").is_file()
    commit_all(root, "scaffold seeded")
    upgrade = run_in(root, "-m", "fountain_cli.main", "db", "upgrade", "seeded", env=env)
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert re.search(r"loading 15 rows", upgrade.stderr + upgrade.stdout)
    assert rows_of(postgres_dir, "scaffolded_seeded", "seeded") == expected
    check = run_in(root, "-m", "fountain_cli.main", "db", "check", "seeded", env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    down = run_in(root, "-m", "fountain_cli.main", "db", "downgrade", "seeded", "--to", "0001", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert set(rows_of(postgres_dir, "scaffolded_seeded", "seeded").values()) == {""}
    base = run_in(root, "-m", "fountain_cli.main", "db", "downgrade", "seeded", "--to", "base", env=env)
    assert base.returncode == 0, base.stdout + base.stderr


def test_with_data_is_refused_for_schema_json() -> None:
    with pytest.raises(ScaffoldError, match="schema.json declares no rows"):
        read_input(INPUTS / "library.json", "json", with_data=True)


# Rows whose foreign keys form cycles, in an order no table-by-table load satisfies: departments and
# employees pointing to each other (the keys added by ALTER TABLE, as a dump adds them), and employees
# pointing to managers listed after them.
CYCLES = """
CREATE TABLE department (
    department_id integer PRIMARY KEY,
    name text NOT NULL,
    head_id integer
);
CREATE TABLE employee (
    employee_id integer PRIMARY KEY,
    name text NOT NULL,
    department_id integer NOT NULL,
    manager_id integer REFERENCES employee (employee_id)
);
ALTER TABLE ONLY department ADD CONSTRAINT department_head_fkey FOREIGN KEY (head_id) REFERENCES employee (employee_id);
ALTER TABLE ONLY employee ADD CONSTRAINT employee_department_fkey FOREIGN KEY (department_id) REFERENCES department (department_id);
INSERT INTO employee VALUES (1, 'Ada', 10, 3), (2, 'Grace', 20, 3), (3, 'Edsger', 10, NULL);
INSERT INTO department VALUES (10, 'Research', 3), (20, 'Operations', 2);
"""
FOREIGN_KEYS = """
SELECT conname, condeferrable FROM pg_constraint
WHERE contype = 'f' AND connamespace = CAST(:schema AS regnamespace) ORDER BY conname
"""


async def test_rows_in_foreign_key_cycles_load_and_are_removed(engine: AsyncEngine, tmp_path: Path) -> None:
    source = tmp_path / "cycles.sql"
    source.write_text(CYCLES)
    schema = read_input(source, "sql", with_data=True)
    data = tmp_path / "0002_data.jsonl"
    data.write_text(render_data(schema))
    rows = (
        "SELECT employee_id, manager_id, department_id, d.head_id FROM employee JOIN department d USING (department_id)"
    )
    async with engine.connect() as conn:
        await conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {PROBE_SCHEMA} CASCADE")
        await conn.exec_driver_sql(f"CREATE SCHEMA {PROBE_SCHEMA}")
        await conn.exec_driver_sql(f"SET search_path TO {PROBE_SCHEMA}")
        for statement in migration_statements(schema):
            await conn.exec_driver_sql(statement.sql)
        constraints = (await conn.execute(text(FOREIGN_KEYS), {"schema": PROBE_SCHEMA})).all()
        assert [deferrable for _, deferrable in constraints] == [False, False, False]
        try:
            await conn.run_sync(lambda sync: load(sync, data, PROBE_SCHEMA))
            await conn.commit()
            loaded = (await conn.exec_driver_sql(f"{rows} ORDER BY employee_id")).all()
            assert [tuple(row) for row in loaded] == [(1, 3, 10, 3), (2, 3, 20, 2), (3, None, 10, 3)]
            # The foreign keys are as declared again, and check every row at once as before.
            assert (await conn.execute(text(FOREIGN_KEYS), {"schema": PROBE_SCHEMA})).all() == constraints
            with pytest.raises(IntegrityError):
                await conn.exec_driver_sql("UPDATE employee SET manager_id = 99 WHERE employee_id = 1")
            await conn.rollback()

            await conn.exec_driver_sql(f"SET search_path TO {PROBE_SCHEMA}")
            await conn.run_sync(lambda sync: remove(sync, data))
            await conn.commit()
            assert (await conn.exec_driver_sql(rows)).all() == []
            assert (await conn.exec_driver_sql("SELECT count(*) FROM department")).scalar() == 0
            assert (await conn.execute(text(FOREIGN_KEYS), {"schema": PROBE_SCHEMA})).all() == constraints
        finally:
            await conn.rollback()
            await conn.exec_driver_sql(f"DROP SCHEMA {PROBE_SCHEMA} CASCADE")
            await conn.commit()


async def test_a_reference_to_a_row_not_loaded_is_still_refused(engine: AsyncEngine, tmp_path: Path) -> None:
    source = tmp_path / "cycles.sql"
    source.write_text(CYCLES.replace("(2, 'Grace', 20, 3)", "(2, 'Grace', 30, 3)"))
    schema = read_input(source, "sql", with_data=True)
    data = tmp_path / "0002_data.jsonl"
    data.write_text(render_data(schema))
    async with engine.connect() as conn:
        await conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {PROBE_SCHEMA} CASCADE")
        await conn.exec_driver_sql(f"CREATE SCHEMA {PROBE_SCHEMA}")
        await conn.exec_driver_sql(f"SET search_path TO {PROBE_SCHEMA}")
        for statement in migration_statements(schema):
            await conn.exec_driver_sql(statement.sql)
        await conn.commit()
        try:
            await conn.exec_driver_sql(f"SET search_path TO {PROBE_SCHEMA}")  # in a transaction, as a migration
            with pytest.raises(asyncpg.ForeignKeyViolationError, match="employee_department_fkey"):
                await conn.run_sync(lambda sync: load(sync, data, PROBE_SCHEMA))
        finally:
            await conn.rollback()
            await conn.exec_driver_sql(f"DROP SCHEMA {PROBE_SCHEMA} CASCADE")
            await conn.commit()
