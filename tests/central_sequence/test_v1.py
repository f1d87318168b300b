"""/v1 behaviour of the Central Sequence Service, as the v1 contract's clients rely on it."""

import httpx


async def number(client: httpx.AsyncClient, element_type: str, element_id: int) -> httpx.Response:
    return await client.post("/v1/sequence", json={"elementType": element_type, "elementId": element_id})


async def numbers(client: httpx.AsyncClient) -> dict[tuple[str, int], int]:
    page = (await client.get("/v2/scopes/default/elements", params={"limit": 500})).json()
    return {(e["elementType"], e["elementId"]): e["sequenceNumber"] for e in page["items"]}


async def test_one_counter_for_all_types_as_in_the_upstream_examples(client: httpx.AsyncClient) -> None:
    script = await number(client, "script", 1)
    section = await number(client, "section", 1)
    character = await number(client, "character", 7)
    assert (script.status_code, script.json()) == (201, {"sequenceNumber": 1})
    assert (section.status_code, section.json()) == (201, {"sequenceNumber": 2})
    assert character.json() == {"sequenceNumber": 3}


async def test_numbering_is_idempotent_per_element(client: httpx.AsyncClient) -> None:
    first = await number(client, "script", 1)
    await number(client, "section", 1)
    again = await number(client, "script", 1)
    assert first.status_code == 201
    assert (again.status_code, again.json()) == (200, {"sequenceNumber": 1})
    assert await numbers(client) == {("script", 1): 1, ("section", 1): 2}


async def test_invalid_element_is_400_with_a_message_and_numbers_nothing(client: httpx.AsyncClient) -> None:
    for body in (
        {"elementType": "", "elementId": 1},
        {"elementType": "script", "elementId": 0},
        {"elementType": "script", "elementId": 2**63},
        {"elementType": "x" * 65, "elementId": 1},
        {"elementType": "script\u0000", "elementId": 1},
        {"elementType": "script"},
        {"elementType": "script", "elementId": "12"},  # JSON types only: no coercion from strings
        {"elementType": "script", "elementId": True},
        {"elementType": 12, "elementId": 1},
    ):
        response = await client.post("/v1/sequence", json=body)
        assert response.status_code == 400, body
        assert response.headers["content-type"] == "application/json"
        assert response.json()["message"]
    assert await numbers(client) == {}


async def test_an_integral_number_is_an_integer_as_json_schema_says(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/sequence", json={"elementType": "script", "elementId": 3.0})
    assert (response.status_code, response.json()) == (201, {"sequenceNumber": 1})
    assert await numbers(client) == {("script", 3): 1}


async def test_malformed_json_is_400_with_a_message(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/sequence", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


async def test_reorder_swaps_numbers_as_in_the_upstream_example(client: httpx.AsyncClient) -> None:
    await number(client, "section", 1)
    await number(client, "section", 2)
    response = await client.post(
        "/v1/sequence/reorder",
        json={
            "elementType": "section",
            "elements": [{"elementId": 1, "newSequence": 2}, {"elementId": 2, "newSequence": 1}],
        },
    )
    assert (response.status_code, response.json()) == (200, {"message": "Reorder successful."})
    assert await numbers(client) == {("section", 1): 2, ("section", 2): 1}


async def test_reorder_that_is_not_a_permutation_is_400_and_changes_nothing(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3):
        await number(client, "section", element_id)
    before = await numbers(client)
    for elements in (
        [{"elementId": 1, "newSequence": 3}, {"elementId": 2, "newSequence": 1}],  # 3 is held by another
        [{"elementId": 1, "newSequence": 2}, {"elementId": 2, "newSequence": 2}],  # duplicate number
        [{"elementId": 1, "newSequence": 2}, {"elementId": 1, "newSequence": 1}],  # element twice
    ):
        response = await client.post("/v1/sequence/reorder", json={"elementType": "section", "elements": elements})
        assert response.status_code == 400, elements
        assert response.json()["message"]
    assert await numbers(client) == before


async def test_reorder_with_an_unknown_element_is_404_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await number(client, "section", 1)
    await number(client, "section", 2)
    before = await numbers(client)
    response = await client.post(
        "/v1/sequence/reorder",
        json={
            "elementType": "section",
            "elements": [{"elementId": 1, "newSequence": 2}, {"elementId": 9, "newSequence": 1}],
        },
    )
    assert response.status_code == 404
    assert "section/9" in response.json()["message"]
    assert await numbers(client) == before


async def test_versions_start_at_2_and_count_up(client: httpx.AsyncClient) -> None:
    await number(client, "dialogue", 1)
    body = {"elementType": "dialogue", "elementId": 1, "newVersionData": {"text": "O Romeo, Romeo!"}}
    first = await client.post("/v1/sequence/version", json=body)
    second = await client.post("/v1/sequence/version", json=body)
    assert (first.status_code, first.json()) == (201, {"versionNumber": 2})
    assert second.json() == {"versionNumber": 3}
    history = (await client.get("/v2/scopes/default/elements/dialogue/1/versions")).json()
    assert [(v["version"], v["data"]) for v in history["items"]] == [
        (1, None),
        (2, {"text": "O Romeo, Romeo!"}),
        (3, {"text": "O Romeo, Romeo!"}),
    ]


async def test_version_of_an_unknown_element_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/sequence/version", json={"elementType": "dialogue", "elementId": 5, "newVersionData": {}}
    )
    assert response.status_code == 404
    assert response.json()["message"] == "Element dialogue/5 is not numbered in scope default."
