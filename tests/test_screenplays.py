"""Screenplays: a story line is one screenplay element of a kind (action, dialogue, dual dialogue,
transition, centered text, page break, note, lyrics, section, synopsis), headings carry scene numbers and scripts a title page. Written
through Core Script /v2 against the real services in-process, read back from Story Factory as a story
and as Fountain, the Fountain parsed by an independent parser (screenplain)."""

import asyncio
import io
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from pypdf import PdfReader
from screenplain.parsers import fountain as fountain_parser
from screenplain.types import Action, Dialog, DualDialog, PageBreak, Section, Slug, Transition
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli import registry
from fountain_common.embedded_postgres import embedded_url
from fountain_common.migrations import alembic_config
from tests.core_script.conftest import reset_scripts
from tests.test_migrations import _run as run

ClientFor = Callable[[str], httpx.AsyncClient]

TITLE_PAGE = [
    {"key": "Title", "value": "Brick & Steel"},
    {"key": "Credit", "value": "Written by"},
    {"key": "Author", "value": "Stu Maschwitz"},
    {"key": "Contact", "value": "Next Level Productions\n1588 Mission Dr.\nSolvang, CA 93463"},
]


class World:
    """Core Script and Character Management as a client sees them."""

    def __init__(self, core: httpx.AsyncClient, character: httpx.AsyncClient) -> None:
        self.core = core
        self.character = character

    async def part(self, path: str, body: dict[str, Any], id_field: str) -> int:
        response = await self.character.post(path, json=body)
        assert response.status_code == 201, response.text
        return int(response.json()[id_field])

    async def character_named(self, name: str) -> int:
        return await self.part("/v2/characters", {"name": name, "description": ""}, "characterId")

    async def action(self, text: str) -> int:
        return await self.part("/v2/actions", {"description": text}, "actionId")

    async def words(self, text: str) -> int:
        return await self.part("/v2/spokenWords", {"text": text}, "spokenWordId")

    async def line(self, script_id: int, heading_id: int, body: dict[str, Any], expect: int = 201) -> Any:
        response = await self.core.post(f"/v2/scripts/{script_id}/sections/{heading_id}/lines", json=body)
        assert response.status_code == expect, response.text
        return response.json()


@pytest.fixture
async def world(engine: AsyncEngine, client_for: ClientFor) -> World:
    await reset_scripts(engine)
    return World(client_for("core_script"), client_for("character"))


async def brick_and_steel(world: World) -> int:
    """A scene with every kind of element; answers the script's id."""
    script = await world.core.post("/v2/scripts", json={"title": "Brick & Steel", "titlePage": TITLE_PAGE})
    assert script.status_code == 201, script.text
    script_id = int(script.json()["scriptId"])
    heading = await world.core.post(
        f"/v2/scripts/{script_id}/sections", json={"title": "EXT. BRICK'S PATIO - DAY", "sceneNumber": "1A"}
    )
    assert heading.status_code == 201, heading.text
    heading_id = int(heading.json()["headingId"])
    steel = await world.character_named("Steel")
    brick = await world.character_named("Brick")
    await world.line(
        script_id,
        heading_id,
        {"kind": "action", "actionId": await world.action("A gorgeous day.\nThe sun is shining.")},
    )
    await world.line(
        script_id,
        heading_id,
        {
            "kind": "dialogue",
            "characterId": steel,
            "spokenWordId": await world.words("Beer's ready!\nCold as ice."),
            "extension": "O.S.",
            "parentheticals": [{"beforeLine": 0, "text": "starting the engine"}, {"beforeLine": 1, "text": "beat"}],
        },
    )
    await world.line(
        script_id,
        heading_id,
        {"kind": "dialogue", "characterId": brick, "spokenWordId": await world.words("Are they cold?")},
    )
    await world.line(script_id, heading_id, {"kind": "note", "text": "Check the beer brand."})
    await world.line(script_id, heading_id, {"kind": "transition", "text": "CUT TO:"})
    await world.line(script_id, heading_id, {"kind": "centered", "text": "THE END"})
    await world.line(script_id, heading_id, {"kind": "pageBreak"})
    return script_id


