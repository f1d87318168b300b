"""The tools and the resource an agent sees: a screenplay built and read through the services' /v2 APIs.

Ids are the services' own (scriptId, headingId for a scene, lineId for an element of a scene,
characterId, sessionId), so what an agent learns here it can also use against the APIs. Every write
sends an Idempotency-Key: the agent's `idempotencyKey` (with the step appended where one call writes
twice), else one made for the call, which the call's own retries reuse.
"""

import base64
import contextlib
from collections.abc import Callable
from enum import StrEnum
from importlib.metadata import version as package_version
from typing import Annotated, Any, Optional

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import BlobResourceContents, EmbeddedResource, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from fountain_cli.mcp_server.calls import JSON, StoryServices, new_key

INSTRUCTIONS = (
    "FountainAI keeps screenplays as stories: a script (title page), its scenes (headingId) and in each "
    "scene its elements (lineId) in order: actions, dialogue, transitions. Create characters with "
    "find_or_create_character, a script with create_script, scenes with add_scene, then add elements; "
    "read the result with read_story (Fountain) or list_story_elements (ids and positions)."
)

RETRY_NOTE = " To retry after an error or lost answer, pass the same idempotencyKey: nothing is made twice."
ScriptId = Annotated[int, Field(ge=1, le=9223372036854775807, description="The script (story), as scriptId.")]
HeadingId = Annotated[
    int, Field(ge=1, le=9223372036854775807, description="The scene: its headingId (add_scene, list_scenes).")
]
LineId = Annotated[
    int, Field(ge=1, le=9223372036854775807, description="The element: its lineId (list_story_elements).")
]
Position = Annotated[
    Optional[int],
    Field(ge=1, le=10001, description="1 = first in the scene; the elements from there move down. Default: the end."),
]
IdempotencyKey = Annotated[
    Optional[str],
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7E]+$",
        description="Optional. Pass the same value when retrying this call, so the retry changes nothing twice.",
    ),
]
SequenceBound = Annotated[
    Optional[int], Field(ge=1, le=2147483647, description="Story element number (1 = first of the story).")
]


class TitlePageEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="Title, Credit, Author, Source, Draft date, Contact, Notes, ...")
    value: str = Field(description="The entry's text; line breaks kept.")


class ExportFormat(StrEnum):
    fountain = "fountain"
    fdx = "fdx"
    html = "html"
    pdf = "pdf"


FORMAT_TYPES = {
    ExportFormat.fountain: "text/plain",
    ExportFormat.fdx: "application/xml",
    ExportFormat.html: "text/html",
    ExportFormat.pdf: "application/pdf",
}


