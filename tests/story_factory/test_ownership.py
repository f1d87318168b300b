"""Story Factory tells a story only to an account that may read its script: the owner, an account the
script is shared with, an admin. It reads the story's parts for the script's owner, with reading
rights only, so an account the script is shared with sees the characters, words and contexts the
script names. Real services in-process, checking identities."""

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.identity import ACTING_FOR_HEADER
from tests.core_script.conftest import count_rows, reset_scripts
from tests.identities import ClientFor, Recorder, caller
from tests.story_factory.authoring import Author, Speech, Written

ALICE = caller("alice", "writer")
BOB = caller("bob", "writer")
ROOT = caller("root", "admin")
RITA = caller("rita", "reader")
PARTS_HOSTS = {"character.fountain.coach", "sessioncontext.fountain.coach"}


def as_account(secured_client: ClientFor, headers: dict[str, str]) -> Callable[[str], httpx.AsyncClient]:
    """Clients of the secured services that call as the account of `headers`."""

    def make(name: str) -> httpx.AsyncClient:
        client = secured_client(name)
        client.headers.update(headers)
        return client

    return make


def story_routes(script_id: int) -> list[str]:
    story = f"/v2/stories/{script_id}"
    return [
        story,
        f"{story}/fountain",
        f"{story}/fdx",
        f"{story}/html",
        f"{story}/pdf",
        f"{story}/statistics",
        f"{story}/scenes",
        f"/v1/stories?scriptId={script_id}",
        f"/v1/stories/sequences?scriptId={script_id}&startSequence=1&endSequence=2",
    ]


@pytest.fixture
async def alices_story(secured_client: ClientFor, engine: AsyncEngine) -> Written:
    """Alice's script of two lines: Juliet's (with a context) and Romeo's."""
    await reset_scripts(engine)
    author = Author(as_account(secured_client, ALICE))
    written = await author.script("Alice's balcony")
    await author.section(
        written,
        "Balcony",
        [
            Speech("Juliet", "leans out", "Wherefore art thou Romeo?", {"mood": "longing"}),
            Speech("Romeo", "steps closer", "By a name I know not how to tell thee who I am."),
        ],
    )
    return written


async def test_a_story_is_told_to_whom_its_script_is_shared_with(
    secured_client: ClientFor, alices_story: Written, between_services: Recorder
) -> None:
    script_id = alices_story.script_id
    stories = secured_client("story_factory")
    scripts = secured_client("core_script")
    for path in story_routes(script_id):
        assert (await stories.get(path, headers=ALICE)).status_code == 200, path
        for headers in (BOB, RITA):
            refused = await stories.get(path, headers=headers)
            assert refused.status_code == 404, (path, refused.text)
            assert f"Script {script_id} not found." in refused.text

    shared = await scripts.put(f"/v2/scripts/{script_id}/shares/bob", json={"role": "reader"}, headers=ALICE)
    assert shared.status_code == 201
    alices = (await stories.get(f"/v2/stories/{script_id}", headers=ALICE)).json()
    between_services.requests.clear()
    story = await stories.get(f"/v2/stories/{script_id}", headers=BOB)
    assert story.status_code == 200, story.text
    assert story.json() == alices
    lines = [line for section in story.json()["sections"] for line in section["lines"]]
    assert [line["character"]["name"] for line in lines] == ["Juliet", "Romeo"]
    assert lines[0]["context"]["data"] == {"mood": "longing"}
    assert lines[1]["spokenWord"]["text"] == "By a name I know not how to tell thee who I am."
    assert story.json()["missingParts"] == []
    # The parts were read for alice, as a reader, however bob may write elsewhere.
    parts = [r for r in between_services.requests if r.headers["host"] in PARTS_HOSTS]
    assert parts
    for request in parts:
        assert request.headers["x-consumer-username"] == "bob"
        assert request.headers[ACTING_FOR_HEADER] == "alice"
        assert request.headers["x-consumer-groups"] == "reader"
    screenplay = await stories.get(f"/v2/stories/{script_id}/fountain", headers=BOB)
    assert screenplay.status_code == 200
    assert "JULIET" in screenplay.text and "Wherefore art thou Romeo?" in screenplay.text
    for path in story_routes(script_id):
        assert (await stories.get(path, headers=BOB)).status_code == 200, path


async def test_a_shared_story_opens_no_part_by_itself(secured_client: ClientFor, alices_story: Written) -> None:
    script_id, characters = alices_story.script_id, alices_story.characters
    shared = await secured_client("core_script").put(
        f"/v2/scripts/{script_id}/shares/bob", json={"role": "reader"}, headers=ALICE
    )
    assert shared.status_code == 201
    character = await secured_client("character").get(f"/v2/characters/{characters['Juliet']}", headers=BOB)
    assert character.status_code == 404, character.text
    assert "Juliet" not in character.text
    context = await secured_client("session_context").get(f"/v2/contexts/{alices_story.contexts[0]}", headers=BOB)
    assert context.status_code == 404, context.text


async def test_unshared_again_and_an_admin_reads_every_story(
    secured_client: ClientFor, alices_story: Written, engine: AsyncEngine
) -> None:
    script_id = alices_story.script_id
    stories = secured_client("story_factory")
    scripts = secured_client("core_script")
    share = f"/v2/scripts/{script_id}/shares/bob"
    assert (await scripts.put(share, json={"role": "writer"}, headers=ALICE)).status_code == 201
    assert (await stories.get(f"/v2/stories/{script_id}", headers=BOB)).status_code == 200
    assert (await scripts.delete(share, headers=ALICE)).status_code == 204
    for path in story_routes(script_id):
        assert (await stories.get(path, headers=BOB)).status_code == 404, path
    by_admin = await stories.get(f"/v2/stories/{script_id}", headers=ROOT)
    assert by_admin.status_code == 200
    assert [s["title"] for s in by_admin.json()["sections"]] == ["Balcony"]


async def test_an_import_belongs_to_the_importer(secured_client: ClientFor, engine: AsyncEngine) -> None:
    await reset_scripts(engine)
    stories = secured_client("story_factory")
    screenplay = "Title: Bob's own\n\nINT. ROOM - DAY\n\nBOB\nMine.\n"
    plain = {"Content-Type": "text/plain; charset=utf-8"}
    imported = await stories.post("/v2/stories", content=screenplay, headers={**plain, **BOB})
    assert imported.status_code == 201, imported.text
    script_id = imported.json()["scriptId"]
    script = (await secured_client("core_script").get(f"/v2/scripts/{script_id}", headers=BOB)).json()
    assert (script["owner"], script["access"]) == ("bob", "owner")
    assert (await stories.get(f"/v2/stories/{script_id}", headers=ALICE)).status_code == 404
    told = await stories.get(f"/v2/stories/{script_id}/fountain", headers=BOB)
    assert told.status_code == 200 and "Mine." in told.text
    assert await count_rows(engine, "scripts") == 1