async def test_a_scene_of_action_only_and_dialogue_without_action_can_be_entered(world: World) -> None:
    script_id = await brick_and_steel(world)
    content = (await world.core.get(f"/v2/scripts/{script_id}/content")).json()
    assert content["script"]["titlePage"] == TITLE_PAGE
    (section,) = content["sections"]
    assert (section["title"], section["sceneNumber"]) == ("EXT. BRICK'S PATIO - DAY", "1A")
    lines = section["lines"]
    assert [line["kind"] for line in lines] == [
        "action",
        "dialogue",
        "dialogue",
        "note",
        "transition",
        "centered",
        "pageBreak",
    ]
    action, steel, brick, note, *_ = lines
    assert action["actionId"] is not None and action["characterId"] is None and action["spokenWordId"] is None
    assert steel["actionId"] is None and steel["extension"] == "O.S."
    assert steel["parentheticals"] == [
        {"beforeLine": 0, "text": "starting the engine"},
        {"beforeLine": 1, "text": "beat"},
    ]
    assert brick["actionId"] is None and brick["extension"] is None and brick["parentheticals"] == []
    assert note["text"] == "Check the beer brand." and note["characterId"] is None


async def test_a_line_without_a_kind_is_a_dialogue_as_before(world: World) -> None:
    script_id = int((await world.core.post("/v2/scripts", json={"title": "Old"})).json()["scriptId"])
    heading_id = int(
        (await world.core.post(f"/v2/scripts/{script_id}/sections", json={"title": "One"})).json()["headingId"]
    )
    body = {
        "characterId": await world.character_named("Juliet"),
        "actionId": await world.action("Juliet looks out."),
        "spokenWordId": await world.words("O Romeo."),
    }
    line = await world.line(script_id, heading_id, body)
    assert line["kind"] == "dialogue" and line["actionId"] == body["actionId"] and line["text"] is None


@pytest.mark.parametrize(
    ("body", "locations"),
    [
        ({"kind": "action"}, ["body.actionId"]),
        ({"kind": "dialogue", "characterId": 1}, ["body.spokenWordId"]),
        ({"kind": "transition", "text": "CUT TO:", "characterId": 1}, ["body.characterId"]),
        ({"kind": "transition", "text": "CUT\nTO:"}, ["body.text"]),
        ({"kind": "note", "text": "   "}, ["body.text"]),
        ({"kind": "pageBreak", "text": "==="}, ["body.text"]),
        ({"kind": "centered"}, ["body.text"]),
        ({"kind": "action", "actionId": 1, "extension": "V.O."}, ["body.extension"]),
        (
            {
                "kind": "dialogue",
                "characterId": 1,
                "spokenWordId": 1,
                "parentheticals": [{"beforeLine": 2, "text": "a"}, {"beforeLine": 1, "text": "b"}],
            },
            ["body.parentheticals"],
        ),
    ],
)
async def test_a_kind_refuses_what_it_does_not_take_and_needs_what_it_does(
    world: World, body: dict[str, Any], locations: list[str]
) -> None:
    script_id = int((await world.core.post("/v2/scripts", json={"title": "Rules"})).json()["scriptId"])
    heading_id = int(
        (await world.core.post(f"/v2/scripts/{script_id}/sections", json={"title": "A"})).json()["headingId"]
    )
    problem = await world.line(script_id, heading_id, body, expect=422)
    assert [error["location"] for error in problem["errors"]] == locations
    lines = (await world.core.get(f"/v2/scripts/{script_id}/lines")).json()
    assert lines["total"] == 0


async def test_an_element_names_only_parts_that_exist(world: World) -> None:
    script_id = int((await world.core.post("/v2/scripts", json={"title": "Refs"})).json()["scriptId"])
    heading_id = int(
        (await world.core.post(f"/v2/scripts/{script_id}/sections", json={"title": "A"})).json()["headingId"]
    )
    problem = await world.line(script_id, heading_id, {"kind": "action", "actionId": 987654}, expect=422)
    assert problem["errors"] == [
        {"location": "body.actionId", "message": "actionId 987654 does not exist in Character Management."}
    ]


