"""`fountain backup` and `fountain restore`: each service's PostgreSQL schema to a file and back.

A backup is a folder: one pg_dump archive a service (`<service>.dump`, custom format, the service's
schema only, no owners or grants) and `manifest.json`, written last, naming each archive with its
checksum, its Alembic revision and the rows of each table. Every archive of one backup comes from
one snapshot (pg_export_snapshot), so the services' schemas agree with each other as of one moment.

A restore checks every archive against the manifest, refuses a schema that holds rows unless
--force, then replaces each schema in one transaction: DROP SCHEMA ... CASCADE and the archive's SQL
(pg_restore) run by psql with --single-transaction, so a failed restore leaves the schema as it was.
It ends by counting the restored rows against the manifest.

pg_dump, pg_restore and psql must be of the server's major version: the PostgreSQL bundled with the
pgserver wheel (the embedded server of `make run`), /usr/lib/postgresql/<major>/bin (Debian's
postgresql-client-<major>) or --pg-bin are searched, in that order after --pg-bin.
"""

import asyncio
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from fountain_cli import registry
from fountain_cli.db import selected_services
from fountain_common.database import async_database_url
from fountain_common.migrations import alembic_config
from fountain_common.settings import get_settings

MANIFEST = "manifest.json"
FORMAT = 1
DEBIAN_POSTGRESQL = Path("/usr/lib/postgresql")


class BackupError(Exception):
    """A failure the user can act on; the message says how."""


# --- where the database is, for libpq's tools -------------------------------------------------------


def libpq_environment(url: str) -> dict[str, str]:
    """PG* variables for pg_dump, pg_restore and psql: the password stays off the command line."""
    parsed = make_url(url)
    query = {key: value if isinstance(value, str) else value[-1] for key, value in parsed.query.items()}
    env = {
        "PGHOST": query.get("host") or parsed.host or "",
        "PGPORT": str(query.get("port") or parsed.port or ""),
        "PGUSER": parsed.username or "",
        "PGPASSWORD": parsed.password or "",
        "PGDATABASE": parsed.database or "",
        "PGSSLMODE": query.get("sslmode") or query.get("ssl") or "",
        "PGAPPNAME": "fountain-backup",
    }
    return {name: value for name, value in env.items() if value}


def describe(url: str) -> str:
    """The database as the user may see it: no password."""
    parsed = make_url(url)
    where = parsed.query.get("host") or f"{parsed.host}:{parsed.port or 5432}"
    return f"database {parsed.database} on {where}"


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            yield conn
    except (OSError, DBAPIError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        raise BackupError(
            f"cannot use the {describe(url)} ({type(error).__name__}: {reason}). Check FOUNTAIN_DATABASE_URL, "
            "or unset it to use the embedded PostgreSQL."
        ) from error
    finally:
        await engine.dispose()


# --- PostgreSQL's tools of the server's version ---------------------------------------------------


@dataclass(frozen=True)
class Tools:
    bin_dir: Path
    version: str  # e.g. "16.2"

    def __getitem__(self, name: str) -> str:
        return str(self.bin_dir / name)


def _bundled_bin_dir() -> Path | None:
    """pgserver's own PostgreSQL (found without importing pgserver, which would start nothing but
    warns about its runtime directory)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def candidate_bin_dirs(pg_bin: Path | None) -> list[Path]:
    candidates = [pg_bin] if pg_bin else []
    if bundled := _bundled_bin_dir():
        candidates.append(bundled)
    if DEBIAN_POSTGRESQL.is_dir():
        candidates += sorted((p / "bin" for p in DEBIAN_POSTGRESQL.iterdir()), reverse=True)
    return candidates


def _version(executable: Path) -> str | None:
    try:
        output = subprocess.run(
            [str(executable), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\(PostgreSQL\) (\d+)(\.\d+)?", output)
    return found.group(1) + (found.group(2) or "") if found else None


def find_tools(server_version: str, needed: tuple[str, ...], pg_bin: Path | None) -> Tools:
    """A folder holding every tool of `needed` at the server's major version."""
    major = server_version.split(".")[0]
    seen = []
    for folder in candidate_bin_dirs(pg_bin):
        executables = [folder / name for name in needed]
        if not all(path.is_file() for path in executables):
            continue
        version = _version(executables[0])
        if version is None:
            continue
        seen.append(f"{version} in {folder}")
        if version.split(".")[0] == major and all(_version(path) == version for path in executables[1:]):
            return Tools(folder, version)
    found = "; found " + ", ".join(seen) if seen else ""
    raise BackupError(
        f"no {', '.join(needed)} of PostgreSQL {major} (the server's version, {server_version}){found}. "
        f"Install Debian's postgresql-client-{major}, or pass --pg-bin with the folder that holds them."
    )


async def server_version(conn: AsyncConnection) -> str:
    number = int((await conn.exec_driver_sql("SHOW server_version_num")).scalar_one())
    return f"{number // 10000}.{number % 10000}"


# --- what a schema holds ----------------------------------------------------------------------------


async def schema_exists(conn: AsyncConnection, schema: str) -> bool:
    found = await conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :schema"), {"schema": schema})
    return found.first() is not None


async def table_rows(conn: AsyncConnection, schema: str) -> dict[str, int]:
    """Rows of each table of `schema`."""
    tables = (
        await conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') ORDER BY c.relname"
            ),
            {"schema": schema},
        )
    ).scalars()
    counts = {}
    for table in tables:
        quoted = f'"{schema}"."{table}"'
        counts[table] = int((await conn.execute(text(f"SELECT count(*) FROM {quoted}"))).scalar_one())
    return counts


