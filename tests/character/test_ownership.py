"""Whose characters, actions and spoken words a caller reaches: its own account's (and their
paraphrases), every one for an admin, every one as before when no identity is checked. Another
account's row answers exactly as a missing one and is left out of every list. Real services with
FOUNTAIN_GATEWAY_SECRET set, on the test database."""

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fountain_cli import registry
from fountain_common.embedded_postgres import embedded_url
from fountain_common.migrations import alembic_config
from tests.character.conftest import reset_characters, row_counts
from tests.identities import ClientFor, caller

ALICE = caller("alice", "writer")
BOB = caller("bob", "writer")
ROOT = caller("root", "admin")
RITA = caller("rita", "reader")

# plural, a /v2 body, the /v2 id field, the /v1 id field, its ...Contains filter and a word it finds
KINDS = [
    ("characters", {"name": "Juliet", "description": "A Capulet."}, "characterId", "characterId", "nameContains"),
    ("actions", {"description": "Juliet appears above."}, "actionId", "actionId", "descriptionContains"),
    ("spokenWords", {"text": "O Romeo, Romeo! Juliet sighs."}, "spokenWordId", "dialogueId", "textContains"),
]
PARAPHRASE = {"text": "Why must you be Romeo?", "commentary": "Wherefore means why."}
NEVER_USED = 987654  # an id no row has: what "missing" answers