async def test_editing_keeps_the_kind_and_clears_optional_fields(world: World) -> None:
    script_id = await brick_and_steel(world)
    section = (await world.core.get(f"/v2/scripts/{script_id}/content")).json()["sections"][0]
    steel = section["lines"][1]
    url = f"/v2/scripts/{script_id}/sections/{section['headingId']}/lines/{steel['lineId']}"
    cleared = await world.core.patch(url, json={"extension": None, "parentheticals": []})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["extension"] is None and cleared.json()["parentheticals"] == []
    assert cleared.json()["revision"] == steel["revision"] + 1
    refused = await world.core.patch(url, json={"spokenWordId": None})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["location"] == "body.spokenWordId"
    transition = section["lines"][4]
    wrong = await world.core.patch(
        f"/v2/scripts/{script_id}/sections/{section['headingId']}/lines/{transition['lineId']}",
        json={"extension": "V.O."},
    )
    assert wrong.status_code == 422


async def test_a_scene_number_and_a_title_page_can_be_changed_and_removed(world: World) -> None:
    script_id = await brick_and_steel(world)
    heading = (await world.core.get(f"/v2/scripts/{script_id}/sections")).json()["items"][0]
    url = f"/v2/scripts/{script_id}/sections/{heading['headingId']}"
    renumbered = await world.core.patch(url, json={"sceneNumber": "2"})
    assert renumbered.status_code == 200 and renumbered.json()["sceneNumber"] == "2"
    removed = await world.core.patch(url, json={"sceneNumber": None})
    assert removed.json()["sceneNumber"] is None and removed.json()["title"] == heading["title"]
    bad = await world.core.patch(url, json={"sceneNumber": "1 A"})
    assert bad.status_code == 422
    page = await world.core.patch(f"/v2/scripts/{script_id}", json={"titlePage": [{"key": "Title", "value": "B&S"}]})
    assert page.status_code == 200 and page.json()["titlePage"] == [{"key": "Title", "value": "B&S"}]


def _dialogue(paragraph: Dialog, text: Callable[[Any], str]) -> tuple[Any, ...]:
    return (
        "dialogue",
        text(paragraph.character),
        [(parenthetical, text(line)) for parenthetical, line in paragraph.blocks],
    )


def parsed(screenplay: str, text: Callable[[Any], str] = str) -> list[tuple[Any, ...]]:
    """Each paragraph the independent parser reads, as (kind, what it holds); `text` turns its rich
    text into a string (plain by default; `to_html` shows emphasis)."""
    out: list[tuple[Any, ...]] = []
    for paragraph in fountain_parser.parse(io.StringIO(screenplay)):
        if isinstance(paragraph, Slug):
            out.append(("scene", text(paragraph.line), paragraph.scene_number and str(paragraph.scene_number)))
        elif isinstance(paragraph, Section):
            out.append(("section", text(paragraph.text), paragraph.level, paragraph.synopsis))
        elif isinstance(paragraph, Action):
            kind = "centered" if paragraph.centered else "action"
            out.append((kind, [text(line) for line in paragraph.lines]))
        elif isinstance(paragraph, Dialog):
            out.append(_dialogue(paragraph, text))
        elif isinstance(paragraph, DualDialog):
            out.append(("dual", _dialogue(paragraph.left, text), _dialogue(paragraph.right, text)))
        elif isinstance(paragraph, Transition):
            out.append(("transition", str(paragraph.line)))
        elif isinstance(paragraph, PageBreak):
            out.append(("pageBreak",))
        else:
            out.append((type(paragraph).__name__,))
    return out


async def test_the_fountain_export_holds_every_element_in_order(world: World, client_for: ClientFor) -> None:
    script_id = await brick_and_steel(world)
    response = await client_for("story_factory").get(f"/v2/stories/{script_id}/fountain")
    assert response.status_code == 200, response.text
    screenplay = fountain_parser.parse(io.StringIO(response.text))
    assert screenplay.title_page == {
        "Title": ["Brick & Steel"],
        "Credit": ["Written by"],
        "Author": ["Stu Maschwitz"],
        "Contact": ["Next Level Productions", "1588 Mission Dr.", "Solvang, CA 93463"],
    }
    assert list(screenplay.title_page) == ["Title", "Credit", "Author", "Contact"]
    assert parsed(response.text) == [
        ("scene", "EXT. BRICK'S PATIO - DAY", "1A"),
        ("action", ["A gorgeous day.", "The sun is shining."]),
        (
            "dialogue",
            "STEEL (O.S.)",
            [(True, "(starting the engine)"), (False, "Beer's ready!"), (True, "(beat)"), (False, "Cold as ice.")],
        ),
        ("dialogue", "BRICK", [(False, "Are they cold?")]),
        ("transition", "CUT TO:"),
        ("centered", ["THE END"]),
        ("pageBreak",),
    ]
    # The parser drops notes; the note is there for tools that keep them.
    assert "[[Check the beer brand.]]" in response.text.splitlines()