def data_rows(counts: dict[str, int]) -> dict[str, int]:
    """The tables holding data: alembic_version only says which migration the schema is at."""
    return {table: rows for table, rows in counts.items() if rows and table != "alembic_version"}


async def revision(conn: AsyncConnection, schema: str) -> str | None:
    if not await schema_exists(conn, schema):
        return None
    query = text(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :schema AND c.relname = 'alembic_version'"
    )
    if (await conn.execute(query, {"schema": schema})).first() is None:
        return None
    found = await conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version'))
    value = found.scalar_one_or_none()
    return str(value) if value is not None else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def _run(command: list[str], env: dict[str, str], what: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{what} failed (exit {process.returncode}): {stderr.decode(errors='replace').strip()}")


# --- backup -------------------------------------------------------------------------------------------


async def backup(url: str, names: list[str], output: Path, pg_bin: Path | None) -> dict[str, Any]:
    if (output / MANIFEST).exists():
        raise BackupError(f"{output} already holds a backup ({MANIFEST}); choose another --output folder.")
    env = libpq_environment(url)
    async with connected(url) as conn:
        version = await server_version(conn)
        tools = find_tools(version, ("pg_dump",), pg_bin)
        missing = [name for name in names if not await schema_exists(conn, registry.load_service(name).schema)]
        if missing:
            raise BackupError(
                f"no schema for {', '.join(missing)} in the {describe(url)}: nothing to back up "
                "(`fountain db upgrade` creates it)."
            )
        output.mkdir(parents=True, exist_ok=True)
        # One snapshot for every archive and for the row counts of the manifest.
        await conn.rollback()
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        await conn.begin()
        await conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        snapshot = str((await conn.exec_driver_sql("SELECT pg_export_snapshot()")).scalar_one())
        services: dict[str, Any] = {}
        for name in names:
            schema = registry.load_service(name).schema
            started = time.perf_counter()
            archive = output / f"{name}.dump"
            partial = archive.with_suffix(".dump.partial")
            try:
                await _run(
                    [
                        tools["pg_dump"],
                        "--format=custom",
                        f"--schema={schema}",
                        f"--snapshot={snapshot}",
                        "--no-owner",
                        "--no-privileges",
                        f"--file={partial}",
                    ],
                    env,
                    f"pg_dump of {name}",
                )
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.replace(archive)
            services[name] = {
                "file": archive.name,
                "schema": schema,
                "revision": await revision(conn, schema),
                "rows": await table_rows(conn, schema),
                "bytes": archive.stat().st_size,
                "sha256": _sha256(archive),
                "seconds": round(time.perf_counter() - started, 3),
            }
        await conn.rollback()
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server_version": version,
        "pg_dump_version": tools.version,
        "services": services,
    }
    written = output / (MANIFEST + ".partial")
    written.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    written.replace(output / MANIFEST)  # last: a folder without it is no complete backup
    return manifest


