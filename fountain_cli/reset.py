"""`fountain reset SERVICE`: drop one service's schema with every row in it, and migrate it afresh.
Only that schema is touched; every other service keeps its tables and rows."""

import asyncio
from typing import Annotated

import typer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fountain_cli import registry
from fountain_cli.db import database_errors_reported, selected_services, upgrade_all
from fountain_common.database import async_database_url
from fountain_common.settings import get_settings


async def drop_schema(url: str, schema: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


def reset(
    service: Annotated[str, typer.Argument(help="The service whose schema is dropped and recreated.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop a service's schema (DROP SCHEMA ... CASCADE: every row is lost) and migrate it to the newest revision.

    Other services' schemas are not touched. Example: fountain reset character --yes
    """
    selected_services(service)
    schema = registry.load_service(service).schema
    url = async_database_url(get_settings())
    if not yes and not typer.confirm(f"Drop schema {schema!r} with every row in it, then migrate it afresh?"):
        typer.echo("Nothing was changed.")
        raise typer.Exit(1)
    typer.echo(f"[1/2] dropping schema {schema}")
    with database_errors_reported(service):
        asyncio.run(drop_schema(url, schema))
    typer.echo("[2/2] migrating")
    upgrade_all([service])
    typer.echo(f"{service}: schema {schema} reset to the newest revision")
