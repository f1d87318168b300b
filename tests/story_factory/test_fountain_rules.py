"""The Fountain rules of services/story_factory/fountain.py one by one, as exact text: what is forced,
escaped (a boneyard's opening only), folded or kept (emphasis as written), so that the screenplay reads back as the story it was written from."""

import pytest

from services.story_factory import fountain
from services.story_factory.generated.models import Story, StoryLine


def test_whitespace_folds_to_single_spaces_on_one_line() -> None:
    assert fountain.one_line("  Act\t1,\n  Scene 1 ") == "Act 1, Scene 1"


@pytest.mark.parametrize(
    "text",
    ["Plain words.", "lower case INT. in the middle", "Hans (on the radio) calls.", "OK then (quietly).", "Slowly: CUT TO: nothing.",
     "Then a < b", "Dawn.\nMorning"],
)  # fmt: skip
def test_an_action_that_reads_as_action_is_left_as_written(text: str) -> None:
    assert fountain.action(text) == [*text.split("\n"), ""]


@pytest.mark.parametrize(
    "text",
    ["!Bang", "@home", ".hidden", "#1 hit", "=sign", "> centered", "~la la", "[[note", "/*comment",
     "INT. HALL", "ext. garden", "EST. CITY", "INT./EXT. CAR", "INT/EXT CAR", "I/E VAN", "int hall",
     "===", "=====", "  int. hall", "JOE (quietly) (again) waves.", "THE NURSE BURSTS IN.", "HANS (on the radio) calls.\nNobody answers.", "FADE TO:",
     "Quietly\nDISSOLVE TO:", "> The hall <", "The end <"],
)  # fmt: skip
def test_an_action_that_would_read_as_another_element_is_forced(text: str) -> None:
    lines = [fountain.escape(line) for line in text.split("\n")]
    assert fountain.action(text) == ["!" + lines[0], *lines[1:], ""]


def test_action_paragraphs_are_split_on_blank_lines_and_tidied() -> None:
    text = "\n\nOne\tstep.   \n  Two.\n\n\n\nTHREE.\n   \n"
    assert fountain.action(text) == ["One step.", "  Two.", "", "!THREE.", ""]
    assert fountain.action("Tab\there") == ["Tab here", ""]
    assert fountain.action("*italic* **bold** _under_") == ["*italic* **bold** _under_", ""]
    assert fountain.action("a /* b") == ["a /\\* b", ""]
    assert fountain.action("   \n") == []


@pytest.mark.parametrize(
    ("name", "cue"),
    [("Juliet", "JULIET"), ("Lady  Capulet", "LADY CAPULET"), ("R2D2", "R2D2"), ("李", "@李"), ("42", "@42"),
     ("Tybalt (a Capulet)", "@TYBALT (A CAPULET)"), ("#1 Guard", "@#1 GUARD"), ("!Bang", "@!BANG"),
     ("[chorus]", "@[CHORUS]"), ("int. voice", "@INT. VOICE"), ("Ext guard", "@EXT GUARD"), ("*Star*", "*STAR*"),
     ("~Singer", "@~SINGER"), ("/*x", "@/\\*X")],
)  # fmt: skip
def test_a_cue_is_upper_case_and_forced_when_that_alone_is_no_cue(name: str, cue: str) -> None:
    assert fountain.character_cue(name) == cue


def test_dialogue_keeps_its_lines_and_blank_ones_as_two_spaces() -> None:
    assert fountain.dialogue("  One.\n\n\tTwo.  \n") == ["One.", "  ", "Two."]
    assert fountain.dialogue("\n\n") == ["  "]
    assert fountain.dialogue("a_b_") == ["a_b_"]
    assert fountain.dialogue("Tab\there") == ["Tab here"]


def test_scene_headings_are_forced_and_odd_titles_become_sections() -> None:
    assert fountain.scene_heading("Act 1,  Scene 1") == ".Act 1, Scene 1"
    assert fountain.scene_heading("The *big* room") == ".The *big* room"
    assert fountain.scene_heading("..dots") == "# ..dots"
    assert fountain.scene_heading(".x") == "# .x"
    assert fountain.scene_heading("   ") == "# Untitled"


