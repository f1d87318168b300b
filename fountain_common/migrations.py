"""Alembic, one history per service, each in its own PostgreSQL schema.

The environment (env.py, script template) is shared and lives beside this module; each service keeps
only its revisions, in services/<name>/migrations/. The `fountain db` commands build the Alembic
configuration with `alembic_config`.
"""

import asyncio
from functools import cache
from pathlib import Path

from alembic import context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fountain_common.service import ServiceDefinition

ENVIRONMENT_DIR = Path(__file__).resolve().parent / "alembic"


def alembic_config(service: ServiceDefinition, database_url: str) -> Config:
    return history_config(service.migrations_dir, service.schema, service.metadata, database_url)


def history_config(migrations_dir: Path, schema: str, metadata: MetaData, database_url: str) -> Config:
    """The configuration of one schema's migration history kept in `migrations_dir`, with the shared
    environment: also for a history that is not an imported service's (the studio's copy of one)."""
    config = Config()
    config.set_main_option("script_location", str(ENVIRONMENT_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(migrations_dir))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = schema
    config.attributes["metadata"] = metadata
    return config


@cache
def head_revision(service: ServiceDefinition) -> str | None:
    return ScriptDirectory.from_config(alembic_config(service, "")).get_current_head()


def run_migrations(metadata: MetaData) -> None:
    """Body of a service's env.py: migrate only this service's schema, recording the version there."""
    config = context.config
    schema: str = config.attributes["schema"]

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        # Only this service's schema exists for autogenerate; other services' tables are invisible.
        return name == schema if type_ == "schema" else True

    def migrate(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text(f'SET search_path TO "{schema}"'))
        connection.commit()
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=include_name,
            compare_type=True,
            compare_server_default=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(config.attributes["database_url"], poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    if context.is_offline_mode():
        raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
    asyncio.run(run())
