"""`fountain mcp`: the story services as tools for AI agents, over the Model Context Protocol."""

from enum import StrEnum
from typing import Annotated, Optional

import typer

from fountain_common.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_PORT = 8765
# One service URL each: the compose network's way (fountain_common/upstream.py); a --url overrides them.
SERVICE_URL_FIELDS = (
    "central_sequence_url",
    "character_url",
    "core_script_url",
    "session_context_url",
    "story_factory_url",
)


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


EPILOG = (
    "Example (a desktop agent starts it): fountain mcp --url http://127.0.0.1:8080\n\n"
    "Over HTTP for remote agents: fountain mcp --transport http --port 8765  (then http://127.0.0.1:8765/mcp)\n\n"
    "Through a gateway: fountain mcp --url https://gateway.example --api-key KEY"
)


def services_settings(settings: Settings, url: str | None, api_key: str | None, timeout: float) -> Settings:
    """Where the tools reach the services: `url` for all of them when given; otherwise each service's
    own FOUNTAIN_<SERVICE>_URL, then FOUNTAIN_GATEWAY_URL, then `make run`'s address."""
    overrides: dict[str, object] = {"upstream_timeout_seconds": timeout}
    if url is not None:
        overrides |= {"gateway_url": url, **dict.fromkeys(SERVICE_URL_FIELDS)}
    elif settings.gateway_url is None:
        overrides["gateway_url"] = DEFAULT_URL
    if api_key is not None:
        overrides["gateway_api_key"] = api_key
    return settings.model_copy(update=overrides)


def mcp_command(
    transport: Annotated[
        Transport, typer.Option(help="stdio: an agent starts this command; http: streamable HTTP on --port.")
    ] = Transport.stdio,
    url: Annotated[
        Optional[str],
        typer.Option(
            envvar="FOUNTAIN_GATEWAY_URL",
            help="Where the services answer by Host header: `make run` / `fountain serve`, or a gateway. "
            f"Default {DEFAULT_URL} for each service without a FOUNTAIN_<SERVICE>_URL of its own.",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        Optional[str],
        typer.Option(
            envvar="FOUNTAIN_GATEWAY_API_KEY", help="The gateway's key, sent as `apikey`.", show_default=False
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (http). Loopback: only this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on (http).")] = DEFAULT_PORT,
    timeout: Annotated[
        float, typer.Option(min=1, max=120, help="Seconds to wait for a service's answer (a PDF takes a few).")
    ] = 60.0,
) -> None:
    """Serve the story services as MCP tools: characters, scripts, scenes, dialogue, reading and
    exporting screenplays, statistics and session context.

    The tools call the services' /v2 APIs over HTTP, like any client.
    """
    from fountain_cli.mcp_server.calls import StoryServices
    from fountain_cli.mcp_server.tools import build_server
    from fountain_cli.ports import busy_port_message
    from fountain_common.observability import configure_logging
    from fountain_common.settings import get_settings

    if transport is Transport.http and busy_port_message(host, port) is not None:
        typer.secho(f"Port {port} on {host} is already in use: pick another with --port.", fg="red", err=True)
        raise typer.Exit(1)
    settings = get_settings()
    # Logs go to stderr: in stdio mode standard output carries the protocol.
    configure_logging(settings.log_level, settings.log_format)
    server = build_server(StoryServices(services_settings(settings, url, api_key, timeout)))
    if transport is Transport.stdio:
        server.run("stdio")
        return
    typer.echo(f"MCP server on http://{host}:{port}/mcp (streamable HTTP)", err=True)
    server.run("streamable-http", host=host, port=port)
