"""The story as Final Draft (GET /v2/stories/{id}/fdx), parsed as XML: besides the body screenplain
writes, the title page, sections with their depth, synopses, scene numbers and page breaks, each in
the Final Draft element that holds it. Imported through POST /v2/stories against the real services."""

import xml.etree.ElementTree as ElementTree

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.core_script.conftest import reset_scripts
from tests.story_factory.test_import import SCREENPLAYS, _import

SCREENPLAY = """Title: **BRICK** & STEEL
Credit: Written by
Author: Stu Maschwitz
Contact:
    Next Level Productions
    Solvang, CA 93463
Draft date: 1/1/2027

# ACT ONE

= The boys *meet*.

## The patio

EXT. BRICK'S PATIO - DAY #1A#

= Sunny, and the beer is cold.

A gorgeous day.

BRICK (V.O.) (CONT'D)
(beat)
Are they cold?

STEEL ^
Yes.

===

INT. GARAGE - NIGHT #2#

Dark.

> CUT TO:
"""


def _text(element: ElementTree.Element) -> str:
    return "".join(text.text or "" for text in element.findall("Text"))


async def _fdx(stories: httpx.AsyncClient, screenplay: str) -> ElementTree.Element:
    imported = await _import(stories, screenplay)
    assert imported.status_code == 201, imported.text
    response = await stories.get(f"/v2/stories/{imported.json()['scriptId']}/fdx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    return ElementTree.fromstring(response.content)


@pytest.fixture
async def fresh(engine: AsyncEngine) -> None:
    await reset_scripts(engine)


@pytest.mark.usefixtures("fresh")
async def test_sections_synopses_scene_numbers_and_page_breaks_reach_final_draft(stories: httpx.AsyncClient) -> None:
    root = await _fdx(stories, SCREENPLAY)
    content = root.find("Content")
    assert content is not None
    body = [
        (p.get("Type"), _text(p), p.get("Number"), p.get("StartsNewPage"))
        for p in content
        if p.get("Type")  # a dual dialogue is a paragraph without a type around its two sides
    ]
    assert body == [
        ("Outline 1", "ACT ONE", None, None),
        ("Outline 2", "The patio", None, None),
        ("Scene Heading", "EXT. BRICK'S PATIO - DAY", "1A", None),
        ("Action", "A gorgeous day.", None, None),
        ("Scene Heading", "INT. GARAGE - NIGHT", "2", "Yes"),
        ("Action", "Dark.", None, None),
        ("Transition", "CUT TO:", None, None),
    ]
    # A synopsis is the summary of the section or scene heading it follows, emphasis as styles.
    summaries = {
        _text(p): [(t.text, t.get("Style")) for t in p.findall("SceneProperties/Summary/Paragraph/Text")]
        for p in content
        if p.find("SceneProperties") is not None
    }
    assert summaries == {
        "ACT ONE": [("The boys ", None), ("meet", "Italic"), (".", None)],
        "EXT. BRICK'S PATIO - DAY": [("Sunny, and the beer is cold.", None)],
    }
    (pair,) = content.iter("DualDialogue")
    assert [(p.get("Type"), _text(p)) for p in pair] == [
        ("Character", "BRICK (V.O.) (CONT'D)"),
        ("Parenthetical", "(beat)"),
        ("Dialogue", "Are they cold?"),
        ("Character", "STEEL"),
        ("Dialogue", "Yes."),
    ]


@pytest.mark.usefixtures("fresh")
async def test_the_title_page_reaches_final_draft_in_the_order_written(stories: httpx.AsyncClient) -> None:
    root = await _fdx(stories, SCREENPLAY)
    paragraphs = root.findall("TitlePage/Content/Paragraph")
    assert [(_text(p), p.get("Alignment")) for p in paragraphs if _text(p)] == [
        ("BRICK & STEEL", "Center"),
        ("Written by", "Center"),
        ("Stu Maschwitz", "Center"),
        ("Next Level Productions", None),
        ("Solvang, CA 93463", None),
        ("1/1/2027", None),
    ]
    assert [(t.text, t.get("Style")) for t in paragraphs[0].findall("Text")] == [("BRICK", "Bold"), (" & STEEL", None)]


@pytest.mark.usefixtures("fresh")
async def test_a_screenplay_without_a_title_page_or_sections_keeps_the_body_screenplain_writes(
    stories: httpx.AsyncClient,
) -> None:
    root = await _fdx(stories, (SCREENPLAYS / "syntax-simple.fountain").read_text())
    content = root.find("Content")
    assert content is not None and len(content) > 0
    assert all(p.get("Type") is None or not p.get("Type", "").startswith("Outline") for p in content)
    # The export writes a title page from the script's title when the screenplay has none.
    assert root.find("TitlePage") is not None
