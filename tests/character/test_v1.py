"""/v1 behaviour of the Character Management Service: the upstream contract, field for field."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.character.conftest import row_counts

JULIET = {"name": "Juliet", "description": "Only daughter of the Capulets."}
PARENTS = [
    ("characters", JULIET, "characterId"),
    ("actions", {"description": "Juliet appears above at a window."}, "actionId"),
    ("spokenWords", {"text": "O Romeo, Romeo! wherefore art thou Romeo?"}, "dialogueId"),
]


async def test_characters_are_created_and_listed_in_id_order(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/characters", json=JULIET)
    second = await client.post("/v1/characters", json={"name": "Romeo", "description": ""})
    assert first.status_code == 201 and second.status_code == 201
    assert first.json() == {"characterId": 1, **JULIET}
    listed = await client.get("/v1/characters")
    assert listed.status_code == 200
    assert listed.json() == [first.json(), second.json()]


async def test_actions_and_spoken_words_keep_the_upstream_field_names(client: httpx.AsyncClient) -> None:
    action = await client.post("/v1/actions", json={"description": "Romeo climbs the orchard wall."})
    spoken = await client.post("/v1/spokenWords", json={"text": "But soft, what light through yonder window breaks?"})
    assert action.status_code == 201 and spoken.status_code == 201
    assert action.json() == {"actionId": 1, "description": "Romeo climbs the orchard wall."}
    assert spoken.json() == {"dialogueId": 1, "text": "But soft, what light through yonder window breaks?"}
    assert (await client.get("/v1/actions")).json() == [action.json()]
    assert (await client.get("/v1/spokenWords")).json() == [spoken.json()]


@pytest.mark.parametrize(("plural", "body", "id_field"), PARENTS)
async def test_paraphrases_belong_to_the_parent_in_the_path(
    client: httpx.AsyncClient, plural: str, body: dict[str, str], id_field: str
) -> None:
    await client.post(f"/v1/{plural}", json=body)
    parent_id = (await client.post(f"/v1/{plural}", json=body)).json()[id_field]  # id 2, so ids differ from 1
    created = await client.post(
        f"/v1/{plural}/{parent_id}/paraphrases",
        json={"originalId": parent_id, "text": "Put another way.", "commentary": "Plainer."},
    )
    assert created.status_code == 201
    assert created.json() == {"paraphraseId": 1, "originalId": 2, "text": "Put another way.", "commentary": "Plainer."}
    assert (await client.get(f"/v1/{plural}/{parent_id}/paraphrases")).json() == [created.json()]
    assert (await client.get(f"/v1/{plural}/1/paraphrases")).json() == []


@pytest.mark.parametrize(("plural", "body", "id_field"), PARENTS)
async def test_an_original_id_that_disagrees_with_the_path_is_400_and_creates_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, plural: str, body: dict[str, str], id_field: str
) -> None:
    await client.post(f"/v1/{plural}", json=body)
    before = await row_counts(engine)
    response = await client.post(
        f"/v1/{plural}/1/paraphrases", json={"originalId": 7, "text": "Put another way.", "commentary": ""}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert "originalId 7 does not match" in response.json()["message"]
    assert response.json()["errors"][0]["location"] == "body.originalId"
    assert await row_counts(engine) == before


@pytest.mark.parametrize(("plural", "body", "id_field"), PARENTS)
async def test_a_missing_parent_is_404_on_list_and_create(
    client: httpx.AsyncClient, engine: AsyncEngine, plural: str, body: dict[str, str], id_field: str
) -> None:
    listed = await client.get(f"/v1/{plural}/5/paraphrases")
    created = await client.post(f"/v1/{plural}/5/paraphrases", json={"originalId": 5, "text": "x", "commentary": ""})
    assert listed.status_code == 404 and created.status_code == 404
    assert listed.json()["message"].endswith("5 not found.")
    assert (await row_counts(engine))["paraphrases"] == 0


@pytest.mark.parametrize(
    ("path", "body", "location"),
    [
        ("/v1/characters", {"name": "", "description": "x"}, "body.name"),
        ("/v1/characters", {"name": "x" * 201, "description": "x"}, "body.name"),
        ("/v1/characters", {"description": "no name"}, "body.name"),
        ("/v1/actions", {"description": ""}, "body.description"),
        ("/v1/spokenWords", {"text": "nul\x00byte"}, "body.text"),
        ("/v1/spokenWords", {"text": 42}, "body.text"),
        ("/v1/characters/0/paraphrases", {"originalId": 0, "text": "x", "commentary": ""}, "path.characterId"),
    ],
)
async def test_invalid_input_is_a_clear_400_and_changes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, path: str, body: dict[str, object], location: str
) -> None:
    before = await row_counts(engine)
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert location in [error["location"] for error in response.json()["errors"]]
    assert response.json()["message"]
    assert await row_counts(engine) == before


async def test_v1_accepts_fields_the_contract_does_not_name(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/characters", json={**JULIET, "age": 13})
    assert response.status_code == 201
    assert response.json() == {"characterId": 1, **JULIET}
