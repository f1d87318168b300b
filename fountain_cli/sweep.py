"""`fountain sweep`: clean up after writes that died half-way (process killed, database lost) and were
never retried."""

import asyncio
from typing import Annotated, Optional

import typer
from sqlalchemy.exc import DBAPIError

from fountain_cli import registry
from fountain_cli.db import selected_services
from fountain_common.database import create_engine
from fountain_common.problems import Problem
from fountain_common.settings import get_settings
from fountain_common.upstream import Upstreams


def sweep(
    service: Annotated[
        Optional[str],
        typer.Argument(help="One service (e.g. core_script); all of them when left out.", show_default=False),
    ] = None,
) -> None:
    """Clean up after creates that died before their commit and were never retried.

    A create counts as never retried once its last attempt is older than FOUNTAIN_IDEMPOTENCY_TTL_HOURS.

    Core Script: a script create killed after the Central Sequence Service numbered the script leaves the script's scope (script-{id}) there. Its retry with the same Idempotency-Key reuses it; this deletes it when no retry came. The script's number in the catalogue of scripts stays taken, as a deleted script's does.

    Needs the database and the services it calls (FOUNTAIN_*_URL or FOUNTAIN_GATEWAY_URL). Safe to run at any time, from cron or a compose job, several at once.

    Example: fountain sweep core_script
    """
    names = [name for name in selected_services(service) if registry.load_service(name).sweep is not None]
    if not names:
        typer.echo(f"{service} leaves nothing to sweep.")
        return
    try:
        lines = asyncio.run(_sweep(names))
    except Problem as problem:
        typer.secho(f"Sweep stopped, to be run again: {problem.detail}", fg="red", err=True)
        raise typer.Exit(1) from None
    except (DBAPIError, OSError) as error:
        typer.secho(f"Sweep stopped, to be run again: the database failed: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    for line in lines:
        typer.echo(line)
    typer.echo(f"Swept {len(lines)} abandoned create{'' if len(lines) == 1 else 's'}.")


async def _sweep(names: list[str]) -> list[str]:
    settings = get_settings()
    engine = create_engine(settings, pool_size=1)
    lines: list[str] = []
    try:
        for name in names:
            definition = registry.load_service(name)
            assert definition.sweep is not None
            upstreams = Upstreams(settings, caller=name)
            try:
                lines += [f"{name}: {line}" for line in await definition.sweep(engine, upstreams)]
            finally:
                await upstreams.aclose()
    finally:
        await engine.dispose()
    return lines
