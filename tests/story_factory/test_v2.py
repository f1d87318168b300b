"""/v2: the Story resource (shape, ranges, ETag) and the story as a Fountain screenplay."""

import io
from typing import Any

import httpx
import yaml
from screenplain.parsers import fountain as fountain_parser
from screenplain.types import Action, Dialog, Screenplay, Section, Slug

from fountain_common.service import REPO_ROOT
from services.story_factory import fountain
from services.story_factory.assembly import Parts, lay_out
from services.story_factory.generated.clients.character_models import ActionRecord, CharacterRecord, SpokenWordRecord
from services.story_factory.generated.clients.core_script_models import ScriptContent
from services.story_factory.generated.clients.session_context_models import Context
from services.story_factory.generated.models import Story
from tests.story_factory.stub_upstreams import StoryData, StubUpstreams, action, character, context, script_content
from tests.story_factory.stub_upstreams import spoken_word as spoken

JULIET = {"characterId": 1, "name": "Juliet", "description": "The heroine of Romeo and Juliet."}
ROMEO = {"characterId": 2, "name": "Romeo", "description": "The hero of Romeo and Juliet."}


async def test_story_shape(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    stub.data.scripts[1]["sections"][0]["lines"][1]["contextId"] = None
    response = await client.get("/v2/stories/1")
    assert response.status_code == 200
    story = response.json()
    lines = story["sections"][0].pop("lines")
    assert story == {
        "scriptId": 1,
        "title": "Romeo and Juliet",
        "author": "William Shakespeare",
        "description": "A tale of two star-crossed lovers.",
        "orchestration": {
            "csoundFilePath": "/files/sound.csd",
            "lilyPondFilePath": "/files/sheet.ly",
            "midiFilePath": "/files/music.mid",
        },
        "titlePage": [],
        "lineCount": 3,
        "sections": [
            {"headingId": 1, "title": "Act 1, Scene 1", "sceneNumber": None, "sequence": 1, "sequenceNumber": 2}
        ],
    }
    assert lines[0] == {
        "lineId": 1,
        "sequence": 1,
        "kind": "dialogue",
        "character": JULIET,
        "action": {"actionId": 1, "description": "Juliet stands on the balcony, looking out into the night."},
        "spokenWord": {"spokenWordId": 1, "text": "O Romeo, Romeo! wherefore art thou Romeo?"},
        "context": {
            "contextId": 1,
            "sessionId": 1,
            "characterId": 1,
            "data": {"mood": "longing", "location": "Capulet's mansion balcony"},
        },
        "extension": None,
        "parentheticals": [],
        "text": None,
    }
    assert (lines[1]["character"], lines[1]["context"]) == (ROMEO, None)
    assert [line["sequence"] for line in lines] == [1, 2, 3]


def two_sections(data: StoryData) -> None:
    """Romeo and Juliet's three lines over two sections: sequences 1-2 and 3."""
    content = data.scripts[1]
    first = content["sections"][0]
    content["sections"] = [
        {**first, "lines": first["lines"][:2]},
        {**first, "headingId": 2, "title": "Act 2, Scene 2", "sequenceNumber": 5, "lines": first["lines"][2:]},
    ]


def line_sequences(story: dict[str, Any]) -> list[tuple[int, list[int]]]:
    return [(s["sequence"], [line["sequence"] for line in s["lines"]]) for s in story["sections"]]


async def test_a_range_keeps_its_lines_and_their_sections(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    two_sections(stub.data)
    cases = {
        "": [(1, [1, 2]), (2, [3])],
        "?fromSequence=2": [(1, [2]), (2, [3])],
        "?toSequence=2": [(1, [1, 2])],
        "?fromSequence=3&toSequence=3": [(2, [3])],
        "?fromSequence=1&toSequence=1": [(1, [1])],
        "?fromSequence=4": [],
    }
    for query, expected in cases.items():
        response = await client.get("/v2/stories/1" + query)
        assert response.status_code == 200
        assert line_sequences(response.json()) == expected, query
        assert response.json()["lineCount"] == 3


async def test_an_inverted_range_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/stories/1?fromSequence=3&toSequence=2")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"location": "query.fromSequence", "message": "must not be greater than toSequence"}
    ]


async def test_unknown_script_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/v2/stories/9", "/v2/stories/9/fountain"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["detail"] == "Script 9 not found."


async def test_etag_and_if_none_match(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    first = await client.get("/v2/stories/1")
    tag = first.headers["etag"]
    assert (await client.get("/v2/stories/1")).headers["etag"] == tag  # a hash of the story, stable
    unchanged = await client.get("/v2/stories/1", headers={"If-None-Match": f'"other", W/{tag}'})
    assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", tag)
    ranged = await client.get("/v2/stories/1?toSequence=2", headers={"If-None-Match": tag})
    assert ranged.status_code == 200 and ranged.headers["etag"] != tag
    stub.data.spoken_words[3]["text"] = "Changed."
    changed = await client.get("/v2/stories/1", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag


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


async def test_fountain_screenplay_parses_back_to_the_story(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    two_sections(stub.data)
    stub.data.scripts[1]["sections"][0]["lines"][1]["contextId"] = None
    response = await client.get("/v2/stories/1/fountain")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["etag"].startswith('"')
    screenplay = parse(response.text)
    assert screenplay.title_page == {
        "Title": ["Romeo and Juliet"],
        "Author": ["William Shakespeare"],
        "Notes": ["A tale of two star-crossed lovers."],
    }
    assert summary(screenplay) == [
        ("scene", "ACT 1, SCENE 1"),
        ("action", "Juliet stands on the balcony, looking out into the night."),
        ("dialogue", "JULIET", "(paren) (longing)", "O Romeo, Romeo! wherefore art thou Romeo?"),
        ("action", "Romeo steps out from the shadows below the balcony."),
        ("dialogue", "ROMEO", stub.data.spoken_words[2]["text"]),
        ("scene", "ACT 2, SCENE 2"),
        ("action", "Juliet leans over the balcony, reaching out towards Romeo."),
        ("dialogue", "JULIET", "(paren) (curious)", stub.data.spoken_words[3]["text"]),
    ]
    # The context's other entries are a note: in the text, not in the printed screenplay.
    assert "[[location: Capulet's mansion balcony]]" in response.text


def tricky_story() -> Story:
    """Parts that, written naively, Fountain would read as other elements."""
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
        contexts={i: Context.model_validate(item) for i, item in data.contexts.items()},
    )
    return lay_out(ScriptContent.model_validate(content), found)


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
        ("dialogue", "李", "A *masked* ball.", "A feast."),
        ("action", "CUT TO:"),
        ("dialogue", "TYBALT (A CAPULET)", "(paren) (angry)", "This, by his voice, should be a Montague."),
        ("section", "..dots"),
        ("action", "> The hall <"),
        ("dialogue", "PETER *THE* SERVANT", "I am the drunkest man in Verona."),
        ("action", "@home they sleep."),
        ("dialogue", "#1 GUARD", "Stop!"),
        ("action", "HANS (on the radio) calls.\nNobody answers."),
        ("dialogue", "MERCUTIO", "A plague o' both your houses!"),
    ]
    assert "\n@李\n" in text and "\n@TYBALT (A CAPULET)\n" in text and "[[x: y]]" in text


def test_fountain_escapes_emphasis_and_keeps_blank_dialogue_lines() -> None:
    assert fountain.escape("*bold* and _under_") == "\\*bold\\* and \\_under\\_"
    assert fountain.dialogue("One.\n\nTwo.") == ["One.", "  ", "Two."]
    dialog = parse("JULIET\nOne.\n  \nTwo.\n").paragraphs[0]
    assert isinstance(dialog, Dialog) and [str(t) for _, t in dialog.blocks] == ["One.", "", "Two."]


def test_the_specs_screenplay_example_renders_its_story_example() -> None:
    spec = yaml.safe_load((REPO_ROOT / "specs" / "story_factory.yaml").read_text())
    story = spec["paths"]["/v2/stories/{scriptId}"]["get"]["responses"]["200"]["content"]["application/json"]
    screenplay = spec["paths"]["/v2/stories/{scriptId}/fountain"]["get"]["responses"]["200"]["content"]["text/plain"]
    expected = screenplay["examples"]["screenplay"]["value"]
    assert fountain.render(Story.model_validate(story["examples"]["story"]["value"])) == expected
