"""/v1 behaviour of the Session and Context Service: the upstream contract, and the same data /v2 shows."""

import asyncio

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def create(client: httpx.AsyncClient, user_id: int = 123, **extra: object) -> httpx.Response:
    return await client.post("/v1/sessions", json={"userId": user_id, **extra})


async def test_the_upstream_examples_round_trip(client: httpx.AsyncClient) -> None:
    created = await create(client, context="Initial context")
    assert created.status_code == 201
    assert created.json() == {"sessionId": 1, "userId": 123, "context": "Initial context"}
    updated = await client.put("/v1/sessions/1", json={"context": "Updated context"})
    assert updated.status_code == 200
    assert updated.json() == {"sessionId": 1, "userId": 123, "context": "Updated context"}
    current = await client.get("/v1/sessions/1/context")
    assert current.status_code == 200
    assert current.json() == {"sessionId": 1, "context": "Updated context"}
    listed = await client.get("/v1/sessions")
    assert listed.json() == [{"sessionId": 1, "userId": 123, "context": "Updated context"}]


async def test_a_context_left_out_is_empty_and_put_without_context_changes_nothing(client: httpx.AsyncClient) -> None:
    created = await create(client)
    assert created.json()["context"] == ""
    await client.put("/v1/sessions/1", json={"context": "Kept"})
    unchanged = await client.put("/v1/sessions/1", json={})
    assert unchanged.status_code == 200 and unchanged.json()["context"] == "Kept"


async def test_list_is_oldest_first_across_users(client: httpx.AsyncClient) -> None:
    for user_id in (7, 3, 7):
        await create(client, user_id, context=f"user {user_id}")
    listed = (await client.get("/v1/sessions")).json()
    assert [(s["sessionId"], s["userId"]) for s in listed] == [(1, 7), (2, 3), (3, 7)]


async def test_unknown_session_is_404_with_a_message(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/v1/sessions/42/context"),
        await client.put("/v1/sessions/42", json={"context": "x"}),
    ):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/json"
        assert response.json()["message"] == "Session 42 not found."


async def test_bad_input_is_400_with_a_message_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await create(client, context="Before")
    for bad in (
        await client.post("/v1/sessions", json={"context": "no user"}),
        await client.post("/v1/sessions", json={"userId": 0}),
        await client.post("/v1/sessions", json={"userId": "12"}),
        await client.post("/v1/sessions", json={"userId": 1, "context": None}),
        await client.post("/v1/sessions", json={"userId": 1, "context": "x" * 10001}),
        await client.post("/v1/sessions", content=b"{not json", headers={"content-type": "application/json"}),
        await client.put("/v1/sessions/1", json={"context": "nul \u0000"}),
        await client.put("/v1/sessions/1", json={"context": None}),
        await client.put("/v1/sessions/0", json={"context": "x"}),
    ):
        assert bad.status_code == 400, bad.text
        assert bad.json()["message"]
    assert (await client.get("/v1/sessions")).json() == [{"sessionId": 1, "userId": 123, "context": "Before"}]


async def test_v1_bodies_stay_open_to_extra_fields(client: httpx.AsyncClient) -> None:
    created = await create(client, context="x", mood="ignored")
    assert created.status_code == 201
    assert created.json() == {"sessionId": 1, "userId": 123, "context": "x"}


async def test_v1_and_v2_show_the_same_session(client: httpx.AsyncClient) -> None:
    await create(client, 5, context="Verona")
    v2 = await client.get("/v2/sessions/1")
    assert v2.json()["context"] == "Verona" and v2.json()["userId"] == 5
    before = v2.headers["etag"]
    await client.put("/v1/sessions/1", json={"context": "Mantua"})
    after = await client.get("/v2/sessions/1")
    assert after.json()["context"] == "Mantua"
    assert after.headers["etag"] != before  # a v1 write makes v2 If-Match with the old tag fail
    stale = await client.patch("/v2/sessions/1", json={"context": "lost"}, headers={"If-Match": before})
    assert stale.status_code == 412
    await client.patch("/v2/sessions/1", json={"context": "Padua"})
    assert (await client.get("/v1/sessions/1/context")).json() == {"sessionId": 1, "context": "Padua"}
    assert (await client.get("/v1/sessions")).json() == [{"sessionId": 1, "userId": 5, "context": "Padua"}]


async def test_concurrent_puts_leave_one_writers_whole_context(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await create(client, context="start")
    texts = [f"writer {i} " * 50 for i in range(8)]
    answers = await asyncio.gather(*(client.put("/v1/sessions/1", json={"context": t}) for t in texts))
    assert all(a.status_code == 200 for a in answers)
    final = (await client.get("/v1/sessions/1/context")).json()["context"]
    assert final in texts
    async with engine.connect() as conn:
        revision = (await conn.execute(text("SELECT revision FROM session_context.sessions WHERE id = 1"))).scalar_one()
    assert revision == 1 + len(texts)  # every write counted: none was applied to a stale copy
