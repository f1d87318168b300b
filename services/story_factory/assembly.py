"""Assembling a story from the services that own its parts.

Two round trips on the critical path, whatever the story's length:
1. Core Script's `GET /v2/scripts/{scriptId}/content`: the script, its sections and every line, in one
   consistent snapshot.
2. Every part the lines name, read by id lists, all at once: characters, actions and spoken words from
   Character Management (up to 500 ids a request) and contexts from Session and Context (up to 100).
   A 1,000-line story naming 1,000 distinct parts of each kind takes 1 + 2 + 2 + 2 + 10 requests.

The typed clients validate every answer against its owner's models: an answer that breaks them is a
502 naming that owner. A part a line names that its owner no longer has (deleted since the line was
written) leaves the story readable: the part is null, the line marks it in `missing`, and the story
lists every such part in `missingParts`, so a hole is never silent.
"""

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional, TypeVar

from fountain_common.problems import not_found
from fountain_common.upstream import UpstreamRefused, Upstreams

from .generated.clients.character import CharacterClient
from .generated.clients.character_models import ActionRecord, CharacterRecord, SpokenWordRecord
from .generated.clients.core_script import CoreScriptClient
from .generated.clients.core_script_models import ScriptContent, SectionContent
from .generated.clients.core_script_models import StoryLine as ScriptLine
from .generated.clients.session_context import SessionContextClient
from .generated.clients.session_context_models import Context
from .generated.models import (
    MissingPartRef,
    Orchestration,
    Story,
    StoryAction,
    StoryCharacter,
    StoryContext,
    StoryLine,
    StoryMissingPart,
    StoryParenthetical,
    StorySection,
    StorySpokenWord,
    StoryTitlePageEntry,
)

# The owners' bounds on ids per request (and the page limit asked for, so one page holds them all).
CHARACTER_BATCH = 500
CONTEXT_BATCH = 100

M = TypeVar("M")


@dataclass(frozen=True)
class Parts:
    """What the lines name, by id, as their owners answered them."""

    characters: Mapping[int, CharacterRecord]
    actions: Mapping[int, ActionRecord]
    spoken_words: Mapping[int, SpokenWordRecord]
    contexts: Mapping[int, Context]


async def read_script_content(upstreams: Upstreams, script_id: int) -> ScriptContent:
    """Core Script's snapshot of the script: its record and its sections, each with its lines."""
    try:
        return await CoreScriptClient(upstreams).get_script_content(script_id=script_id)
    except UpstreamRefused as refused:
        if refused.upstream_status != 404:
            raise
        raise not_found(f"Script {script_id} not found.") from None


def story_lines(content: ScriptContent) -> list[tuple[SectionContent, list[ScriptLine]]]:
    """The sections by sequenceNumber, each with its lines by position: the story order."""
    sections = sorted(content.sections, key=lambda section: section.sequenceNumber)
    return [(section, sorted(section.lines, key=lambda line: line.position)) for section in sections]


def _chunks(ids: Iterable[int], size: int) -> list[list[int]]:
    ordered = sorted(set(ids))
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


def _start(
    group: asyncio.TaskGroup,
    ids: Iterable[int],
    batch: int,
    read: Callable[[list[int]], Coroutine[Any, Any, list[M]]],
) -> list[asyncio.Task[list[M]]]:
    """One read per chunk of the distinct ids, each started at once in `group`."""
    return [group.create_task(read(chunk)) for chunk in _chunks(ids, batch)]


async def read_parts(upstreams: Upstreams, lines: list[ScriptLine]) -> Parts:
    """Every part the lines name, one request per kind and chunk of ids, all chunks concurrently."""
    character = CharacterClient(upstreams)
    session_context = SessionContextClient(upstreams)

    async def characters(ids: list[int]) -> list[CharacterRecord]:
        return (await character.search_characters(ids=ids, limit=CHARACTER_BATCH)).items

    async def actions(ids: list[int]) -> list[ActionRecord]:
        return (await character.search_actions(ids=ids, limit=CHARACTER_BATCH)).items

    async def spoken_words(ids: list[int]) -> list[SpokenWordRecord]:
        return (await character.search_spoken_words(ids=ids, limit=CHARACTER_BATCH)).items

    async def contexts(ids: list[int]) -> list[Context]:
        return (await session_context.list_contexts(context_id=ids, limit=CONTEXT_BATCH)).items

    try:
        async with asyncio.TaskGroup() as group:
            character_ids = (line.characterId for line in lines if line.characterId is not None)
            action_ids = (line.actionId for line in lines if line.actionId is not None)
            spoken_word_ids = (line.spokenWordId for line in lines if line.spokenWordId is not None)
            context_ids = (line.contextId for line in lines if line.contextId is not None)
            found_characters = _start(group, character_ids, CHARACTER_BATCH, characters)
            found_actions = _start(group, action_ids, CHARACTER_BATCH, actions)
            found_spoken_words = _start(group, spoken_word_ids, CHARACTER_BATCH, spoken_words)
            found_contexts = _start(group, context_ids, CONTEXT_BATCH, contexts)
    except BaseExceptionGroup as failures:
        # The first failure answers the request; the group has already cancelled the other reads.
        raise failures.exceptions[0] from None
    return Parts(
        characters={item.characterId: item for task in found_characters for item in task.result()},
        actions={item.actionId: item for task in found_actions for item in task.result()},
        spoken_words={item.spokenWordId: item for task in found_spoken_words for item in task.result()},
        contexts={item.contextId: item for task in found_contexts for item in task.result()},
    )


