"""The `fountain scaffold` command."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from fountain_common.service import REPO_ROOT

EPILOG = (
    "Example: fountain scaffold playwrights --from-sql bootstrap.sql, or "
    "fountain scaffold library --from-json schema.json, or with the rows of a dump: fountain scaffold store "
    "--from-sql dump.sql --with-data; rows of each account its own: --auth. The input format is described in docs/scaffolding.md."
)


def scaffold(
    name: Annotated[str, typer.Argument(help="The new service's name: its folder, spec and PostgreSQL schema.")],
    from_sql: Annotated[
        Optional[Path],
        typer.Option(
            "--from-sql",
            help="PostgreSQL DDL: hand-written CREATE statements or `pg_dump --schema-only` output.",
            show_default=False,
        ),
    ] = None,
    from_json: Annotated[
        Optional[Path], typer.Option("--from-json", help="A schema.json (docs/scaffolding.md).", show_default=False)
    ] = None,
    with_data: Annotated[
        bool,
        typer.Option(
            "--with-data",
            help="Also load the input's rows (INSERT, and COPY ... FROM stdin as pg_dump writes them) through a "
            "data migration, 0002, in batches with a progress bar; its downgrade deletes exactly those rows.",
        ),
    ] = False,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth",
            help="Rows belong to accounts: every table gets an owner column (the account that made the row, set by "
            "the service); an account reads and changes its own rows only, admins every row (docs/scaffolding.md).",
        ),
    ] = False,
) -> None:
    """Create a complete new service from a declared schema: spec, tables, migration, code and tests.

    Nothing is written when the name is taken, the input cannot be carried faithfully, or specs/,
    services/, kong/ or docker-compose.yml have uncommitted changes. Views are served read-only; their
    columns are typed by running the input in a scratch schema of the database `fountain db` uses
    (FOUNTAIN_DATABASE_URL, or the embedded PostgreSQL), rolled back after.
    """
    from fountain_cli.scaffold.pipeline import ScaffoldError, apply, plan

    if (from_sql is None) == (from_json is None):
        typer.secho("Give exactly one input: --from-sql FILE or --from-json FILE.", fg="red", err=True)
        raise typer.Exit(2)
    source, kind = (from_sql, "sql") if from_sql is not None else (from_json, "json")
    assert source is not None
    numbers = iter(range(1, 5))

    def step(text: str) -> None:
        typer.echo(f"[{next(numbers)}/4] {text}")

    try:
        step(f"reading {source} and checking it")
        planned = plan(REPO_ROOT, name, source.resolve(), kind, with_data=with_data, auth=auth)
        for note in planned.schema.notes:
            typer.echo(f"      note: {note}")
        apply(REPO_ROOT, planned, step)
    except ScaffoldError as error:
        typer.secho(f"Nothing was written. {len(error.problems)} problem(s):", fg="red", err=True)
        for problem in error.problems:
            typer.secho(f"  {problem}", fg="red", err=True)
        raise typer.Exit(1) from error
    tables = ", ".join(t.name for t in planned.schema.served)
    typer.echo(
        f"Service {name} created: tables {tables}; host {planned.host}, local port {planned.port}.\n"
        f"Next: fountain db upgrade {name} && fountain serve {name}; its tests: pytest tests/{name}"
    )
