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
