"""/v1 behaviour of Core Script Management: the upstream contract's shapes, numbers given by the Central
Sequence Service, and reorders that both services agree on."""

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.core_script.conftest import count_rows

ROMEO = {
    "title": "Romeo and Juliet",
    "author": "William Shakespeare",
    "description": "A tale of two star-crossed lovers.",
}


async def number_in_central_sequence(
    sequence: httpx.AsyncClient, scope: str, element_type: str, element_id: int
) -> int:
    response = await sequence.get(f"/v2/scopes/{scope}/elements/{element_type}/{element_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["sequenceNumber"])


async def test_upstream_examples_answer_as_the_contract_shows(
    client: httpx.AsyncClient, sequence: httpx.AsyncClient
) -> None:
    created = await client.post("/v1/scripts", json=ROMEO)
    assert created.status_code == 201
    assert created.json() == {"scriptId": 1, "sequenceNumber": 1}
    section = await client.post("/v1/scripts/1/sections", json={"title": "Act 1, Scene 1"})
    assert section.status_code == 201
    assert section.json() == {"headingId": 1, "scriptId": 1, "sequenceNumber": 2}
    assert await number_in_central_sequence(sequence, "default", "script", 1) == 1  # the catalogue of scripts
    assert await number_in_central_sequence(sequence, "script-1", "script", 1) == 1  # the story opens its scope
    assert await number_in_central_sequence(sequence, "script-1", "section", 1) == 2
    listed = await client.get("/v1/scripts")
    assert listed.status_code == 200
    assert listed.json() == [{"scriptId": 1, **ROMEO, "sequenceNumber": 1}]


async def test_numbers_come_from_the_central_sequence_service(
    client: httpx.AsyncClient, sequence: httpx.AsyncClient
) -> None:
    # Another element takes number 1 first: the script gets whatever the counter gives next.
    taken = await sequence.post("/v1/sequence", json={"elementType": "character", "elementId": 9})
    assert taken.json() == {"sequenceNumber": 1}
    created = (await client.post("/v1/scripts", json={"title": "Hamlet"})).json()
    assert created == {"scriptId": 1, "sequenceNumber": 2}
    assert await number_in_central_sequence(sequence, "default", "script", 1) == 2
    script = (await client.get("/v1/scripts")).json()[0]
    assert script["author"] == "" and script["description"] == ""


async def test_update_keeps_fields_left_out_and_the_number(client: httpx.AsyncClient) -> None:
    await client.post("/v1/scripts", json=ROMEO)
    updated = await client.put("/v1/scripts/1", json={"title": "Romeo and Juliet - Updated"})
    assert updated.status_code == 200 and updated.json() == {"scriptId": 1, "sequenceNumber": 1}
    assert (await client.get("/v1/scripts")).json()[0] == {
        "scriptId": 1,
        **ROMEO,
        "title": "Romeo and Juliet - Updated",
        "sequenceNumber": 1,
    }
    missing = await client.put("/v1/scripts/42", json={"title": "x"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json()["message"] == "Script 42 not found."


async def test_section_headings_belong_to_their_script(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await client.post("/v1/scripts", json=ROMEO)
    await client.post("/v1/scripts", json={"title": "Hamlet"})
    await client.post("/v1/scripts/1/sections", json={"title": "Act 1, Scene 1"})
    renamed = await client.put("/v1/scripts/1/sections/1", json={"title": "Act 1, Scene 1 - Updated"})
    assert renamed.status_code == 200 and renamed.json() == {"headingId": 1, "scriptId": 1, "sequenceNumber": 2}
    other_script = await client.put("/v1/scripts/2/sections/1", json={"title": "x"})
    assert other_script.status_code == 404
    assert other_script.json()["message"] == "Script 2 has no section heading 1."
    assert (await client.post("/v1/scripts/42/sections", json={"title": "x"})).status_code == 404
    assert await count_rows(engine, "section_headings") == 1


async def test_invalid_input_is_400_with_a_message(client: httpx.AsyncClient) -> None:
    for response in (
        await client.post("/v1/scripts", json={"title": ""}),
        await client.post("/v1/scripts", json={"title": "x", "author": None}),
        await client.post("/v1/scripts", content=b"{not json", headers={"content-type": "application/json"}),
        await client.put("/v1/scripts/0", json={}),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["message"]


async def sections(client: httpx.AsyncClient, script_id: int, count: int) -> list[dict[str, int]]:
    made = []
    for n in range(count):
        response = await client.post(f"/v1/scripts/{script_id}/sections", json={"title": f"Scene {n + 1}"})
        assert response.status_code == 201
        made.append(response.json())
    return made


async def test_reorder_is_applied_here_and_in_the_central_sequence_service(
    client: httpx.AsyncClient, sequence: httpx.AsyncClient
) -> None:
    await client.post("/v1/scripts", json=ROMEO)
    first, second, third = await sections(client, 1, 3)  # numbers 2, 3, 4
    body = {
        "elements": [
            {"headingId": first["headingId"], "newSequence": 4},
            {"headingId": third["headingId"], "newSequence": 2},
        ]
    }
    response = await client.post("/v1/scripts/1/sections/reorder", json=body)
    assert response.status_code == 200 and response.json() == {"message": "Reorder successful."}
    listed = (await client.get("/v2/scripts/1/sections")).json()["items"]
    assert [(s["headingId"], s["sequenceNumber"]) for s in listed] == [(3, 2), (2, 3), (1, 4)]
    for heading in listed:
        number = await number_in_central_sequence(sequence, "script-1", "section", heading["headingId"])
        assert number == heading["sequenceNumber"]


async def test_reorder_refuses_what_central_sequence_would_refuse(
    client: httpx.AsyncClient, sequence: httpx.AsyncClient
) -> None:
    await client.post("/v1/scripts", json=ROMEO)
    await client.post("/v1/scripts", json={"title": "Hamlet"})
    await sections(client, 1, 2)  # headings 1, 2: numbers 2, 3 in script-1
    await sections(client, 2, 1)  # heading 3 of script 2: number 2 in script-2
    not_a_permutation = {"elements": [{"headingId": 1, "newSequence": 3}, {"headingId": 2, "newSequence": 4}]}
    twice = {"elements": [{"headingId": 1, "newSequence": 3}, {"headingId": 1, "newSequence": 2}]}
    foreign = {"elements": [{"headingId": 1, "newSequence": 2}, {"headingId": 3, "newSequence": 2}]}
    assert (await client.post("/v1/scripts/1/sections/reorder", json=not_a_permutation)).status_code == 400
    assert (await client.post("/v1/scripts/1/sections/reorder", json=twice)).status_code == 400
    refused = await client.post("/v1/scripts/1/sections/reorder", json=foreign)
    assert refused.status_code == 404 and refused.json()["message"] == "Script 1 has no section heading 3."
    missing = await client.post("/v1/scripts/9/sections/reorder", json=twice | {"elements": twice["elements"][:1]})
    assert missing.status_code == 404
    for scope, heading_id, number in (("script-1", 1, 2), ("script-1", 2, 3), ("script-2", 3, 2)):
        assert await number_in_central_sequence(sequence, scope, "section", heading_id) == number