def lay_out(content: ScriptContent, parts: Parts) -> Story:
    """The story: sections numbered 1..M, lines numbered 1..N in story order, each with its parts."""
    script = content.script
    sections: list[StorySection] = []
    sequence = 0
    for section_sequence, (section, lines) in enumerate(story_lines(content), start=1):
        story_lines_of_section: list[StoryLine] = []
        for line in lines:
            sequence += 1
            story_lines_of_section.append(_story_line(line, sequence, parts))
        sections.append(
            StorySection(
                headingId=section.headingId,
                title=section.title,
                sceneNumber=section.sceneNumber,
                sequence=section_sequence,
                sequenceNumber=section.sequenceNumber,
                lines=story_lines_of_section,
            )
        )
    return Story(
        scriptId=script.scriptId,
        title=script.title,
        author=script.author,
        description=script.description,
        orchestration=Orchestration(
            csoundFilePath=script.orchestration.csoundFilePath,
            lilyPondFilePath=script.orchestration.lilyPondFilePath,
            midiFilePath=script.orchestration.midiFilePath,
        ),
        titlePage=[StoryTitlePageEntry(key=entry.key, value=entry.value) for entry in script.titlePage.root],
        lineCount=sequence,
        sections=sections,
        missingParts=missing_parts(sections),
    )


def missing_parts(sections: list[StorySection]) -> list[StoryMissingPart]:
    """What the lines of `sections` mark as missing, in story order."""
    return [
        StoryMissingPart(lineId=line.lineId, sequence=line.sequence, part=gone.part.value, id=gone.id)
        for section in sections
        for line in section.lines
        for gone in line.missing
    ]


def _part(found: Mapping[int, M], part: str, part_id: Optional[int], missing: list[MissingPartRef]) -> Optional[M]:
    """The part the line names, or None when it names none; one its owner no longer has is noted in
    `missing`."""
    if part_id is None:
        return None
    if (item := found.get(part_id)) is None:
        missing.append(MissingPartRef(part=part, id=part_id))
    return item


def _story_line(line: ScriptLine, sequence: int, parts: Parts) -> StoryLine:
    missing: list[MissingPartRef] = []
    character: Optional[StoryCharacter] = None
    if (found_character := _part(parts.characters, "character", line.characterId, missing)) is not None:
        character = StoryCharacter(
            characterId=found_character.characterId, name=found_character.name, description=found_character.description
        )
    action: Optional[StoryAction] = None
    if (found_action := _part(parts.actions, "action", line.actionId, missing)) is not None:
        action = StoryAction(actionId=found_action.actionId, description=found_action.description)
    spoken_word: Optional[StorySpokenWord] = None
    if (found_words := _part(parts.spoken_words, "spokenWord", line.spokenWordId, missing)) is not None:
        spoken_word = StorySpokenWord(spokenWordId=found_words.spokenWordId, text=found_words.text)
    context: Optional[StoryContext] = None
    if (found := _part(parts.contexts, "context", line.contextId, missing)) is not None:
        context = StoryContext(
            contextId=found.contextId,
            sessionId=found.sessionId,
            characterId=found.characterId,
            data={key: value.root for key, value in found.data.root.items()},
        )
    return StoryLine(
        lineId=line.lineId,
        sequence=sequence,
        kind=line.kind.value,
        character=character,
        action=action,
        spokenWord=spoken_word,
        context=context,
        extension=line.extension,
        extensions=[extension.root for extension in line.extensions],
        parentheticals=[StoryParenthetical(beforeLine=p.beforeLine, text=p.text) for p in line.parentheticals],
        text=line.text,
        dual=line.dual,
        depth=line.depth,
        missing=missing,
    )


async def assemble(upstreams: Upstreams, script_id: int) -> Story:
    content = await read_script_content(upstreams, script_id)
    lines = [line for _, section_lines in story_lines(content) for line in section_lines]
    parts = await read_parts(upstreams, lines)
    return lay_out(content, parts)


def in_range(story: Story, first: Optional[int], last: Optional[int]) -> Story:
    """The story with only the lines whose sequence lies in [first, last] (either bound may be open),
    and only the sections holding one of them."""
    if first is None and last is None:
        return story
    low, high = first or 1, last or story.lineCount
    sections = []
    for section in story.sections:
        lines = [line for line in section.lines if low <= line.sequence <= high]
        if lines:
            sections.append(section.model_copy(update={"lines": lines}))
    return story.model_copy(update={"sections": sections, "missingParts": missing_parts(sections)})
