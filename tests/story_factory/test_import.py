"""Importing a Fountain screenplay (POST /v2/stories) against the real services in-process: what it
creates, the Fountain it gives back (parsed by screenplain and compared element by element), bad input,
retries with an Idempotency-Key, and a failure part-way that leaves nothing behind."""

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from screenplain.parsers import fountain as fountain_parser
from screenplain.types import Action, Dialog, DualDialog, PageBreak, Section, Slug, Transition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.settings import Settings
from tests.core_script.conftest import reset_scripts
from tests.in_process import service_app
from tests.story_factory.conftest import Recorder

SCREENPLAYS = Path(__file__).parent / "screenplays"
PLAIN = {"content-type": "text/plain; charset=utf-8"}
SYNTAX = sorted(path.name for path in SCREENPLAYS.glob("syntax-*.fountain"))


def _cue(character: str) -> tuple[str, list[str]]:
    """A cue as (name, extensions), each extension as written: `EDWARD (V.O.)(CONT'D)` has two,
    `EDWARD (O.S., PRELAP)` one."""
    name = character.split("(", 1)[0]
    extensions = [group.strip() for group in re.findall(r"\(([^()]*)\)", character)]
    return " ".join(name.split()).upper(), [e for e in extensions if e]


def _dialogue(dialog: Any) -> tuple[Any, ...]:
    """A dialogue's blocks, a parenthetical written on several lines taken as one."""
    blocks: list[tuple[bool, str]] = []
    for parenthetical, line in dialog.blocks:
        line = " ".join(str(line).split())
        if parenthetical and blocks and blocks[-1][0] and not blocks[-1][1].endswith(")"):
            blocks[-1] = (True, blocks[-1][1] + " " + line)
        else:
            blocks.append((parenthetical, line))
    # A blank spoken line between two others is kept; at either end it prints as nothing.
    while blocks and blocks[-1] == (False, ""):
        blocks.pop()
    return ("dialogue", _cue(str(dialog.character)), blocks)


def elements(screenplay: str) -> tuple[dict[str, list[str]], list[tuple[Any, ...]]]:
    """The title page and each printed element, as screenplain reads them: what two screenplays must
    share to print alike (sections and synopses print nothing; dual dialogue as its two dialogues)."""
    parsed = fountain_parser.parse(io.StringIO(screenplay.removeprefix("\ufeff")))
    out: list[tuple[Any, ...]] = []
    for paragraph in parsed:
        if isinstance(paragraph, Slug):
            number = paragraph.scene_number and str(paragraph.scene_number)
            out.append(("scene", " ".join(str(paragraph.line).split()).upper(), number))
        elif isinstance(paragraph, Action):
            lines = [str(line).rstrip() for line in paragraph.lines]
            while lines and not lines[-1]:
                lines.pop()
            out.append(("centered" if paragraph.centered else "action", lines))
        elif isinstance(paragraph, DualDialog):
            out += [_dialogue(paragraph.left), _dialogue(paragraph.right)]
        elif isinstance(paragraph, Dialog):
            out.append(_dialogue(paragraph))
        elif isinstance(paragraph, Transition):
            out.append(("transition", str(paragraph.line)))
        elif isinstance(paragraph, PageBreak):
            out.append(("pageBreak",))
        elif not isinstance(paragraph, Section):
            out.append((type(paragraph).__name__,))
    title_page = {key: [value.strip() for value in values] for key, values in parsed.title_page.items()}
    return title_page, out


async def _import(stories: httpx.AsyncClient, screenplay: str | bytes, **headers: str) -> httpx.Response:
    return await stories.post("/v2/stories", content=screenplay, headers={**PLAIN, **headers})