async def acts_and_songs(world: World) -> tuple[int, int, list[int]]:
    """Sections with a synopsis, emphasis, a dual dialogue and lyrics; answers the script, its
    heading and the lines' ids."""
    script_id = int((await world.core.post("/v2/scripts", json={"title": "Acts"})).json()["scriptId"])
    heading = await world.core.post(f"/v2/scripts/{script_id}/sections", json={"title": "EXT. PATIO - DAY"})
    heading_id = int(heading.json()["headingId"])
    brick, steel = await world.character_named("Brick"), await world.character_named("Steel")
    bodies: list[dict[str, Any]] = [
        {"kind": "section", "text": "ACT ONE", "depth": 1},
        {"kind": "synopsis", "text": "The boys *meet*."},
        {"kind": "section", "text": "The _patio_", "depth": 2},
        {"kind": "action", "actionId": await world.action("Steel **grins**. _Slowly_ *now*.")},
        {"kind": "dialogue", "characterId": brick, "spokenWordId": await world.words("Screw *retirement*.")},
        {
            "kind": "dialogue",
            "characterId": steel,
            "spokenWordId": await world.words("Screw **retirement**."),
            "extension": "CONT'D",
            "dual": True,
        },
        {"kind": "lyrics", "text": "Row, row, row your *boat*\nGently down the stream"},
        {"kind": "centered", "text": "**THE END**"},
    ]
    lines = [int((await world.line(script_id, heading_id, body))["lineId"]) for body in bodies]
    return script_id, heading_id, lines


async def test_sections_synopses_lyrics_dual_dialogue_and_emphasis_are_exported(
    world: World, client_for: ClientFor
) -> None:
    script_id, _, _ = await acts_and_songs(world)
    story = (await client_for("story_factory").get(f"/v2/stories/{script_id}")).json()
    lines = story["sections"][0]["lines"]
    assert [(line["kind"], line["depth"], line["dual"]) for line in lines] == [
        ("section", 1, False),
        ("synopsis", None, False),
        ("section", 2, False),
        ("action", None, False),
        ("dialogue", None, False),
        ("dialogue", None, True),
        ("lyrics", None, False),
        ("centered", None, False),
    ]
    response = await client_for("story_factory").get(f"/v2/stories/{script_id}/fountain")
    assert response.status_code == 200, response.text
    # Emphasis reaches the parser as emphasis: to_html shows it as the parser reads it.
    assert parsed(response.text, lambda rich: str(rich.to_html())) == [
        ("scene", "EXT. PATIO - DAY", None),
        ("section", "ACT ONE", 1, "The boys *meet*."),
        ("section", "The <u>patio</u>", 2, None),
        ("action", ["Steel <strong>grins</strong>. <u>Slowly</u> <em>now</em>."]),
        (
            "dual",
            ("dialogue", "BRICK", [(False, "Screw <em>retirement</em>.")]),
            ("dialogue", "STEEL (CONT'D)", [(False, "Screw <strong>retirement</strong>.")]),
        ),
        # screenplain has no lyrics: it keeps them as action, each line after its `~`.
        ("action", ["~Row, row, row your <em>boat</em>", "~Gently down the stream"]),
        ("centered", ["<strong>THE END</strong>"]),
    ]


