"""/v2 behaviour of Core Script Management: scripts, section headings and story lines; positions that
stay 1..n under inserts, moves, deletes and concurrency; ids checked against the services that own
them; the content snapshot Story Factory reads; ETags and idempotent retries."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.core_script.conftest import count_rows

ROMEO = {
    "title": "Romeo and Juliet",
    "author": "William Shakespeare",
    "description": "A tale of two star-crossed lovers.",
    "orchestration": {
        "csoundFilePath": "/files/sound.csd",
        "lilyPondFilePath": "/files/sheet.ly",
        "midiFilePath": "/files/music.mid",
    },
}


@dataclass
class Cast:
    """Ids of a character with an action, a spoken word and a context, and of a second character."""

    character: int
    action: int
    spoken_word: int
    context: int
    other_character: int

    def line(self, **extra: object) -> dict[str, object]:
        return {"characterId": self.character, "actionId": self.action, "spokenWordId": self.spoken_word, **extra}


@pytest.fixture
async def cast(client_for: Callable[[str], httpx.AsyncClient]) -> Cast:
    characters, sessions = client_for("character"), client_for("session_context")

    async def created(client: httpx.AsyncClient, path: str, body: dict[str, object], field: str) -> int:
        response = await client.post(path, json=body)
        assert response.status_code == 201, response.text
        return int(response.json()[field])

    juliet = await created(characters, "/v2/characters", {"name": "Juliet", "description": ""}, "characterId")
    romeo = await created(characters, "/v2/characters", {"name": "Romeo", "description": ""}, "characterId")
    action = await created(characters, "/v2/actions", {"description": "Appears above."}, "actionId")
    words = await created(characters, "/v2/spokenWords", {"text": "O Romeo, Romeo!"}, "spokenWordId")
    session = await created(sessions, "/v2/sessions", {"userId": 1}, "sessionId")
    context = await created(sessions, f"/v2/sessions/{session}/contexts", {"characterId": juliet}, "contextId")
    return Cast(juliet, action, words, context, romeo)


async def new_script(client: httpx.AsyncClient, body: dict[str, object] | None = None) -> dict[str, object]:
    response = await client.post("/v2/scripts", json=body or {"title": "Hamlet"})
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


async def new_section(client: httpx.AsyncClient, script_id: object, title: str = "Act 1") -> dict[str, object]:
    response = await client.post(f"/v2/scripts/{script_id}/sections", json={"title": title})
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


async def add_line(client: httpx.AsyncClient, section: dict[str, object], body: dict[str, object]) -> httpx.Response:
    return await client.post(f"/v2/scripts/{section['scriptId']}/sections/{section['headingId']}/lines", json=body)


async def positions(client: httpx.AsyncClient, section: dict[str, object]) -> list[tuple[int, int]]:
    """(lineId, position) of the section's lines, in position order."""
    page = await client.get(f"/v2/scripts/{section['scriptId']}/sections/{section['headingId']}/lines?limit=500")
    assert page.status_code == 200
    return [(line["lineId"], line["position"]) for line in page.json()["items"]]


