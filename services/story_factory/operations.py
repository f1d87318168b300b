"""The Story Factory Service's operations: a story assembled from the services that own its parts
(assembly.py), answered in the v1 shape, as the /v2 Story resource, or as a Fountain screenplay."""

import hashlib
from typing import Any, Optional

import httpx

from fountain_common.operations import RequestScope
from fountain_common.problems import invalid

from . import fountain
from .assembly import assemble
from .generated.api import Operations
from .generated.models import (
    Action,
    Character,
    Context,
    FullStory,
    SectionHeading,
    SpokenWord,
    Story,
    StoryElement,
    StoryLine,
    StorySequence,
)


def _story_element(line: StoryLine) -> StoryElement:
    return StoryElement(
        sequence=line.sequence,
        character=Character(
            characterId=line.character.characterId, name=line.character.name, description=line.character.description
        ),
        action=Action(actionId=line.action.actionId, description=line.action.description),
        spokenWord=SpokenWord(
            dialogueId=line.spokenWord.spokenWordId, text=line.spokenWord.text, sequence=line.sequence
        ),
        context=None
        if line.context is None
        else Context(contextId=line.context.contextId, characterId=line.context.characterId, data=line.context.data),
    )


def _lines(story: Story) -> list[StoryLine]:
    return [line for section in story.sections for line in section.lines]


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
    return story.model_copy(update={"sections": sections})


def strong_etag(representation: str) -> str:
    return '"' + hashlib.sha256(representation.encode()).hexdigest()[:32] + '"'


def matches(if_none_match: Optional[str], tag: str) -> bool:
    """If-None-Match compares weakly: `W/"x"` matches `"x"`; `*` matches any story."""
    if if_none_match is None:
        return False
    tags = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
    return "*" in tags or tag in tags


class StoryFactoryOperations(RequestScope, Operations):
    async def _call(self, service: str, path: str, params: dict[str, Any] | None) -> httpx.Response:
        return await self.call_upstream(service, "GET", path, params=params)

    async def _story(self, script_id: int) -> Story:
        return await assemble(self._call, self.upstreams.unexpected, script_id)

    # --- v1 --------------------------------------------------------------------------------------
    async def get_full_story(self, *, script_id: int) -> FullStory:
        story = await self._story(script_id)
        return FullStory(
            scriptId=story.scriptId,
            title=story.title,
            author=story.author,
            description=story.description,
            sections=[
                SectionHeading(
                    headingId=section.headingId, scriptId=story.scriptId, title=section.title, sequence=section.sequence
                )
                for section in story.sections
            ],
            story=[_story_element(line) for line in _lines(story)],
            orchestration=story.orchestration,
        )

    async def get_story_sequences(self, *, script_id: int, start_sequence: int, end_sequence: int) -> StorySequence:
        if start_sequence > end_sequence:
            raise invalid(
                "startSequence must not be greater than endSequence.",
                [{"location": "query.startSequence", "message": "must not be greater than endSequence"}],
            )
        whole = await self._story(script_id)
        story = in_range(whole, start_sequence, end_sequence)
        elements = [_story_element(line) for line in _lines(story)]
        if not elements:
            # Asking past the end is a client's mistake worth naming, not an empty success.
            span = f"sequences 1 to {whole.lineCount}" if whole.lineCount else "no story elements yet"
            raise invalid(
                f"No story element lies in {start_sequence}..{end_sequence}: script {script_id} has {span}.",
                [{"location": "query.startSequence", "message": f"past the story's end ({whole.lineCount})"}],
            )
        return StorySequence(scriptId=script_id, sequences=elements)

    # --- v2 --------------------------------------------------------------------------------------
    async def get_story(
        self,
        *,
        script_id: int,
        from_sequence: Optional[int],
        to_sequence: Optional[int],
        if_none_match: Optional[str],
    ) -> Story:
        if from_sequence is not None and to_sequence is not None and from_sequence > to_sequence:
            raise invalid(
                "query.fromSequence: must not be greater than toSequence.",
                [{"location": "query.fromSequence", "message": "must not be greater than toSequence"}],
            )
        story = in_range(await self._story(script_id), from_sequence, to_sequence)
        tag = strong_etag(story.model_dump_json())
        self.response.headers["ETag"] = tag
        if matches(if_none_match, tag):
            self.response.status_code = 304  # FastAPI sends no body with a 304
        return story

    async def get_story_fountain(self, *, script_id: int) -> str:
        screenplay = fountain.render(await self._story(script_id))
        self.response.headers["ETag"] = strong_etag(screenplay)
        return screenplay
