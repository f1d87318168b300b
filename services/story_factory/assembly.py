"""Assembling a story from the services that own its parts.

Two round trips on the critical path, whatever the story's length:
1. Core Script's `GET /v2/scripts/{scriptId}/content`: the script, its sections and every line, in one
   consistent snapshot (404 unless the caller may read the script).
2. Every part the lines name, read by id lists, all at once, for the script's owner: characters, actions and spoken words from
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

from fountain_common.ownership import acting_for
from fountain_common.problems import not_found
from fountain_common.upstream import UpstreamRefused, Upstreams

from .generated.clients.character import CharacterClient
from .generated.clients.character_models import ActionRecord, CharacterRecord, SpokenWordRecord
from .generated.clients.core_script import CoreScriptClient
from .generated.clients.core_script_models import (
    ElementKind,
    Parenthetical,
    ScriptContent,
    ScriptRecord,
    SectionContent,
    TitlePageEntry,
)
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


class PlacedLine:
    """A line in its place in the story: Core Script's line as it answered it, its number in the whole
    story and the parts it names as their owners answered them (None: it names none, or its owner no
    longer has it, which `missing` then notes). It reads as a StoryLine reads, so the Fountain
    screenplay is written from it without a StoryLine model per line."""

    __slots__ = ("line", "sequence", "character", "action", "spokenWord", "context", "missing")

    def __init__(self, line: ScriptLine, sequence: int, parts: Parts) -> None:
        missing: list[MissingPartRef] = []
        self.line = line
        self.sequence = sequence
        self.character = _part(parts.characters, "character", line.characterId, missing)
        self.action = _part(parts.actions, "action", line.actionId, missing)
        self.spokenWord = _part(parts.spoken_words, "spokenWord", line.spokenWordId, missing)
        found = _part(parts.contexts, "context", line.contextId, missing)
        self.context = _story_context(found) if found is not None else None
        self.missing = missing

    @property
    def lineId(self) -> int:
        return self.line.lineId

    @property
    def kind(self) -> ElementKind:
        return self.line.kind

    @property
    def extension(self) -> Optional[str]:
        return self.line.extension

    @property
    def extensions(self) -> list[str]:
        return [extension.root for extension in self.line.extensions]

    @property
    def parentheticals(self) -> list[Parenthetical]:
        return self.line.parentheticals

    @property
    def text(self) -> Optional[str]:
        return self.line.text

    @property
    def dual(self) -> bool:
        return self.line.dual

    @property
    def depth(self) -> Optional[int]:
        return self.line.depth


@dataclass(frozen=True, slots=True)
class PlacedSection:
    """A section in its place (`sequence`, 1..M) with its lines in order; reads as a StorySection."""

    headingId: int
    title: str
    sceneNumber: Optional[str]
    sequence: int
    sequenceNumber: int
    lines: list[PlacedLine]


@dataclass(frozen=True, slots=True)
class Layout:
    """The story as its owners answered it, every section and line in its place: what both the /v2
    story and its Fountain screenplay are made from. Reads as a Story reads."""

    script: ScriptRecord
    sections: list[PlacedSection]
    lineCount: int

    @property
    def title(self) -> str:
        return self.script.title

    @property
    def author(self) -> str:
        return self.script.author

    @property
    def description(self) -> str:
        return self.script.description

    @property
    def titlePage(self) -> list[TitlePageEntry]:
        return self.script.titlePage.root


def place(content: ScriptContent, parts: Parts) -> Layout:
    """Sections numbered 1..M, lines numbered 1..N in story order, each with its parts."""
    sections: list[PlacedSection] = []
    sequence = 0
    for section_sequence, (section, lines) in enumerate(story_lines(content), start=1):
        placed: list[PlacedLine] = []
        for line in lines:
            sequence += 1
            placed.append(PlacedLine(line, sequence, parts))
        sections.append(
            PlacedSection(
                headingId=section.headingId,
                title=section.title,
                sceneNumber=section.sceneNumber,
                sequence=section_sequence,
                sequenceNumber=section.sequenceNumber,
                lines=placed,
            )
        )
    return Layout(script=content.script, sections=sections, lineCount=sequence)


def story_of(layout: Layout) -> Story:
    """The /v2 story of a layout."""
    script = layout.script
    sections = [
        StorySection(
            headingId=section.headingId,
            title=section.title,
            sceneNumber=section.sceneNumber,
            sequence=section.sequence,
            sequenceNumber=section.sequenceNumber,
            lines=[_story_line(line) for line in section.lines],
        )
        for section in layout.sections
    ]
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
        titlePage=[StoryTitlePageEntry(key=entry.key, value=entry.value) for entry in layout.titlePage],
        lineCount=layout.lineCount,
        sections=sections,
        missingParts=missing_parts(sections),
    )


def lay_out(content: ScriptContent, parts: Parts) -> Story:
    """The story: sections numbered 1..M, lines numbered 1..N in story order, each with its parts."""
    return story_of(place(content, parts))


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


def _story_context(found: Context) -> StoryContext:
    return StoryContext(
        contextId=found.contextId,
        sessionId=found.sessionId,
        characterId=found.characterId,
        data={key: value.root for key, value in found.data.root.items()},
    )


def _story_line(placed: PlacedLine) -> StoryLine:
    line = placed.line
    character = placed.character
    action = placed.action
    spoken_word = placed.spokenWord
    return StoryLine(
        lineId=line.lineId,
        sequence=placed.sequence,
        kind=line.kind.value,
        character=(
            StoryCharacter(characterId=character.characterId, name=character.name, description=character.description)
            if character is not None
            else None
        ),
        action=StoryAction(actionId=action.actionId, description=action.description) if action is not None else None,
        spokenWord=(
            StorySpokenWord(spokenWordId=spoken_word.spokenWordId, text=spoken_word.text)
            if spoken_word is not None
            else None
        ),
        context=placed.context,
        extension=line.extension,
        extensions=placed.extensions,
        parentheticals=[StoryParenthetical(beforeLine=p.beforeLine, text=p.text) for p in line.parentheticals],
        text=line.text,
        dual=line.dual,
        depth=line.depth,
        missing=placed.missing,
    )


async def read_layout(upstreams: Upstreams, script_id: int) -> Layout:
    """The story's layout, read from the services that own its parts (two round trips). Core Script
    answers only a script the caller may read (its own, one shared with it, or any for an admin); its
    parts are then read for the script's owner, with no more than reading rights, so an account the
    script is shared with sees the parts it names and nothing else of the owner's."""
    content = await read_script_content(upstreams, script_id)
    lines = [line for _, section_lines in story_lines(content) for line in section_lines]
    with acting_for(content.script.owner, write=False):
        parts = await read_parts(upstreams, lines)
    return place(content, parts)


async def assemble(upstreams: Upstreams, script_id: int) -> Story:
    return story_of(await read_layout(upstreams, script_id))


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
