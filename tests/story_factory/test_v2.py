"""/v2: the Story resource (shape, ranges, ETag) and the story as a Fountain screenplay, read from the
real services (in-process) with the story written through their public APIs; the Fountain rendering of
tricky text also on its own."""

import io
from typing import Any

import httpx
import yaml
from screenplain.parsers import fountain as fountain_parser
from screenplain.types import Action, Dialog, Screenplay, Section, Slug

from fountain_common.service import REPO_ROOT
from services.story_factory import fountain
from services.story_factory.assembly import Layout, Parts, place, story_of
from services.story_factory.generated.clients.character_models import ActionRecord, CharacterRecord, SpokenWordRecord
from services.story_factory.generated.clients.core_script_models import ScriptContent
from services.story_factory.generated.clients.session_context_models import Context
from services.story_factory.generated.models import Story
from tests.story_factory.authoring import BALCONY, DESCRIPTIONS, ROMEO_AND_JULIET, Author, Speech, Written
from tests.story_factory.stub_upstreams import StoryData, action, character, context, script_content
from tests.story_factory.stub_upstreams import spoken_word as spoken

WITHOUT_CONTEXT = Speech(BALCONY[1].character, BALCONY[1].action, BALCONY[1].words)


async def two_sections(author: Author) -> Written:
    """Romeo and Juliet's three lines over two sections (sequences 1-2 and 3); Romeo's line has no context."""
    author.descriptions.update(DESCRIPTIONS)
    written = await author.script(**ROMEO_AND_JULIET)  # type: ignore[arg-type]
    await author.section(written, "Act 1, Scene 1", [BALCONY[0], WITHOUT_CONTEXT])
    await author.section(written, "Act 2, Scene 2", BALCONY[2:])
    return written


async def read(stories: httpx.AsyncClient, path: str, **headers: str) -> httpx.Response:
    response = await stories.get(path, headers=headers)
    assert response.status_code in (200, 304), response.text
    return response


async def test_story_shape(stories: httpx.AsyncClient, author: Author) -> None:
    written = await two_sections(author)
    story = (await read(stories, f"/v2/stories/{written.script_id}")).json()
    numbers = await author.section_numbers(written)
    first, second = written.heading_ids
    lines = [line for section in story["sections"] for line in section.pop("lines")]
    assert story == {
        "scriptId": written.script_id,
        **ROMEO_AND_JULIET,
        "titlePage": [],
        "lineCount": 3,
        "missingParts": [],
        "sections": [
            {
                "headingId": first,
                "title": "Act 1, Scene 1",
                "sceneNumber": None,
                "sequence": 1,
                "sequenceNumber": numbers[first],
            },
            {
                "headingId": second,
                "title": "Act 2, Scene 2",
                "sceneNumber": None,
                "sequence": 2,
                "sequenceNumber": numbers[second],
            },
        ],
    }
    assert numbers[first] < numbers[second]
    juliet = {"characterId": written.characters["Juliet"], "name": "Juliet", "description": DESCRIPTIONS["Juliet"]}
    romeo = {"characterId": written.characters["Romeo"], "name": "Romeo", "description": DESCRIPTIONS["Romeo"]}
    assert lines[0] == {
        "lineId": written.line_ids[0][0],
        "sequence": 1,
        "kind": "dialogue",
        "character": juliet,
        "action": {"actionId": written.actions[BALCONY[0].action], "description": BALCONY[0].action},
        "spokenWord": {"spokenWordId": written.spoken_words[BALCONY[0].words], "text": BALCONY[0].words},
        "context": {
            "contextId": written.contexts[0],
            "sessionId": lines[0]["context"]["sessionId"],
            "characterId": juliet["characterId"],
            "data": {"mood": "longing", "location": "Capulet's mansion balcony"},
        },
        "extension": None,
        "extensions": [],
        "parentheticals": [],
        "text": None,
        "dual": False,
        "depth": None,
        "missing": [],
    }
    session = await author.session_context.get(f"/v2/contexts/{written.contexts[0]}")
    assert lines[0]["context"]["sessionId"] == session.json()["sessionId"]
    assert (lines[1]["lineId"], lines[1]["character"], lines[1]["context"]) == (written.line_ids[0][1], romeo, None)
    assert (lines[2]["lineId"], lines[2]["character"]) == (written.line_ids[1][0], juliet)
    assert lines[2]["context"]["data"] == {"mood": "curious", "location": "Capulet's mansion balcony"}
    assert [line["sequence"] for line in lines] == [1, 2, 3]


