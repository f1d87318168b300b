"""Assembling a story from the services that own its parts.

Two round trips on the critical path, whatever the story's length:
1. Core Script's `GET /v2/scripts/{scriptId}/content`: the script, its sections and every line, in one
   consistent snapshot.
2. Every part the lines name, read by id lists, all at once: characters, actions and spoken words from
   Character Management (up to 500 ids a request) and contexts from Session and Context (up to 100).
   A 1,000-line story naming 1,000 distinct parts of each kind takes 1 + 2 + 2 + 2 + 10 requests.

A part a line names that its owner no longer has is a 409 naming the line: a story is never answered
with a hole in it.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from fountain_common.problems import Problem, conflict, not_found
from fountain_common.upstream import upstream_failed, upstream_service

from .generated.models import (
    Orchestration,
    Story,
    StoryAction,
    StoryCharacter,
    StoryContext,
    StoryLine,
    StorySection,
    StorySpokenWord,
)

# call(service, path, params) -> the upstream's answer (below 500; the caller raises 502/504 otherwise)
UpstreamCall = Callable[[str, str, dict[str, Any] | None], Awaitable[httpx.Response]]
# unexpected(service, response) -> the 502 for an answer that breaks the upstream's contract
Unexpected = Callable[[str, httpx.Response], Problem]


@dataclass(frozen=True)
class PartKind:
    """One kind of part a line names, and where its owner lists them by id."""

    id_field: str  # the line's field naming it, and the id field of the owner's items
    label: str  # what a 409 calls it
    service: str
    path: str
    id_param: str
    fields: frozenset[str]  # what a story reads of each item
    batch: int  # the owner's bound on ids per request (and the page limit asked for)


CHARACTERS = PartKind(
    id_field="characterId",
    label="character",
    service="character",
    path="/v2/characters",
    id_param="ids",
    fields=frozenset({"characterId", "name", "description"}),
    batch=500,
)
ACTIONS = PartKind(
    id_field="actionId",
    label="action",
    service="character",
    path="/v2/actions",
    id_param="ids",
    fields=frozenset({"actionId", "description"}),
    batch=500,
)
SPOKEN_WORDS = PartKind(
    id_field="spokenWordId",
    label="spoken word",
    service="character",
    path="/v2/spokenWords",
    id_param="ids",
    fields=frozenset({"spokenWordId", "text"}),
    batch=500,
)
CONTEXTS = PartKind(
    id_field="contextId",
    label="context",
    service="session_context",
    path="/v2/contexts",
    id_param="contextId",
    fields=frozenset({"contextId", "sessionId", "characterId", "data"}),
    batch=100,
)
SCRIPT_FIELDS = frozenset({"scriptId", "title"})
SECTION_FIELDS = frozenset({"headingId", "title", "sequenceNumber", "lines"})
LINE_FIELDS = frozenset({"lineId", "position", "characterId", "actionId", "spokenWordId"})
KINDS = (CHARACTERS, ACTIONS, SPOKEN_WORDS, CONTEXTS)

Parts = dict[str, dict[int, dict[str, Any]]]  # id field -> id -> the owner's item


def _json_object(service: str, response: httpx.Response, unexpected: Unexpected) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise unexpected(service, response)
    return body


async def read_script_content(call: UpstreamCall, unexpected: Unexpected, script_id: int) -> dict[str, Any]:
    """Core Script's snapshot of the script: {script, sections: [{..., lines: [...]}]}."""
    response = await call("core_script", f"/v2/scripts/{script_id}/content", None)
    if response.status_code == 404:
        raise not_found(f"Script {script_id} not found.")
    if response.status_code != 200:
        raise unexpected("core_script", response)
    content = _json_object("core_script", response, unexpected)
    if not _is_script_content(content):
        raise unexpected("core_script", response)
    return content


def _has(item: Any, fields: frozenset[str]) -> bool:
    return isinstance(item, dict) and fields <= item.keys()


def _integers(item: dict[str, Any], fields: Iterable[str]) -> bool:
    """The ids and numbers the assembly sorts and looks up by are integers (or absent/null)."""
    return all(isinstance(item.get(name), int | None) and not isinstance(item.get(name), bool) for name in fields)


LINE_NUMBERS = ("lineId", "position", "characterId", "actionId", "spokenWordId", "contextId")


def _is_script_content(content: dict[str, Any]) -> bool:
    sections = content.get("sections")
    return (
        _has(content.get("script"), SCRIPT_FIELDS)
        and isinstance(sections, list)
        and all(
            _has(section, SECTION_FIELDS)
            and _integers(section, ("headingId", "sequenceNumber"))
            and isinstance(section["lines"], list)
            for section in sections
        )
        and all(
            _has(line, LINE_FIELDS) and _integers(line, LINE_NUMBERS)
            for section in sections
            for line in section["lines"]
        )
    )


