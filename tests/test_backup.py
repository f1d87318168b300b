"""`fountain backup` and `fountain restore` (fountain_cli/backup.py), against real PostgreSQL servers:
a backup of the test database restored into a fresh database holds every row and sequence of every
service; a schema holding rows is not replaced without --force; a missing tool is named."""

import json
import re
import shlex
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import Result
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from fountain_cli import backup, deployment, registry
from fountain_cli.main import app
from fountain_common.embedded_postgres import embedded_url
from fountain_common.service import REPO_ROOT
from fountain_common.settings import Settings, get_settings
from tests import in_process
from tests.deployment.test_compose import REQUIRED, _config, _parse, docker_compose  # noqa: F401 (fixture)

runner = CliRunner()
ClientFor = Callable[[str], httpx.AsyncClient]
SCHEMAS = [service.schema for service in registry.all_services()]


@pytest.fixture
def fountain(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """Runs `fountain ...` against the database FOUNTAIN_DATABASE_URL names (`database=`), or the
    embedded server of `data_dir=` when given instead."""

    def invoke(*args: str, database: str | None = None, data_dir: Path | None = None, name: str = "") -> Result:
        if database is not None:
            monkeypatch.setenv("FOUNTAIN_DATABASE_URL", database)
        else:
            monkeypatch.delenv("FOUNTAIN_DATABASE_URL", raising=False)
            monkeypatch.setenv("FOUNTAIN_DATA_DIR", str(data_dir))
            monkeypatch.setenv("FOUNTAIN_DATABASE_NAME", name)
        get_settings.cache_clear()
        try:
            # In a thread of its own: the command runs its own event loop, and async tests have one.
            with ThreadPoolExecutor(max_workers=1) as thread:
                return thread.submit(runner.invoke, app, list(args)).result()
        finally:
            get_settings.cache_clear()

    yield invoke
    get_settings.cache_clear()


async def snapshot(url: str) -> dict[str, list[str]]:
    """Every row of every table of every service's schema, and every sequence's position."""
    engine = create_async_engine(url, poolclass=NullPool)
    contents: dict[str, list[str]] = {}
    try:
        async with engine.connect() as conn:
            tables = await conn.execute(
                text(
                    "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(:schemas) "
                    "ORDER BY schemaname, tablename"
                ),
                {"schemas": SCHEMAS},
            )
            for schema, table in tables.all():
                rows = await conn.execute(text(f'SELECT to_jsonb(t)::text FROM "{schema}"."{table}" t'))
                contents[f"{schema}.{table}"] = sorted(rows.scalars())
            sequences = await conn.execute(
                text(
                    "SELECT schemaname || '.' || sequencename, coalesce(last_value, 0) FROM pg_sequences "
                    "WHERE schemaname = ANY(:schemas)"
                ),
                {"schemas": SCHEMAS},
            )
            contents["sequences"] = sorted(f"{name}={value}" for name, value in sequences.all())
    finally:
        await engine.dispose()
    return contents


async def seed(client_for: ClientFor) -> None:
    """Rows in every service, through the services themselves (the Core Script's numbers come from
    the Central Sequence Service)."""
    character = client_for("character")
    for name in ("Juliet", "Romeo", "Nurse"):
        created = await character.post("/v2/characters", json={"name": name, "description": f"{name} of Verona."})
        assert created.status_code == 201, created.text
    scripts = client_for("core_script")
    created = await scripts.post("/v2/scripts", json={"title": "Romeo and Juliet"}, headers={"Idempotency-Key": "b1"})
    assert created.status_code == 201, created.text
    contexts = client_for("session_context")
    created = await contexts.post("/v2/sessions", json={"userId": 7, "context": "Verona, a public place."})
    assert created.status_code == 201, created.text


@pytest.fixture
def fresh_database(postgres_dir: Path) -> Callable[[str], str]:
    counter = iter(range(1_000))

    def make(label: str) -> str:
        return embedded_url(postgres_dir, f"restore_{label}_{next(counter)}")

    return make


async def test_a_restored_backup_holds_every_row_and_sequence(
    fountain: Callable[..., Result],
    client_for: ClientFor,
    database_url: str,
    postgres_dir: Path,
    fresh_database: Callable[[str], str],
    tmp_path: Path,
) -> None:
    await seed(client_for)
    original = await snapshot(database_url)
    assert sum(len(rows) for name, rows in original.items() if name != "sequences") >= 5
    folder = tmp_path / "backup"

    # The embedded server of `make run` (FOUNTAIN_DATA_DIR), as configured when no URL is set.
    made = fountain("backup", "--output", str(folder), data_dir=postgres_dir, name="fountain_test")
    assert made.exit_code == 0, made.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(manifest["services"]) == registry.service_names()
    assert manifest["pg_dump_version"].split(".")[0] == manifest["server_version"].split(".")[0]

    target = fresh_database("full")
    restored = fountain("restore", "--input", str(folder), database=target)
    assert restored.exit_code == 0, restored.output
    assert await snapshot(target) == original

    # The restored sequences go on where the backup left them: a new row takes a new id.
    engine = create_async_engine(target, poolclass=NullPool)
    try:
        service = in_process.service_app("character", Settings(database_url=target), engine)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://test") as client:
            created = await client.post("/v2/characters", json={"name": "Tybalt", "description": "A Capulet."})
        assert created.status_code == 201, created.text
        restored_ids = [json.loads(row)["id"] for row in original["character.characters"]]
        assert created.json()["characterId"] > max(restored_ids)
    finally:
        await engine.dispose()


async def test_restore_refuses_a_schema_holding_rows_without_force(
    fountain: Callable[..., Result],
    client_for: ClientFor,
    database_url: str,
    fresh_database: Callable[[str], str],
    tmp_path: Path,
) -> None:
    await seed(client_for)
    folder = tmp_path / "character-only"
    assert fountain("backup", "character", "--output", str(folder), database=database_url).exit_code == 0
    assert sorted(json.loads((folder / "manifest.json").read_text())["services"]) == ["character"]

    target = fresh_database("refuse")
    assert fountain("db", "upgrade", database=target).exit_code == 0  # migrated, no rows: restorable
    assert fountain("restore", "--input", str(folder), database=target).exit_code == 0
    engine = create_async_engine(target, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM character.characters WHERE id = 1"))
        before = await snapshot(target)

        refused = fountain("restore", "--input", str(folder), database=target)
        assert refused.exit_code == 1
        assert "already holds data" in refused.output and "--force" in refused.output
        assert await snapshot(target) == before  # nothing was touched

        forced = fountain("restore", "character", "--input", str(folder), "--force", database=target)
        assert forced.exit_code == 0, forced.output
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM character.characters WHERE id = 1"))).scalar() == 1
    finally:
        await engine.dispose()


def test_restore_refuses_a_damaged_archive(
    fountain: Callable[..., Result], database_url: str, fresh_database: Callable[[str], str], tmp_path: Path
) -> None:
    folder = tmp_path / "damaged"
    assert fountain("backup", "character", "--output", str(folder), database=database_url).exit_code == 0
    archive = folder / "character.dump"
    archive.write_bytes(archive.read_bytes()[:-10])
    result = fountain("restore", "--input", str(folder), database=fresh_database("damaged"))
    assert result.exit_code == 1
    assert "is damaged" in result.output


def test_backup_does_not_overwrite_a_backup(fountain: Callable[..., Result], database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "twice"
    assert fountain("backup", "character", "--output", str(folder), database=database_url).exit_code == 0
    again = fountain("backup", "character", "--output", str(folder), database=database_url)
    assert again.exit_code == 1
    assert "already holds a backup" in again.output


def test_a_missing_tool_of_the_servers_version_is_named(
    fountain: Callable[..., Result], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only a folder without PostgreSQL's tools is searched.
    monkeypatch.setattr(backup, "candidate_bin_dirs", lambda pg_bin: [tmp_path])
    result = fountain("backup", "--output", str(tmp_path / "none"), database=database_url)
    assert result.exit_code == 1
    assert "no pg_dump of PostgreSQL 16" in result.output
    assert "postgresql-client-16" in result.output and "--pg-bin" in result.output
    assert not (tmp_path / "none" / "manifest.json").exists()


def test_tools_of_another_major_version_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    debian_15 = Path("/usr/lib/postgresql/15/bin")
    if not (debian_15 / "pg_dump").exists():
        pytest.skip("Debian's PostgreSQL 15 client is not installed")
    monkeypatch.setattr(backup, "candidate_bin_dirs", lambda pg_bin: [debian_15])
    with pytest.raises(
        backup.BackupError, match=r"no pg_dump of PostgreSQL 16 .*found 15\.\d+ in /usr/lib/postgresql/15"
    ):
        backup.find_tools("16.2", ("pg_dump",), None)
    assert backup.find_tools("15.4", ("pg_dump",), None).bin_dir == debian_15


def test_the_password_of_an_external_database_stays_off_the_command_line() -> None:
    env = backup.libpq_environment("postgresql+asyncpg://fountain:s3cret@db.example:5433/fountain?ssl=require")
    assert env == {
        "PGHOST": "db.example",
        "PGPORT": "5433",
        "PGUSER": "fountain",
        "PGPASSWORD": "s3cret",
        "PGDATABASE": "fountain",
        "PGSSLMODE": "require",
        "PGAPPNAME": "fountain-backup",
    }
    assert "s3cret" not in backup.describe("postgresql+asyncpg://fountain:s3cret@db.example:5433/fountain")


def test_the_compose_backup_job_runs_fountain_backup_into_its_volume(docker_compose: str, tmp_path: Path) -> None:  # noqa: F811
    result = _config(docker_compose, tmp_path, REQUIRED)
    assert result.returncode == 0, result.stderr
    job = yaml.safe_load(result.stdout)["services"]["backup"]
    assert job["profiles"] == ["backup"], "only `docker compose --profile backup run backup` starts it"
    assert job["restart"] == "no"
    assert job["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert job["environment"]["FOUNTAIN_DATABASE_URL"] == "postgresql://fountain:s3cretpassword@postgres:5432/fountain"
    shell, flag, line = job["command"]
    assert (shell, flag) == ("sh", "-c")
    words = shlex.split(line.replace("$$", "$"))
    assert words[0] == "exec"
    parsed = _parse(words[1:])
    assert str(parsed["output"]).startswith(deployment.BACKUP_DIR + "/$(date -u")
    mount = job["volumes"][0]
    target = mount["target"] if isinstance(mount, dict) else mount.split(":")[1]
    assert target == deployment.BACKUP_DIR
    # The image gives the directory to its user, so that a new volume starts writable for it.
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(rf"mkdir -p [^\n]*{deployment.BACKUP_DIR}\b", dockerfile)
    assert re.search(rf"chown fountain:fountain [^\n]*{deployment.BACKUP_DIR}\b", dockerfile)


async def test_a_restore_that_fails_half_way_leaves_the_schema_as_it_was(
    fountain: Callable[..., Result],
    client_for: ClientFor,
    database_url: str,
    fresh_database: Callable[[str], str],
    tmp_path: Path,
) -> None:
    await seed(client_for)
    folder = tmp_path / "atomic"
    assert fountain("backup", "character", "--output", str(folder), database=database_url).exit_code == 0
    target = fresh_database("atomic")
    assert fountain("restore", "--input", str(folder), database=target).exit_code == 0
    engine = create_async_engine(target, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE character.characters SET name = 'Changed since the backup'"))
            # The schema is dropped and its tables created again before this refuses the first
            # constraint: a failure in the middle of the restore.
            await conn.execute(
                text(
                    "CREATE FUNCTION public.refuse_ddl() RETURNS event_trigger LANGUAGE plpgsql "
                    "AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
                )
            )
            await conn.execute(
                text(
                    "CREATE EVENT TRIGGER refuse_ddl ON ddl_command_end WHEN TAG IN ('ALTER TABLE', 'CREATE INDEX') "
                    "EXECUTE FUNCTION public.refuse_ddl()"
                )
            )
        before = await snapshot(target)
        failed = fountain("restore", "--input", str(folder), "--force", database=target)
        assert failed.exit_code == 1
        assert "schema character is unchanged" in failed.output and "refused by the test" in failed.output
        assert await snapshot(target) == before
    finally:
        await engine.dispose()