def line_sequences(story: dict[str, Any]) -> list[tuple[int, list[int]]]:
    return [(s["sequence"], [line["sequence"] for line in s["lines"]]) for s in story["sections"]]


async def test_a_range_keeps_its_lines_and_their_sections(stories: httpx.AsyncClient, author: Author) -> None:
    written = await two_sections(author)
    cases = {
        "": [(1, [1, 2]), (2, [3])],
        "?fromSequence=2": [(1, [2]), (2, [3])],
        "?toSequence=2": [(1, [1, 2])],
        "?fromSequence=3&toSequence=3": [(2, [3])],
        "?fromSequence=1&toSequence=1": [(1, [1])],
        "?fromSequence=2&toSequence=3": [(1, [2]), (2, [3])],
        "?fromSequence=4": [],
    }
    for query, expected in cases.items():
        story = (await read(stories, f"/v2/stories/{written.script_id}{query}")).json()
        assert line_sequences(story) == expected, query
        assert story["lineCount"] == 3
    last = (await read(stories, f"/v2/stories/{written.script_id}?fromSequence=3")).json()
    assert [line["lineId"] for line in last["sections"][0]["lines"]] == written.line_ids[1]


async def test_an_inverted_range_is_422(stories: httpx.AsyncClient) -> None:
    response = await stories.get("/v2/stories/1?fromSequence=3&toSequence=2")
    assert response.status_code == 422
    assert response.json()["detail"] == "query.fromSequence: must not be greater than toSequence."
    assert response.json()["errors"] == [
        {"location": "query.fromSequence", "message": "must not be greater than toSequence"}
    ]


async def test_unknown_script_is_404(stories: httpx.AsyncClient, author: Author) -> None:
    written = await author.script("Cardenio")
    assert (await author.core_script.delete(f"/v2/scripts/{written.script_id}")).status_code == 204
    for path in (f"/v2/stories/{written.script_id}", f"/v2/stories/{written.script_id}/fountain"):
        response = await stories.get(path)
        assert response.status_code == 404
        assert response.json()["detail"] == f"Script {written.script_id} not found."