STORY = {
    "scriptId": 1,
    "title": "A  *Tale*",
    "author": "Will  S.",
    "description": "First line.\n\n  Second *line*.",
    "orchestration": {"csoundFilePath": "", "lilyPondFilePath": "", "midiFilePath": ""},
    "titlePage": [],
    "lineCount": 2,
    "missingParts": [],
    "sections": [
        {
            "headingId": 1,
            "title": "Act 1",
            "sceneNumber": None,
            "sequence": 1,
            "sequenceNumber": 1,
            "lines": [
                {
                    "lineId": 1,
                    "sequence": 1,
                    "kind": "dialogue",
                    "extension": None,
                    "extensions": [],
                    "parentheticals": [],
                    "text": None,
                    "dual": False,
                    "depth": None,
                    "missing": [],
                    "character": {"characterId": 1, "name": "Juliet", "description": ""},
                    "action": {"actionId": 1, "description": "She waits."},
                    "spokenWord": {"spokenWordId": 1, "text": "Romeo?"},
                    "context": {
                        "contextId": 1,
                        "sessionId": 1,
                        "characterId": 1,
                        "data": {"mood": " very  sad ", "where": "the [[balcony]]", "b  key": "x\ny"},
                    },
                },
                {
                    "lineId": 2,
                    "sequence": 2,
                    "kind": "dialogue",
                    "extension": None,
                    "extensions": [],
                    "parentheticals": [],
                    "text": None,
                    "dual": False,
                    "depth": None,
                    "missing": [],
                    "character": {"characterId": 2, "name": "Romeo", "description": ""},
                    "action": {"actionId": 2, "description": "He climbs."},
                    "spokenWord": {"spokenWordId": 2, "text": "Here."},
                    "context": {"contextId": 2, "sessionId": 1, "characterId": 2, "data": {"mood": "  "}},
                },
            ],
        },
        {
            "headingId": 2,
            "title": "Epilogue: MAX",
            "sceneNumber": None,
            "sequence": 2,
            "sequenceNumber": 2,
            "lines": [],
        },
    ],
}


def test_a_story_renders_as_this_exact_screenplay() -> None:
    assert fountain.render(Story.model_validate(STORY)) == (
        "Title: A *Tale*\n"
        "Author: Will S.\n"
        "Notes:\n"
        "   First line.\n"
        "   Second *line*.\n"
        "\n"
        ".Act 1\n"
        "\n"
        "She waits.\n"
        "\n"
        "[[b key: x y; where: the [[balcony] ]]]\n"
        "\n"
        "JULIET\n"
        "(very sad)\n"
        "Romeo?\n"
        "\n"
        "He climbs.\n"
        "\n"
        "ROMEO\n"
        "Here.\n"
        "\n"
        ".Epilogue: MAX\n"
    )


def test_a_title_page_without_author_or_description_is_the_title_alone() -> None:
    story = Story.model_validate({**STORY, "author": "  ", "description": " \n ", "sections": []})
    assert fountain.render(story) == "Title: A *Tale*\n"
    assert fountain.title_page(story) == ["Title: A *Tale*", ""]


def _line(**fields: object) -> StoryLine:
    base: dict[str, object] = {
        "lineId": 7, "sequence": 1, "kind": "dialogue", "extension": None, "extensions": [], "parentheticals": [], "text": None,
        "dual": False, "depth": None, "missing": [], "character": None, "action": None, "spokenWord": None,
        "context": None,
    }  # fmt: skip
    return StoryLine.model_validate(base | fields)


def test_a_missing_part_is_a_note_and_a_marker_where_fountain_needs_one() -> None:
    gone = [{"part": "character", "id": 12}, {"part": "spokenWord", "id": 34}]
    assert fountain.line_block(_line(missing=gone)) == [
        "[[Missing from line 7: character 12, spoken words 34 (deleted since the line was written).]]",
        "",
        "@MISSING CHARACTER 12",
        "(missing spoken words 34)",
        "",
    ]
    action = _line(kind="action", missing=[{"part": "action", "id": 5}])
    assert fountain.line_block(action) == [
        "[[Missing from line 7: action 5 (deleted since the line was written).]]",
        "",
    ]
    # The right-hand side of a dual dialogue keeps its pair: the note follows it.
    dual = _line(dual=True, spokenWord={"spokenWordId": 1, "text": "Yes."}, missing=[{"part": "character", "id": 12}])
    assert fountain.line_block(dual, pairs_with_previous=True) == [
        "@MISSING CHARACTER 12 ^",
        "Yes.",
        "",
        "[[Missing from line 7: character 12 (deleted since the line was written).]]",
        "",
    ]
