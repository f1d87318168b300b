"""Story Factory's logic on its own, without any service: the story order, ranges of a story, the ids
asked for per request, and the story's ETag and If-None-Match."""

import pytest

from services.story_factory.assembly import Parts, _chunks, in_range, lay_out, story_lines
from services.story_factory.generated.clients.character_models import ActionRecord, CharacterRecord, SpokenWordRecord
from services.story_factory.generated.clients.core_script_models import ScriptContent
from services.story_factory.generated.clients.session_context_models import Context
from services.story_factory.generated.models import Story
from services.story_factory.v2 import matches, strong_etag
from tests.story_factory.stub_upstreams import action, character, context, script_content, spoken_word


def content(sections: list[tuple[int, str, int, int]]) -> ScriptContent:
    """A script whose sections are (headingId, title, sequenceNumber, number of lines), listed in that
    order; each line names parts of its own id, and every other line a context."""
    line = 0
    answer = []
    for heading_id, title, number, count in sections:
        lines = []
        for _ in range(count):
            line += 1
            lines.append((line, line, line, line if line % 2 else None))
        answer.append((heading_id, title, number, lines))
    return ScriptContent.model_validate(script_content(4, "Order", answer))


def parts(count: int) -> Parts:
    return Parts(
        characters={i: CharacterRecord.model_validate(character(i, f"C{i}", "")) for i in range(1, count + 1)},
        actions={i: ActionRecord.model_validate(action(i, f"A{i}.")) for i in range(1, count + 1)},
        spoken_words={i: SpokenWordRecord.model_validate(spoken_word(i, f"W{i}.")) for i in range(1, count + 1)},
        contexts={i: Context.model_validate(context(i, i, {"mood": "calm"})) for i in range(1, count + 1)},
    )


def story(sections: list[tuple[int, str, int, int]]) -> Story:
    return lay_out(content(sections), parts(sum(count for *_, count in sections)))


def test_sections_follow_their_sequence_number_and_lines_their_position() -> None:
    script = content([(1, "Late", 30, 2), (2, "Early", 10, 1), (3, "Middle", 20, 2)])
    script.sections[2].lines.reverse()  # listed out of position order
    ordered = story_lines(script)
    assert [section.title for section, _ in ordered] == ["Early", "Middle", "Late"]
    assert [[line.position for line in lines] for _, lines in ordered] == [[1], [1, 2], [1, 2]]
    assert [[line.lineId for line in lines] for _, lines in ordered] == [[3], [4, 5], [1, 2]]


def test_the_layout_numbers_sections_and_lines_in_story_order() -> None:
    laid = story([(1, "Late", 30, 2), (2, "Early", 10, 1), (3, "Middle", 20, 2)])
    assert [(s.title, s.sequence, s.sequenceNumber) for s in laid.sections] == [
        ("Early", 1, 10),
        ("Middle", 2, 20),
        ("Late", 3, 30),
    ]
    assert [[(line.lineId, line.sequence) for line in s.lines] for s in laid.sections] == [
        [(3, 1)],
        [(4, 2), (5, 3)],
        [(1, 4), (2, 5)],
    ]
    assert laid.lineCount == 5
    first = laid.sections[0].lines[0]
    assert (first.character.name, first.action.description, first.spokenWord.text) == ("C3", "A3.", "W3.")
    assert first.context is not None and first.context.data == {"mood": "calm"}
    assert laid.sections[1].lines[0].context is None  # line 4 names no context


def test_a_range_keeps_its_lines_and_only_the_sections_holding_one() -> None:
    laid = story([(1, "One", 1, 2), (2, "Two", 2, 0), (3, "Three", 3, 3)])
    assert in_range(laid, None, None) == laid

    def kept(first: int | None, last: int | None) -> list[tuple[str, list[int]]]:
        ranged = in_range(laid, first, last)
        assert ranged.lineCount == laid.lineCount  # the whole story's length, whatever the range
        return [(s.title, [line.sequence for line in s.lines]) for s in ranged.sections]

    assert kept(2, None) == [("One", [2]), ("Three", [3, 4, 5])]
    assert kept(None, 2) == [("One", [1, 2])]
    assert kept(3, 3) == [("Three", [3])]
    assert kept(2, 4) == [("One", [2]), ("Three", [3, 4])]
    assert kept(1, 5) == [("One", [1, 2]), ("Three", [3, 4, 5])]
    assert kept(6, None) == []


def test_ids_are_asked_for_once_each_in_order_and_in_chunks() -> None:
    assert _chunks([5, 3, 5, 1, 4, 2, 3], 2) == [[1, 2], [3, 4], [5]]
    assert _chunks([7, 7], 500) == [[7]]
    assert _chunks(range(1, 7), 3) == [[1, 2, 3], [4, 5, 6]]
    assert _chunks([], 3) == []


def test_the_story_etag_is_a_strong_tag_of_the_representation() -> None:
    tag = strong_etag("a story")
    assert tag.startswith('"') and tag.endswith('"') and len(tag) == 34
    assert all(c in "0123456789abcdef" for c in tag[1:-1])
    assert strong_etag("a story") == tag
    assert strong_etag("a story.") != tag


@pytest.mark.parametrize(
    ("if_none_match", "matched"),
    [(None, False), ('"t"', True), ('W/"t"', True), ('"a", "t"', True), (' "a" ,W/"t" ', True), ("*", True),
     ('"a", *', True), ('"u"', False), ("t", False), ('"t', False), ("", False), ('"T"', False)],
)  # fmt: skip
def test_if_none_match_compares_weakly(if_none_match: str | None, matched: bool) -> None:
    assert matches(if_none_match, '"t"') is matched
