"""`fountain mcp` as an agent runs it: a process of its own speaking MCP over stdio or streamable HTTP,
calling the five services served as `fountain serve` serves them (one port, routed by Host header)."""

import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from screenplain.parsers import fountain as fountain_parser
from screenplain.types import Action, Slug
from typer.testing import CliRunner

from fountain_cli.main import app
from tests.service_processes import free_port
from tests.test_cli_export import url  # noqa: F401 - the served services, a fixture

COMMAND = [sys.executable, "-m", "fountain_cli.main", "mcp"]


async def build_a_scene(client: Client) -> str:
    """A script with one scene and an action, made through the tools; the story read back as Fountain."""
    script = (await client.call_tool("create_script", {"title": "Over the wire"})).structured_content
    assert script is not None, "create_script failed"
    scene = await client.call_tool("add_scene", {"scriptId": script["scriptId"], "heading": "INT. WIRE ROOM"})
    assert not scene.is_error and scene.structured_content is not None
    action = await client.call_tool(
        "add_action",
        {"scriptId": script["scriptId"], "headingId": scene.structured_content["headingId"], "text": "Static."},
    )
    assert not action.is_error
    story = await client.call_tool("read_story", {"scriptId": script["scriptId"]})
    assert not story.is_error and story.structured_content is not None
    text: str = story.structured_content["result"]
    return text


def paragraphs(screenplay: str) -> list[tuple[str, Any]]:
    return [
        (type(p).__name__, str(p.line) if isinstance(p, Slug) else [str(line) for line in p.lines])
        for p in fountain_parser.parse(io.StringIO(screenplay))
        if isinstance(p, Slug | Action)
    ]


@pytest.fixture
def mcp_over_http(url: str) -> Iterator[str]:  # noqa: F811 - the imported fixture
    port = free_port()
    process = subprocess.Popen(
        [*COMMAND, "--transport", "http", "--port", str(port), "--url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"fountain mcp exited: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("fountain mcp did not listen within 60 s") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=15)


async def test_the_tools_answer_over_streamable_http(mcp_over_http: str) -> None:
    async with Client(mcp_over_http) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"create_script", "add_scene", "add_dialogue", "read_story"} <= names
        screenplay = await build_a_scene(client)
    assert paragraphs(screenplay) == [("Slug", "INT. WIRE ROOM"), ("Action", ["Static."])]


async def test_the_tools_answer_over_stdio(url: str) -> None:  # noqa: F811 - the imported fixture
    server = StdioServerParameters(command=COMMAND[0], args=[*COMMAND[1:], "--url", url])
    async with Client(server) as client:
        screenplay = await build_a_scene(client)
    assert paragraphs(screenplay) == [("Slug", "INT. WIRE ROOM"), ("Action", ["Static."])]


def test_a_busy_port_is_reported_before_serving() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["mcp", "--transport", "http", "--port", str(port)])
    assert result.exit_code == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in result.output


def test_where_the_tools_reach_the_services() -> None:
    from fountain_cli.mcp_server.command import DEFAULT_URL, services_settings
    from fountain_common.settings import Settings

    # Given in full: a fixture of this module sets FOUNTAIN_GATEWAY_URL, which Settings() would read.
    compose = Settings(
        character_url="http://character:8102", story_factory_url="http://story-factory:8105", gateway_url=None
    )
    # Each service's own URL first, then `make run`'s address for the others.
    chosen = services_settings(compose, None, None, 30)
    assert (chosen.character_url, chosen.story_factory_url) == ("http://character:8102", "http://story-factory:8105")
    assert chosen.gateway_url == DEFAULT_URL and chosen.upstream_timeout_seconds == 30
    # A --url is where all of them are, with the key sent to it.
    gateway = services_settings(compose, "https://gateway.example", "writer-key", 60)
    assert gateway.gateway_url == "https://gateway.example" and gateway.gateway_api_key == "writer-key"
    assert gateway.character_url is None and gateway.story_factory_url is None
    # FOUNTAIN_GATEWAY_URL stands when no --url is given.
    assert services_settings(Settings(gateway_url="http://kong:8000"), None, None, 60).gateway_url == "http://kong:8000"
