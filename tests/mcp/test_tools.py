"""`fountain mcp`'s tools, driven by the MCP SDK's client (in memory) against the real services
in-process; what the tools did is checked through the services' own HTTP APIs."""

import base64
import io
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, EmbeddedResource, TextContent
from pypdf import PdfReader
from screenplain.parsers import fountain as fountain_parser
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli.mcp_server.calls import StoryServices
from fountain_cli.mcp_server.tools import build_server
from fountain_common.settings import Settings
from tests.core_script.conftest import reset_scripts
from tests.service_processes import free_port
from tests.story_factory.conftest import Recorder
from tests.test_screenplays import parsed

ClientFor = Callable[[str], httpx.AsyncClient]
BRICK_AND_STEEL = Path(__file__).parents[1] / "story_factory" / "screenplays" / "Brick-and-Steel.fountain"
WRITE_TOOLS = {
    "find_or_create_character",
    "create_script",
    "add_scene",
    "add_action",
    "add_dialogue",
    "add_transition",
    "move_element",
    "import_screenplay",
    "start_session",
    "set_character_context",
}


@pytest.fixture
async def server(
    settings: Settings, engine: AsyncEngine, gateway_transport: httpx.ASGITransport
) -> AsyncIterator[MCPServer]:
    """The MCP server, whose calls reach the services through one Host router as `fountain mcp --url`
    reaches `make run`. Each test connects the SDK's client to it (`async with Client(server)`: the
    client's task group must end in the task that started it, which a fixture's teardown is not)."""
    await reset_scripts(engine)
    services = StoryServices(settings.model_copy(update={"gateway_url": "http://services"}), gateway_transport)
    yield build_server(services)
    await services.aclose()


async def call(mcp: Client, tool: str, **arguments: Any) -> Any:
    """A tool's answer: its structured content, or its text; the test fails on a tool error."""
    result = await mcp.call_tool(tool, arguments)
    assert not result.is_error, text_of(result)
    if result.structured_content is not None:
        return result.structured_content.get("result", result.structured_content)
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def failure(mcp: Client, tool: str, **arguments: Any) -> str:
    result = await mcp.call_tool(tool, arguments)
    assert result.is_error, f"{tool} succeeded: {text_of(result)}"
    message = text_of(result)
    assert "Traceback" not in message
    return message


def refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*(node["$ref"] for _ in [0] if "$ref" in node), *(r for v in node.values() for r in refs_in(v))]
    if isinstance(node, list):
        return [r for item in node for r in refs_in(item)]
    return []


async def a_scene(mcp: Client, title: str = "Patio") -> tuple[int, int]:
    script = await call(mcp, "create_script", title=title)
    scene = await call(mcp, "add_scene", scriptId=script["scriptId"], heading="EXT. PATIO - DAY")
    return int(script["scriptId"]), int(scene["headingId"])


