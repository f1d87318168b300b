"""Story Factory /v1: the upstream contract's FullStory and StorySequence, read from the same
assembled story as /v2 (assembly.py)."""

from fountain_common.problems import invalid

from .assembly import assemble, in_range
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


def _story_element(line: StoryLine) -> StoryElement | None:
    """The line as v1's StoryElement, or None for an element v1 cannot express: v1 knows only lines
    naming a character, an action and spoken words (docs/api-v2.md, section 7.5)."""
    if line.character is None or line.action is None or line.spokenWord is None:
        return None
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


def _elements(story: Story) -> list[StoryElement]:
    """The story elements v1 can express, keeping their place in the whole story as `sequence`."""
    elements = (_story_element(line) for section in story.sections for line in section.lines)
    return [element for element in elements if element is not None]


class StoryFactoryV1(Operations):
    async def get_full_story(self, *, script_id: int) -> FullStory:
        story = await assemble(self.upstreams, script_id)
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
            story=_elements(story),
            orchestration=story.orchestration,
        )

    async def get_story_sequences(self, *, script_id: int, start_sequence: int, end_sequence: int) -> StorySequence:
        if start_sequence > end_sequence:
            raise invalid(
                "startSequence must not be greater than endSequence.",
                [{"location": "query.startSequence", "message": "must not be greater than endSequence"}],
            )
        whole = await assemble(self.upstreams, script_id)
        story = in_range(whole, start_sequence, end_sequence)
        elements = _elements(story)
        if not elements:
            # Asking past the end is a client's mistake worth naming, not an empty success.
            span = f"sequences 1 to {whole.lineCount}" if whole.lineCount else "no story elements yet"
            raise invalid(
                f"No story element lies in {start_sequence}..{end_sequence}: script {script_id} has {span}.",
                [{"location": "query.startSequence", "message": f"past the story's end ({whole.lineCount})"}],
            )
        return StorySequence(scriptId=script_id, sequences=elements)
