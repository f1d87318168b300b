"""/v2 behaviour of the Character Management Service."""

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.character.conftest import row_counts

KINDS = [
    ("characters", {"name": "Juliet", "description": "Only daughter of the Capulets."}, "characterId"),
    ("actions", {"description": "Juliet appears above at a window."}, "actionId"),
    ("spokenWords", {"text": "O Romeo, Romeo! wherefore art thou Romeo?"}, "spokenWordId"),
]
PARAPHRASE = {"text": "Oh Romeo, why must you be Romeo?", "commentary": "Wherefore means why."}


async def add(client: httpx.AsyncClient, path: str, body: dict[str, str], **headers: str) -> httpx.Response:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (201, 422), response.text
    return response


async def names(client: httpx.AsyncClient, **params: object) -> list[str]:
    page = (await client.get("/v2/characters", params=params)).json()
    return [item["name"] for item in page["items"]]


@pytest.mark.parametrize(("plural", "body", "id_field"), KINDS)
async def test_create_answers_location_and_etag_and_reads_back(
    client: httpx.AsyncClient, plural: str, body: dict[str, str], id_field: str
) -> None:
    created = await add(client, f"/v2/{plural}", body)
    item = created.json()
    assert item[id_field] == 1 and item["revision"] == 1
    assert {k: item[k] for k in body} == body
    assert created.headers["location"] == f"/v2/{plural}/1"
    fetched = await client.get(created.headers["location"])
    assert fetched.json() == item
    assert fetched.headers["etag"] == created.headers["etag"] == '"1"'


async def test_v1_and_v2_show_the_same_data(client: httpx.AsyncClient) -> None:
    v1 = (await client.post("/v1/characters", json={"name": "Romeo", "description": "A Montague."})).json()
    v2 = (await client.post("/v2/characters", json={"name": "Juliet", "description": "A Capulet."})).json()
    v2_view = (await client.get("/v2/characters")).json()["items"]
    assert [(c["characterId"], c["name"], c["description"]) for c in v2_view] == [
        (v1["characterId"], "Romeo", "A Montague."),
        (v2["characterId"], "Juliet", "A Capulet."),
    ]
    assert (await client.get("/v1/characters")).json() == [
        v1,
        {"characterId": v2["characterId"], "name": "Juliet", "description": "A Capulet."},
    ]
    spoken = (await client.post("/v1/spokenWords", json={"text": "Good night, good night!"})).json()
    assert (await client.get(f"/v2/spokenWords/{spoken['dialogueId']}")).json()["text"] == "Good night, good night!"
    v1_para = await client.post(
        "/v1/spokenWords/1/paraphrases", json={"originalId": 1, "text": "Farewell.", "commentary": "Shorter."}
    )
    v2_para = (await client.get("/v2/spokenWords/1/paraphrases/1")).json()
    assert v2_para["originalType"] == "spokenWord"
    assert {k: v2_para[k] for k in v1_para.json()} == v1_para.json()


@pytest.mark.parametrize(("plural", "body", "id_field"), KINDS)
async def test_a_retried_post_with_the_same_idempotency_key_creates_one_row(
    client: httpx.AsyncClient, engine: AsyncEngine, plural: str, body: dict[str, str], id_field: str
) -> None:
    first = await add(client, f"/v2/{plural}", body, **{"Idempotency-Key": "parent-1"})
    retry = await add(client, f"/v2/{plural}", body, **{"Idempotency-Key": "parent-1"})
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["location"] == first.headers["location"]
    para = await add(client, f"/v2/{plural}/1/paraphrases", PARAPHRASE, **{"Idempotency-Key": "para-1"})
    para_retry = await add(client, f"/v2/{plural}/1/paraphrases", PARAPHRASE, **{"Idempotency-Key": "para-1"})
    assert para_retry.json() == para.json()
    counts = await row_counts(engine)
    assert counts["paraphrases"] == 1
    assert counts[{"characters": "characters", "actions": "actions", "spokenWords": "spoken_words"}[plural]] == 1
    reused = await client.post(f"/v2/{plural}/1/paraphrases", json={**PARAPHRASE, "text": "Another wording."},
                               headers={"Idempotency-Key": "para-1"})  # fmt: skip
    assert reused.status_code == 422
    assert (await row_counts(engine))["paraphrases"] == 1