async def _round_trip(stories: httpx.AsyncClient, screenplay: str) -> None:
    imported = await _import(stories, screenplay)
    assert imported.status_code == 201, imported.text
    script_id = imported.json()["scriptId"]
    assert imported.headers["location"] == f"/v2/stories/{script_id}"
    exported = await stories.get(f"/v2/stories/{script_id}/fountain")
    assert exported.status_code == 200, exported.text
    title_page, printed = elements(screenplay)
    back_title_page, back_printed = elements(exported.text)
    # Without a title page the export writes one from the script's title (the first scene heading).
    assert back_title_page == (title_page or {"Title": [imported.json()["title"]]})
    for index, (original, back) in enumerate(zip(printed, back_printed, strict=False)):
        assert back == original, f"element {index + 1} differs"
    assert len(back_printed) == len(printed)


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    """Rows that an import creates, in every service that holds them."""
    tables = ["core_script.scripts", "core_script.section_headings", "core_script.story_lines"]
    tables += ["character.characters", "character.actions", "character.spoken_words"]
    async with engine.connect() as conn:
        return {
            table: int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()) for table in tables
        }


@pytest.fixture
async def fresh(engine: AsyncEngine) -> None:
    await reset_scripts(engine)


@pytest.mark.usefixtures("fresh")
async def test_an_imported_screenplay_is_kept_in_the_services_that_own_its_parts(
    stories: httpx.AsyncClient, recorder: Recorder
) -> None:
    screenplay = (SCREENPLAYS / "Brick-and-Steel.fountain").read_text()
    imported = await _import(stories, screenplay)
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert body["title"] == "BRICK & STEEL FULL RETIRED"  # the Title, on one line without its emphasis
    story = (await stories.get(f"/v2/stories/{body['scriptId']}")).json()
    assert [entry["key"] for entry in story["titlePage"]] == [
        "Title",
        "Credit",
        "Author",
        "Source",
        "Draft date",
        "Contact",
    ]
    assert story["sections"][0]["title"] == "EXT. BRICK'S PATIO - DAY" and story["sections"][0]["sceneNumber"] is None
    lines = [line for section in story["sections"] for line in section["lines"]]
    assert body["lineCount"] == len(lines) and body["sectionCount"] == len(story["sections"])
    # The cues BRICK and STEEL are two characters, each named by all of their dialogue.
    names = {line["character"]["name"]: line["character"]["characterId"] for line in lines if line["character"]}
    assert {"BRICK", "STEEL"} <= set(names) and body["characterCount"] == len(names)
    steel = [line for line in lines if line["character"] and line["character"]["name"] == "STEEL"]
    assert {line["character"]["characterId"] for line in steel} == {names["STEEL"]}
    # Three requests to other services, however long the screenplay: its parts, its script, its scenes.
    writes = [f"{r.method} {r.url.path}" for r in recorder.requests if r.method != "GET"]
    assert writes == ["POST /v2/batches", "POST /v2/scripts", f"POST /v2/scripts/{body['scriptId']}/batches"]


@pytest.mark.usefixtures("fresh")
async def test_brick_and_steel_comes_back_element_for_element(stories: httpx.AsyncClient) -> None:
    await _round_trip(stories, (SCREENPLAYS / "Brick-and-Steel.fountain").read_text())


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize("name", SYNTAX)
async def test_every_fountain_element_comes_back(stories: httpx.AsyncClient, name: str) -> None:
    await _round_trip(stories, (SCREENPLAYS / name).read_text(encoding="utf-8"))


