"""/v2 behaviour of the Session and Context Service: sessions, character contexts, merge patch,
optimistic concurrency, cascade delete, bulk reads, pagination and retries."""

import asyncio

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine


async def session(client: httpx.AsyncClient, user_id: int = 123, context: str = "") -> dict[str, object]:
    response = await client.post("/v2/sessions", json={"userId": user_id, "context": context})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def context(
    client: httpx.AsyncClient, session_id: object, character_id: int, data: dict[str, str] | None = None
) -> httpx.Response:
    payload: dict[str, object] = {"characterId": character_id}
    if data is not None:
        payload["data"] = data
    return await client.post(f"/v2/sessions/{session_id}/contexts", json=payload)


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM session_context.{table}"))).scalar_one())


async def test_create_answers_location_etag_and_reads_back(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/sessions", json={"userId": 123, "context": "Initial context"})
    assert response.status_code == 201
    assert response.headers["location"] == "/v2/sessions/1"
    body = response.json()
    assert set(body) == {"sessionId", "userId", "context", "createdAt", "updatedAt"}
    fetched = await client.get("/v2/sessions/1")
    assert fetched.json() == body and fetched.headers["etag"] == response.headers["etag"]
    without_context = await client.post("/v2/sessions", json={"userId": 9})
    assert without_context.json()["context"] == ""


async def test_context_create_read_and_story_factory_shape(client: httpx.AsyncClient) -> None:
    s = await session(client)
    created = await context(client, s["sessionId"], 1, {"mood": "hopeful", "location": "balcony"})
    assert created.status_code == 201
    assert created.headers["location"] == f"/v2/contexts/{created.json()['contextId']}"
    body = created.json()
    assert body["sessionId"] == s["sessionId"] and body["characterId"] == 1
    assert body["data"] == {"mood": "hopeful", "location": "balcony"}
    fetched = await client.get(f"/v2/contexts/{body['contextId']}")
    assert fetched.json() == body and fetched.headers["etag"] == created.headers["etag"]
    empty = await context(client, s["sessionId"], 2)
    assert empty.json()["data"] == {}


async def test_one_context_per_character_and_session(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    first, second = await session(client), await session(client)
    assert (await context(client, first["sessionId"], 1)).status_code == 201
    duplicate = await context(client, first["sessionId"], 1, {"mood": "other"})
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert duplicate.json()["type"].endswith("/conflict")
    assert (await context(client, second["sessionId"], 1)).status_code == 201  # another session may
    assert await count(engine, "contexts") == 2


async def test_concurrent_duplicate_contexts_give_one_201_and_409s(client: httpx.AsyncClient) -> None:
    s = await session(client)
    answers = await asyncio.gather(*(context(client, s["sessionId"], 7, {"n": str(i)}) for i in range(6)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409, 409]


async def test_unknown_resources_are_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/v2/sessions/42"),
        await client.patch("/v2/sessions/42", json={"context": "x"}),
        await client.delete("/v2/sessions/42"),
        await context(client, 42, 1),
        await client.get("/v2/sessions/42/contexts"),
        await client.get("/v2/contexts/42"),
        await client.patch("/v2/contexts/42", json={"data": {"a": "b"}}),
        await client.delete("/v2/contexts/42"),
    ):
        assert response.status_code == 404, response.request.url
        assert response.headers["content-type"] == "application/problem+json"


async def test_merge_patch_sets_removes_and_keeps_keys(client: httpx.AsyncClient) -> None:
    s = await session(client)
    created = (await context(client, s["sessionId"], 1, {"mood": "hopeful", "location": "balcony"})).json()
    url = f"/v2/contexts/{created['contextId']}"
    patched = await client.patch(url, json={"data": {"mood": "desperate", "location": None, "time": "night"}})
    assert patched.status_code == 200
    assert patched.json()["data"] == {"mood": "desperate", "time": "night"}
    assert (await client.get(url)).json()["data"] == {"mood": "desperate", "time": "night"}
    # Removing a key that is not there, or a body without data, changes nothing and keeps the ETag.
    etag = patched.headers["etag"]
    for body in ({"data": {"absent": None}}, {}, {"data": {"mood": "desperate"}}):
        same = await client.patch(url, json=body)
        assert same.status_code == 200 and same.headers["etag"] == etag
    assert (await client.get(url)).json()["data"] == {"mood": "desperate", "time": "night"}


async def test_data_is_bounded_and_bad_input_changes_nothing(client: httpx.AsyncClient) -> None:
    s = await session(client)
    created = (await context(client, s["sessionId"], 1, {"k": "v"})).json()
    url = f"/v2/contexts/{created['contextId']}"
    etag = (await client.get(url)).headers["etag"]
    too_many = {f"key{i}": "v" for i in range(101)}
    for bad in (
        await context(client, s["sessionId"], 2, too_many),
        await context(client, s["sessionId"], 3, {"": "empty key"}),
        await context(client, s["sessionId"], 4, {"k" * 201: "long key"}),
        await context(client, s["sessionId"], 5, {"k": "v" * 4001}),
        await context(client, s["sessionId"], 6, {"k": 1}),  # type: ignore[dict-item]
        await client.post(f"/v2/sessions/{s['sessionId']}/contexts", json={"characterId": 8, "data": None}),
        await client.post(f"/v2/sessions/{s['sessionId']}/contexts", json={"characterId": 9, "extra": 1}),
        await client.patch(url, json={"data": {f"key{i}": "v" for i in range(100)}}),  # 101 keys after the merge
        await client.patch(url, json={"data": {"k": "nul \u0000"}}),
        await client.patch(url, json={"data": {"": "x"}}),
        await client.patch(url, json={"data": None}),
        await client.patch(url, json={"characterId": 2}),
        await client.patch(f"/v2/sessions/{s['sessionId']}", json={"context": None}),
        await client.patch(f"/v2/sessions/{s['sessionId']}", json={"userId": 5}),
        await client.post("/v2/sessions", json={"userId": 1, "context": "x" * 10001}),
    ):
        assert bad.status_code == 422, (bad.request.url, bad.text)
        problem = bad.json()
        assert problem["type"].endswith("/invalid-request") and problem["errors"]
    malformed = await client.patch(url, content=b"{", headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    after = await client.get(url)
    assert after.json()["data"] == {"k": "v"} and after.headers["etag"] == etag
    listed = (await client.get(f"/v2/sessions/{s['sessionId']}/contexts")).json()
    assert [c["characterId"] for c in listed["items"]] == [1]
    assert (await client.get("/v2/sessions")).json()["total"] == 1


async def test_a_hundred_keys_are_allowed(client: httpx.AsyncClient) -> None:
    s = await session(client)
    full = {f"key{i}": "v" * 4000 for i in range(100)}
    created = await context(client, s["sessionId"], 1, full)
    assert created.status_code == 201 and created.json()["data"] == full
    swapped = await client.patch(
        f"/v2/contexts/{created.json()['contextId']}", json={"data": {"key0": None, "new": "x"}}
    )
    assert swapped.status_code == 200 and len(swapped.json()["data"]) == 100


async def test_stale_if_match_is_412_and_changes_nothing(client: httpx.AsyncClient) -> None:
    s = await session(client, context="one")
    session_url = f"/v2/sessions/{s['sessionId']}"
    old = (await client.get(session_url)).headers["etag"]
    changed = await client.patch(session_url, json={"context": "two"}, headers={"If-Match": old})
    assert changed.status_code == 200 and changed.headers["etag"] != old
    stale = await client.patch(session_url, json={"context": "three"}, headers={"If-Match": old})
    assert stale.status_code == 412 and stale.json()["type"].endswith("/precondition-failed")
    assert (await client.delete(session_url, headers={"If-Match": old})).status_code == 412
    assert (await client.get(session_url)).json()["context"] == "two"

    c = (await context(client, s["sessionId"], 1, {"a": "1"})).json()
    url = f"/v2/contexts/{c['contextId']}"
    tag = (await client.get(url)).headers["etag"]
    await client.patch(url, json={"data": {"a": "2"}})
    assert (await client.patch(url, json={"data": {"a": "3"}}, headers={"If-Match": tag})).status_code == 412
    assert (await client.delete(url, headers={"If-Match": tag})).status_code == 412
    assert (await client.get(url)).json()["data"] == {"a": "2"}
    fresh = (await client.get(url)).headers["etag"]
    assert (
        await client.patch(url, json={"data": {"a": "3"}}, headers={"If-Match": f'"x", {fresh}'})
    ).status_code == 200
    assert (await client.delete(url, headers={"If-Match": "*"})).status_code == 204
    assert (await client.get(url)).status_code == 404


async def test_concurrent_patches_with_one_etag_give_one_200_and_one_412(client: httpx.AsyncClient) -> None:
    s = await session(client)
    c = (await context(client, s["sessionId"], 1, {"mood": "calm"})).json()
    url = f"/v2/contexts/{c['contextId']}"
    for round_ in range(5):
        tag = (await client.get(url)).headers["etag"]
        bodies = [{"data": {"mood": f"a{round_}", "by": "a"}}, {"data": {"mood": f"b{round_}", "by": "b"}}]
        answers = await asyncio.gather(*(client.patch(url, json=b, headers={"If-Match": tag}) for b in bodies))
        assert sorted(a.status_code for a in answers) == [200, 412]
        winner = next(a for a in answers if a.status_code == 200)
        current = await client.get(url)
        assert current.json()["data"] == winner.json()["data"]
        assert current.headers["etag"] == winner.headers["etag"]


async def test_concurrent_merges_without_if_match_all_survive(client: httpx.AsyncClient) -> None:
    s = await session(client)
    c = (await context(client, s["sessionId"], 1)).json()
    url = f"/v2/contexts/{c['contextId']}"
    answers = await asyncio.gather(*(client.patch(url, json={"data": {f"key{i}": str(i)}}) for i in range(10)))
    assert all(a.status_code == 200 for a in answers)
    current = await client.get(url)
    assert current.json()["data"] == {f"key{i}": str(i) for i in range(10)}
    assert current.headers["etag"] == '"11"'


async def test_deleting_a_session_deletes_its_contexts(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    doomed, kept = await session(client), await session(client)
    doomed_contexts = [(await context(client, doomed["sessionId"], i)).json()["contextId"] for i in (1, 2, 3)]
    kept_context = (await context(client, kept["sessionId"], 1)).json()["contextId"]
    deleted = await client.delete(f"/v2/sessions/{doomed['sessionId']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get(f"/v2/sessions/{doomed['sessionId']}")).status_code == 404
    assert (await client.get(f"/v1/sessions/{doomed['sessionId']}/context")).status_code == 404
    for context_id in doomed_contexts:
        assert (await client.get(f"/v2/contexts/{context_id}")).status_code == 404
    assert (await client.get(f"/v2/contexts/{kept_context}")).status_code == 200
    assert await count(engine, "contexts") == 1
    assert (await client.delete(f"/v2/sessions/{doomed['sessionId']}")).status_code == 404


async def test_deleting_a_context_keeps_its_session(client: httpx.AsyncClient) -> None:
    s = await session(client, context="stays")
    c = (await context(client, s["sessionId"], 1)).json()
    assert (await client.delete(f"/v2/contexts/{c['contextId']}")).status_code == 204
    assert (await client.get(f"/v2/sessions/{s['sessionId']}")).json()["context"] == "stays"
    assert (await context(client, s["sessionId"], 1)).status_code == 201  # the character may get a new one


async def test_retried_post_with_the_same_key_creates_one_row(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    headers = {"Idempotency-Key": "retry-session-1"}
    first = await client.post("/v2/sessions", json={"userId": 1, "context": "x"}, headers=headers)
    again = await client.post("/v2/sessions", json={"userId": 1, "context": "x"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    other = await client.post("/v2/sessions", json={"userId": 2}, headers=headers)
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-key-reused")
    assert await count(engine, "sessions") == 1

    sid = first.json()["sessionId"]
    key = {"Idempotency-Key": "retry-context-1"}
    answers = await asyncio.gather(
        *(client.post(f"/v2/sessions/{sid}/contexts", json={"characterId": 4}, headers=key) for _ in range(4))
    )
    assert [a.status_code for a in answers] == [201] * 4
    assert len({a.json()["contextId"] for a in answers}) == 1
    assert await count(engine, "contexts") == 1


async def test_sessions_paginate_and_filter_by_user(client: httpx.AsyncClient) -> None:
    for user_id in (1, 2, 1, 1, 2):
        await session(client, user_id)
    page = (await client.get("/v2/sessions", params={"userId": 1, "limit": 2})).json()
    assert [s["sessionId"] for s in page["items"]] == [1, 3]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    rest = (await client.get("/v2/sessions", params={"userId": 1, "limit": 2, "offset": 2})).json()
    assert [s["sessionId"] for s in rest["items"]] == [4]
    everyone = (await client.get("/v2/sessions")).json()
    assert everyone["total"] == 5 and everyone["limit"] == 50
    past = (await client.get("/v2/sessions", params={"offset": 10})).json()
    assert past["items"] == [] and past["total"] == 5
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"userId": 0}, {"userId": "x"}):
        assert (await client.get("/v2/sessions", params=bad)).status_code == 422


async def test_contexts_read_in_bulk_by_characters_and_ids(client: httpx.AsyncClient) -> None:
    first, second = await session(client), await session(client)
    ids = {}
    for s in (first, second):
        for character in (1, 2, 3):
            made = await context(client, s["sessionId"], character, {"who": f"{s['sessionId']}/{character}"})
            ids[(s["sessionId"], character)] = made.json()["contextId"]

    def who(response: httpx.Response) -> list[str]:
        return [c["data"]["who"] for c in response.json()["items"]]

    both = await client.get("/v2/contexts", params={"sessionId": first["sessionId"], "characterId": "1,3"})
    assert who(both) == ["1/1", "1/3"] and both.json()["total"] == 2
    repeated = await client.get(
        "/v2/contexts", params=[("sessionId", first["sessionId"]), ("characterId", "1"), ("characterId", "3")]
    )
    assert who(repeated) == ["1/1", "1/3"]
    across = await client.get("/v2/contexts", params={"characterId": "2"})
    assert who(across) == ["1/2", "2/2"]
    by_id = await client.get("/v2/contexts", params={"contextId": f"{ids[(2, 3)]},{ids[(1, 1)]},999"})
    assert who(by_id) == ["1/1", "2/3"]
    nested = await client.get(f"/v2/sessions/{second['sessionId']}/contexts", params={"characterId": "3,1"})
    assert who(nested) == ["2/1", "2/3"]
    page = (await client.get("/v2/contexts", params={"limit": 4, "offset": 4})).json()
    assert page["total"] == 6 and len(page["items"]) == 2
    huge = await client.get("/v2/contexts", params={"characterId": "9223372036854775808"})
    assert huge.status_code == 200 and huge.json()["total"] == 0
    hundred = ",".join(str(i) for i in range(1, 101))
    assert (await client.get("/v2/contexts", params={"characterId": hundred})).json()["total"] == 6
    for bad in (
        {"characterId": ",".join(str(i) for i in range(1, 102))},
        {"characterId": "1,,2"},
        {"characterId": "0"},
        {"contextId": "a"},
        [("characterId", "x"), ("characterId", "1")],  # every occurrence is checked, not just the last
        [("characterId", hundred), ("characterId", "101")],
    ):
        response = await client.get("/v2/contexts", params=bad)
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["location"].startswith("query.")


async def test_v2_deleted_session_disappears_from_v1(client: httpx.AsyncClient) -> None:
    await session(client, 1, "a")
    await session(client, 2, "b")
    await client.delete("/v2/sessions/1")
    assert (await client.get("/v1/sessions")).json() == [{"sessionId": 2, "userId": 2, "context": "b"}]


async def test_the_database_refuses_what_the_api_refuses(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    """The spec's bounds are constraints too, so no other writer can store what the API would refuse."""
    s = await session(client)
    bad_rows = [
        f"INSERT INTO session_context.contexts (session_id, character_id, data) VALUES ({s['sessionId']}, 1, '{{\"k\": 1}}')",
        f"INSERT INTO session_context.contexts (session_id, character_id, data) VALUES ({s['sessionId']}, 1, '[]')",
        f'INSERT INTO session_context.contexts (session_id, character_id, data) VALUES ({s["sessionId"]}, 1, \'{{"": "x"}}\')',
        f"INSERT INTO session_context.contexts (session_id, character_id) VALUES ({s['sessionId']}, 0)",
        "INSERT INTO session_context.contexts (session_id, character_id) VALUES (999, 1)",
        "INSERT INTO session_context.sessions (user_id) VALUES (0)",
        "INSERT INTO session_context.sessions (user_id, context) VALUES (1, repeat('x', 10001))",
        "INSERT INTO session_context.contexts (session_id, character_id, data) "
        f"SELECT {s['sessionId']}, 1, jsonb_object_agg('k' || i, 'v') FROM generate_series(1, 101) AS i",
    ]
    for statement in bad_rows:
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text(statement))
    assert await count(engine, "contexts") == 0