async def test_patch_changes_the_given_fields_and_keeps_the_others(client: httpx.AsyncClient) -> None:
    await add(client, "/v2/characters", {"name": "Juliet", "description": "A Capulet."})
    changed = await client.patch("/v2/characters/1", json={"description": "Only daughter of the Capulets."})
    assert changed.status_code == 200
    body = changed.json()
    assert body["name"] == "Juliet" and body["description"] == "Only daughter of the Capulets."
    assert body["revision"] == 2 and changed.headers["etag"] == '"2"'
    assert body["updatedAt"] >= body["createdAt"]
    assert (await client.get("/v2/characters/1")).json() == body


@pytest.mark.parametrize(("plural", "body", "id_field"), KINDS)
async def test_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, plural: str, body: dict[str, str], id_field: str
) -> None:
    await add(client, f"/v2/{plural}", body)
    await add(client, f"/v2/{plural}/1/paraphrases", PARAPHRASE)
    field = next(iter(body))
    stale = (await client.get(f"/v2/{plural}/1")).headers["etag"]
    await client.patch(f"/v2/{plural}/1", json={field: "First change."}, headers={"If-Match": stale})
    refused = await client.patch(f"/v2/{plural}/1", json={field: "Second change."}, headers={"If-Match": stale})
    assert refused.status_code == 412
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"/v2/{plural}/1")).json()[field] == "First change."
    before = await row_counts(engine)
    assert (await client.delete(f"/v2/{plural}/1", headers={"If-Match": stale})).status_code == 412
    assert await row_counts(engine) == before
    para_tag = (await client.get(f"/v2/{plural}/1/paraphrases/1")).headers["etag"]
    await client.patch(f"/v2/{plural}/1/paraphrases/1", json={"commentary": "New."}, headers={"If-Match": para_tag})
    stale_para = await client.patch(
        f"/v2/{plural}/1/paraphrases/1", json={"commentary": "Newer."}, headers={"If-Match": para_tag}
    )
    assert stale_para.status_code == 412
    paraphrase = (await client.get(f"/v2/{plural}/1/paraphrases/1")).json()
    assert paraphrase["commentary"] == "New." and paraphrase["text"] == PARAPHRASE["text"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Give at least one field to change."),
        ({"name": None}, "body.name: may not be null"),
        ({"name": ""}, "body.name"),
        ({"nickname": "Jules"}, "body.nickname"),
    ],
)
async def test_a_patch_that_changes_nothing_or_breaks_a_rule_is_422(
    client: httpx.AsyncClient, body: dict[str, object], message: str
) -> None:
    created = (await add(client, "/v2/characters", {"name": "Juliet", "description": "A Capulet."})).json()
    response = await client.patch("/v2/characters/1", json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert (await client.get("/v2/characters/1")).json() == created


@pytest.mark.parametrize(("plural", "body", "id_field"), KINDS)
async def test_delete_takes_the_paraphrases_with_it_and_leaves_the_others(
    client: httpx.AsyncClient, engine: AsyncEngine, plural: str, body: dict[str, str], id_field: str
) -> None:
    for _ in range(2):
        await add(client, f"/v2/{plural}", body)
    for parent_id in (1, 1, 2):
        await add(client, f"/v2/{plural}/{parent_id}/paraphrases", PARAPHRASE)
    deleted = await client.delete(f"/v2/{plural}/1")
    assert deleted.status_code == 204 and deleted.content == b""
    assert "content-type" not in deleted.headers  # an empty body declares no media type
    assert (await client.get(f"/v2/{plural}/1")).status_code == 404
    assert (await client.get(f"/v2/{plural}/1/paraphrases/1")).status_code == 404
    assert (await client.get(f"/v1/{plural}/1/paraphrases")).status_code == 404  # v1 sees the same rows
    assert (await row_counts(engine))["paraphrases"] == 1
    remaining = (await client.get(f"/v2/{plural}/2/paraphrases")).json()
    assert [p["paraphraseId"] for p in remaining["items"]] == [3]
    assert (await client.delete(f"/v2/{plural}/1")).status_code == 404


async def test_deleting_a_paraphrase_deletes_only_it(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await add(client, "/v2/actions", {"description": "Romeo climbs the wall."})
    for _ in range(2):
        await add(client, "/v2/actions/1/paraphrases", PARAPHRASE)
    assert (await client.delete("/v2/actions/1/paraphrases/1")).status_code == 204
    assert [p["paraphraseId"] for p in (await client.get("/v2/actions/1/paraphrases")).json()["items"]] == [2]
    assert (await client.get("/v2/actions/1")).status_code == 200


async def test_a_paraphrase_is_found_only_under_its_own_parent(client: httpx.AsyncClient) -> None:
    await add(client, "/v2/characters", {"name": "Juliet", "description": ""})
    await add(client, "/v2/characters", {"name": "Romeo", "description": ""})
    await add(client, "/v2/actions", {"description": "Romeo climbs the wall."})
    await add(client, "/v2/characters/1/paraphrases", PARAPHRASE)
    assert (await client.get("/v2/characters/1/paraphrases/1")).status_code == 200
    other = await client.get("/v2/characters/2/paraphrases/1")
    assert other.status_code == 404 and other.json()["detail"] == "Character 2 has no paraphrase 1."
    assert (await client.get("/v2/actions/1/paraphrases/1")).status_code == 404
    assert (await client.delete("/v2/characters/2/paraphrases/1")).status_code == 404
    assert (await client.get("/v2/characters/1/paraphrases/1")).status_code == 200


@pytest.mark.parametrize(("plural", "body", "id_field"), KINDS)
async def test_a_missing_parent_is_404_on_paraphrase_list_and_create(
    client: httpx.AsyncClient, engine: AsyncEngine, plural: str, body: dict[str, str], id_field: str
) -> None:
    listed = await client.get(f"/v2/{plural}/3/paraphrases")
    created = await client.post(f"/v2/{plural}/3/paraphrases", json=PARAPHRASE)
    assert listed.status_code == 404 and created.status_code == 404
    assert created.headers["content-type"] == "application/problem+json"
    assert created.json()["detail"].endswith("3 not found.")
    assert (await row_counts(engine))["paraphrases"] == 0


async def test_lists_filter_by_name_ignoring_case_and_sort(client: httpx.AsyncClient) -> None:
    for name in ("Juliet", "Romeo", "Nurse", "Friar Laurence", "Lady Capulet", "100% Tybalt"):
        await add(client, "/v2/characters", {"name": name, "description": ""})
    assert await names(client, nameContains="LA") == ["Friar Laurence", "Lady Capulet"]
    assert await names(client, nameContains="%") == ["100% Tybalt"]  # LIKE wildcards match themselves
    assert await names(client, nameContains="_") == []
    assert await names(client, sort="name") == sorted(
        ["Juliet", "Romeo", "Nurse", "Friar Laurence", "Lady Capulet", "100% Tybalt"]
    )
    assert await names(client, sort="-id") == [
        "100% Tybalt",
        "Lady Capulet",
        "Friar Laurence",
        "Nurse",
        "Romeo",
        "Juliet",
    ]
    await client.patch("/v2/characters/2", json={"description": "Changed last."})
    assert (await names(client, sort="-updatedAt"))[0] == "Romeo"


async def test_lists_paginate_with_totals(client: httpx.AsyncClient) -> None:
    for number in range(1, 8):
        await add(client, "/v2/spokenWords", {"text": f"Line {number}"})
    page = (await client.get("/v2/spokenWords", params={"limit": 3, "offset": 3})).json()
    assert [item["text"] for item in page["items"]] == ["Line 4", "Line 5", "Line 6"]
    assert (page["total"], page["limit"], page["offset"]) == (7, 3, 3)
    filtered = (await client.get("/v2/spokenWords", params={"textContains": "line 7", "limit": 1})).json()
    assert filtered["total"] == 1 and filtered["items"][0]["spokenWordId"] == 7
    past = (await client.get("/v2/spokenWords", params={"offset": 10})).json()
    assert past["items"] == [] and past["total"] == 7


async def test_ids_reads_many_in_one_request(client: httpx.AsyncClient) -> None:
    for number in range(1, 6):
        await add(client, "/v2/actions", {"description": f"Action {number}"})
        await add(client, "/v2/actions/1/paraphrases", {"text": f"Paraphrase {number}", "commentary": ""})
    page = (await client.get("/v2/actions", params={"ids": "4,2,99,2", "limit": 500})).json()
    assert [item["actionId"] for item in page["items"]] == [2, 4]  # sort order; unknown 99 left out
    assert page["total"] == 2
    descending = (await client.get("/v2/actions", params={"ids": "1,5,3", "sort": "-id"})).json()
    assert [item["actionId"] for item in descending["items"]] == [5, 3, 1]
    combined = (await client.get("/v2/actions", params={"ids": "1,2,3", "descriptionContains": "ACTION 2"})).json()
    assert [item["actionId"] for item in combined["items"]] == [2]
    paraphrases = (await client.get("/v2/actions/1/paraphrases", params={"ids": "5,1"})).json()
    assert [item["paraphraseId"] for item in paraphrases["items"]] == [1, 5]


@pytest.mark.parametrize(
    "ids",
    ["", "1,,2", "1, 2", "0", "-1", "a", ",".join(["1"] * 501)],
)
async def test_a_malformed_or_oversized_ids_list_is_422(client: httpx.AsyncClient, ids: str) -> None:
    response = await client.get("/v2/characters", params={"ids": ids})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("query.ids: ")
    assert response.json()["errors"][0]["location"] == "query.ids"


async def test_ids_given_twice_combine_and_an_id_too_large_to_exist_matches_nothing(
    client: httpx.AsyncClient,
) -> None:
    for n in range(3):
        await client.post("/v2/characters", json={"name": f"C{n}", "description": "d"})
    page = (await client.get("/v2/characters?ids=1&ids=3,9223372036854775808")).json()
    assert [item["characterId"] for item in page["items"]] == [1, 3]
    malformed_first = await client.get("/v2/characters?ids=1,,2&ids=3")
    assert malformed_first.status_code == 422


async def test_invalid_input_is_422_problem_and_changes_nothing(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    before = await row_counts(engine)
    for path, body in [
        ("/v2/characters", {"name": "Juliet"}),
        ("/v2/characters", {"name": "Juliet", "description": "", "age": 13}),
        ("/v2/actions", {"description": "x" * 10001}),
        ("/v2/spokenWords", {"text": ""}),
    ]:
        response = await client.post(path, json=body)
        assert response.status_code == 422, (path, body)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"]
    malformed = await client.post("/v2/actions", content=b"{not json", headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert await row_counts(engine) == before


async def test_the_database_refuses_a_paraphrase_of_two_parents_or_none(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await add(client, "/v2/characters", {"name": "Juliet", "description": ""})
    await add(client, "/v2/actions", {"description": "Juliet appears above."})
    for parents in ("1, 1", "NULL, NULL"):
        with pytest.raises(IntegrityError, match="paraphrases_one_original"):
            async with engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO character.paraphrases (character_id, action_id, text, commentary) "
                        f"VALUES ({parents}, 'x', '')"
                    )
                )


async def test_paraphrases_added_while_their_character_is_deleted_never_outlive_it(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Each add either lands before the delete (and goes with it) or finds no character (404)."""
    for _ in range(3):
        await add(client, "/v2/characters", {"name": "Mercutio", "description": "Kinsman to the Prince."})
        character_id = (await client.get("/v2/characters", params={"sort": "-id", "limit": 1})).json()["items"][0][
            "characterId"
        ]
        path = f"/v2/characters/{character_id}"
        adds = [client.post(f"{path}/paraphrases", json=PARAPHRASE) for _ in range(8)]
        responses = await asyncio.gather(*adds[:4], client.delete(path), *adds[4:])
        assert {r.status_code for r in responses} <= {201, 204, 404}, [r.text for r in responses]
        assert responses[4].status_code == 204
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM character.paraphrases"))).scalar_one() == 0


async def test_a_list_answers_each_record_as_the_record_itself_answers_it(client: httpx.AsyncClient) -> None:
    """Lists and single reads are serialized from their rows without a model: they must say what the
    record's model says when it is created, field for field, in the spec's order, byte for byte."""
    bodies = {
        "/v2/characters": {"name": 'Ⅼady "Capulet"', "description": "Juliet's\tmother\n"},
        "/v2/actions": {"description": "She *enters*, ü ✓"},
        "/v2/spokenWords": {"text": "What, ho!\\ Nurse!"},
    }
    for path, body in bodies.items():
        created = [await add(client, path, body) for _ in range(2)]
        ids = [next(iter(answer.json().values())) for answer in created]
        page = (await client.get(path, params={"ids": ",".join(map(str, ids))})).json()
        assert list(page) == ["items", "total", "limit", "offset"] and page["total"] == 2
        for item, record_id, answer in zip(page["items"], ids, created, strict=True):
            alone = await client.get(f"{path}/{record_id}")
            assert alone.content == answer.content  # the POST's answer comes from the model
            assert list(item.items()) == list(alone.json().items())


async def test_totals_hold_on_every_page(client: httpx.AsyncClient) -> None:
    for number in range(1, 8):
        await add(client, "/v2/spokenWords", {"text": f"Line {number}"})
    for limit, offset, count in [(7, 0, 7), (3, 6, 1), (3, 7, 0), (10, 0, 7), (2, 0, 2), (5, 100, 0)]:
        page = (await client.get("/v2/spokenWords", params={"limit": limit, "offset": offset})).json()
        assert (len(page["items"]), page["total"]) == (count, 7), (limit, offset)