async def test_a_dual_dialogue_needs_a_dialogue_just_before_it(world: World) -> None:
    script_id, heading_id, lines = await acts_and_songs(world)
    brick = await world.character_named("Brick")
    words = await world.words("Again.")
    dual = {"kind": "dialogue", "characterId": brick, "spokenWordId": words, "dual": True}
    lines_url = f"/v2/scripts/{script_id}/sections/{heading_id}/lines"
    # After an action, after the right-hand side of a pair, and first in the section: refused.
    for position in (5, 7, 1):
        problem = await world.line(script_id, heading_id, {**dual, "position": position}, expect=422)
        assert problem["errors"][0]["location"] == "body.dual", problem
    with_action = {**dual, "actionId": await world.action("He waves."), "position": 6}
    problem = await world.line(script_id, heading_id, with_action, expect=422)
    assert [error["location"] for error in problem["errors"]] == ["body.actionId"]
    refused = await world.core.patch(f"{lines_url}/{lines[3]}", json={"dual": True})
    assert refused.status_code == 422 and refused.json()["errors"][0]["location"] == "body.dual"
    assert (await world.core.get(lines_url)).json()["total"] == len(lines)
    # Moving the right-hand side away from its partner is refused and leaves the order as it was.
    moved = await world.core.post(f"{lines_url}/{lines[5]}/move", json={"position": 1})
    assert moved.status_code == 422, moved.text
    after = (await world.core.get(lines_url)).json()["items"]
    assert [line["lineId"] for line in after] == lines
    # A lone dialogue becomes dual only where a dialogue precedes it.
    lone = await world.line(script_id, heading_id, {"characterId": brick, "spokenWordId": words})
    made_dual = await world.core.patch(f"{lines_url}/{lone['lineId']}", json={"dual": True})
    assert made_dual.status_code == 422 and made_dual.json()["errors"][0]["location"] == "body.dual"


@pytest.mark.parametrize(
    ("body", "locations"),
    [
        ({"kind": "section", "text": "ACT ONE"}, ["body.depth"]),
        ({"kind": "section", "text": "ACT\nONE", "depth": 1}, ["body.text"]),
        ({"kind": "section", "text": "#1", "depth": 1}, ["body.text"]),
        ({"kind": "synopsis", "text": "one\ntwo"}, ["body.text"]),
        ({"kind": "lyrics", "text": "  "}, ["body.text"]),
        ({"kind": "lyrics", "text": "La", "depth": 1}, ["body.depth"]),
        ({"kind": "action", "actionId": 1, "dual": True}, ["body.dual"]),
    ],
)
async def test_the_new_kinds_refuse_what_they_do_not_take(
    world: World, body: dict[str, Any], locations: list[str]
) -> None:
    script_id = int((await world.core.post("/v2/scripts", json={"title": "Rules"})).json()["scriptId"])
    heading_id = int(
        (await world.core.post(f"/v2/scripts/{script_id}/sections", json={"title": "A"})).json()["headingId"]
    )
    problem = await world.line(script_id, heading_id, body, expect=422)
    assert [error["location"] for error in problem["errors"]] == locations
    assert (await world.core.get(f"/v2/scripts/{script_id}/lines")).json()["total"] == 0


