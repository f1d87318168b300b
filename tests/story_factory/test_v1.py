"""/v1: the upstream FullStory and StorySequence shapes, assembled from the real services (in-process),
with the story written through their public APIs."""

import copy
from typing import Any

import httpx
import yaml

from fountain_common.service import REPO_ROOT
from tests.story_factory.authoring import BALCONY, Author, Speech, Written, romeo_and_juliet
from tests.story_factory.conftest import Recorder

SPEC = yaml.safe_load((REPO_ROOT / "specs" / "story_factory.yaml").read_text())


def spec_example(path: str) -> Any:
    return SPEC["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["examples"]["example"]["value"]


def with_written_ids(example: dict[str, Any], written: Written) -> dict[str, Any]:
    """The spec's example with the ids the services handed out for the same story."""
    expected = copy.deepcopy(example)
    expected["scriptId"] = written.script_id
    for section, heading_id in zip(expected["sections"], written.heading_ids, strict=True):
        section.update(headingId=heading_id, scriptId=written.script_id)
    for element, context_id in zip(expected["story"], written.contexts, strict=True):
        character_id = written.characters[element["character"]["name"]]
        element["character"]["characterId"] = character_id
        element["action"]["actionId"] = written.actions[element["action"]["description"]]
        element["spokenWord"]["dialogueId"] = written.spoken_words[element["spokenWord"]["text"]]
        element["context"].update(contextId=context_id, characterId=character_id)
    return expected


async def full_story(stories: httpx.AsyncClient, written: Written) -> dict[str, Any]:
    response = await stories.get("/v1/stories", params={"scriptId": written.script_id})
    assert response.status_code == 200, response.text
    story: dict[str, Any] = response.json()
    return story


async def test_full_story_is_the_contract_example(stories: httpx.AsyncClient, author: Author) -> None:
    written = await romeo_and_juliet(author)
    assert await full_story(stories, written) == with_written_ids(spec_example("/v1/stories"), written)


async def test_a_line_without_context_leaves_context_out(
    stories: httpx.AsyncClient, author: Author, recorder: Recorder
) -> None:
    written = await romeo_and_juliet(
        author, [BALCONY[0], Speech(BALCONY[1].character, "Romeo waits.", "Hush."), BALCONY[2]]
    )
    story = (await full_story(stories, written))["story"]
    assert "context" not in story[1]
    first, _, last = written.contexts
    assert [element["context"]["contextId"] for element in (story[0], story[2])] == [first, last]
    # No context was asked for that no line names.
    assert recorder.calls("/v2/contexts")[0].url.params["contextId"] == ",".join(map(str, sorted([first, last])))


async def deleted_script(author: Author) -> int:
    """The id of a script that existed and was deleted: Core Script no longer has it."""
    written = await author.script("Cardenio")
    assert (await author.core_script.delete(f"/v2/scripts/{written.script_id}")).status_code == 204
    return written.script_id


async def test_unknown_script_is_404(stories: httpx.AsyncClient, author: Author) -> None:
    gone = await deleted_script(author)
    response = await stories.get("/v1/stories", params={"scriptId": gone})
    assert response.status_code == 404
    assert response.json()["message"] == f"Script {gone} not found."


async def test_missing_script_id_is_400(stories: httpx.AsyncClient) -> None:
    response = await stories.get("/v1/stories")
    assert response.status_code == 400
    assert "scriptId" in response.json()["message"]


async def sequences(stories: httpx.AsyncClient, script_id: int, start: int, end: int) -> httpx.Response:
    return await stories.get(
        "/v1/stories/sequences", params={"scriptId": script_id, "startSequence": start, "endSequence": end}
    )


async def test_sequences_inside_and_at_the_edges(stories: httpx.AsyncClient, author: Author) -> None:
    written = await romeo_and_juliet(author)
    full = (await full_story(stories, written))["story"]
    for start, end in [(1, 3), (2, 2), (1, 1), (3, 3), (2, 3), (1, 2), (3, 99)]:
        response = await sequences(stories, written.script_id, start, end)
        assert response.status_code == 200
        assert response.json() == {"scriptId": written.script_id, "sequences": full[start - 1 : end]}, (start, end)


async def test_a_range_holding_no_element_is_400_naming_the_story_length(
    stories: httpx.AsyncClient, author: Author
) -> None:
    written = await romeo_and_juliet(author)
    response = await sequences(stories, written.script_id, 4, 10)
    assert response.status_code == 400
    expected = f"No story element lies in 4..10: script {written.script_id} has sequences 1 to 3."
    assert response.json()["message"] == expected
    empty = await author.script("Blank")
    response = await sequences(stories, empty.script_id, 1, 1)
    assert response.status_code == 400
    assert response.json()["message"].endswith(f"script {empty.script_id} has no story elements yet.")


async def test_inverted_range_is_400(stories: httpx.AsyncClient, recorder: Recorder) -> None:
    response = await sequences(stories, 1, 3, 2)
    assert response.status_code == 400
    assert response.json()["message"] == "startSequence must not be greater than endSequence."
    assert recorder.requests == []  # refused before anything is read


async def test_sequences_of_an_unknown_script_is_404(stories: httpx.AsyncClient, author: Author) -> None:
    gone = await deleted_script(author)
    response = await sequences(stories, gone, 1, 2)
    assert response.status_code == 404
    assert response.json()["message"] == f"Script {gone} not found."


async def test_moved_sections_and_lines_are_read_in_their_new_order(stories: httpx.AsyncClient, author: Author) -> None:
    """Sections in the order Core Script numbers them (not by heading id), lines by position, after
    moves in Core Script; story sequences count 1..n over the whole story."""
    written = await author.script("Three Acts")
    act = {}
    for name in ("Prologue", "Balcony", "Tomb"):
        lines = [Speech(name.upper(), f"{name} action {i}.", f"{name} words {i}.") for i in (1, 2)]
        act[name] = await author.section(written, name, lines)
    assert sorted(act.values()) == [act["Prologue"], act["Balcony"], act["Tomb"]]  # heading ids in writing order

    await author.move_section(written, act["Tomb"], 1)  # the last section written goes first
    _, tomb_2 = written.line_ids[2]
    await author.move_line(written, act["Tomb"], tomb_2, 1)  # swap the Tomb's two lines
    balcony_1, _ = written.line_ids[1]
    await author.move_line(written, act["Balcony"], balcony_1, 1, to_heading=act["Prologue"])  # into the Prologue

    numbers = await author.section_numbers(written)
    assert numbers[act["Tomb"]] < numbers[act["Prologue"]] < numbers[act["Balcony"]]  # Core Script's order

    story = await full_story(stories, written)
    assert [(s["title"], s["headingId"], s["sequence"]) for s in story["sections"]] == [
        ("Tomb", act["Tomb"], 1),
        ("Prologue", act["Prologue"], 2),
        ("Balcony", act["Balcony"], 3),
    ]
    assert [e["action"]["description"] for e in story["story"]] == [
        "Tomb action 2.",
        "Tomb action 1.",
        "Balcony action 1.",
        "Prologue action 1.",
        "Prologue action 2.",
        "Balcony action 2.",
    ]
    assert [e["sequence"] for e in story["story"]] == [1, 2, 3, 4, 5, 6]
    assert [e["spokenWord"]["sequence"] for e in story["story"]] == [1, 2, 3, 4, 5, 6]
    middle = await sequences(stories, written.script_id, 2, 4)
    assert [e["action"]["description"] for e in middle.json()["sequences"]] == [
        "Tomb action 1.",
        "Balcony action 1.",
        "Prologue action 1.",
    ]