@pytest.mark.usefixtures("fresh")
async def test_every_kind_is_kept_with_its_emphasis_and_what_screenplain_drops_too(stories: httpx.AsyncClient) -> None:
    screenplay = (
        "INT. HOUSE - DAY\n\nHe waits, *very* **still**.\n\n[[Cut this?]]\n\n/* an old scene */\n\n"
        "# ACT TWO\n\n= It ends.\n\n~La la la\n~la\n\nBRICK\nNow.\n\nSTEEL ^\nNow!\n"
    )
    imported = await _import(stories, screenplay)
    assert imported.status_code == 201, imported.text
    story = (await stories.get(f"/v2/stories/{imported.json()['scriptId']}")).json()
    lines = story["sections"][0]["lines"]
    assert lines[0]["action"]["description"] == "He waits, *very* **still**."
    assert [(line["kind"], line["text"], line["depth"]) for line in lines[1:6]] == [
        ("note", "Cut this?", None),
        ("note", "an old scene", None),
        ("section", "ACT TWO", 1),
        ("synopsis", "It ends.", None),
        ("lyrics", "La la la\nla", None),
    ]
    brick, steel = lines[6:]
    assert (brick["character"]["name"], brick["dual"]) == ("BRICK", False)
    assert (steel["character"]["name"], steel["dual"], steel["spokenWord"]["text"]) == ("STEEL", True, "Now!")


@pytest.mark.usefixtures("fresh")
async def test_each_extension_of_a_cue_is_kept_as_written(stories: httpx.AsyncClient) -> None:
    screenplay = (
        "INT. HOUSE - DAY\n\nWILL (V.O.) (CONT'D)\nOnce.\n\nEDWARD (V.O.)(CONT'D)\nTwice.\n\n"
        "EDWARD (O.S., PRELAP)\nThrice.\n\nBRICK\nDone.\n"
    )
    imported = await _import(stories, screenplay)
    assert imported.status_code == 201, imported.text
    script_id = imported.json()["scriptId"]
    lines = (await stories.get(f"/v2/stories/{script_id}")).json()["sections"][0]["lines"]
    assert [(line["extensions"], line["extension"]) for line in lines] == [
        (["V.O.", "CONT'D"], "V.O., CONT'D"),
        (["V.O.", "CONT'D"], "V.O., CONT'D"),
        (["O.S., PRELAP"], "O.S., PRELAP"),
        ([], None),
    ]
    exported = await stories.get(f"/v2/stories/{script_id}/fountain")
    assert [str(p.character) for p in fountain_parser.parse(io.StringIO(exported.text)) if isinstance(p, Dialog)] == [
        "WILL (V.O.) (CONT'D)",
        "EDWARD (V.O.) (CONT'D)",
        "EDWARD (O.S., PRELAP)",
        "BRICK",
    ]
    await _round_trip(stories, screenplay)


@pytest.mark.usefixtures("fresh")
async def test_a_cue_with_more_extensions_than_a_line_holds_names_its_line(stories: httpx.AsyncClient) -> None:
    imported = await _import(stories, "INT. HOUSE - DAY\n\nBOB (A) (B) (C) (D) (E) (F)\nHi.\n")
    assert imported.status_code == 422, imported.text
    assert imported.json()["detail"].startswith("Line 3:") and "at most 5 extensions" in imported.json()["detail"]


@pytest.mark.realdata
@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize("name", ["The-Last-Birthday-Card.fountain", "Big-Fish.fountain"])
async def test_real_screenplays_come_back_element_for_element(stories: httpx.AsyncClient, name: str) -> None:
    await _round_trip(stories, (SCREENPLAYS / name).read_text(encoding="utf-8"))


