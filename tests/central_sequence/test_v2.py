"""/v2 behaviour of the Central Sequence Service."""

import asyncio

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def create(client: httpx.AsyncClient, element_type: str, element_id: int, **extra: object) -> httpx.Response:
    return await client.post(
        "/v2/scopes/story-1/elements", json={"elementType": element_type, "elementId": element_id, **extra}
    )


async def order(client: httpx.AsyncClient) -> list[str]:
    page = (await client.get("/v2/scopes/story-1/elements", params={"limit": 500})).json()
    return [f"{e['elementType']}/{e['elementId']}" for e in page["items"]]


async def test_create_appends_and_answers_location_and_etag(client: httpx.AsyncClient) -> None:
    response = await create(client, "script", 1)
    assert response.status_code == 201
    assert response.headers["location"] == "/v2/scopes/story-1/elements/script/1"
    body = response.json()
    assert body["sequenceNumber"] == 1 and body["version"] == 1
    fetched = await client.get("/v2/scopes/story-1/elements/script/1")
    assert fetched.json() == body
    assert fetched.headers["etag"] == response.headers["etag"]


async def test_creating_an_element_twice_is_409_problem(client: httpx.AsyncClient) -> None:
    await create(client, "script", 1)
    response = await create(client, "script", 1)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/conflict")


async def test_insert_at_a_position_shifts_the_later_elements(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3):
        await create(client, "section", element_id)
    response = await create(client, "section", 4, sequenceNumber=2)
    assert response.json()["sequenceNumber"] == 2
    assert await order(client) == ["section/1", "section/4", "section/2", "section/3"]


async def test_insert_past_the_end_is_422_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await create(client, "section", 1)
    response = await create(client, "section", 2, sequenceNumber=3)
    assert response.status_code == 422
    assert await order(client) == ["section/1"]


async def test_move_renumbers_gaplessly(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3, 4):
        await create(client, "section", element_id)
    moved = await client.post("/v2/scopes/story-1/elements/section/4/move", json={"sequenceNumber": 1})
    assert moved.status_code == 200 and moved.json()["sequenceNumber"] == 1
    assert await order(client) == ["section/4", "section/1", "section/2", "section/3"]
    await client.post("/v2/scopes/story-1/elements/section/4/move", json={"sequenceNumber": 3})
    assert await order(client) == ["section/1", "section/2", "section/4", "section/3"]
    numbers = [e["sequenceNumber"] for e in (await client.get("/v2/scopes/story-1/elements")).json()["items"]]
    assert numbers == [1, 2, 3, 4]