# --- restore ------------------------------------------------------------------------------------------


def read_manifest(folder: Path, names: list[str] | None) -> tuple[dict[str, Any], list[str]]:
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"{folder} holds no complete backup: {MANIFEST} is missing.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise BackupError(f"{path} is not valid JSON: {error}.") from error
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: backup format {manifest.get('format')!r}, this version reads {FORMAT}.")
    held = list(manifest["services"])
    if names is None:
        names = [name for name in held if name in registry.service_names()]
    absent = [name for name in names if name not in held]
    if absent:
        raise BackupError(f"the backup in {folder} holds no {', '.join(absent)}; it holds {', '.join(held)}.")
    for name in names:
        entry = manifest["services"][name]
        archive = folder / entry["file"]
        if not archive.is_file():
            raise BackupError(f"{archive} is missing.")
        if _sha256(archive) != entry["sha256"]:
            raise BackupError(f"{archive} is damaged: its checksum differs from the one in {MANIFEST}.")
        known = entry["revision"] is None or _known_revision(name, entry["revision"])
        if not known:
            raise BackupError(
                f"{name}: the backup's schema is at migration {entry['revision']}, which this version of "
                "FountainAI does not know. Restore it with the version that made it."
            )
    return manifest, names


def _known_revision(name: str, revision_id: str) -> bool:
    scripts = ScriptDirectory.from_config(alembic_config(registry.load_service(name), ""))
    try:
        return scripts.get_revision(revision_id) is not None
    except CommandError:
        return False


async def restore(url: str, folder: Path, names: list[str] | None, force: bool, pg_bin: Path | None) -> list[str]:
    manifest, names = read_manifest(folder, names)
    env = libpq_environment(url)
    async with connected(url) as conn:
        tools = find_tools(await server_version(conn), ("pg_restore", "psql"), pg_bin)
        if not force:
            occupied = {}
            for name in names:
                schema = manifest["services"][name]["schema"]
                if await schema_exists(conn, schema) and (rows := data_rows(await table_rows(conn, schema))):
                    occupied[name] = rows
            if occupied:
                held = "; ".join(
                    f"{name}: " + ", ".join(f"{table} {count:,} row(s)" for table, count in rows.items())
                    for name, rows in occupied.items()
                )
                raise BackupError(
                    f"the {describe(url)} already holds data ({held}). Restoring replaces it: pass --force to do "
                    "so, or restore into an empty database."
                )
        await conn.rollback()
    notes = []
    for name in names:
        entry = manifest["services"][name]
        await _restore_schema(tools, env, folder / entry["file"], entry["schema"], name)
        async with connected(url) as conn:
            restored = await table_rows(conn, entry["schema"])
            current = await revision(conn, entry["schema"])
        if restored != entry["rows"]:
            raise BackupError(f"{name}: the restored rows {restored} differ from the backup's {entry['rows']}.")
        notes.append(f"{name}: {sum(restored.values()):,} rows in {len(restored)} tables, as in the backup")
        if current is not None and not _is_head(name, current):
            notes.append(f"{name}: at migration {current}, older than this version's: run `fountain db upgrade {name}`")
    return notes


def _is_head(name: str, revision_id: str) -> bool:
    scripts = ScriptDirectory.from_config(alembic_config(registry.load_service(name), ""))
    return revision_id in scripts.get_heads()