class _Blocks(HTMLParser):
    """The text of each paragraph, heading and transition of screenplain's HTML, with the classes of
    the blocks around it inside the screenplay (`div.dual/div.left/p`)."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.blocks: list[tuple[str, str]] = []
        self.inside: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "span"):
            return
        classes = dict(attrs).get("class") or ""
        self.open.append(f"{tag}.{classes}" if classes else tag)
        if tag in ("p", "h6") or classes == "transition":
            blocks = (name for name in self.open if name != "div.screenplay")
            path = "/".join(name for name in blocks if "." in name or name in ("p", "h6"))
            self.blocks.append((path, ""))
            self.inside = len(self.open)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "span"):
            return
        if self.inside == len(self.open):
            self.inside = None
        self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.inside is not None:
            path, text = self.blocks[-1]
            self.blocks[-1] = (path, text + data)


async def test_the_story_as_final_draft_html_and_pdf(world: World, client_for: ClientFor) -> None:
    script_id = await brick_and_steel(world)
    heading_id = int((await world.core.get(f"/v2/scripts/{script_id}/sections")).json()["items"][0]["headingId"])
    steel = (await world.core.get(f"/v2/scripts/{script_id}/lines")).json()["items"][1]["characterId"]
    dual = {"characterId": steel, "spokenWordId": await world.words("*Yes*."), "dual": True, "position": 4}
    await world.line(script_id, heading_id, dual)
    stories = client_for("story_factory")

    fdx = await stories.get(f"/v2/stories/{script_id}/fdx")
    assert fdx.status_code == 200, fdx.text
    assert fdx.headers["content-type"] == "application/xml; charset=utf-8" and fdx.headers["etag"]
    content = ElementTree.fromstring(fdx.content).find("Content")
    assert content is not None
    paragraphs = [
        (p.get("Type"), "".join(t.text or "" for t in p.findall("Text")))
        for p in content.iter("Paragraph")
        if p.get("Type")
    ]
    assert paragraphs == [
        ("Scene Heading", "EXT. BRICK'S PATIO - DAY"),
        ("Action", "A gorgeous day.\nThe sun is shining."),
        ("Character", "STEEL (O.S.)"),
        ("Parenthetical", "(starting the engine)"),
        ("Dialogue", "Beer's ready!"),
        ("Parenthetical", "(beat)"),
        ("Dialogue", "Cold as ice."),
        ("Character", "BRICK"),
        ("Dialogue", "Are they cold?"),
        ("Character", "STEEL"),
        ("Dialogue", "Yes."),
        ("Transition", "CUT TO:"),
        ("Action", "THE END"),
    ]
    (pair,) = content.iter("DualDialogue")
    assert [p.get("Type") for p in pair.iter("Paragraph")] == ["Character", "Dialogue", "Character", "Dialogue"]
    assert [(t.text, t.get("Style")) for t in pair.iter("Text")][-2:] == [("Yes", "Italic"), (".", None)]

    html = await stories.get(f"/v2/stories/{script_id}/html")
    assert html.status_code == 200 and html.headers["content-type"] == "text/html; charset=utf-8"
    blocks = _Blocks()
    blocks.feed(html.text)
    assert blocks.blocks == [
        ("h6", "1AEXT. BRICK'S PATIO - DAY1A"),
        ("div.action/p", "A gorgeous day.The sun is shining."),
        ("div.dialog/p.character", "STEEL (O.S.)"),
        ("div.dialog/p.parenthetical", "(starting the engine)"),
        ("div.dialog/p", "Beer's ready!"),
        ("div.dialog/p.parenthetical", "(beat)"),
        ("div.dialog/p", "Cold as ice."),
        ("div.dual/div.left/p.character", "BRICK"),
        ("div.dual/div.left/p", "Are they cold?"),
        ("div.dual/div.right/p.character", "STEEL"),
        ("div.dual/div.right/p", "Yes."),
        ("div.transition", "CUT TO:"),
        ("div.action centered/p", "THE END"),
    ]
    assert "<em>Yes</em>." in html.text

    pdf = await stories.get(f"/v2/stories/{script_id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    # The title page, then the screenplay.
    assert len(reader.pages) >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Brick & Steel" in reader.pages[0].extract_text()
    for expected in ("EXT. BRICK'S PATIO - DAY", "STEEL (O.S.)", "Cold as ice.", "CUT TO:", "THE END"):
        assert expected in text
    # Its ETag is strong: a later read of the unchanged story is the same bytes (no new creation time).
    await asyncio.sleep(1.1)
    again = await stories.get(f"/v2/stories/{script_id}/pdf")
    assert (again.content, again.headers["etag"]) == (pdf.content, pdf.headers["etag"])
    assert (await stories.get("/v2/stories/987654/pdf")).status_code == 404


async def test_v1_leaves_out_what_it_cannot_express_and_keeps_the_story_numbering(
    world: World, client_for: ClientFor
) -> None:
    script_id = await brick_and_steel(world)
    heading_id = int((await world.core.get(f"/v2/scripts/{script_id}/sections")).json()["items"][0]["headingId"])
    await world.line(
        script_id,
        heading_id,
        {
            "characterId": await world.character_named("Doc"),
            "actionId": await world.action("Doc enters."),
            "spokenWordId": await world.words("Hello."),
        },
    )
    story_factory = client_for("story_factory")
    v2 = (await story_factory.get(f"/v2/stories/{script_id}")).json()
    assert v2["lineCount"] == 8
    assert [line["kind"] for line in v2["sections"][0]["lines"]][:2] == ["action", "dialogue"]
    v1 = await story_factory.get("/v1/stories", params={"scriptId": script_id})
    assert v1.status_code == 200
    elements = v1.json()["story"]
    # Only the line naming a character, an action and spoken words is a v1 StoryElement; it keeps
    # its place in the whole story.
    assert [(e["sequence"], e["character"]["name"], e["spokenWord"]["text"]) for e in elements] == [
        (8, "Doc", "Hello.")
    ]
    empty = await story_factory.get(
        "/v1/stories/sequences", params={"scriptId": script_id, "startSequence": 1, "endSequence": 7}
    )
    assert empty.status_code == 400


def test_the_migration_keeps_lines_as_dialogue_and_downgrades_only_what_the_old_tables_hold(
    postgres_dir: Path,
) -> None:
    url = embedded_url(postgres_dir, "fountain_screenplay_migration")
    core = alembic_config(registry.load_service("core_script"), url)
    command.upgrade(core, "0003")
    run(
        url,
        "INSERT INTO core_script.scripts (id, title, sequence_number) VALUES (1, 'One', 1)",
        "INSERT INTO core_script.section_headings (id, script_id, title, sequence_number) VALUES (1, 1, 'a', 2)",
        "INSERT INTO core_script.story_lines (id, script_id, heading_id, position, character_id, action_id, "
        "spoken_word_id, context_id) VALUES (1, 1, 1, 1, 10, 20, 30, NULL), (2, 1, 1, 2, 11, 21, 31, 41)",
    )
    command.upgrade(core, "head")
    (lines,) = run(
        url,
        "SELECT id, kind, character_id, action_id, spoken_word_id, context_id, extensions, parentheticals, text "
        "FROM core_script.story_lines ORDER BY id",
    )
    assert lines == [
        (1, "dialogue", 10, 20, 30, None, [], [], None),
        (2, "dialogue", 11, 21, 31, 41, [], [], None),
    ]
    # The database itself refuses a line whose columns do not fit its kind.
    with pytest.raises(IntegrityError, match="story_lines_element_shape"):
        run(
            url,
            "INSERT INTO core_script.story_lines (script_id, heading_id, position, kind, action_id, character_id) "
            "VALUES (1, 1, 3, 'action', 22, 12)",
        )

    # An action element cannot live in the old tables: the downgrade refuses and changes nothing.
    run(
        url,
        "INSERT INTO core_script.story_lines (id, script_id, heading_id, position, kind, action_id) "
        "VALUES (3, 1, 1, 3, 'action', 22)",
    )
    with pytest.raises(DBAPIError, match="cannot downgrade core_script below 0004: 1 story line"):
        command.downgrade(core, "0003")
    assert run(url, "SELECT count(*) FROM core_script.story_lines")[0] == [(3,)]

    run(url, "DELETE FROM core_script.story_lines WHERE id = 3")
    command.downgrade(core, "0003")
    (lines,) = run(
        url,
        "SELECT id, character_id, action_id, spoken_word_id, context_id FROM core_script.story_lines ORDER BY id",
    )
    assert lines == [(1, 10, 20, 30, None), (2, 11, 21, 31, 41)]
    command.upgrade(core, "head")


def test_the_migration_to_0006_keeps_lines_and_refuses_to_downgrade_new_kinds(postgres_dir: Path) -> None:
    url = embedded_url(postgres_dir, "fountain_screenplay_kinds_migration")
    core = alembic_config(registry.load_service("core_script"), url)
    command.upgrade(core, "0005")
    run(
        url,
        "INSERT INTO core_script.scripts (id, title, sequence_number) VALUES (1, 'One', 1)",
        "INSERT INTO core_script.section_headings (id, script_id, title, sequence_number) VALUES (1, 1, 'a', 2)",
        "INSERT INTO core_script.story_lines (id, script_id, heading_id, position, kind, character_id, "
        "spoken_word_id) VALUES (1, 1, 1, 1, 'dialogue', 10, 30)",
    )
    command.upgrade(core, "head")
    assert run(url, "SELECT id, kind, dual, depth FROM core_script.story_lines")[0] == [(1, "dialogue", False, None)]
    with pytest.raises(IntegrityError, match="story_lines_section_depth"):
        run(
            url,
            "INSERT INTO core_script.story_lines (script_id, heading_id, position, kind, text) "
            "VALUES (1, 1, 2, 'section', 'ACT ONE')",
        )
    run(
        url,
        "INSERT INTO core_script.story_lines (id, script_id, heading_id, position, kind, text) "
        "VALUES (2, 1, 1, 2, 'lyrics', 'La la')",
    )
    with pytest.raises(DBAPIError, match="cannot downgrade core_script below 0006: 1 story line"):
        command.downgrade(core, "0005")
    assert run(url, "SELECT count(*) FROM core_script.story_lines")[0] == [(2,)]
    run(url, "DELETE FROM core_script.story_lines WHERE id = 2")
    command.downgrade(core, "0005")
    assert run(url, "SELECT id, kind, character_id FROM core_script.story_lines")[0] == [(1, "dialogue", 10)]
    command.upgrade(core, "head")