async def test_stale_if_match_is_412_and_moves_nothing(client: httpx.AsyncClient) -> None:
    await create(client, "section", 1)
    await create(client, "section", 2)
    etag = (await client.get("/v2/scopes/story-1/elements/section/2")).headers["etag"]
    await client.post("/v2/scopes/story-1/elements/section/2/versions", json={"data": {"title": "Act 2"}})
    stale = await client.post(
        "/v2/scopes/story-1/elements/section/2/move", json={"sequenceNumber": 1}, headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert await order(client) == ["section/1", "section/2"]
    fresh = (await client.get("/v2/scopes/story-1/elements/section/2")).headers["etag"]
    moved = await client.post(
        "/v2/scopes/story-1/elements/section/2/move", json={"sequenceNumber": 1}, headers={"If-Match": fresh}
    )
    assert moved.status_code == 200
    assert await order(client) == ["section/2", "section/1"]


async def test_list_paginates_filters_and_counts(client: httpx.AsyncClient) -> None:
    for element_id in range(1, 6):
        await create(client, "character", element_id)
        await create(client, "action", element_id)
    page = (
        await client.get("/v2/scopes/story-1/elements", params={"elementType": "action", "limit": 2, "offset": 1})
    ).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [e["elementId"] for e in page["items"]] == [2, 3]
    ranged = (await client.get("/v2/scopes/story-1/elements", params={"fromSequence": 3, "toSequence": 5})).json()
    assert [e["sequenceNumber"] for e in ranged["items"]] == [3, 4, 5]
    inverted = await client.get("/v2/scopes/story-1/elements", params={"fromSequence": 5, "toSequence": 3})
    assert inverted.status_code == 422


async def test_versions_history_and_single_version(client: httpx.AsyncClient) -> None:
    await create(client, "spokenWord", 1)
    created = await client.post(
        "/v2/scopes/story-1/elements/spokenWord/1/versions", json={"data": {"text": "Wherefore"}}
    )
    assert created.status_code == 201
    assert created.headers["location"] == "/v2/scopes/story-1/elements/spokenWord/1/versions/2"
    assert (await client.get("/v2/scopes/story-1/elements/spokenWord/1")).json()["version"] == 2
    assert (await client.get("/v2/scopes/story-1/elements/spokenWord/1/versions/2")).json()["data"] == {
        "text": "Wherefore"
    }
    assert (await client.get("/v2/scopes/story-1/elements/spokenWord/1/versions/1")).json()["data"] is None
    missing = await client.get("/v2/scopes/story-1/elements/spokenWord/1/versions/3")
    assert missing.status_code == 404


async def test_retry_with_the_same_idempotency_key_creates_one_element(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-script-1"}
    first = await client.post(
        "/v2/scopes/story-1/elements", json={"elementType": "script", "elementId": 1}, headers=headers
    )
    retry = await client.post(
        "/v2/scopes/story-1/elements", json={"elementType": "script", "elementId": 1}, headers=headers
    )
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert await order(client) == ["script/1"]
    reused = await client.post(
        "/v2/scopes/story-1/elements", json={"elementType": "script", "elementId": 2}, headers=headers
    )
    assert reused.status_code == 422
    assert await order(client) == ["script/1"]


async def test_the_same_key_with_another_precondition_is_another_request(client: httpx.AsyncClient) -> None:
    await create(client, "section", 1)
    etag = (await client.get("/v2/scopes/story-1/elements/section/1")).headers["etag"]
    body = {"data": {"title": "Act 1"}}
    first = await client.post(
        "/v2/scopes/story-1/elements/section/1/versions", json=body, headers={"Idempotency-Key": "v", "If-Match": etag}
    )
    assert first.status_code == 201
    other = await client.post(
        "/v2/scopes/story-1/elements/section/1/versions", json=body, headers={"Idempotency-Key": "v", "If-Match": '"9"'}
    )
    assert other.status_code == 422
    assert (await client.get("/v2/scopes/story-1/elements/section/1")).json()["version"] == 2


async def test_a_wrong_method_is_405_naming_every_allowed_method(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v2/scopes/story-1/elements")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_expired_idempotency_key_counts_as_new(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    headers = {"Idempotency-Key": "old-key"}
    assert (await create(client, "script", 1)).status_code == 201
    first = await client.post(
        "/v2/scopes/story-1/elements", json={"elementType": "script", "elementId": 2}, headers=headers
    )
    assert first.status_code == 201
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE central_sequence.idempotency_keys SET created_at = now() - interval '25 hours'")
        )
    again = await client.post(
        "/v2/scopes/story-1/elements", json={"elementType": "script", "elementId": 3}, headers=headers
    )
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    async with engine.connect() as conn:
        keys = (await conn.execute(text("SELECT count(*) FROM central_sequence.idempotency_keys"))).scalar_one()
    assert keys == 1


async def test_a_failed_attempt_does_not_burn_the_idempotency_key(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k-retry"}
    body = {"elementType": "section", "elementId": 1, "sequenceNumber": 2}
    assert (await client.post("/v2/scopes/story-1/elements", json=body, headers=headers)).status_code == 422
    await create(client, "script", 1)
    assert (await client.post("/v2/scopes/story-1/elements", json=body, headers=headers)).status_code == 201


async def test_reorder_across_types_is_all_or_nothing(client: httpx.AsyncClient) -> None:
    await create(client, "script", 1)
    await create(client, "section", 1)
    await create(client, "character", 1)
    swap = {
        "elements": [
            {"elementType": "script", "elementId": 1, "sequenceNumber": 3},
            {"elementType": "character", "elementId": 1, "sequenceNumber": 1},
        ]
    }
    response = await client.post("/v2/scopes/story-1/reorder", json=swap)
    assert response.status_code == 200
    assert [e["elementType"] for e in response.json()["items"]] == ["character", "script"]
    assert await order(client) == ["character/1", "section/1", "script/1"]
    bad = {"elements": [{"elementType": "script", "elementId": 1, "sequenceNumber": 1}]}
    assert (await client.post("/v2/scopes/story-1/reorder", json=bad)).status_code == 422
    assert await order(client) == ["character/1", "section/1", "script/1"]


async def test_v1_and_v2_show_the_same_numbers(client: httpx.AsyncClient) -> None:
    await client.post("/v1/sequence", json={"elementType": "script", "elementId": 1})
    await create(client, "section", 1)
    await client.post("/v2/scopes/default/elements", json={"elementType": "section", "elementId": 1})
    v1_again = await client.post("/v1/sequence", json={"elementType": "section", "elementId": 1})
    assert v1_again.status_code == 200 and v1_again.json() == {"sequenceNumber": 2}
    assert (await client.get("/v2/scopes/default/elements/script/1")).json()["sequenceNumber"] == 1
    # The section numbered in story-1 is another element: /v1 numbers in `default` only.
    assert (await client.get("/v2/scopes/story-1/elements/section/1")).json()["sequenceNumber"] == 1


async def test_v2_errors_are_problem_details(client: httpx.AsyncClient) -> None:
    invalid = await client.post("/v2/scopes/story-1/elements", json={"elementType": "script", "elementId": -1})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    problem = invalid.json()
    assert problem["status"] == 422 and problem["errors"][0]["location"] == "body.elementId"
    missing = await client.get("/v2/scopes/story-1/elements/script/99")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Element script/99 is not numbered in scope story-1."
    assert "message" not in missing.json()


async def test_each_scope_is_numbered_on_its_own(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3):
        await client.post("/v2/scopes/story-a/elements", json={"elementType": "section", "elementId": element_id})
    for element_id in (1, 2):  # the same ids in another story are other elements
        await client.post("/v2/scopes/story-b/elements", json={"elementType": "section", "elementId": element_id})
    front = await client.post(
        "/v2/scopes/story-a/elements", json={"elementType": "section", "elementId": 4, "sequenceNumber": 1}
    )
    assert front.json() == front.json() | {"scope": "story-a", "sequenceNumber": 1}
    await client.post("/v2/scopes/story-b/elements/section/2/move", json={"sequenceNumber": 1})

    async def numbered(scope: str) -> list[tuple[int, int]]:
        items = (await client.get(f"/v2/scopes/{scope}/elements")).json()["items"]
        assert {e["scope"] for e in items} <= {scope}
        return [(e["elementId"], e["sequenceNumber"]) for e in items]

    assert await numbered("story-a") == [(4, 1), (1, 2), (2, 3), (3, 4)]
    assert await numbered("story-b") == [(2, 1), (1, 2)]
    assert await numbered("story-c") == []  # a scope never used is empty, not missing
    not_there = await client.get("/v2/scopes/story-b/elements/section/3")
    assert not_there.status_code == 404
    scopes = (await client.get("/v2/scopes")).json()
    assert scopes["items"] == [{"scope": "story-a", "elements": 4}, {"scope": "story-b", "elements": 2}]


async def test_delete_closes_the_gap_and_respects_if_match(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3, 4):
        await create(client, "line", element_id)
    etag = (await client.get("/v2/scopes/story-1/elements/line/2")).headers["etag"]
    await client.post("/v2/scopes/story-1/elements/line/4/move", json={"sequenceNumber": 1})  # shifts line 2
    stale = await client.delete("/v2/scopes/story-1/elements/line/2", headers={"If-Match": etag})
    assert stale.status_code == 412
    assert await order(client) == ["line/4", "line/1", "line/2", "line/3"]
    deleted = await client.delete("/v2/scopes/story-1/elements/line/1")
    assert deleted.status_code == 204
    items = (await client.get("/v2/scopes/story-1/elements")).json()["items"]
    assert [(e["elementId"], e["sequenceNumber"]) for e in items] == [(4, 1), (2, 2), (3, 3)]
    again = await client.delete("/v2/scopes/story-1/elements/line/1")
    assert again.status_code == 404
    appended = await create(client, "line", 5)
    assert appended.json()["sequenceNumber"] == 4  # the counter went down with the delete


async def test_deleting_a_scope_removes_its_elements_and_versions_only(client: httpx.AsyncClient) -> None:
    await create(client, "line", 1)
    await client.post("/v2/scopes/story-1/elements/line/1/versions", json={"data": {"text": "Hello"}})
    await client.post("/v2/scopes/story-2/elements", json={"elementType": "line", "elementId": 1})
    assert (await client.delete("/v2/scopes/story-1")).status_code == 204
    assert await order(client) == []
    assert (await client.get("/v2/scopes/story-1/elements/line/1/versions/2")).status_code == 404
    assert (await client.get("/v2/scopes/story-2/elements/line/1")).status_code == 200
    assert (await client.delete("/v2/scopes/story-1")).status_code == 404
    # The scope can be used again, numbering from 1.
    assert (await create(client, "line", 7)).json()["sequenceNumber"] == 1


async def test_a_scope_name_must_be_a_plain_path_segment(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/scopes/-bad/elements")
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "path.scope"


async def etags(client: httpx.AsyncClient, scope: str = "story-1") -> dict[str, str]:
    """Each element's ETag: it changes exactly when the element's number or versions change."""
    items = (await client.get(f"/v2/scopes/{scope}/elements", params={"limit": 500})).json()["items"]
    return {
        f"{e['elementType']}/{e['elementId']}": (
            await client.get(f"/v2/scopes/{scope}/elements/{e['elementType']}/{e['elementId']}")
        ).headers["etag"]
        for e in items
    }


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {key for key in before if key in after and before[key] != after[key]}


async def test_insert_shifts_only_the_later_elements_and_changes_only_their_etags(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3, 4):
        await create(client, "line", element_id)
    before = await etags(client)
    inserted = await create(client, "line", 5, sequenceNumber=3)
    assert inserted.status_code == 201 and inserted.json()["sequenceNumber"] == 3
    assert await order(client) == ["line/1", "line/2", "line/5", "line/3", "line/4"]
    assert changed(before, await etags(client)) == {"line/3", "line/4"}
    # The next free number is a position too: it shifts nothing.
    before = await etags(client)
    assert (await create(client, "line", 6, sequenceNumber=6)).json()["sequenceNumber"] == 6
    assert changed(before, await etags(client)) == set()
    assert (await create(client, "line", 7, sequenceNumber=1)).json()["sequenceNumber"] == 1
    assert await order(client) == ["line/7", "line/1", "line/2", "line/5", "line/3", "line/4", "line/6"]
    numbers = [e["sequenceNumber"] for e in (await client.get("/v2/scopes/story-1/elements")).json()["items"]]
    assert numbers == [1, 2, 3, 4, 5, 6, 7]


async def test_an_insert_into_a_new_scope_can_name_its_first_number_only(client: httpx.AsyncClient) -> None:
    past = await client.post(
        "/v2/scopes/story-9/elements", json={"elementType": "line", "elementId": 1, "sequenceNumber": 2}
    )
    assert past.status_code == 422
    assert past.json()["detail"] == "sequenceNumber 2 is past the end of scope story-9: the next free number is 1."
    first = await client.post(
        "/v2/scopes/story-9/elements", json={"elementType": "line", "elementId": 1, "sequenceNumber": 1}
    )
    assert first.status_code == 201 and first.json()["sequenceNumber"] == 1
    again = await client.post("/v2/scopes/story-9/elements", json={"elementType": "line", "elementId": 1})
    assert again.json()["detail"] == "Element line/1 is already numbered 1 in scope story-9."


async def test_a_move_shifts_only_the_elements_between_its_old_and_new_place(client: httpx.AsyncClient) -> None:
    for element_id in range(1, 7):
        await create(client, "line", element_id)
    before = await etags(client)
    moved = await client.post("/v2/scopes/story-1/elements/line/2/move", json={"sequenceNumber": 4})
    assert moved.status_code == 200
    assert moved.json() | {"updatedAt": None} == moved.json() | {
        "scope": "story-1",
        "elementType": "line",
        "elementId": 2,
        "sequenceNumber": 4,
        "version": 1,
        "updatedAt": None,
    }
    assert moved.headers["etag"] == (await client.get("/v2/scopes/story-1/elements/line/2")).headers["etag"]
    assert await order(client) == ["line/1", "line/3", "line/4", "line/2", "line/5", "line/6"]
    assert changed(before, await etags(client)) == {"line/2", "line/3", "line/4"}
    before = await etags(client)
    await client.post("/v2/scopes/story-1/elements/line/5/move", json={"sequenceNumber": 2})
    assert await order(client) == ["line/1", "line/5", "line/3", "line/4", "line/2", "line/6"]
    assert changed(before, await etags(client)) == {"line/5", "line/3", "line/4", "line/2"}
    # To the last place, and to where it is: the latter changes nothing, not even its ETag.
    await client.post("/v2/scopes/story-1/elements/line/1/move", json={"sequenceNumber": 6})
    assert await order(client) == ["line/5", "line/3", "line/4", "line/2", "line/6", "line/1"]
    before = await etags(client)
    same = await client.post("/v2/scopes/story-1/elements/line/4/move", json={"sequenceNumber": 3})
    assert same.status_code == 200 and same.json()["sequenceNumber"] == 3
    assert same.headers["etag"] == before["line/4"]
    assert changed(before, await etags(client)) == set()


async def test_a_move_past_the_end_or_of_an_unknown_element_changes_nothing(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3):
        await create(client, "line", element_id)
    past = await client.post("/v2/scopes/story-1/elements/line/1/move", json={"sequenceNumber": 4})
    assert past.status_code == 422
    assert past.json()["detail"] == "sequenceNumber 4 is past the end of scope story-1: the last number is 3."
    unknown = await client.post("/v2/scopes/story-1/elements/line/9/move", json={"sequenceNumber": 1})
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "Element line/9 is not numbered in scope story-1."
    nowhere = await client.post("/v2/scopes/story-7/elements/line/1/move", json={"sequenceNumber": 1})
    assert nowhere.status_code == 404
    assert nowhere.json()["detail"] == "Element line/1 is not numbered in scope story-7."
    assert await order(client) == ["line/1", "line/2", "line/3"]


async def test_deleting_shifts_only_the_later_elements_and_frees_the_last_number(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3, 4):
        await create(client, "line", element_id)
    before = await etags(client)
    assert (await client.delete("/v2/scopes/story-1/elements/line/2")).status_code == 204
    assert changed(before, await etags(client)) == {"line/3", "line/4"}
    before = await etags(client)
    assert (await client.delete("/v2/scopes/story-1/elements/line/4")).status_code == 204  # the last one
    assert changed(before, await etags(client)) == set()
    assert (await create(client, "line", 5)).json()["sequenceNumber"] == 3
    fresh = (await client.get("/v2/scopes/story-1/elements/line/1")).headers["etag"]
    assert (await client.delete("/v2/scopes/story-1/elements/line/1", headers={"If-Match": fresh})).status_code == 204
    items = (await client.get("/v2/scopes/story-1/elements")).json()["items"]
    assert [(e["elementId"], e["sequenceNumber"]) for e in items] == [(3, 1), (5, 2)]
    assert (await client.get("/v2/scopes")).json()["items"] == [{"scope": "story-1", "elements": 2}]
    missing = await client.delete("/v2/scopes/story-8/elements/line/1")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Element line/1 is not numbered in scope story-8."


async def test_a_scope_emptied_or_never_used_is_not_listed_and_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    await client.post("/v2/scopes/b-story/elements", json={"elementType": "line", "elementId": 1})
    await client.post("/v2/scopes/a-story/elements", json={"elementType": "line", "elementId": 1})
    await client.post("/v2/scopes/a-story/elements", json={"elementType": "line", "elementId": 2})
    await client.post("/v2/scopes/c-story/elements", json={"elementType": "line", "elementId": 1})
    await client.delete("/v2/scopes/c-story/elements/line/1")
    listed = (await client.get("/v2/scopes")).json()
    assert listed["items"] == [{"scope": "a-story", "elements": 2}, {"scope": "b-story", "elements": 1}]
    assert listed["total"] == 2
    for scope in ("c-story", "never-used"):
        response = await client.delete(f"/v2/scopes/{scope}")
        assert response.status_code == 404
        assert response.json()["detail"] == f"Scope {scope} holds no elements."


async def test_a_reorder_renumbers_only_the_elements_whose_number_changes(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3, 4):
        await create(client, "line", element_id)
    before = await etags(client)
    rotate = [
        {"elementType": "line", "elementId": 1, "sequenceNumber": 3},
        {"elementType": "line", "elementId": 2, "sequenceNumber": 2},
        {"elementType": "line", "elementId": 3, "sequenceNumber": 1},
    ]
    response = await client.post("/v2/scopes/story-1/reorder", json={"elements": rotate})
    assert response.status_code == 200
    assert [(e["elementId"], e["sequenceNumber"]) for e in response.json()["items"]] == [(3, 1), (2, 2), (1, 3)]
    assert await order(client) == ["line/3", "line/2", "line/1", "line/4"]
    assert changed(before, await etags(client)) == {"line/1", "line/3"}


async def test_a_reorder_is_refused_naming_what_is_wrong(client: httpx.AsyncClient) -> None:
    for element_id in range(1, 13):
        await create(client, "line", element_id)

    async def refused(elements: list[tuple[int, int]], scope: str = "story-1") -> httpx.Response:
        body = {"elements": [{"elementType": "line", "elementId": i, "sequenceNumber": n} for i, n in elements]}
        response = await client.post(f"/v2/scopes/{scope}/reorder", json=body)
        assert response.status_code in (404, 422)
        return response

    twice = await refused([(1, 2), (1, 1)])
    assert twice.status_code == 422 and twice.json()["detail"] == "Element line/1 is listed more than once."
    missing = await refused([(1, 2), *((i, i) for i in range(20, 32))])
    assert missing.status_code == 404
    assert missing.json()["detail"] == (
        "Not numbered in scope story-1: line/20, line/21, line/22, line/23, line/24, line/25, line/26, line/27, "
        "line/28, line/29."
    )
    elsewhere = await refused([(1, 1)], scope="story-5")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["detail"] == "Not numbered in scope story-5: line/1."
    short = await refused([(1, 2), (2, 3)])
    assert short.json()["detail"] == (
        "The new numbers must be a permutation of the numbers the listed elements hold now (1, 2); got 2, 3."
    )
    shifted = await refused([(i, i + 1) for i in range(1, 12)])
    assert shifted.json()["detail"] == (
        "The new numbers must be a permutation of the numbers the listed elements hold now "
        "(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...); got 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ...."
    )
    assert await order(client) == [f"line/{i}" for i in range(1, 13)]


async def test_versions_are_paged_in_order_and_a_stale_if_match_appends_none(client: httpx.AsyncClient) -> None:
    created = await create(client, "line", 1)
    for text_ in ("a", "b", "c"):
        await client.post("/v2/scopes/story-1/elements/line/1/versions", json={"data": {"text": text_}})
    stale = await client.post(
        "/v2/scopes/story-1/elements/line/1/versions",
        json={"data": {"text": "d"}},
        headers={"If-Match": created.headers["etag"]},
    )
    assert stale.status_code == 412
    page = (await client.get("/v2/scopes/story-1/elements/line/1/versions", params={"limit": 2, "offset": 1})).json()
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    assert [(v["version"], v["data"]) for v in page["items"]] == [(2, {"text": "a"}), (3, {"text": "b"})]
    everything = (await client.get("/v2/scopes/story-1/elements/line/1/versions")).json()["items"]
    assert [v["version"] for v in everything] == [1, 2, 3, 4]
    assert everything[0]["data"] is None and everything[0]["createdAt"] == created.json()["createdAt"]
    fresh = (await client.get("/v2/scopes/story-1/elements/line/1")).headers["etag"]
    appended = await client.post(
        "/v2/scopes/story-1/elements/line/1/versions", json={"data": {"text": "d"}}, headers={"If-Match": fresh}
    )
    assert appended.status_code == 201 and appended.json()["version"] == 5
    assert appended.headers["etag"] == (await client.get("/v2/scopes/story-1/elements/line/1")).headers["etag"]
    assert appended.headers["etag"] != fresh
    missing = await client.get("/v2/scopes/story-1/elements/line/1/versions/6")
    assert missing.json()["detail"] == "Element line/1 has no version 6."
    unknown = await client.get("/v2/scopes/story-1/elements/line/2/versions")
    assert unknown.status_code == 404


async def test_a_range_and_a_type_select_what_is_listed(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3):
        await create(client, "line", element_id)
        await create(client, "action", element_id)
    lines = (await client.get("/v2/scopes/story-1/elements", params={"elementType": "line", "fromSequence": 3})).json()
    assert [(e["elementId"], e["sequenceNumber"]) for e in lines["items"]] == [(2, 3), (3, 5)]
    upto = (await client.get("/v2/scopes/story-1/elements", params={"toSequence": 2})).json()
    assert [e["sequenceNumber"] for e in upto["items"]] == [1, 2] and upto["total"] == 2
    other_scope = (await client.get("/v2/scopes/story-2/elements")).json()
    assert other_scope["items"] == [] and other_scope["total"] == 0


async def test_a_stale_if_match_names_the_elements_current_etag(client: httpx.AsyncClient) -> None:
    old = (await create(client, "line", 1)).headers["etag"]
    await create(client, "line", 2)
    await client.post("/v2/scopes/story-1/elements/line/1/versions", json={"data": {"text": "a"}})
    current = (await client.get("/v2/scopes/story-1/elements/line/1")).headers["etag"]
    stale = {"If-Match": old}
    for response in (
        await client.delete("/v2/scopes/story-1/elements/line/1", headers=stale),
        await client.post("/v2/scopes/story-1/elements/line/1/move", json={"sequenceNumber": 2}, headers=stale),
        await client.post("/v2/scopes/story-1/elements/line/1/versions", json={"data": {}}, headers=stale),
    ):
        assert response.status_code == 412
        assert response.json()["detail"] == f"Element changed since it was read: its ETag is now {current}."
    assert await order(client) == ["line/1", "line/2"]


async def test_an_etag_is_never_given_twice_and_every_change_is_dated(client: httpx.AsyncClient) -> None:
    """A stale ETag must stay stale: had a change given an element an ETag it had before, a client
    holding that old one would overwrite what it never read."""
    for element_id in (1, 2):
        await create(client, "line", element_id)
    seen = {(await client.get("/v2/scopes/story-1/elements/line/2")).headers["etag"]}
    dated = (await client.get("/v2/scopes/story-1/elements/line/2")).json()["updatedAt"]
    steps = [
        client.post("/v2/scopes/story-1/elements/line/2/versions", json={"data": {"n": 1}}),
        create(client, "line", 3, sequenceNumber=1),  # shifts line 2
        client.post("/v2/scopes/story-1/elements/line/2/versions", json={"data": {"n": 2}}),
        client.post("/v2/scopes/story-1/elements/line/2/move", json={"sequenceNumber": 2}),
        client.delete("/v2/scopes/story-1/elements/line/3"),  # shifts line 2 down
    ]
    for step in steps:
        assert (await step).status_code in (200, 201, 204)
        current = await client.get("/v2/scopes/story-1/elements/line/2")
        assert current.headers["etag"] not in seen
        seen.add(current.headers["etag"])
        assert current.json()["updatedAt"] > dated
        dated = current.json()["updatedAt"]
        for old in seen - {current.headers["etag"]}:
            stale = await client.post(
                "/v2/scopes/story-1/elements/line/2/versions", json={"data": {}}, headers={"If-Match": old}
            )
            assert stale.status_code == 412


async def test_two_clients_appending_with_the_same_etag_one_wins(client: httpx.AsyncClient) -> None:
    """The element is locked before its ETag is checked: of two appends that read the same ETag,
    the second sees the first's change and is refused, not lost."""
    for element_id in range(1, 6):
        await create(client, "line", element_id)

    async def append(element_id: int, etag: str, text_: str) -> int:
        response = await client.post(
            f"/v2/scopes/story-1/elements/line/{element_id}/versions",
            json={"data": {"text": text_}},
            headers={"If-Match": etag},
        )
        return response.status_code

    read = {i: (await client.get(f"/v2/scopes/story-1/elements/line/{i}")).headers["etag"] for i in range(1, 6)}
    outcomes = await asyncio.gather(*(append(i, read[i], who) for i in range(1, 6) for who in ("a", "b")))
    assert sorted(outcomes) == [201] * 5 + [412] * 5
    for element_id in range(1, 6):
        element = (await client.get(f"/v2/scopes/story-1/elements/line/{element_id}")).json()
        assert element["version"] == 2


async def test_a_reorder_in_one_scope_leaves_the_same_element_in_another_as_it_was(client: httpx.AsyncClient) -> None:
    for scope in ("story-1", "story-2"):
        for element_id in (1, 2):
            await client.post(f"/v2/scopes/{scope}/elements", json={"elementType": "line", "elementId": element_id})
    other = await etags(client, "story-2")
    swap = [
        {"elementType": "line", "elementId": 1, "sequenceNumber": 2},
        {"elementType": "line", "elementId": 2, "sequenceNumber": 1},
    ]
    assert (await client.post("/v2/scopes/story-1/reorder", json={"elements": swap})).status_code == 200
    assert await order(client) == ["line/2", "line/1"]
    items = (await client.get("/v2/scopes/story-2/elements")).json()["items"]
    assert [(e["elementId"], e["sequenceNumber"]) for e in items] == [(1, 1), (2, 2)]
    assert await etags(client, "story-2") == other


async def test_a_refused_reorder_of_ten_elements_lists_all_ten_numbers(client: httpx.AsyncClient) -> None:
    for element_id in range(1, 11):
        await create(client, "line", element_id)
    body = {"elements": [{"elementType": "line", "elementId": i, "sequenceNumber": i + 1} for i in range(1, 11)]}
    response = await client.post("/v2/scopes/story-1/reorder", json=body)
    assert response.json()["detail"] == (
        "The new numbers must be a permutation of the numbers the listed elements hold now "
        "(1, 2, 3, 4, 5, 6, 7, 8, 9, 10); got 2, 3, 4, 5, 6, 7, 8, 9, 10, 11."
    )


async def test_an_insert_at_the_last_number_moves_the_last_element_up(client: httpx.AsyncClient) -> None:
    for element_id in (1, 2, 3):
        await create(client, "line", element_id)
    inserted = await create(client, "line", 4, sequenceNumber=3)
    assert inserted.status_code == 201 and inserted.json()["sequenceNumber"] == 3
    assert await order(client) == ["line/1", "line/2", "line/4", "line/3"]