async def _create(client: httpx.AsyncClient, plural: str, body: dict[str, str], headers: dict[str, str]) -> int:
    created = await client.post(f"/v2/{plural}", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return int(created.headers["location"].rsplit("/", 1)[1])


async def _paraphrase(client: httpx.AsyncClient, plural: str, parent_id: int, headers: dict[str, str]) -> int:
    created = await client.post(f"/v2/{plural}/{parent_id}/paraphrases", json=PARAPHRASE, headers=headers)
    assert created.status_code == 201, created.text
    return int(created.json()["paraphraseId"])


async def _reads(client: httpx.AsyncClient, headers: dict[str, str], rows: dict[str, tuple[int, int]]) -> list[bytes]:
    """Every read that shows these rows, exactly as answered (bodies and ETags)."""
    answers = []
    for plural, (item_id, paraphrase_id) in rows.items():
        for url in (
            f"/v2/{plural}/{item_id}",
            f"/v2/{plural}?ids={item_id}",
            f"/v2/{plural}",
            f"/v2/{plural}/{item_id}/paraphrases",
            f"/v2/{plural}/{item_id}/paraphrases/{paraphrase_id}",
            f"/v1/{plural}",
            f"/v1/{plural}/{item_id}/paraphrases",
        ):
            read = await client.get(url, headers=headers)
            assert read.status_code == 200, (url, read.text)
            answers.append(read.content + read.headers.get("etag", "").encode())
    return answers


async def _answered_as_missing(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    item_id: int,
    json: object = None,
    json_for: Callable[[int], object] | None = None,
) -> None:
    """`url` names row `item_id`; the caller is answered exactly what the same request about an id no
    row has gets, the id aside: same status (404), same body, same content type. `json_for` makes a
    body that names the id too."""
    answer = await client.request(method, url, headers=headers, json=json_for(item_id) if json_for else json)
    missing_url = url.replace(f"/{item_id}", f"/{NEVER_USED}", 1)
    missing_json = json_for(NEVER_USED) if json_for else json
    missing = await client.request(method, missing_url, headers=headers, json=missing_json)
    assert missing.status_code == 404, (method, missing_url, missing.text)
    assert answer.status_code == 404, (method, url, answer.text)
    assert answer.text == missing.text.replace(str(NEVER_USED), str(item_id)), (method, url)
    assert answer.headers["content-type"] == missing.headers["content-type"]


async def test_another_account_reaches_none_of_alices_rows(secured_client: ClientFor, engine: AsyncEngine) -> None:
    await reset_characters(engine)
    service = secured_client("character")
    alices: dict[str, tuple[int, int]] = {}
    for plural, body, _, _, _ in KINDS:
        item_id = await _create(service, plural, body, ALICE)
        alices[plural] = (item_id, await _paraphrase(service, plural, item_id, ALICE))
    bobs_character = await _create(service, "characters", {"name": "Benvolio", "description": ""}, BOB)
    before = await _reads(service, ALICE, alices)
    counts = await row_counts(engine)

    for plural, body, v2_id, v1_id, contains in KINDS:
        item_id, paraphrase_id = alices[plural]
        one = f"/v2/{plural}/{item_id}"
        for headers in ({}, {"If-Match": '"1"'}, {"If-Match": '"7"'}):  # a right ETag or a wrong one: still 404
            await _answered_as_missing(service, "PATCH", one, {**BOB, **headers}, item_id, json=body)
            await _answered_as_missing(service, "DELETE", one, {**BOB, **headers}, item_id)
        await _answered_as_missing(service, "GET", one, BOB, item_id)
        children = f"{one}/paraphrases"
        await _answered_as_missing(service, "GET", children, BOB, item_id)
        await _answered_as_missing(service, "GET", f"{children}?ids={paraphrase_id}", BOB, item_id)
        await _answered_as_missing(service, "POST", children, BOB, item_id, json=PARAPHRASE)
        child = f"{children}/{paraphrase_id}"
        await _answered_as_missing(service, "GET", child, BOB, item_id)
        await _answered_as_missing(service, "PATCH", child, {**BOB, "If-Match": '"1"'}, item_id, json=PARAPHRASE)
        await _answered_as_missing(service, "DELETE", child, BOB, item_id)
        await _answered_as_missing(service, "GET", f"/v1/{plural}/{item_id}/paraphrases", BOB, item_id)
        await _answered_as_missing(
            service,
            "POST",
            f"/v1/{plural}/{item_id}/paraphrases",
            BOB,
            item_id,
            json_for=lambda original: {"originalId": original, **PARAPHRASE},
        )

        # Lists, id searches and filters leave her rows out, totals included.
        word = "Juliet"
        for params in ({}, {"ids": str(item_id)}, {contains: word}, {"ids": str(item_id), contains: word}):
            for sort in ("id", "-updatedAt"):
                page = await service.get(f"/v2/{plural}", params={**params, "sort": sort}, headers=BOB)
                assert page.status_code == 200, page.text
                mine = [bobs_character] if plural == "characters" and not params else []
                assert [item[v2_id] for item in page.json()["items"]] == mine
                assert page.json()["total"] == len(mine)
        v1_list = (await service.get(f"/v1/{plural}", headers=BOB)).json()
        assert [item[v1_id] for item in v1_list] == ([bobs_character] if plural == "characters" else [])

        # A reader is refused every write before anything is read.
        assert (await service.delete(one, headers=RITA)).status_code == 403
        assert (await service.post(children, json=PARAPHRASE, headers=RITA)).status_code == 403

    # A batch delete naming her rows deletes none of them (as it skips missing ids).
    batch = {
        "characterIds": [alices["characters"][0], bobs_character],
        "actionIds": [alices["actions"][0]],
        "spokenWordIds": [alices["spokenWords"][0]],
    }
    deleted = await service.post("/v2/batches/delete", json=batch, headers=BOB)
    assert deleted.status_code == 204, deleted.text
    assert (await service.get(f"/v2/characters/{bobs_character}", headers=BOB)).status_code == 404  # his went

    assert await _reads(service, ALICE, alices) == before
    assert await row_counts(engine) == {**counts, "characters": counts["characters"] - 1}


async def test_each_account_lists_its_own_rows_and_an_admin_every_row(
    secured_client: ClientFor, client_for: ClientFor, engine: AsyncEngine
) -> None:
    await reset_characters(engine)
    service = secured_client("character")
    unchecked = client_for("character")  # no secret: no identity asked for, every row visible
    earlier = await _create(unchecked, "characters", {"name": "Nurse", "description": "Made before accounts."}, {})
    alices = [
        await _create(service, "characters", {"name": name, "description": ""}, ALICE) for name in ("Tybalt", "Juliet")
    ]
    made = await service.post(
        "/v2/batches",
        json={
            "characters": [{"name": "Romeo", "description": ""}, {"name": "Mercutio", "description": ""}],
            "actions": [{"description": "A street in Verona."}],
            "spokenWords": [{"text": "I bite my thumb."}],
        },
        headers=BOB,
    )
    assert made.status_code == 201, made.text
    bobs = [item["characterId"] for item in made.json()["characters"]]
    every = [earlier, *alices, *bobs]

    async def listed(headers: dict[str, str], **params: str) -> tuple[list[int], int]:
        page = await service.get("/v2/characters", params=params, headers=headers)
        assert page.status_code == 200, page.text
        return [item["characterId"] for item in page.json()["items"]], page.json()["total"]

    assert await listed(ALICE) == (alices, 2)
    assert await listed(ALICE, sort="name") == ([alices[1], alices[0]], 2)
    assert await listed(BOB, limit="1") == (bobs[:1], 2)  # the total counts his rows only
    assert await listed(BOB, ids=",".join(map(str, every))) == (bobs, 2)
    assert await listed(caller("rita", "reader")) == ([], 0)  # a reader of her own (empty) account
    assert await listed(ROOT) == (every, 5)
    assert await listed(ROOT, ids=f"{alices[0]},{bobs[0]}") == ([alices[0], bobs[0]], 2)
    page = (await unchecked.get("/v2/characters")).json()
    assert [item["characterId"] for item in page["items"]] == every and page["total"] == 5
    # A row made before accounts belongs to none: only an admin (or no identity check) reaches it.
    assert (await service.get(f"/v2/characters/{earlier}", headers=ALICE)).status_code == 404
    assert (await service.get(f"/v2/characters/{earlier}", headers=ROOT)).status_code == 200

    # An admin changes and deletes anybody's rows; the row stays its owner's.
    changed = await service.patch(f"/v2/characters/{alices[0]}", json={"description": "Prince of Cats."}, headers=ROOT)
    assert changed.status_code == 200, changed.text
    own_read = await service.get(f"/v2/characters/{alices[0]}", headers=ALICE)
    assert own_read.json()["description"] == "Prince of Cats."
    added = await service.post(f"/v2/characters/{bobs[1]}/paraphrases", json=PARAPHRASE, headers=ROOT)
    assert added.status_code == 201, added.text
    assert (await service.get(f"/v2/characters/{bobs[1]}/paraphrases", headers=BOB)).json()["total"] == 1
    assert (await service.delete(f"/v2/characters/{bobs[1]}", headers=ROOT)).status_code == 204
    assert await listed(BOB) == (bobs[:1], 1)

    # Without the secret nothing is limited: alice's rows read, change and delete as before.
    assert (await unchecked.get(f"/v2/characters/{alices[1]}")).status_code == 200
    assert (await unchecked.delete(f"/v2/characters/{alices[1]}")).status_code == 204
    assert await listed(ALICE) == (alices[:1], 1)


async def test_the_same_idempotency_key_from_two_accounts_makes_two_rows(
    secured_client: ClientFor, engine: AsyncEngine
) -> None:
    await reset_characters(engine)
    service = secured_client("character")
    body = {"name": "Friar Laurence", "description": ""}
    key = {"Idempotency-Key": "one-key-for-both"}
    alices = await service.post("/v2/characters", json=body, headers={**ALICE, **key})
    bobs = await service.post("/v2/characters", json=body, headers={**BOB, **key})
    assert alices.status_code == bobs.status_code == 201, (alices.text, bobs.text)
    assert alices.json()["characterId"] != bobs.json()["characterId"]
    # Each retry replays the caller's own answer.
    again = await service.post("/v2/characters", json=body, headers={**BOB, **key})
    assert again.json() == bobs.json()
    for headers, mine in ((ALICE, alices), (BOB, bobs)):
        page = (await service.get("/v2/characters", headers=headers)).json()
        assert page["items"] == [mine.json()] and page["total"] == 1
    assert (await row_counts(engine))["characters"] == 2


def test_rows_made_before_owners_belong_to_no_account(postgres_dir: Path) -> None:
    url = embedded_url(postgres_dir, "fountain_character_owners")
    config = alembic_config(registry.load_service("character"), url)

    def run(*statements: str) -> list[tuple[object, ...]]:
        async def go() -> list[tuple[object, ...]]:
            engine = create_async_engine(url)
            try:
                async with engine.begin() as conn:
                    rows: list[tuple[object, ...]] = []
                    for statement in statements:
                        result = await conn.execute(text(statement))
                        rows += [tuple(row) for row in result.all()] if result.returns_rows else []
                    return rows
            finally:
                await engine.dispose()

        return asyncio.run(go())

    command.upgrade(config, "0002")
    run(
        "INSERT INTO character.characters (name, description) VALUES ('Nurse', '')",
        "INSERT INTO character.actions (description) VALUES ('Enter Nurse.')",
        "INSERT INTO character.spoken_words (text) VALUES ('Madam!')",
    )
    command.upgrade(config, "head")
    owners = "SELECT '{0}', owner FROM character.{0}"
    assert run(*(owners.format(table) for table in ("characters", "actions", "spoken_words"))) == [
        ("characters", ""),
        ("actions", ""),
        ("spoken_words", ""),
    ]
    command.downgrade(config, "0002")
    assert run("SELECT name FROM character.characters") == [("Nurse",)]
