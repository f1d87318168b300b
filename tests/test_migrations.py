"""Each service's Alembic history: upgrade, downgrade to base and upgrade again, with the models
and migrations in agreement, each service confined to its own schema."""

import asyncio
from pathlib import Path

from alembic import command
from sqlalchemy import inspect
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
        "sequence_counter",
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