async def _restore_schema(tools: Tools, env: dict[str, str], archive: Path, schema: str, name: str) -> None:
    """The schema replaced by the archive's in one transaction: on any error nothing changes."""
    environment = {**os.environ, **env}
    read_end, write_end = os.pipe()  # pg_restore writes the archive's SQL straight into psql
    try:
        sql = await asyncio.create_subprocess_exec(
            tools["pg_restore"], "--no-owner", "--no-privileges", "--file=-", str(archive),
            env=environment, stdout=write_end, stderr=subprocess.PIPE,
        )  # fmt: skip
        psql = await asyncio.create_subprocess_exec(
            tools["psql"], "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--single-transaction",
            f'--command=DROP SCHEMA IF EXISTS "{schema}" CASCADE', "--file=-",
            env=environment, stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(read_end)
        os.close(write_end)
    (_, restore_errors), (_, psql_errors) = await asyncio.gather(sql.communicate(), psql.communicate())
    if psql.returncode != 0:  # first: a psql that stopped also stops pg_restore (broken pipe)
        raise BackupError(
            f"restoring {name} failed, schema {schema} is unchanged: {psql_errors.decode(errors='replace').strip()}"
        )
    if sql.returncode != 0:
        raise BackupError(f"pg_restore of {archive} failed: {restore_errors.decode(errors='replace').strip()}")


# --- commands -------------------------------------------------------------------------------------------

ServiceArg = Annotated[
    Optional[str],
    typer.Argument(help="One service (e.g. character); all of them when left out.", show_default=False),
]
PgBinOption = Annotated[
    Optional[Path],
    typer.Option(
        "--pg-bin",
        help="Folder with pg_dump, pg_restore and psql of the server's major version (searched first).",
        show_default=False,
    ),
]


def _database_url() -> str:
    try:
        return async_database_url(get_settings())
    except Exception as error:  # the embedded server failed to start: say so in one line
        typer.secho(f"cannot start the embedded PostgreSQL: {error}", fg="red", err=True)
        raise typer.Exit(1) from error


def _fail(error: BackupError) -> typer.Exit:
    typer.secho(str(error), fg="red", err=True)
    return typer.Exit(1)


def backup_command(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder to write the backup into (created if missing; one that holds a backup already is refused).",
        ),
    ],
    service: ServiceArg = None,
    pg_bin: PgBinOption = None,
) -> None:
    """Back up each service's schema (pg_dump) into a folder, all from one snapshot.

    Uses FOUNTAIN_DATABASE_URL, or the embedded PostgreSQL of `make run` when it is unset.
    See docs/operations.md. Example: fountain backup --output backups/$(date -u +%Y%m%dT%H%M%SZ)
    """
    names = selected_services(service)
    url = _database_url()
    started = time.perf_counter()
    try:
        manifest = asyncio.run(backup(url, names, output, pg_bin))
    except BackupError as error:
        raise _fail(error) from error
    for name, entry in manifest["services"].items():
        rows = sum(entry["rows"].values())
        typer.echo(f"{name}: {rows:,} rows, {entry['bytes']:,} bytes -> {output / entry['file']}")
    typer.echo(
        f"Backup of {len(names)} service(s) written to {output} in {time.perf_counter() - started:.1f} s "
        f"(pg_dump {manifest['pg_dump_version']}, server {manifest['server_version']})."
    )


def restore_command(
    input_: Annotated[Path, typer.Option("--input", "-i", help="Folder of a backup made by `fountain backup`.")],
    service: ServiceArg = None,
    force: Annotated[bool, typer.Option("--force", help="Replace schemas that already hold rows.")] = False,
    pg_bin: PgBinOption = None,
) -> None:
    """Restore each service's schema from a backup folder (pg_restore), one transaction a schema.

    Refuses a schema holding rows unless --force. Uses FOUNTAIN_DATABASE_URL, or the embedded
    PostgreSQL of `make run` when it is unset. Stop the services first. See docs/operations.md.
    Example: fountain restore --input backups/20261130T050000Z
    """
    names = None if service is None else selected_services(service)
    url = _database_url()
    started = time.perf_counter()
    try:
        notes = asyncio.run(restore(url, input_, names, force, pg_bin))
    except BackupError as error:
        raise _fail(error) from error
    for note in notes:
        typer.echo(note)
    typer.echo(f"Restored from {input_} into the {describe(url)} in {time.perf_counter() - started:.1f} s.")
