"""`fountain`: the one command that drives FountainAI's specs, code, databases and servers."""

import ipaddress
import os
import sys
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from fountain_cli import codegen, gateway, registry
from fountain_cli.accounts import accounts_app
from fountain_cli.backup import backup_command, restore_command
from fountain_cli.db import db_app, selected_services, upgrade_all
from fountain_cli.dns import dns
from fountain_cli.exports import export_ddl, export_docs, export_openapi
from fountain_cli.mcp_server.command import EPILOG as MCP_EPILOG
from fountain_cli.mcp_server.command import mcp_command
from fountain_cli.reset import reset
from fountain_cli.scaffold.command import EPILOG as SCAFFOLD_EPILOG
from fountain_cli.scaffold.command import scaffold
from fountain_cli.story_export import EPILOG as EXPORT_EPILOG
from fountain_cli.story_export import export_story
from fountain_cli.story_import import import_command
from fountain_cli.studio.command import EPILOG as STUDIO_EPILOG
from fountain_cli.studio.command import studio
from fountain_cli.sweep import sweep
from fountain_common.service import REPO_ROOT

if TYPE_CHECKING:
    from fountain_cli.servers import Auth

app = typer.Typer(
    help="FountainAI: contract-first storytelling services.\n\nExample: fountain validate && fountain codegen && fountain serve",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"fountain {package_version('fountainai')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


app.add_typer(db_app, name="db")
app.add_typer(gateway.gateway_app, name="gateway")
app.add_typer(accounts_app, name="accounts")
app.command()(dns)
app.command("import")(import_command)

ServiceArg = Annotated[
    Optional[str],
    typer.Argument(help="One service (e.g. central_sequence); all of them when left out.", show_default=False),
]


def _spec_names(name: str | None) -> list[str]:
    specs = sorted(p.stem for p in (REPO_ROOT / "specs").glob("*.yaml"))
    if name is None:
        return specs
    if name not in specs:
        typer.secho(f"No spec specs/{name}.yaml. Specs: {', '.join(specs)}.", fg="red", err=True)
        raise typer.Exit(2)
    return [name]


@app.command()
def validate(service: ServiceArg = None) -> None:
    """Check specs/*.yaml: valid OpenAPI 3.1 and FountainAI's own rules (docs/spec-conventions.md).

    Example: fountain validate central_sequence
    """
    from fountain_cli.spec_rules import check_spec

    hosts = {s.name: s.host for s in registry.all_services()}
    failures = 0
    for name in _spec_names(service):
        findings = check_spec(REPO_ROOT / "specs" / f"{name}.yaml", hosts.get(name))
        failures += len(findings)
        for finding in findings:
            typer.secho(f"specs/{finding}", fg="red", err=True)
        if not findings:
            typer.echo(f"specs/{name}.yaml: ok")
    if failures:
        typer.secho(f"{failures} problem(s) found.", fg="red", err=True)
        raise typer.Exit(1)


@app.command("codegen")
def codegen_command(
    service: ServiceArg = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; fail if generated code differs from the specs.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Regenerate even when the inputs are unchanged.")] = False,
) -> None:
    """Generate models and routers (services/<name>/generated/) from specs/<name>.yaml, then
    kong/kong.yml and docker-compose.yml from every spec (as `fountain gateway` does).

    Unchanged specs are skipped. Example: fountain codegen --check
    """
    names = _spec_names(service)
    if check:
        problems = [p for name in names for p in codegen.differences(name)]
        problems += gateway.generated_differences()
        for problem in problems:
            typer.secho(problem, fg="red", err=True)
        if problems:
            typer.secho("Generated code is out of date: run `make codegen` and commit the result.", fg="red", err=True)
            raise typer.Exit(1)
        typer.echo(f"generated code matches {len(names)} spec(s); kong/kong.yml and docker-compose.yml are current")
        return
    for name in names:
        changed = codegen.generate(name, force=force)
        typer.echo(f"services/{name}/generated: {'written' if changed else 'unchanged'}")
    written = gateway.write_generated()
    for path in gateway.generated_files():
        typer.echo(f"{gateway.display(path)}: {'written' if path in written else 'unchanged'}")


@app.command()
def serve(
    service: ServiceArg = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        Optional[int],
        typer.Option(help="Port; default 8080 for all services, the service's own port (8101-8105) for one."),
    ] = None,
    migrate: Annotated[bool, typer.Option(help="Upgrade the database schemas before serving.")] = True,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (one service only).")] = 1,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="Check no API key, for experiments on this machine: refused unless --host is 127.0.0.1, ::1 or localhost.",
        ),
    ] = False,
    behind_gateway: Annotated[
        bool,
        typer.Option(
            "--behind-gateway",
            help="Kong in front checks the keys and names the caller in X-Consumer-* headers, which are passed on "
            "(the Docker Compose deployment) and believed only with Kong's proof, X-Fountain-Gateway equal to "
            "FOUNTAIN_GATEWAY_SECRET (required). Publish no such port.",
        ),
    ] = False,
) -> None:
    """Serve one service, or all five in one process routed by Host header exactly as the gateway routes.

    Every /v1 and /v2 request needs an API key in the `apikey` header, with the role the specs and
    Kong's routes require (reader: GET; writer and admin: every method); /health, /ready and the docs
    are open. The services check the role again, trusting the caller this server names with a secret
    of its own (FOUNTAIN_GATEWAY_SECRET, made at start unless set).
    Keys come from `fountain accounts` and from GATEWAY_CONSUMERS (name:role:key): with neither,
    the server refuses to start. All five also answer under a path prefix (/character/docs);
    / lists them, for a browser. A port in use is reported before anything starts.

    Example: fountain accounts add alice --role writer  then  fountain serve  then
    curl -H 'Host: centralsequence.fountain.coach' -H 'apikey: <key>' http://127.0.0.1:8080/v1/sequence ...
    """
    import uvicorn

    from fountain_cli.accounts import AccountError
    from fountain_cli.key_check import INTERNAL_CONSUMER
    from fountain_cli.ports import busy_port_message
    from fountain_cli.servers import Auth, all_services_app, keyring_from_environment, one_service_app_factory
    from fountain_common.http_server import server_options
    from fountain_common.observability import configure_logging
    from fountain_common.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    names = selected_services(service)
    auth = Auth.NONE if no_auth else Auth.GATEWAY if behind_gateway else Auth.KEYS
    if no_auth and behind_gateway:
        typer.secho("--no-auth and --behind-gateway exclude each other: pick one.", fg="red", err=True)
        raise typer.Exit(2)
    if no_auth and not is_loopback(host):
        typer.secho(
            f"--no-auth serves without checking any key, so only on this machine: --host 127.0.0.1, ::1 or "
            f"localhost, not {host}. To serve {host}, create an account: fountain accounts add NAME --role writer",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    if auth is Auth.GATEWAY and not settings.gateway_secret:
        typer.secho(
            "--behind-gateway trusts the caller the gateway names only with the gateway's proof: set "
            "FOUNTAIN_GATEWAY_SECRET to the GATEWAY_SECRET `fountain gateway render` gave Kong "
            "(make one with `fountain gateway new-key`).",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    if auth is Auth.NONE and settings.gateway_secret:
        typer.secho(
            "--no-auth names no caller, so services with FOUNTAIN_GATEWAY_SECRET would refuse every request: "
            "unset FOUNTAIN_GATEWAY_SECRET to serve without checks.",
            fg="red",
            err=True,
        )
        raise typer.Exit(2)
    keyring = None
    if auth is Auth.KEYS:
        try:
            keyring = keyring_from_environment(settings)
        except (AccountError, gateway.ConsumerError) as error:
            typer.secho(f"Cannot read the API keys or the token signing key: {error}.", fg="red", err=True)
            raise typer.Exit(2) from error
        if not len(keyring):
            typer.secho(
                "No account has an active API key, so nobody could call the API. Create one:\n"
                "  fountain accounts add NAME --role writer    (prints its key)\n"
                f"or set {gateway.CONSUMERS_VARIABLE}=name:role:key, or, on this machine only, serve without "
                "checks: fountain serve --no-auth",
                fg="red",
                err=True,
            )
            raise typer.Exit(2)
        own_key = settings.gateway_api_key
        if service is None and not settings.gateway_url and own_key and keyring.identify(own_key) is None:
            typer.secho(
                "FOUNTAIN_GATEWAY_API_KEY is the key the services send when they call each other through this "
                "server, and no account or GATEWAY_CONSUMERS entry has it: unset it (the server then makes one "
                "of its own) or set it to a key that exists.",
                fg="red",
                err=True,
            )
            raise typer.Exit(2)
    if auth is Auth.KEYS and not settings.gateway_secret:
        # The key check proves to the services, with a secret of this process (and its workers),
        # that it named the caller; they then check the caller's role against their spec.
        os.environ["FOUNTAIN_GATEWAY_SECRET"] = gateway.new_api_key()
        get_settings.cache_clear()
    listen = port or (8080 if service is None else registry.load_service(service).port)
    busy = busy_port_message(host, listen, service)
    if busy:  # said before the database starts and the migrations run
        typer.secho(busy, fg="red", err=True)
        raise typer.Exit(1)
    if migrate:
        upgrade_all(names)
    if service is None:
        if workers != 1:
            typer.secho("--workers applies to one service; all services share one process.", fg="red", err=True)
            raise typer.Exit(2)
        own_address = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        if not settings.gateway_url:
            # Services call each other through this process, by public host, as they would through Kong;
            # with a key of their own, known to this process only (behind Kong they bypass it).
            os.environ["FOUNTAIN_GATEWAY_URL"] = f"http://{own_address}:{listen}"
            if keyring is not None and not settings.gateway_api_key:
                internal_key = gateway.new_api_key()
                keyring.add(gateway.Consumer(INTERNAL_CONSUMER, gateway.WRITER, internal_key), key_id="internal")
                os.environ["FOUNTAIN_GATEWAY_API_KEY"] = internal_key
            get_settings.cache_clear()
        typer.echo(f"Serving {len(names)} services on http://{host}:{listen}, routed by Host header or path prefix:")
        for svc in registry.all_services():
            typer.echo(f"  {svc.host:35} http://{own_address}:{listen}/{svc.name}/")
        typer.echo(f"Open http://{own_address}:{listen}/ in a browser for each service's docs and health.")
        _say_who_is_checked(auth)
        uvicorn.run(all_services_app(auth, keyring), host=host, port=listen, **server_options())
    else:
        typer.echo(f"Serving {service} on http://{host}:{listen}")
        _say_who_is_checked(auth)
        uvicorn.run(
            f"fountain_cli.servers:{one_service_app_factory(service, auth)}",
            factory=True,
            host=host,
            port=listen,
            workers=workers,
            **server_options(),
        )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _say_who_is_checked(auth: "Auth") -> None:
    from fountain_cli.servers import announcement

    message, warning = announcement(auth)
    typer.secho(message, fg="yellow" if warning else None, err=warning)


app.command(epilog=SCAFFOLD_EPILOG)(scaffold)
app.command(epilog=STUDIO_EPILOG)(studio)
app.command("export-ddl")(export_ddl)
app.command("export-openapi")(export_openapi)
app.command("export-docs")(export_docs)
app.command()(reset)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("export", epilog=EXPORT_EPILOG)(export_story)
app.command()(sweep)
app.command("mcp", epilog=MCP_EPILOG)(mcp_command)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
