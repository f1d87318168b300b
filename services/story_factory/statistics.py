"""What screenwriting tools count in a screenplay, from the assembled story: per character the
dialogue blocks, words and scenes they speak in, and the scene list.

A character "appears" in a scene where they speak (a dialogue element with their cue), as the
character reports of screenwriting tools count it; a name mentioned in an action does not count.
"""

import re
from dataclasses import dataclass, field

from .generated.models import (
    CharacterStatistics,
    SceneCharacter,
    SceneList,
    SceneSummary,
    Story,
    StoryLine,
    StoryStatistics,
)

# A word: a run between spaces holding a letter or digit (`--` and `...` are none, `don't` is one).
_WORD = re.compile(r"\S*\w\S*")


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


@dataclass
class _Speaker:
    name: str
    blocks: int = 0
    words: int = 0
    heading_ids: list[int] = field(default_factory=list)


def _speaker(line: StoryLine) -> tuple[int, str] | None:
    if line.kind.value != "dialogue" or line.character is None:
        return None
    return line.character.characterId, line.character.name


def statistics(story: Story) -> StoryStatistics:
    speakers: dict[int, _Speaker] = {}
    blocks = words = 0
    for section in story.sections:
        for line in section.lines:
            who = _speaker(line)
            if who is None:
                continue
            spoken = word_count(line.spokenWord.text) if line.spokenWord is not None else 0
            speaker = speakers.setdefault(who[0], _Speaker(who[1]))
            speaker.blocks += 1
            speaker.words += spoken
            if not speaker.heading_ids or speaker.heading_ids[-1] != section.headingId:
                speaker.heading_ids.append(section.headingId)
            blocks += 1
            words += spoken
    ranked = sorted(speakers.items(), key=lambda item: (-item[1].blocks, item[1].name, item[0]))
    return StoryStatistics(
        scriptId=story.scriptId,
        sceneCount=len(story.sections),
        lineCount=story.lineCount,
        dialogueBlocks=blocks,
        words=words,
        characters=[
            CharacterStatistics(
                characterId=character_id,
                name=speaker.name,
                dialogueBlocks=speaker.blocks,
                words=speaker.words,
                sceneCount=len(speaker.heading_ids),
                headingIds=speaker.heading_ids,
            )
            for character_id, speaker in ranked
        ],
    )


def scenes(story: Story) -> SceneList:
    summaries = []
    for section in story.sections:
        present: dict[int, str] = {}
        for line in section.lines:
            if (who := _speaker(line)) is not None:
                present.setdefault(*who)
        summaries.append(
            SceneSummary(
                headingId=section.headingId,
                sequence=section.sequence,
                heading=section.title,
                sceneNumber=section.sceneNumber,
                elementCount=len(section.lines),
                characters=[SceneCharacter(characterId=i, name=name) for i, name in present.items()],
            )
        )
    return SceneList(scriptId=story.scriptId, scenes=summaries)
