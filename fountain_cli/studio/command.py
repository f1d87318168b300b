"""The `fountain studio` command."""

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from fountain_common.service import REPO_ROOT

EPILOG = (
    "Example: fountain studio schema.json, then open http://127.0.0.1:8790/ in a browser; "
    "or fountain studio bootstrap.sql (saved as bootstrap.schema.json), or fountain studio services/NAME. "
    "Described in docs/studio.md."
)


def studio(
    source: Annotated[
        Optional[Path],
        typer.Argument(
            help="A schema.json (created by Save when missing), a SQL file to start from, or a scaffolded "
            "service's folder (services/NAME: its declared schema.json); an empty schema when left out.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="The address to listen on; loopback keeps it on this machine.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="The port to listen on.", min=1, max=65535)] = 8790,
    save_to: Annotated[
        Optional[Path],
        typer.Option(
            "--save-to",
            help="The schema.json Save writes (default: the schema.json opened, <name>.schema.json beside a "
            "SQL file, or ./schema.json).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Design a service's schema in a local web page: tables and fields, checks as you type, the
    OpenAPI, DDL and ER diagram it gives, then save the schema.json or scaffold the service.

    Save writes only the schema.json; Scaffold does what `fountain scaffold --from-json` does, into
    this repository, and refuses a service name that is taken. For a service opened as services/NAME,
    the Migration panel previews its next Alembic migration and writes it (a drop only once
    confirmed), with the spec, tables and generated code that follow from the schema.

    AI assist (optional): set FOUNTAIN_STUDIO_AI_URL to an OpenAI-compatible API (e.g.
    http://localhost:11434/v1), FOUNTAIN_STUDIO_AI_MODEL and, if it needs one, FOUNTAIN_STUDIO_AI_KEY;
    a change described in words comes back as a proposal to accept or reject.
    """
    import uvicorn

    from fountain_cli.scaffold.pipeline import ScaffoldError
    from fountain_cli.studio.app import LOOPBACK, create_app, open_studio
    from fountain_cli.studio.assist import AssistSettings

    try:
        opened = open_studio(source.resolve() if source else None, save_to.resolve() if save_to else None, REPO_ROOT)
    except ScaffoldError as error:
        typer.secho(f"Cannot open {source}. {len(error.problems)} problem(s):", fg="red", err=True)
        for problem in error.problems:
            typer.secho(f"  {problem}", fg="red", err=True)
        raise typer.Exit(1) from error
    opened.assist = AssistSettings.from_environment(os.environ)
    for note in opened.left_out:
        typer.echo(f"note: {note}")
    if opened.assist is not None:
        typer.echo(f"AI assist: {opened.assist.model or '(no model set)'} at {opened.assist.url}")
    typer.echo(f"Schema studio on http://{host}:{port}/ (saves to {opened.save_to}); Ctrl+C stops it.")
    # Listening on every address: any name may lead here; otherwise only loopback's and the one given.
    allowed = ("*",) if host in ("0.0.0.0", "::") else (*LOOPBACK, host)
    uvicorn.run(create_app(opened, allowed), host=host, port=port, log_level="warning")
