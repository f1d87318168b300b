"""Statistics and the scene list of a story, written through the real services in-process and read
from Story Factory: what each character says, and who speaks in which scene."""

import httpx
import yaml

from fountain_common.service import REPO_ROOT
from services.story_factory import statistics
from services.story_factory.generated.models import Story
from tests.story_factory.authoring import Author, Speech, romeo_and_juliet

TOMB = [
    Speech("Romeo", "Romeo enters the tomb.", "Here's to my love! -- O true apothecary!"),
    Speech("Juliet", "Juliet wakes.", "Where is my lord?"),
]


async def test_statistics_count_blocks_words_and_scenes_per_character(
    stories: httpx.AsyncClient, author: Author
) -> None:
    written = await romeo_and_juliet(author)
    tomb = await author.section(written, "Act 5, Scene 3", TOMB)
    await author.section(written, "Epilogue")
    transition = await author.core_script.post(
        f"/v2/scripts/{written.script_id}/sections/{tomb}/lines", json={"kind": "transition", "text": "FADE OUT."}
    )
    assert transition.status_code == 201, transition.text
    # Juliet: 7 + 18 words in the balcony scene, 4 in the tomb; Romeo: 28, then 7 (`--` is no word).
    response = await stories.get(f"/v2/stories/{written.script_id}/statistics")
    assert response.status_code == 200, response.text
    assert response.headers["etag"]
    juliet, romeo = written.characters["Juliet"], written.characters["Romeo"]
    balcony = written.heading_ids[0]
    assert response.json() == {
        "scriptId": written.script_id,
        "sceneCount": 3,
        "lineCount": 6,
        "dialogueBlocks": 5,
        "words": 7 + 18 + 4 + 28 + 7,
        "characters": [
            {"characterId": juliet, "name": "Juliet", "dialogueBlocks": 3, "words": 29, "sceneCount": 2,
             "headingIds": [balcony, tomb]},
            {"characterId": romeo, "name": "Romeo", "dialogueBlocks": 2, "words": 35, "sceneCount": 2,
             "headingIds": [balcony, tomb]},
        ],
    }  # fmt: skip

    scenes = await stories.get(f"/v2/stories/{written.script_id}/scenes")
    assert scenes.status_code == 200, scenes.text
    assert scenes.json() == {
        "scriptId": written.script_id,
        "scenes": [
            {"headingId": balcony, "sequence": 1, "heading": "Act 1, Scene 1", "sceneNumber": None, "elementCount": 3,
             "characters": [{"characterId": juliet, "name": "Juliet"}, {"characterId": romeo, "name": "Romeo"}]},
            {"headingId": tomb, "sequence": 2, "heading": "Act 5, Scene 3", "sceneNumber": None, "elementCount": 3,
             "characters": [{"characterId": romeo, "name": "Romeo"}, {"characterId": juliet, "name": "Juliet"}]},
            {"headingId": written.heading_ids[2], "sequence": 3, "heading": "Epilogue", "sceneNumber": None,
             "elementCount": 0, "characters": []},
        ],
    }  # fmt: skip
    for path in ("statistics", "scenes"):
        assert (await stories.get(f"/v2/stories/987654/{path}")).status_code == 404


def test_a_word_holds_a_letter_or_digit() -> None:
    assert statistics.word_count("Don't -- go... 42 *now*!  ") == 4
    assert statistics.word_count("  ...  ") == 0


def test_the_specs_statistics_and_scenes_examples_are_those_of_its_story_example() -> None:
    spec = yaml.safe_load((REPO_ROOT / "specs" / "story_factory.yaml").read_text())
    paths = spec["paths"]
    story = Story.model_validate(
        paths["/v2/stories/{scriptId}"]["get"]["responses"]["200"]["content"]["application/json"]["examples"]["story"][
            "value"
        ]
    )

    def example(path: str) -> object:
        media = paths[path]["get"]["responses"]["200"]["content"]["application/json"]
        return next(iter(media["examples"].values()))["value"]

    assert statistics.statistics(story).model_dump(mode="json") == example("/v2/stories/{scriptId}/statistics")
    assert statistics.scenes(story).model_dump(mode="json") == example("/v2/stories/{scriptId}/scenes")