def story_lines(content: dict[str, Any]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The sections by sequenceNumber, each with its lines by position: the story order."""
    sections = sorted(content["sections"], key=lambda section: section["sequenceNumber"])
    return [(section, sorted(section["lines"], key=lambda line: line["position"])) for section in sections]


def _chunks(ids: Iterable[int], size: int) -> list[list[int]]:
    ordered = sorted(ids)
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


async def _read_chunk(
    call: UpstreamCall, unexpected: Unexpected, kind: PartKind, ids: list[int]
) -> dict[int, dict[str, Any]]:
    params = {kind.id_param: ",".join(map(str, ids)), "limit": kind.batch}
    response = await call(kind.service, kind.path, params)
    if response.status_code != 200:
        raise unexpected(kind.service, response)
    items = _json_object(kind.service, response, unexpected).get("items")
    if not isinstance(items, list) or not all(
        _has(item, kind.fields) and _integers(item, (kind.id_field,)) for item in items
    ):
        raise unexpected(kind.service, response)
    return {item[kind.id_field]: item for item in items}


async def read_parts(call: UpstreamCall, unexpected: Unexpected, lines: Iterable[dict[str, Any]]) -> Parts:
    """Every part the lines name, one request per kind and chunk of ids, all chunks concurrently."""
    wanted: dict[str, set[int]] = {kind.id_field: set() for kind in KINDS}
    for line in lines:
        for kind in KINDS:
            if (part_id := line.get(kind.id_field)) is not None:
                wanted[kind.id_field].add(part_id)
    requests = [(kind, ids) for kind in KINDS for ids in _chunks(wanted[kind.id_field], kind.batch)]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_read_chunk(call, unexpected, kind, ids)) for kind, ids in requests]
    except BaseExceptionGroup as failures:
        # The first failure answers the request; the group has already cancelled the other reads.
        raise failures.exceptions[0] from None
    parts: Parts = {kind.id_field: {} for kind in KINDS}
    for (kind, _), task in zip(requests, tasks, strict=True):
        parts[kind.id_field].update(task.result())
    return parts


def lay_out(content: dict[str, Any], parts: Parts) -> Story:
    """The story: sections numbered 1..M, lines numbered 1..N in story order, each with its parts."""
    script = content["script"]
    sections: list[StorySection] = []
    sequence = 0
    for section_sequence, (section, lines) in enumerate(story_lines(content), start=1):
        story_lines_of_section: list[StoryLine] = []
        for line in lines:
            sequence += 1
            story_lines_of_section.append(_story_line(line, sequence, parts))
        sections.append(
            StorySection(
                headingId=section["headingId"],
                title=section["title"],
                sequence=section_sequence,
                sequenceNumber=section["sequenceNumber"],
                lines=story_lines_of_section,
            )
        )
    orchestration = script.get("orchestration") or {}
    return Story(
        scriptId=script["scriptId"],
        title=script["title"],
        author=script.get("author") or "",
        description=script.get("description") or "",
        orchestration=Orchestration(
            csoundFilePath=orchestration.get("csoundFilePath") or "",
            lilyPondFilePath=orchestration.get("lilyPondFilePath") or "",
            midiFilePath=orchestration.get("midiFilePath") or "",
        ),
        lineCount=sequence,
        sections=sections,
    )


def _part(parts: Parts, kind: PartKind, line: dict[str, Any], sequence: int) -> dict[str, Any]:
    part_id = line[kind.id_field]
    if (part := parts[kind.id_field].get(part_id)) is None:
        raise conflict(
            f"Line {line['lineId']} (story element {sequence}) names {kind.label} {part_id}, which no longer exists."
        )
    return part


def _story_line(line: dict[str, Any], sequence: int, parts: Parts) -> StoryLine:
    character = _part(parts, CHARACTERS, line, sequence)
    action = _part(parts, ACTIONS, line, sequence)
    spoken_word = _part(parts, SPOKEN_WORDS, line, sequence)
    context = None
    if line.get("contextId") is not None:
        found = _part(parts, CONTEXTS, line, sequence)
        context = StoryContext(
            contextId=found["contextId"],
            sessionId=found["sessionId"],
            characterId=found["characterId"],
            data=found["data"],
        )
    return StoryLine(
        lineId=line["lineId"],
        sequence=sequence,
        character=StoryCharacter(
            characterId=character["characterId"], name=character["name"], description=character["description"]
        ),
        action=StoryAction(actionId=action["actionId"], description=action["description"]),
        spokenWord=StorySpokenWord(spokenWordId=spoken_word["spokenWordId"], text=spoken_word["text"]),
        context=context,
    )


# The story's models and where their values come from: a value the models refuse (a name that is a
# number, say) is the fault of that source, answered as a 502 naming it, never a 500.
SOURCE_OF_MODEL = {
    StoryCharacter.__name__: "character",
    StoryAction.__name__: "character",
    StorySpokenWord.__name__: "character",
    StoryContext.__name__: "session_context",
}


async def assemble(call: UpstreamCall, unexpected: Unexpected, script_id: int) -> Story:
    content = await read_script_content(call, unexpected, script_id)
    lines = [line for _, section_lines in story_lines(content) for line in section_lines]
    parts = await read_parts(call, unexpected, lines)
    try:
        return lay_out(content, parts)
    except ValidationError as error:
        source = SOURCE_OF_MODEL.get(error.title, "core_script")
        what = f"{error.title}: {error.errors()[0]['msg']}"
        raise upstream_failed(upstream_service(source), f"its answer broke its contract ({what}).") from None