@pytest.mark.usefixtures("fresh")
@pytest.mark.parametrize(
    ("body", "status", "kind", "detail"),
    [
        (b"", 422, "invalid-request", "The screenplay is empty."),
        (b"  \n\n  \n", 422, "invalid-request", "The screenplay is empty."),
        ("INT. HOUSE - DAY\n\nCaf\xe9".encode("latin-1"), 400, "malformed-request", "line 3, column 4 (byte 21)"),
        (
            b'{"title": "not a screenplay"}',
            422,
            "invalid-request",
            "Line 1: This is not a Fountain screenplay but JSON",
        ),
        (
            b'<?xml version="1.0"?>\n<FinalDraft DocumentType="Script"></FinalDraft>\n',
            422,
            "invalid-request",
            "but Final Draft (FDX)",
        ),
        (b"Title: X\n\nINT. HOUSE - DAY #1_A#\n\nHe waits.\n", 422, "invalid-request", "Line 3: Scene number"),
        (b"INT. HOUSE - DAY\n\n/* never closed\n", 422, "invalid-request", "Line 3: A boneyard"),
        (b"Title: X\n : y\n\nINT. HOUSE - DAY\n", 422, "invalid-request", "Line 2: A title page key needs a name"),
        (b"INT. HOUSE - DAY\n\nBOB\n(nods)\n", 422, "invalid-request", "Line 3: The dialogue of BOB holds no spoken"),
    ],
)
async def test_bad_input_is_a_clear_error_and_creates_nothing(
    stories: httpx.AsyncClient, engine: AsyncEngine, body: bytes, status: int, kind: str, detail: str
) -> None:
    before = await _counts(engine)
    refused = await _import(stories, body)
    assert refused.status_code == status, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith(kind) and detail in refused.json()["detail"]
    assert await _counts(engine) == before


async def test_a_screenplay_over_the_limit_is_413_naming_the_limit(settings: Settings, engine: AsyncEngine) -> None:
    small = settings.model_copy(update={"max_body_bytes": 2048})
    app = service_app("story_factory", small, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        refused = await _import(client, "INT. HOUSE - DAY\n\n" + "He waits. " * 300)
    assert refused.status_code == 413
    assert "2048 bytes" in refused.json()["detail"]


async def test_another_media_type_is_415(stories: httpx.AsyncClient) -> None:
    refused = await stories.post("/v2/stories", json={"title": "X"})
    assert refused.status_code == 415 and "text/plain" in refused.json()["detail"]
    latin = await stories.post(
        "/v2/stories", content=b"INT. A - DAY\n", headers={"content-type": "text/plain; charset=latin-1"}
    )
    assert latin.status_code == 415


@pytest.mark.usefixtures("fresh")
async def test_a_retried_import_creates_one_script(stories: httpx.AsyncClient, engine: AsyncEngine) -> None:
    screenplay = (SCREENPLAYS / "syntax-simple.fountain").read_text()
    first = await _import(stories, screenplay, **{"Idempotency-Key": "import-1"})
    after_first = await _counts(engine)
    again = await _import(stories, screenplay, **{"Idempotency-Key": "import-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await _counts(engine) == after_first
    other = await _import(stories, screenplay + "\nMore.\n", **{"Idempotency-Key": "import-1"})
    assert other.status_code == 422 and other.json()["type"].endswith("idempotency-key-reused")


class FailingScenes(Recorder):
    """The real services, except that adding the scenes fails as a Core Script down would."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if (
            request.method == "POST"
            and request.url.path.endswith("/batches")
            and request.url.path.startswith("/v2/scripts/")
        ):
            self.requests.append(request)
            return httpx.Response(
                503,
                json={
                    "type": "https://fountain.coach/problems/unavailable",
                    "title": "Service unavailable",
                    "status": 503,
                },
                headers={"content-type": "application/problem+json"},
            )
        return await super().handle_async_request(request)


@pytest.mark.usefixtures("fresh")
async def test_a_failure_part_way_leaves_nothing_and_says_what_failed(
    settings: Settings, engine: AsyncEngine, gateway_transport: httpx.ASGITransport
) -> None:
    failing = FailingScenes(gateway_transport)
    app = service_app("story_factory", settings, engine, upstream_transport=failing)
    before = await _counts(engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        refused = await _import(client, (SCREENPLAYS / "Brick-and-Steel.fountain").read_text())
    assert refused.status_code == 502, refused.text
    problem = refused.json()
    assert problem["upstream"] == "core_script"
    assert problem["detail"].startswith("Adding the scenes and their lines failed")
    assert problem["detail"].endswith("Nothing of the import was kept.")
    assert await _counts(engine) == before