async def test_etag_and_if_none_match(stories: httpx.AsyncClient, author: Author) -> None:
    written = await two_sections(author)
    path = f"/v2/stories/{written.script_id}"
    first = await read(stories, path)
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"')
    assert (await read(stories, path)).headers["etag"] == tag  # a hash of the story, stable
    unchanged = await read(stories, path, **{"If-None-Match": f'"other", W/{tag}'})
    assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", tag)
    assert (await read(stories, path, **{"If-None-Match": "*"})).status_code == 304
    assert (await read(stories, path, **{"If-None-Match": '"other"'})).status_code == 200
    ranged = await read(stories, path + "?toSequence=2", **{"If-None-Match": tag})
    assert ranged.status_code == 200 and ranged.headers["etag"] != tag

    # A change in any source changes the story's tag: words in Character Management...
    spoken_word_id = written.spoken_words[BALCONY[2].words]
    edit = await author.character.patch(f"/v2/spokenWords/{spoken_word_id}", json={"text": "Changed."})
    assert edit.status_code == 200, edit.text
    changed = await read(stories, path, **{"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json()["sections"][1]["lines"][0]["spokenWord"]["text"] == "Changed."
    # ... and the order in Core Script.
    tag = changed.headers["etag"]
    await author.move_line(written, written.heading_ids[0], written.line_ids[0][1], 1)
    moved = await read(stories, path, **{"If-None-Match": tag})
    assert moved.status_code == 200 and moved.headers["etag"] != tag
    assert (await read(stories, path, **{"If-None-Match": moved.headers["etag"]})).status_code == 304


# --- Fountain ---------------------------------------------------------------------------------------
def parse(text: str) -> Screenplay:
    return fountain_parser.parse(io.StringIO(text))


def summary(screenplay: Screenplay) -> list[tuple[str, ...]]:
    """The parsed screenplay as (kind, text...) tuples; dialogue blocks as (cue, [parenthetical,] lines)."""
    out: list[tuple[str, ...]] = []
    for paragraph in screenplay.paragraphs:
        if isinstance(paragraph, Slug):
            out.append(("scene", str(paragraph.line)))
        elif isinstance(paragraph, Section):
            out.append(("section", str(paragraph.text)))
        elif isinstance(paragraph, Action):
            out.append(("action", "\n".join(str(line) for line in paragraph.lines)))
        elif isinstance(paragraph, Dialog):
            blocks = tuple(("(paren) " if paren else "") + str(text) for paren, text in paragraph.blocks)
            out.append(("dialogue", str(paragraph.character), *blocks))
        else:
            out.append((type(paragraph).__name__,))
    return out


async def test_fountain_screenplay_parses_back_to_the_story(stories: httpx.AsyncClient, author: Author) -> None:
    written = await two_sections(author)
    path = f"/v2/stories/{written.script_id}/fountain"
    response = await read(stories, path)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    screenplay = parse(response.text)
    assert screenplay.title_page == {
        "Title": ["Romeo and Juliet"],
        "Author": ["William Shakespeare"],
        "Notes": ["A tale of two star-crossed lovers."],
    }
    balcony = [
        ("action", BALCONY[0].action),
        ("dialogue", "JULIET", "(paren) (longing)", BALCONY[0].words),
        ("action", BALCONY[1].action),
        ("dialogue", "ROMEO", BALCONY[1].words),
    ]
    tomb = [
        ("action", BALCONY[2].action),
        ("dialogue", "JULIET", "(paren) (curious)", BALCONY[2].words),
    ]
    assert summary(screenplay) == [("scene", "ACT 1, SCENE 1"), *balcony, ("scene", "ACT 2, SCENE 2"), *tomb]
    # The context's other entries are a note: in the text, not in the printed screenplay.
    assert "[[location: Capulet's mansion balcony]]" in response.text
    assert (await read(stories, path)).headers["etag"] == response.headers["etag"]

    # The second section moved first: the screenplay follows, and its tag changes.
    await author.move_section(written, written.heading_ids[1], 1)
    moved = await read(stories, path)
    assert summary(parse(moved.text)) == [("scene", "ACT 2, SCENE 2"), *tomb, ("scene", "ACT 1, SCENE 1"), *balcony]
    assert moved.headers["etag"] != response.headers["etag"]


def tricky_layout(gone: tuple[int, ...] = ()) -> Layout:
    """Parts that, written naively, Fountain would read as other elements; the parts of the lines in
    `gone` deleted by their owners."""
    data = StoryData()
    parts = [
        ("Nurse", "THE NURSE BURSTS IN.", "Madam!", {"mood": "breathless"}),
        ("Capulet", "INT. HALL - NIGHT", "Welcome, gentlemen!", {}),
        ("李", "Music plays.\n\nThey dance.", "A *masked* ball.\nA feast.", {}),
        ("Tybalt (a Capulet)", "CUT TO:", "This, by his voice, should be a Montague.", {"mood": "angry", "x": "y"}),
        ("Peter *the* Servant", "> The hall <", "I am the drunkest man in Verona.", {}),
        ("#1 Guard", "@home they sleep.", "Stop!", {}),
        ("Mercutio", "HANS (on the radio) calls.\nNobody answers.", "A plague o' both your houses!", {}),
    ]
    lines = []
    for i, (name, description, text, entries) in enumerate(parts, start=1):
        data.characters[i] = character(i, name, "")
        data.actions[i] = action(i, description)
        data.spoken_words[i] = spoken(i, text)
        data.contexts[i] = context(i, i, entries)
        lines.append((i, i, i, i))
    content = script_content(
        1, "Tricky: A Test", [(1, "Ballroom", 2, lines[:4]), (2, "..dots", 3, lines[4:])],
        description="First line.\nSecond line.",
    )  # fmt: skip
    # The layout alone, from what the sources would answer: no upstream involved.
    found = Parts(
        characters={i: CharacterRecord.model_validate(item) for i, item in data.characters.items()},
        actions={i: ActionRecord.model_validate(item) for i, item in data.actions.items()},
        spoken_words={i: SpokenWordRecord.model_validate(item) for i, item in data.spoken_words.items()},
        contexts={i: Context.model_validate(item) for i, item in data.contexts.items() if i not in gone},
    )
    for i in gone:
        del found.characters[i], found.actions[i], found.spoken_words[i]
    return place(ScriptContent.model_validate(content), found)


def tricky_story() -> Story:
    return story_of(tricky_layout())


def test_the_screenplay_is_the_same_from_the_layout_as_from_the_story() -> None:
    """GET .../fountain writes the screenplay from the layout, without the /v2 story's models: it must
    say what the /v2 story says, missing parts included."""
    for gone in [(), (2, 5)]:
        layout = tricky_layout(gone)
        assert fountain.render(layout) == fountain.render(story_of(layout))
    assert "[[Missing from line 2: character 2, action 2, spoken words 2, context 2" in fountain.render(
        tricky_layout((2, 5))
    )


def test_fountain_forces_what_would_read_as_another_element() -> None:
    text = fountain.render(tricky_story())
    screenplay = parse(text)
    assert screenplay.title_page == {"Title": ["Tricky: A Test"], "Notes": ["First line.", "Second line."]}
    assert summary(screenplay) == [
        ("scene", "BALLROOM"),
        ("action", "THE NURSE BURSTS IN."),
        ("dialogue", "NURSE", "(paren) (breathless)", "Madam!"),
        ("action", "INT. HALL - NIGHT"),
        ("dialogue", "CAPULET", "Welcome, gentlemen!"),
        ("action", "Music plays."),
        ("action", "They dance."),
        ("dialogue", "李", "A masked ball.", "A feast."),
        ("action", "CUT TO:"),
        ("dialogue", "TYBALT (A CAPULET)", "(paren) (angry)", "This, by his voice, should be a Montague."),
        ("section", "..dots"),
        ("action", "> The hall <"),
        ("dialogue", "PETER THE SERVANT", "I am the drunkest man in Verona."),
        ("action", "@home they sleep."),
        ("dialogue", "#1 GUARD", "Stop!"),
        ("action", "HANS (on the radio) calls.\nNobody answers."),
        ("dialogue", "MERCUTIO", "A plague o' both your houses!"),
    ]
    assert "\n@李\n" in text and "\n@TYBALT (A CAPULET)\n" in text and "[[x: y]]" in text


def test_fountain_keeps_emphasis_and_blank_dialogue_lines() -> None:
    assert fountain.escape("*bold* and _under_") == "*bold* and _under_"
    assert fountain.dialogue("One.\n\nTwo.") == ["One.", "  ", "Two."]
    dialog = parse("JULIET\nOne.\n  \nTwo.\n").paragraphs[0]
    assert isinstance(dialog, Dialog) and [str(t) for _, t in dialog.blocks] == ["One.", "", "Two."]


def test_the_specs_screenplay_example_renders_its_story_example() -> None:
    spec = yaml.safe_load((REPO_ROOT / "specs" / "story_factory.yaml").read_text())
    story = spec["paths"]["/v2/stories/{scriptId}"]["get"]["responses"]["200"]["content"]["application/json"]
    screenplay = spec["paths"]["/v2/stories/{scriptId}/fountain"]["get"]["responses"]["200"]["content"]["text/plain"]
    expected = screenplay["examples"]["screenplay"]["value"]
    assert fountain.render(Story.model_validate(story["examples"]["story"]["value"])) == expected