async def lines_of(client_for: ClientFor, script_id: int, heading_id: int) -> list[dict[str, Any]]:
    response = await client_for("core_script").get(f"/v2/scripts/{script_id}/sections/{heading_id}/lines")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_the_tools_are_few_described_and_their_schemas_hold_no_references(server: MCPServer) -> None:
    async with Client(server) as mcp:
        tools = (await mcp.list_tools()).tools
        assert 10 <= len(tools) < 30
        for tool in tools:
            assert tool.description and len(tool.description) <= 300, tool.name
            assert tool.input_schema["type"] == "object"
            assert refs_in(tool.input_schema) == [] and "$defs" not in tool.input_schema, tool.name
            assert ("idempotencyKey" in tool.input_schema["properties"]) == (tool.name in WRITE_TOOLS), tool.name
            if tool.name in WRITE_TOOLS:
                assert "same idempotencyKey" in tool.description
        titles = {entry["title"] for entry in _title_page_schema(tools)}
        assert titles == {"TitlePageEntry"}
        templates = (await mcp.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["fountain://stories/{scriptId}"]


def _title_page_schema(tools: list[Any]) -> list[dict[str, Any]]:
    """create_script's titlePage items, written out where a $ref stood."""
    (create,) = [t for t in tools if t.name == "create_script"]
    page = create.input_schema["properties"]["titlePage"]
    items: list[dict[str, Any]] = [option["items"] for option in page["anyOf"] if option.get("type") == "array"]
    assert items[0]["required"] == ["key", "value"]
    return items


async def test_a_scene_built_only_through_tools_reads_back_as_fountain(
    server: MCPServer, client_for: ClientFor
) -> None:
    async with Client(server) as mcp:
        script = await call(
            mcp,
            "create_script",
            title="Brick & Steel",
            author="Stu Maschwitz",
            titlePage=[{"key": "Title", "value": "Brick & Steel"}, {"key": "Author", "value": "Stu Maschwitz"}],
        )
        script_id = script["scriptId"]
        scene = await call(mcp, "add_scene", scriptId=script_id, heading="EXT. BRICK'S PATIO - DAY", sceneNumber="1")
        heading_id = scene["headingId"]
        steel = (await call(mcp, "find_or_create_character", name="Steel"))["character"]["characterId"]
        brick = (await call(mcp, "find_or_create_character", name="Brick"))["character"]["characterId"]
        again = await call(mcp, "find_or_create_character", name="STEEL")
        assert again["character"]["characterId"] == steel and again["created"] is False

        await call(
            mcp, "add_action", scriptId=script_id, headingId=heading_id, text="A gorgeous day. The sun is shining."
        )
        await call(
            mcp,
            "add_dialogue",
            scriptId=script_id,
            headingId=heading_id,
            characterId=steel,
            extensions=["O.S."],
            parts=["(starting the engine)", "Beer's ready!"],
        )
        await call(
            mcp,
            "add_dialogue",
            scriptId=script_id,
            headingId=heading_id,
            characterId=brick,
            parts=["Are they cold?", "(beat)", "They'd better be."],
        )
        await call(mcp, "add_transition", scriptId=script_id, headingId=heading_id, text="CUT TO:")
        # Inserted before everything else: positions are the agent's to choose.
        await call(mcp, "add_action", scriptId=script_id, headingId=heading_id, text="Birds sing.", position=1)

        screenplay = await call(mcp, "read_story", scriptId=script_id)
        assert fountain_parser.parse(io.StringIO(screenplay)).title_page == {
            "Title": ["Brick & Steel"],
            "Author": ["Stu Maschwitz"],
        }
        assert parsed(screenplay) == [
            ("scene", "EXT. BRICK'S PATIO - DAY", "1"),
            ("action", ["Birds sing."]),
            ("action", ["A gorgeous day. The sun is shining."]),
            ("dialogue", "STEEL (O.S.)", [(True, "(starting the engine)"), (False, "Beer's ready!")]),
            ("dialogue", "BRICK", [(False, "Are they cold?"), (True, "(beat)"), (False, "They'd better be.")]),
            ("transition", "CUT TO:"),
        ]
        # The same text as a resource, by URI.
        resource = await mcp.read_resource(f"fountain://stories/{script_id}")
        assert [content.text for content in resource.contents] == [screenplay]  # type: ignore[union-attr]

        # What Core Script holds: the five elements in order, each of its kind.
        lines = await lines_of(client_for, script_id, heading_id)
        assert [(line["position"], line["kind"]) for line in lines] == [
            (1, "action"),
            (2, "action"),
            (3, "dialogue"),
            (4, "dialogue"),
            (5, "transition"),
        ]
        assert lines[2]["characterId"] == steel and lines[2]["extensions"] == ["O.S."]
        assert lines[2]["parentheticals"] == [{"beforeLine": 0, "text": "starting the engine"}]
        assert lines[3]["parentheticals"] == [{"beforeLine": 1, "text": "beat"}]
        words = await client_for("character").get(f"/v2/spokenWords/{lines[3]['spokenWordId']}")
        assert words.json()["text"] == "Are they cold?\nThey'd better be."


async def test_a_range_of_the_story_reads_as_fountain_and_as_elements(server: MCPServer) -> None:
    async with Client(server) as mcp:
        script_id, first = await a_scene(mcp)
        second = (await call(mcp, "add_scene", scriptId=script_id, heading="INT. GARAGE - NIGHT"))["headingId"]
        for heading_id, text in [(first, "One."), (first, "Two."), (second, "Three."), (second, "Four.")]:
            await call(mcp, "add_action", scriptId=script_id, headingId=heading_id, text=text)

        part = await call(mcp, "read_story", scriptId=script_id, fromSequence=2, toSequence=3)
        assert parsed(part) == [
            ("scene", "EXT. PATIO - DAY", None),
            ("action", ["Two."]),
            ("scene", "INT. GARAGE - NIGHT", None),
            ("action", ["Three."]),
        ]
        listed = await call(mcp, "list_story_elements", scriptId=script_id, fromSequence=3)
        assert [
            (s["headingId"], [(e["sequence"], e["position"], e["kind"]) for e in s["elements"]])
            for s in listed["scenes"]
        ] == [(second, [(3, 1, "action"), (4, 2, "action")])]
        assert listed["scenes"][0]["elements"][0]["action"]["description"] == "Three."
        scenes = await call(mcp, "list_scenes", scriptId=script_id)
        assert [(s["headingId"], s["heading"], s["elementCount"]) for s in scenes["scenes"]] == [
            (first, "EXT. PATIO - DAY", 2),
            (second, "INT. GARAGE - NIGHT", 2),
        ]
        wrong = await failure(mcp, "read_story", scriptId=script_id, fromSequence=3, toSequence=2)
        assert "query.fromSequence: must not be greater than toSequence" in wrong


async def test_elements_move_within_and_between_scenes_and_are_deleted(
    server: MCPServer, client_for: ClientFor
) -> None:
    async with Client(server) as mcp:
        script_id, first = await a_scene(mcp)
        second = (await call(mcp, "add_scene", scriptId=script_id, heading="INT. GARAGE - NIGHT"))["headingId"]
        ids = [
            (await call(mcp, "add_action", scriptId=script_id, headingId=first, text=text))["lineId"]
            for text in ("One.", "Two.", "Three.")
        ]
        moved = await call(mcp, "move_element", scriptId=script_id, headingId=first, lineId=ids[2], position=1)
        assert moved["position"] == 1
        assert [line["lineId"] for line in await lines_of(client_for, script_id, first)] == [ids[2], ids[0], ids[1]]

        await call(
            mcp, "move_element", scriptId=script_id, headingId=first, lineId=ids[0], position=1, toHeadingId=second
        )
        assert [line["lineId"] for line in await lines_of(client_for, script_id, second)] == [ids[0]]

        await call(mcp, "delete_element", scriptId=script_id, headingId=first, lineId=ids[2])
        remaining = await lines_of(client_for, script_id, first)
        assert [(line["lineId"], line["position"]) for line in remaining] == [(ids[1], 1)]
        gone = await failure(mcp, "delete_element", scriptId=script_id, headingId=first, lineId=ids[2])
        assert "404" in gone and f"{ids[2]}" in gone


async def test_a_retried_write_with_the_same_key_makes_one_element(server: MCPServer, client_for: ClientFor) -> None:
    async with Client(server) as mcp:
        script_id, heading_id = await a_scene(mcp)
        steel = (await call(mcp, "find_or_create_character", name="Steel"))["character"]["characterId"]
        arguments = {
            "scriptId": script_id,
            "headingId": heading_id,
            "characterId": steel,
            "parts": ["Once, only once."],
            "idempotencyKey": "dialogue-retry-1",
        }
        first = await call(mcp, "add_dialogue", **arguments)
        retried = await call(mcp, "add_dialogue", **arguments)
        assert retried == first
        assert [line["lineId"] for line in await lines_of(client_for, script_id, heading_id)] == [first["lineId"]]
        words = await client_for("character").get("/v2/spokenWords", params={"textContains": "Once, only once."})
        assert words.json()["total"] == 1

        # Without a key every call is a new element.
        del arguments["idempotencyKey"]
        await call(mcp, "add_dialogue", **arguments)
        assert len(await lines_of(client_for, script_id, heading_id)) == 2


async def test_bad_calls_are_tool_errors_that_say_what_to_fix(server: MCPServer, client_for: ClientFor) -> None:
    async with Client(server) as mcp:
        script_id, heading_id = await a_scene(mcp)
        unknown = await failure(mcp, "add_scene", scriptId=987654, heading="INT. NOWHERE")
        assert "Core Script Management" in unknown and "Script 987654 not found" in unknown

        before = (await client_for("character").get("/v2/spokenWords")).json()["total"]
        nowhere = await failure(
            mcp, "add_dialogue", scriptId=987654, headingId=heading_id, characterId=1, parts=["Hello?"]
        )
        assert "Script 987654 not found" in nowhere
        empty = await failure(
            mcp, "add_dialogue", scriptId=script_id, headingId=heading_id, characterId=1, parts=["(beat)", "  "]
        )
        assert "at least one spoken line" in empty
        stranger = await failure(
            mcp, "add_dialogue", scriptId=script_id, headingId=heading_id, characterId=987654, parts=["Who am I?"]
        )
        assert "characterId 987654 does not exist in Character Management" in stranger
        assert "- body.characterId:" in stranger
        # Nothing of the failed calls stayed behind: no element, no spoken words.
        assert await lines_of(client_for, script_id, heading_id) == []
        assert (await client_for("character").get("/v2/spokenWords")).json()["total"] == before

        invalid = await failure(mcp, "add_scene", scriptId=script_id, heading="INT. HALL", sceneNumber="1 A")
        assert "sceneNumber" in invalid
        missing = await failure(mcp, "read_story", scriptId=987654)
        assert "Story Factory" in missing and "Script 987654 not found" in missing
        with pytest.raises(Exception, match="987654"):
            await mcp.read_resource("fountain://stories/987654")


async def test_unreachable_services_are_named_with_their_address(settings: Settings) -> None:
    port = free_port()
    services = StoryServices(
        settings.model_copy(update={"gateway_url": f"http://127.0.0.1:{port}", "upstream_retries": 0})
    )
    async with Client(build_server(services)) as client:
        message = await failure(client, "list_scripts")
    await services.aclose()
    assert "Core Script Management" in message
    assert f"http://127.0.0.1:{port} (Host: scriptmanagement.fountain.coach)" in message
    assert "make run" in message


async def test_a_screenplay_is_imported_counted_and_exported_in_each_format(
    server: MCPServer, client_for: ClientFor
) -> None:
    async with Client(server) as mcp:
        screenplay = BRICK_AND_STEEL.read_text(encoding="utf-8")
        imported = await call(mcp, "import_screenplay", screenplay=screenplay, idempotencyKey="brick-import-1")
        script_id = imported["scriptId"]
        assert imported["title"] == "BRICK & STEEL FULL RETIRED"
        story = await client_for("story_factory").get(f"/v2/stories/{script_id}")
        assert story.json()["lineCount"] == imported["lineCount"]
        assert await call(mcp, "import_screenplay", screenplay=screenplay, idempotencyKey="brick-import-1") == imported

        statistics = await call(mcp, "character_statistics", scriptId=script_id)
        assert statistics == (await client_for("story_factory").get(f"/v2/stories/{script_id}/statistics")).json()
        assert {"BRICK", "STEEL"} <= {c["name"].upper() for c in statistics["characters"]}
        scenes = await call(mcp, "list_scenes", scriptId=script_id)
        assert len(scenes["scenes"]) == imported["sectionCount"]

        exported = await call(mcp, "export_screenplay", scriptId=script_id)
        assert parsed(exported) == parsed(screenplay)
        fdx = await mcp.call_tool("export_screenplay", {"scriptId": script_id, "format": "fdx"})
        assert '<FinalDraft DocumentType="Script"' in text_of(fdx)
        html = await mcp.call_tool("export_screenplay", {"scriptId": script_id, "format": "html"})
        assert "<html" in text_of(html) and "Brick" in text_of(html)

        pdf = await mcp.call_tool("export_screenplay", {"scriptId": script_id, "format": "pdf"})
        assert not pdf.is_error
        (embedded,) = [block for block in pdf.content if isinstance(block, EmbeddedResource)]
        assert embedded.resource.mime_type == "application/pdf"
        document = PdfReader(io.BytesIO(base64.b64decode(embedded.resource.blob)))  # type: ignore[union-attr]
        assert "BRICK" in "".join(page.extract_text() for page in document.pages)


async def test_a_session_context_is_read_and_changed(server: MCPServer, client_for: ClientFor) -> None:
    async with Client(server) as mcp:
        session = await call(mcp, "start_session", userId=7, context="Act 1: the patio.")
        session_id = session["sessionId"]
        await call(mcp, "update_session_context", sessionId=session_id, context="Act 2: the garage.")
        created = await call(
            mcp,
            "set_character_context",
            sessionId=session_id,
            characterId=3,
            data={"mood": "thirsty", "place": "patio"},
        )
        merged = await call(
            mcp, "set_character_context", sessionId=session_id, characterId=3, data={"mood": "pleased", "place": None}
        )
        assert merged["contextId"] == created["contextId"]

        read = await call(mcp, "read_session", sessionId=session_id)
        assert read["session"]["context"] == "Act 2: the garage."
        assert read["characterContexts"] == [
            {"contextId": created["contextId"], "characterId": 3, "data": {"mood": "pleased"}}
        ]
        held = await client_for("session_context").get(f"/v2/contexts/{created['contextId']}")
        assert held.json()["data"] == {"mood": "pleased"}
        assert (await client_for("session_context").get(f"/v2/sessions/{session_id}")).json()["context"] == (
            "Act 2: the garage."
        )
        assert "Session 987654 not found" in await failure(mcp, "read_session", sessionId=987654)


async def test_characters_are_found_by_part_of_their_name(server: MCPServer, client_for: ClientFor) -> None:
    async with Client(server) as mcp:
        # A name no earlier run left behind: characters are not reset between tests.
        surname = f"Zuckerbrot{uuid.uuid4().hex[:8]}"
        made = await call(mcp, "find_or_create_character", name=f"Mildred {surname}", description="A neighbour.")
        assert made["created"] is True
        held = await client_for("character").get(f"/v2/characters/{made['character']['characterId']}")
        assert held.json()["description"] == "A neighbour."
        found = await call(mcp, "find_characters", nameContains=surname.lower())
        assert [c["characterId"] for c in found["characters"]] == [made["character"]["characterId"]]
        scripts = await call(mcp, "list_scripts", titleContains=surname)
        assert scripts == {"scripts": [], "total": 0}


async def test_every_request_carries_the_gateway_key_and_every_write_an_idempotency_key(
    settings: Settings, engine: AsyncEngine, gateway_transport: httpx.ASGITransport
) -> None:
    await reset_scripts(engine)
    recorder = Recorder(gateway_transport)
    services = StoryServices(
        settings.model_copy(update={"gateway_url": "http://services", "gateway_api_key": "writer-key"}), recorder
    )
    async with Client(build_server(services)) as mcp:
        script_id, heading_id = await a_scene(mcp)
        steel = (await call(mcp, "find_or_create_character", name="Steel"))["character"]["characterId"]
        await call(mcp, "add_dialogue", scriptId=script_id, headingId=heading_id, characterId=steel, parts=["Hi."])
        await call(mcp, "add_action", scriptId=script_id, headingId=heading_id, text="He waves.")
        await call(mcp, "read_story", scriptId=script_id)
    await services.aclose()
    # The tools' own requests: those the services make to each other go through the recorder too.
    sent = [r for r in recorder.requests if r.headers.get("apikey") == "writer-key"]
    assert {r.url.path for r in sent} >= {"/v2/scripts", "/v2/spokenWords", "/v2/actions"}
    assert all(r.headers["host"].endswith(".fountain.coach") for r in sent)
    posts = [r for r in sent if r.method == "POST"]
    assert len(posts) >= 6 and all(r.headers.get("idempotency-key") for r in posts)
    assert len({r.headers["idempotency-key"] for r in posts}) == len(posts)


class LosesFirstAnswer(httpx.AsyncBaseTransport):
    """The services in-process, but the answer to the first request to `path` is lost on the way back
    (the request was done): the failure an Idempotency-Key is for."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: str) -> None:
        self.inner = inner
        self.path = path
        self.lost: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path == self.path and not self.lost:
            await response.aread()
            self.lost.append(request)
            raise httpx.RemoteProtocolError("connection closed before the answer", request=request)
        return response


async def test_a_lost_answer_is_retried_with_the_calls_own_key_and_makes_one_element(
    settings: Settings, engine: AsyncEngine, gateway_transport: httpx.ASGITransport, client_for: ClientFor
) -> None:
    await reset_scripts(engine)
    direct = StoryServices(settings.model_copy(update={"gateway_url": "http://services"}), gateway_transport)
    async with Client(build_server(direct)) as mcp:
        script_id, heading_id = await a_scene(mcp)
    await direct.aclose()

    losing = LosesFirstAnswer(gateway_transport, f"/v2/scripts/{script_id}/sections/{heading_id}/lines")
    services = StoryServices(settings.model_copy(update={"gateway_url": "http://services"}), losing)
    async with Client(build_server(services)) as mcp:
        line = await call(mcp, "add_transition", scriptId=script_id, headingId=heading_id, text="CUT TO:")
    await services.aclose()
    assert len(losing.lost) == 1 and losing.lost[0].headers["idempotency-key"]
    lines = await lines_of(client_for, script_id, heading_id)
    assert [(item["lineId"], item["kind"]) for item in lines] == [(line["lineId"], "transition")]


def test_an_answer_loses_only_its_empty_fields() -> None:
    from fountain_cli.mcp_server.tools import present

    assert present({"a": None, "b": False, "c": [], "d": {}, "e": 0, "f": "", "g": [0], "h": True}) == {
        "e": 0,
        "f": "",
        "g": [0],
        "h": True,
    }


async def test_another_server_at_the_address_is_said_to_be_no_fountainai_service(settings: Settings) -> None:
    async def not_fountain(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html>a router's login page</html>"})

    services = StoryServices(
        settings.model_copy(update={"gateway_url": "http://192.168.1.1"}), httpx.ASGITransport(app=not_fountain)
    )
    async with Client(build_server(services)) as mcp:
        message = await failure(mcp, "list_scripts")
        story = await failure(mcp, "read_story", scriptId=1)
    await services.aclose()
    assert "Core Script Management answered GET /v2/scripts with text/html, not what it serves" in message
    assert "is http://192.168.1.1 (Host: scriptmanagement.fountain.coach) a FountainAI service or gateway?" in message
    assert "Story Factory answered GET /v2/stories/1/fountain with text/html" in story