def without_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every local $ref replaced by its definition, so clients that do not resolve
    references (or do it differently) read the same input schema."""
    definitions: dict[str, Any] = schema.get("$defs", {})

    def resolved(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = definitions[str(node["$ref"]).removeprefix("#/$defs/")]
                siblings = {key: resolved(value) for key, value in node.items() if key != "$ref"}
                return {**resolved(target), **siblings}
            return {key: resolved(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolved(item) for item in node]
        return node

    result: dict[str, Any] = resolved({key: value for key, value in schema.items() if key != "$defs"})
    return result


def dialogue_parts(parts: list[str]) -> tuple[str, list[JSON]]:
    """The spoken words (one line of dialogue a line) and the parentheticals between them, from the
    parts in the order spoken: `(quietly)` is a parenthetical, anything else spoken."""
    spoken: list[str] = []
    parentheticals: list[JSON] = []
    for part in parts:
        stripped = part.strip()
        if len(stripped) > 2 and stripped.startswith("(") and stripped.endswith(")"):
            parentheticals.append({"beforeLine": len(spoken), "text": stripped[1:-1].strip()})
        elif stripped:
            spoken.extend(line.rstrip() for line in part.strip("\n").split("\n"))
    if not spoken:
        raise ToolError(
            "A dialogue needs at least one spoken line in `parts`; parentheticals alone, or empty parts, are no "
            'dialogue. Example: ["(quietly)", "Go home."]'
        )
    return "\n".join(spoken), parentheticals


def character_view(character: JSON) -> JSON:
    return {key: character[key] for key in ("characterId", "name", "description")}


def present(item: JSON) -> JSON:
    """An answer without its empty fields (null, false, [] and {}; a 0 stays), for the agent to read."""
    return {
        key: value
        for key, value in item.items()
        if not (value is None or value is False or (isinstance(value, list | dict) and not value))
    }


def build_server(services: StoryServices) -> MCPServer:
    """The MCP server: its tools and the story resource, each calling `services`."""
    tools: list[Tool] = []

    def tool(*, read_only: bool = False, destructive: bool = False) -> Callable[[Any], Any]:
        def register(fn: Any) -> Any:
            made = Tool.from_function(
                fn,
                annotations=ToolAnnotations(
                    read_only_hint=read_only,
                    destructive_hint=destructive,
                    idempotent_hint=read_only,
                    open_world_hint=False,
                ),
            )
            made.parameters = without_refs(made.parameters)
            if "idempotencyKey" in made.parameters["properties"]:
                made.description += RETRY_NOTE
            tools.append(made)
            return fn

        return register

    async def line_of(script_id: int, heading_id: int, body: JSON, key: str, parts: list[str], own_key: bool) -> JSON:
        """Add a line naming the parts just made; if it fails and the key was made here (so no retry
        of the agent's can come back for them), delete those parts again."""
        try:
            return await services.json(
                "core_script",
                "POST",
                f"/v2/scripts/{script_id}/sections/{heading_id}/lines",
                json=body,
                key=f"{key}:line",
            )
        except ToolError:
            if own_key:
                for path in parts:
                    with contextlib.suppress(ToolError):  # the line's error is the one to report
                        await services.send("character", "DELETE", path)
            raise

    async def scene_exists(script_id: int, heading_id: int) -> None:
        # Asked before any part is made, so an unknown script or scene leaves nothing behind.
        await services.send("core_script", "GET", f"/v2/scripts/{script_id}/sections/{heading_id}")

    # --- characters ---------------------------------------------------------------------------

    @tool(read_only=True)
    async def find_characters(
        nameContains: Annotated[
            Optional[str], Field(min_length=1, max_length=200, description="Part of the name, any case.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
    ) -> JSON:
        """List characters by name (all when nameContains is left out), with their characterId."""
        page = await services.json(
            "character", "GET", "/v2/characters", params={"nameContains": nameContains, "sort": "name", "limit": limit}
        )
        return {"characters": [character_view(c) for c in page["items"]], "total": page["total"]}

    @tool()
    async def find_or_create_character(
        name: Annotated[str, Field(min_length=1, max_length=200, description="The name as the cue prints it.")],
        description: Annotated[str, Field(max_length=10000, description="Who they are (only for a new one).")] = "",
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """The character of this name (any case), created when there is none. Answers its characterId."""
        offset = 0
        while True:  # every character whose name holds this one, a page at a time
            page = await services.json(
                "character",
                "GET",
                "/v2/characters",
                params={"nameContains": name, "sort": "id", "limit": 500, "offset": offset},
            )
            for character in page["items"]:
                if character["name"].casefold() == name.casefold():
                    return {"character": character_view(character), "created": False}
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                break
        created = await services.json(
            "character",
            "POST",
            "/v2/characters",
            json={"name": name, "description": description},
            key=idempotencyKey or new_key(),
        )
        return {"character": character_view(created), "created": True}

    # --- scripts and scenes -------------------------------------------------------------------

    @tool()
    async def create_script(
        title: Annotated[str, Field(min_length=1, max_length=200)],
        author: Annotated[Optional[str], Field(max_length=200)] = None,
        description: Annotated[Optional[str], Field(max_length=10000)] = None,
        titlePage: Annotated[
            Optional[list[TitlePageEntry]],
            Field(max_length=100, description="Title page entries in order; e.g. Title, Credit, Author."),
        ] = None,
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """Create a script (a new, empty story) with its title page. Answers its scriptId."""
        body: JSON = {"title": title, "author": author, "description": description}
        if titlePage is not None:
            body["titlePage"] = [entry.model_dump() for entry in titlePage]
        script = await services.json(
            "core_script",
            "POST",
            "/v2/scripts",
            json={k: v for k, v in body.items() if v is not None},
            key=idempotencyKey or new_key(),
        )
        return present(script)

    @tool(read_only=True)
    async def list_scripts(
        titleContains: Annotated[Optional[str], Field(min_length=1, max_length=200)] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
    ) -> JSON:
        """List scripts (stories) with their scriptId, optionally by part of the title."""
        page = await services.json(
            "core_script", "GET", "/v2/scripts", params={"titleContains": titleContains, "limit": limit}
        )
        return {
            "scripts": [{k: s[k] for k in ("scriptId", "title", "author")} for s in page["items"]],
            "total": page["total"],
        }

    @tool()
    async def add_scene(
        scriptId: ScriptId,
        heading: Annotated[
            str, Field(min_length=1, max_length=200, description="The scene heading, e.g. INT. KITCHEN - NIGHT.")
        ],
        sceneNumber: Annotated[
            Optional[str], Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9.-]+$", description="e.g. 12A.")
        ] = None,
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """Add a scene at the end of a script. Answers its headingId, which the element tools take."""
        body: JSON = {"title": heading}
        if sceneNumber is not None:
            body["sceneNumber"] = sceneNumber
        section = await services.json(
            "core_script", "POST", f"/v2/scripts/{scriptId}/sections", json=body, key=idempotencyKey or new_key()
        )
        return present(section)

    # --- elements -----------------------------------------------------------------------------

    @tool()
    async def add_action(
        scriptId: ScriptId,
        headingId: HeadingId,
        text: Annotated[str, Field(min_length=1, max_length=10000, description="What we see; line breaks kept.")],
        position: Position = None,
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """Add an action paragraph to a scene. Answers the element (lineId, position)."""
        key = idempotencyKey or new_key()
        await scene_exists(scriptId, headingId)
        action = await services.json(
            "character", "POST", "/v2/actions", json={"description": text}, key=f"{key}:action"
        )
        body = {"kind": "action", "actionId": action["actionId"], "position": position}
        made = [f"/v2/actions/{action['actionId']}"]
        line = await line_of(
            scriptId, headingId, {k: v for k, v in body.items() if v is not None}, key, made, idempotencyKey is None
        )
        return present(line)

    @tool()
    async def add_dialogue(
        scriptId: ScriptId,
        headingId: HeadingId,
        characterId: Annotated[int, Field(ge=1, description="Who speaks (find_or_create_character).")],
        parts: Annotated[
            list[str],
            Field(
                min_length=1,
                max_length=200,
                description="What is said, in order: spoken lines, and parentheticals in parentheses between them, "
                'e.g. ["(quietly)", "Go home.", "(beat)", "Now."]',
            ),
        ],
        extensions: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=50)]],
            Field(
                max_length=5, description='Cue extensions without parentheses, e.g. ["V.O."] or ["O.S.", "CONT\'D"].'
            ),
        ] = [],  # noqa: B006 - pydantic copies defaults; the schema shows []
        dual: Annotated[bool, Field(description="Spoken at the same time as the dialogue just before it.")] = False,
        contextId: Annotated[Optional[int], Field(ge=1, description="The speaker's session context, if any.")] = None,
        position: Position = None,
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """Add a dialogue to a scene: cue, extensions, parentheticals and spoken lines. Answers the element."""
        spoken, parentheticals = dialogue_parts(parts)
        key = idempotencyKey or new_key()
        await scene_exists(scriptId, headingId)
        words = await services.json("character", "POST", "/v2/spokenWords", json={"text": spoken}, key=f"{key}:words")
        body = {
            "kind": "dialogue",
            "characterId": characterId,
            "spokenWordId": words["spokenWordId"],
            "extensions": extensions,
            "parentheticals": parentheticals,
            "dual": dual,
            "contextId": contextId,
            "position": position,
        }
        made = [f"/v2/spokenWords/{words['spokenWordId']}"]
        line = await line_of(
            scriptId, headingId, {k: v for k, v in body.items() if v is not None}, key, made, idempotencyKey is None
        )
        return present(line)

    @tool()
    async def add_transition(
        scriptId: ScriptId,
        headingId: HeadingId,
        text: Annotated[str, Field(min_length=1, max_length=200, description="e.g. CUT TO: or DISSOLVE TO:")],
        position: Position = None,
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """Add a transition to a scene. Answers the element."""
        body = {"kind": "transition", "text": text, "position": position}
        line = await services.json(
            "core_script",
            "POST",
            f"/v2/scripts/{scriptId}/sections/{headingId}/lines",
            json={k: v for k, v in body.items() if v is not None},
            key=idempotencyKey or new_key(),
        )
        return present(line)

    @tool()
    async def move_element(
        scriptId: ScriptId,
        headingId: HeadingId,
        lineId: LineId,
        position: Annotated[int, Field(ge=1, le=10001, description="Its new place, 1 = first.")],
        toHeadingId: Annotated[
            Optional[int], Field(ge=1, description="Another scene of the same script to move it to.")
        ] = None,
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """Move an element to another position in its scene, or into another scene."""
        body: JSON = {"position": position}
        if toHeadingId is not None:
            body["headingId"] = toHeadingId
        line = await services.json(
            "core_script",
            "POST",
            f"/v2/scripts/{scriptId}/sections/{headingId}/lines/{lineId}/move",
            json=body,
            key=idempotencyKey or new_key(),
        )
        return present(line)

    @tool(destructive=True)
    async def delete_element(scriptId: ScriptId, headingId: HeadingId, lineId: LineId) -> JSON:
        """Delete an element from its scene; the elements after it move up."""
        await services.send("core_script", "DELETE", f"/v2/scripts/{scriptId}/sections/{headingId}/lines/{lineId}")
        return {"deleted": {"scriptId": scriptId, "headingId": headingId, "lineId": lineId}}

    # --- reading ------------------------------------------------------------------------------

    async def fountain_text(script_id: int, from_sequence: int | None, to_sequence: int | None) -> str:
        response = await services.send(
            "story_factory",
            "GET",
            f"/v2/stories/{script_id}/fountain",
            params={"fromSequence": from_sequence, "toSequence": to_sequence},
            media_type="text/plain",
        )
        return response.text

    @tool(read_only=True)
    async def read_story(
        scriptId: ScriptId, fromSequence: SequenceBound = None, toSequence: SequenceBound = None
    ) -> str:
        """Read a story, or the elements fromSequence..toSequence of it, as a Fountain screenplay."""
        return await fountain_text(scriptId, fromSequence, toSequence)

    @tool(read_only=True)
    async def list_story_elements(
        scriptId: ScriptId, fromSequence: SequenceBound = None, toSequence: SequenceBound = None
    ) -> JSON:
        """Every scene with its elements: lineId, position in the scene, sequence in the story, kind, text."""
        story = await services.json(
            "story_factory",
            "GET",
            f"/v2/stories/{scriptId}",
            params={"fromSequence": fromSequence, "toSequence": toSequence},
        )
        scenes = [
            {
                "headingId": section["headingId"],
                "heading": section["title"],
                "sceneNumber": section["sceneNumber"],
                "elements": [
                    present({**line, "position": position}) for position, line in enumerate(section["lines"], start=1)
                ],
            }
            for section in story["sections"]
        ]
        return present(
            {"scriptId": story["scriptId"], "title": story["title"], "lineCount": story["lineCount"], "scenes": scenes}
        )

    @tool(read_only=True)
    async def list_scenes(scriptId: ScriptId) -> JSON:
        """The scenes of a story in order: headingId, heading, scene number, element count, who speaks."""
        return await services.json("story_factory", "GET", f"/v2/stories/{scriptId}/scenes")

    @tool(read_only=True)
    async def character_statistics(scriptId: ScriptId) -> JSON:
        """Per character who speaks: dialogue blocks, words and scenes, most dialogue first."""
        return await services.json("story_factory", "GET", f"/v2/stories/{scriptId}/statistics")

    # --- screenplays in and out ---------------------------------------------------------------

    @tool()
    async def import_screenplay(
        screenplay: Annotated[str, Field(min_length=1, description="A whole screenplay in the Fountain format.")],
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """Import a Fountain screenplay as a new story (script, scenes, elements, characters). Answers its scriptId."""
        return await services.json(
            "story_factory", "POST", "/v2/stories", text=screenplay, key=idempotencyKey or new_key()
        )

    @tool(read_only=True)
    async def export_screenplay(
        scriptId: ScriptId,
        format: Annotated[
            ExportFormat, Field(description="fountain, fdx (Final Draft) or html as text; pdf as an embedded file.")
        ] = ExportFormat.fountain,
    ) -> list[TextContent | EmbeddedResource]:
        """Export a story as Fountain, Final Draft (FDX), HTML or PDF."""
        response = await services.send(
            "story_factory", "GET", f"/v2/stories/{scriptId}/{format.value}", media_type=FORMAT_TYPES[format]
        )
        if format is not ExportFormat.pdf:
            return [TextContent(type="text", text=response.text)]
        return [
            TextContent(type="text", text=f"Script {scriptId} as PDF ({len(response.content):,} bytes)."),
            EmbeddedResource(
                type="resource",
                resource=BlobResourceContents(
                    uri=f"fountain://stories/{scriptId}/pdf",
                    mime_type=FORMAT_TYPES[format],
                    blob=base64.b64encode(response.content).decode("ascii"),
                ),
            ),
        ]

    # --- sessions -----------------------------------------------------------------------------

    @tool()
    async def start_session(
        userId: Annotated[int, Field(ge=1, description="The user the session belongs to.")],
        context: Annotated[str, Field(max_length=10000, description="The narrative state so far.")] = "",
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """Start a session holding a narrative context. Answers its sessionId."""
        return await services.json(
            "session_context",
            "POST",
            "/v2/sessions",
            json={"userId": userId, "context": context},
            key=idempotencyKey or new_key(),
        )

    @tool(read_only=True)
    async def read_session(sessionId: Annotated[int, Field(ge=1)]) -> JSON:
        """A session's context text and each character's context (contextId, characterId, data)."""
        session = await services.json("session_context", "GET", f"/v2/sessions/{sessionId}")
        contexts = await services.json(
            "session_context", "GET", f"/v2/sessions/{sessionId}/contexts", params={"limit": 500}
        )
        return {
            "session": session,
            "characterContexts": [{k: c[k] for k in ("contextId", "characterId", "data")} for c in contexts["items"]],
        }

    @tool()
    async def update_session_context(
        sessionId: Annotated[int, Field(ge=1)],
        context: Annotated[str, Field(max_length=10000, description="The session's new context text.")],
    ) -> JSON:
        """Replace a session's context text."""
        return await services.json("session_context", "PATCH", f"/v2/sessions/{sessionId}", json={"context": context})

    @tool()
    async def set_character_context(
        sessionId: Annotated[int, Field(ge=1)],
        characterId: Annotated[int, Field(ge=1)],
        data: Annotated[
            dict[str, Optional[str]],
            Field(description='Entries to set, e.g. {"mood": "angry"}; null removes one. Others are kept.'),
        ],
        idempotencyKey: IdempotencyKey = None,
    ) -> JSON:
        """Set entries of a character's context in a session (mood, location, ...), creating it if needed."""
        found = await services.json(
            "session_context",
            "GET",
            f"/v2/sessions/{sessionId}/contexts",
            params={"characterId": characterId, "limit": 1},
        )
        if found["items"]:
            context_id = found["items"][0]["contextId"]
            return await services.json("session_context", "PATCH", f"/v2/contexts/{context_id}", json={"data": data})
        return await services.json(
            "session_context",
            "POST",
            f"/v2/sessions/{sessionId}/contexts",
            json={"characterId": characterId, "data": {k: v for k, v in data.items() if v is not None}},
            key=idempotencyKey or new_key(),
        )

    server: MCPServer = MCPServer(
        "fountainai", title="FountainAI", instructions=INSTRUCTIONS, version=package_version("fountainai"), tools=tools
    )

    @server.resource(
        "fountain://stories/{scriptId}",
        name="story",
        title="A story as a Fountain screenplay",
        description="The whole story of a script as Fountain text.",
        mime_type="text/plain",
    )
    async def story(scriptId: str) -> str:
        if not scriptId.isdigit() or int(scriptId) < 1:
            raise ResourceError(f"fountain://stories/{scriptId}: a scriptId is a positive integer.")
        try:
            return await fountain_text(int(scriptId), None, None)
        except ToolError as error:
            raise ResourceError(str(error)) from None

    return server