async def test_script_create_read_edit_and_v1_view(client: httpx.AsyncClient) -> None:
    created = await client.post("/v2/scripts", json=ROMEO)
    assert created.status_code == 201
    assert created.headers["location"] == "/v2/scripts/1" and created.headers["etag"] == '"1"'
    assert created.json() == {
        "scriptId": 1,
        **ROMEO,
        "titlePage": [],
        "sequenceNumber": 1,
        "revision": 1,
        # With no identity checked, a script belongs to no account and every caller may do everything.
        "owner": "",
        "access": "owner",
    }
    fetched = await client.get("/v2/scripts/1")
    assert fetched.json() == created.json() and fetched.headers["etag"] == '"1"'
    edited = await client.patch(
        "/v2/scripts/1", json={"title": "Romeo and Juliet - Updated", "orchestration": {"midiFilePath": ""}}
    )
    assert edited.status_code == 200 and edited.headers["etag"] == '"2"'
    assert edited.json()["orchestration"] == {**ROMEO["orchestration"], "midiFilePath": ""}  # type: ignore[dict-item]
    stale = await client.patch("/v2/scripts/1", json={"author": "Anon"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/scripts")).json()[0]["title"] == "Romeo and Juliet - Updated"
    bare = await new_script(client)
    assert bare["orchestration"] == {"csoundFilePath": "", "lilyPondFilePath": "", "midiFilePath": ""}
    for body in ({}, {"title": None}, {"orchestration": {"midiFilePath": None}}, {"sequenceNumber": 3}):
        assert (await client.patch("/v2/scripts/1", json=body)).status_code == 422, body


async def test_search_scripts_by_ids_and_title(client: httpx.AsyncClient) -> None:
    for title in ("Romeo and Juliet", "Hamlet", "Juliet's 100% day"):
        await new_script(client, {"title": title})
    page = (await client.get("/v2/scripts", params={"ids": "3,1,42"})).json()
    assert [s["scriptId"] for s in page["items"]] == [1, 3] and page["total"] == 2
    found = (await client.get("/v2/scripts", params={"titleContains": "JULIET"})).json()
    assert [s["scriptId"] for s in found["items"]] == [1, 3]
    assert (await client.get("/v2/scripts", params={"titleContains": "0%"})).json()["total"] == 1
    second = (await client.get("/v2/scripts", params={"limit": 1, "offset": 1})).json()
    assert second == {"items": [second["items"][0]], "total": 3, "limit": 1, "offset": 1}
    assert second["items"][0]["scriptId"] == 2
    assert (await client.get("/v2/scripts", params={"ids": "1,,2"})).status_code == 422


async def test_idempotent_posts_replay_the_first_answer(client: httpx.AsyncClient, cast: Cast) -> None:
    headers = {"Idempotency-Key": "script-1"}
    first = await client.post("/v2/scripts", json={"title": "Hamlet"}, headers=headers)
    again = await client.post("/v2/scripts", json={"title": "Hamlet"}, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and again.headers["location"] == "/v2/scripts/1"
    assert (await client.post("/v2/scripts", json={"title": "Other"}, headers=headers)).status_code == 422
    section = await new_section(client, 1)
    line_headers = {"Idempotency-Key": "line-1"}
    line = await add_line(client, section, cast.line())
    url = f"/v2/scripts/1/sections/{section['headingId']}/lines"
    replayed = [await client.post(url, json=cast.line(position=1), headers=line_headers) for _ in range(2)]
    assert replayed[0].json() == replayed[1].json() and replayed[1].headers["idempotent-replayed"] == "true"
    assert await positions(client, section) == [(replayed[0].json()["lineId"], 1), (line.json()["lineId"], 2)]


async def test_sections_are_numbered_by_central_sequence_and_listed_in_order(
    client: httpx.AsyncClient, sequence: httpx.AsyncClient
) -> None:
    await new_script(client)
    made = [await new_section(client, 1, f"Act {n}") for n in (1, 2, 3)]
    assert [s["sequenceNumber"] for s in made] == [2, 3, 4]
    created = await client.post("/v2/scripts/1/sections", json={"title": "Act 4"})
    assert created.headers["location"] == "/v2/scripts/1/sections/4"
    page = (await client.get("/v2/scripts/1/sections", params={"limit": 2, "offset": 1})).json()
    assert [s["headingId"] for s in page["items"]] == [2, 3] and page["total"] == 4
    assert (await client.get("/v2/scripts/1/sections/2")).json() == made[1]
    renamed = await client.patch("/v2/scripts/1/sections/2", json={"title": "Act II"}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200 and renamed.json()["revision"] == 2
    await new_script(client)
    assert (await client.get("/v2/scripts/2/sections/1")).status_code == 404
    assert (await client.get("/v2/scripts/9/sections")).status_code == 404
    element = (await sequence.get("/v2/scopes/script-1/elements/section/4")).json()
    assert element["sequenceNumber"] == 5
    # Script 2 numbers in its own scope: its first section is 2 again, and script 1's numbers stay.
    assert (await new_section(client, 2, "Prologue"))["sequenceNumber"] == 2
    assert [s["sequenceNumber"] for s in (await client.get("/v2/scripts/1/sections")).json()["items"]] == [2, 3, 4, 5]


async def test_move_section_permutes_numbers_in_both_services(
    client: httpx.AsyncClient, sequence: httpx.AsyncClient
) -> None:
    await new_script(client)
    for n in (1, 2, 3, 4):
        await new_section(client, 1, f"Act {n}")  # headings 1..4 hold 2..5
    moved = await client.post("/v2/scripts/1/sections/4/move", json={"position": 2}, headers={"If-Match": '"1"'})
    assert moved.status_code == 200, moved.text
    assert moved.json()["sequenceNumber"] == 3 and moved.headers["etag"] == '"2"'
    listed = (await client.get("/v2/scripts/1/sections")).json()["items"]
    assert [(s["headingId"], s["sequenceNumber"]) for s in listed] == [(1, 2), (4, 3), (2, 4), (3, 5)]
    for section in listed:
        held = await sequence.get(f"/v2/scopes/script-1/elements/section/{section['headingId']}")
        assert held.json()["sequenceNumber"] == section["sequenceNumber"]
    assert (await client.get("/v2/scripts/1/sections/1")).json()["revision"] == 1  # not renumbered
    assert (await client.post("/v2/scripts/1/sections/1/move", json={"position": 5})).status_code == 422
    stale = await client.post("/v2/scripts/1/sections/4/move", json={"position": 1}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412


async def test_lines_insert_at_position_and_close_gaps(client: httpx.AsyncClient, cast: Cast) -> None:
    await new_script(client)
    section = await new_section(client, 1)
    first = (await add_line(client, section, cast.line(contextId=cast.context))).json()
    assert first["position"] == 1 and first["contextId"] == cast.context
    second = (await add_line(client, section, cast.line())).json()
    assert second["contextId"] is None and second["position"] == 2
    inserted = await add_line(client, section, cast.line(position=1))
    assert inserted.status_code == 201
    assert inserted.headers["location"] == f"/v2/scripts/1/sections/1/lines/{inserted.json()['lineId']}"
    assert await positions(client, section) == [(3, 1), (1, 2), (2, 3)]
    assert (await client.get("/v2/scripts/1/sections/1/lines/1")).json()["revision"] == 2  # shifted
    assert (await add_line(client, section, cast.line(position=5))).status_code == 422
    deleted = await client.delete("/v2/scripts/1/sections/1/lines/1", headers={"If-Match": '"2"'})
    assert deleted.status_code == 204
    assert await positions(client, section) == [(3, 1), (2, 2)]
    assert (await client.get("/v2/scripts/1/sections/1/lines/1")).status_code == 404


async def test_move_lines_within_and_between_sections(client: httpx.AsyncClient, cast: Cast) -> None:
    await new_script(client)
    act1, act2 = await new_section(client, 1, "Act 1"), await new_section(client, 1, "Act 2")
    for _ in range(4):
        await add_line(client, act1, cast.line())
    await add_line(client, act2, cast.line())  # line 5
    down = await client.post("/v2/scripts/1/sections/1/lines/1/move", json={"position": 3})
    assert down.status_code == 200 and down.json()["position"] == 3
    assert await positions(client, act1) == [(2, 1), (3, 2), (1, 3), (4, 4)]
    up = await client.post("/v2/scripts/1/sections/1/lines/4/move", json={"position": 1})
    assert up.json()["position"] == 1
    assert await positions(client, act1) == [(4, 1), (2, 2), (3, 3), (1, 4)]
    across = await client.post("/v2/scripts/1/sections/1/lines/2/move", json={"position": 2, "headingId": 2})
    assert across.status_code == 200 and across.json()["headingId"] == 2
    assert await positions(client, act1) == [(4, 1), (3, 2), (1, 3)]
    assert await positions(client, act2) == [(5, 1), (2, 2)]
    assert (await client.get("/v2/scripts/1/sections/1/lines/2")).status_code == 404  # it lives in act 2 now
    assert (await client.post("/v2/scripts/1/sections/2/lines/2/move", json={"position": 3})).status_code == 422
    to_end = await client.post("/v2/scripts/1/sections/2/lines/5/move", json={"position": 4, "headingId": 1})
    assert to_end.status_code == 200 and await positions(client, act1) == [(4, 1), (3, 2), (1, 3), (5, 4)]
    await new_script(client)
    await new_section(client, 2)
    foreign = await client.post("/v2/scripts/1/sections/1/lines/1/move", json={"position": 1, "headingId": 3})
    assert foreign.status_code == 404


async def test_concurrent_inserts_and_moves_keep_positions_gapless(
    client: httpx.AsyncClient, cast: Cast, engine: AsyncEngine
) -> None:
    await new_script(client)
    act1, act2 = await new_section(client, 1, "Act 1"), await new_section(client, 1, "Act 2")
    await asyncio.gather(*(add_line(client, act1, cast.line(position=1)) for _ in range(8)))
    answers = await asyncio.gather(
        *(add_line(client, act1, cast.line(position=n % 3 + 1)) for n in range(6)),
        *(
            client.post(f"/v2/scripts/1/sections/1/lines/{n}/move", json={"position": 1, "headingId": 2})
            for n in (1, 2, 3)
        ),
    )
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers if a.status_code >= 300]
    one, two = await positions(client, act1), await positions(client, act2)
    assert [p for _, p in one] == list(range(1, 12)) and [p for _, p in two] == [1, 2, 3]
    assert await count_rows(engine, "story_lines") == 14


async def test_line_ids_are_checked_against_their_services(client: httpx.AsyncClient, cast: Cast) -> None:
    await new_script(client)
    section = await new_section(client, 1)
    missing = await add_line(client, section, cast.line(characterId=999999, spokenWordId=888888))
    assert missing.status_code == 422
    problem = missing.json()
    assert "characterId 999999 does not exist in Character Management." in problem["detail"]
    assert {e["location"] for e in problem["errors"]} == {"body.characterId", "body.spokenWordId"}
    no_context = await add_line(client, section, cast.line(contextId=777777))
    assert "contextId 777777 does not exist in Session and Context Management." in no_context.json()["detail"]
    wrong_owner = await add_line(client, section, cast.line(characterId=cast.other_character, contextId=cast.context))
    assert wrong_owner.status_code == 422 and wrong_owner.json()["errors"][0]["location"] == "body.contextId"
    line = (await add_line(client, section, cast.line(contextId=cast.context))).json()
    url = f"/v2/scripts/1/sections/1/lines/{line['lineId']}"
    # The context belongs to the first character: changing only the character is refused...
    assert (await client.patch(url, json={"characterId": cast.other_character})).status_code == 422
    # ...unless the context goes too.
    changed = await client.patch(url, json={"characterId": cast.other_character, "contextId": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["contextId"] is None and changed.headers["etag"] == '"2"'
    assert (await client.patch(url, json={"actionId": 555555})).status_code == 422
    # A dialogue needs its character and spoken words (its action may go: see tests/test_screenplays.py).
    assert (await client.patch(url, json={"characterId": None})).status_code == 422
    assert (await client.patch(url, json={})).status_code == 422
    assert (await client.get(url)).json()["revision"] == 2


async def test_content_is_the_whole_script_in_story_order(client: httpx.AsyncClient, cast: Cast) -> None:
    script = await new_script(client, ROMEO)
    act1, act2 = await new_section(client, 1, "Act 1"), await new_section(client, 1, "Act 2")
    await add_line(client, act2, cast.line())  # line 1
    await add_line(client, act1, cast.line(contextId=cast.context))  # line 2
    await add_line(client, act1, cast.line(position=1))  # line 3
    await client.post("/v2/scripts/1/sections/2/move", json={"position": 1})
    content = await client.get("/v2/scripts/1/content")
    assert content.status_code == 200
    body = content.json()
    assert body["script"] == script
    assert [(s["headingId"], s["sequenceNumber"]) for s in body["sections"]] == [(2, 2), (1, 3)]
    assert [[(li["lineId"], li["position"]) for li in s["lines"]] for s in body["sections"]] == [
        [(1, 1)],
        [(3, 1), (2, 2)],
    ]
    assert set(body["sections"][0]) == {
        "headingId",
        "scriptId",
        "title",
        "sceneNumber",
        "sequenceNumber",
        "revision",
        "lines",
    }
    assert body["sections"][1]["lines"][1] == {
        "lineId": 2, "scriptId": 1, "headingId": 1, "position": 2, "characterId": cast.character,
        "actionId": cast.action, "spokenWordId": cast.spoken_word, "contextId": cast.context, "revision": 2,
        "kind": "dialogue", "extension": None, "extensions": [], "parentheticals": [], "text": None, "dual": False, "depth": None,
    }  # fmt: skip
    story = (await client.get("/v2/scripts/1/lines")).json()
    assert [li["lineId"] for li in story["items"]] == [1, 3, 2] and story["total"] == 3
    assert (await client.get("/v2/scripts/7/content")).status_code == 404
    assert (await client.get("/v2/scripts/7/lines")).status_code == 404


async def test_deletes_cascade_and_check_etags(
    client: httpx.AsyncClient, cast: Cast, engine: AsyncEngine, sequence: httpx.AsyncClient
) -> None:
    await new_script(client)
    act1, act2 = await new_section(client, 1, "Act 1"), await new_section(client, 1, "Act 2")
    for section in (act1, act1, act2):
        await add_line(client, section, cast.line())
    assert (await client.delete("/v2/scripts/1/sections/1", headers={"If-Match": '"9"'})).status_code == 412
    assert (await client.delete("/v2/scripts/1/sections/1")).status_code == 204
    assert await count_rows(engine, "story_lines") == 1
    # The later section moves up, here and in the script's scope.
    assert (await client.get("/v2/scripts/1/sections/2")).json()["sequenceNumber"] == 2
    scope = (await sequence.get("/v2/scopes/script-1/elements")).json()["items"]
    assert [(e["elementType"], e["elementId"], e["sequenceNumber"]) for e in scope] == [
        ("script", 1, 1),
        ("section", 2, 2),
    ]
    assert (await client.delete("/v2/scripts/1", headers={"If-Match": '"1"'})).status_code == 204
    assert (await client.delete("/v2/scripts/1")).status_code == 404
    assert (await sequence.get("/v2/scopes/script-1/elements")).json()["total"] == 0  # the scope went too
    assert [await count_rows(engine, t) for t in ("scripts", "section_headings", "story_lines")] == [0, 0, 0]
    assert (await client.get("/v1/scripts")).json() == []


async def test_a_script_holds_at_most_ten_thousand_lines(
    client: httpx.AsyncClient, cast: Cast, engine: AsyncEngine
) -> None:
    await new_script(client)
    section = await new_section(client, 1)
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "INSERT INTO core_script.story_lines (script_id, heading_id, position, character_id, action_id, spoken_word_id) "
            "SELECT 1, 1, n, 1, 1, 1 FROM generate_series(1, 10000) AS n"
        )
    refused = await add_line(client, section, cast.line())
    assert refused.status_code == 422 and "10000 lines" in refused.json()["detail"]
    content = (await client.get("/v2/scripts/1/content")).json()
    assert len(content["sections"][0]["lines"]) == 10000


async def test_a_script_without_a_scope_gets_it_built_from_its_headings(
    client: httpx.AsyncClient, sequence: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Scripts made before numbering scopes (or whose scope a failure left different) have their scope
    rebuilt from their headings on the next change to them."""
    await new_script(client)
    for n in (1, 2, 3):
        await new_section(client, 1, f"Act {n}")
    # As the migration leaves an old script: no scope there, a gap in the numbers here.
    assert (await sequence.delete("/v2/scopes/script-1")).status_code == 204
    await sequence.post("/v2/scopes/script-1/elements", json={"elementType": "section", "elementId": 99})
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE core_script.scripts SET sections_scoped = false"))
        await conn.execute(text("UPDATE core_script.section_headings SET sequence_number = sequence_number * 2"))
    added = await new_section(client, 1, "Act 4")
    assert added["sequenceNumber"] == 5
    listed = (await client.get("/v2/scripts/1/sections")).json()["items"]
    assert [(s["headingId"], s["sequenceNumber"]) for s in listed] == [(1, 2), (2, 3), (3, 4), (4, 5)]
    scope = (await sequence.get("/v2/scopes/script-1/elements")).json()["items"]
    assert [(e["elementType"], e["elementId"], e["sequenceNumber"]) for e in scope] == [
        ("script", 1, 1),
        ("section", 1, 2),
        ("section", 2, 3),
        ("section", 3, 4),
        ("section", 4, 5),
    ]


async def test_content_answers_each_line_as_the_line_itself_answers_it(client: httpx.AsyncClient, cast: Cast) -> None:
    """The content is serialized from the rows without a model per line: it must say what the models
    say, field for field and in the spec's order, for every kind of element."""
    await new_script(client, {**ROMEO, "titlePage": [{"key": "Title", "value": "Romeo\nand Juliet"}]})
    section = await new_section(client, 1, "INT. CAPULET'S ORCHARD – NIGHT")
    bodies: list[dict[str, object]] = [
        {"kind": "action", "actionId": cast.action},
        cast.line(
            kind="dialogue",
            extension="V.O.",
            contextId=cast.context,
            parentheticals=[{"beforeLine": 0, "text": "softly"}, {"beforeLine": 1, "text": 'aside "ay"'}],
        ),
        {"kind": "dialogue", "characterId": cast.other_character, "spokenWordId": cast.spoken_word, "dual": True},
        {"kind": "transition", "text": "CUT TO:"},
        {"kind": "centered", "text": "THE END\tü ✓"},
        {"kind": "pageBreak"},
        {"kind": "note", "text": "a note\nover two lines"},
        {"kind": "lyrics", "text": "la la\nla"},
        {"kind": "section", "text": "Act II", "depth": 2},
        {"kind": "synopsis", "text": "They meet."},
    ]
    for body in bodies:
        added = await add_line(client, section, body)
        assert added.status_code == 201, (body, added.text)
    content = await client.get("/v2/scripts/1/content")
    assert content.status_code == 200 and content.headers["content-type"] == "application/json"
    lines = content.json()["sections"][0]["lines"]
    assert [line["kind"] for line in lines] == [body["kind"] for body in bodies]
    for line in lines:
        alone = await client.get(f"/v2/scripts/1/sections/{section['headingId']}/lines/{line['lineId']}")
        assert list(line.items()) == list(alone.json().items())
    script = (await client.get("/v2/scripts/1")).json()
    assert content.json()["script"] == script
    # A section without lines, and a script without sections.
    empty = await new_section(client, 1, "Act 2")
    sections = (await client.get("/v2/scripts/1/content")).json()["sections"]
    assert [s["headingId"] for s in sections] == [section["headingId"], empty["headingId"]]
    assert list(sections[1].items()) == [
        *((await client.get("/v2/scripts/1/sections/2")).json().items()),
        ("lines", []),
    ]
    await new_script(client)
    assert (await client.get("/v2/scripts/2/content")).json() == {
        "script": (await client.get("/v2/scripts/2")).json(),
        "sections": [],
    }
