"""Sessions belong to the account that made them, their character contexts with them: another
account reaches neither (answered exactly as missing ones) and its lists leave them out; admins
reach every one. Real service, identities checked (FOUNTAIN_GATEWAY_SECRET set)."""

import re

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.identities import ClientFor, caller
from tests.session_context.conftest import reset_sessions

ALICE = caller("alice", "writer")
BOB = caller("bob", "writer")
ROOT = caller("root", "admin")
RITA = caller("rita", "reader")


async def created(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def alices_reads(service: httpx.AsyncClient, session_id: object, context_id: object) -> list[bytes]:
    """Everything alice reads of her work, as bytes, ETags included."""
    reads = [
        await service.get("/v1/sessions", headers=ALICE),
        await service.get(f"/v1/sessions/{session_id}/context", headers=ALICE),
        await service.get("/v2/sessions", headers=ALICE),
        await service.get(f"/v2/sessions/{session_id}", headers=ALICE),
        await service.get(f"/v2/sessions/{session_id}/contexts", headers=ALICE),
        await service.get("/v2/contexts", params={"contextId": str(context_id)}, headers=ALICE),
        await service.get(f"/v2/contexts/{context_id}", headers=ALICE),
    ]
    assert all(r.status_code == 200 for r in reads), [r.text for r in reads]
    return [r.content + r.headers.get("etag", "").encode() for r in reads]


async def test_another_account_reaches_nothing_of_alices_and_changes_nothing(
    secured_client: ClientFor, engine: AsyncEngine
) -> None:
    await reset_sessions(engine)
    service = secured_client("session_context")
    mine = await created(await service.post("/v2/sessions", json={"userId": 7, "context": "Act I"}, headers=ALICE))
    sid = mine["sessionId"]
    ctx = await created(
        await service.post(
            f"/v2/sessions/{sid}/contexts", json={"characterId": 3, "data": {"mood": "calm"}}, headers=ALICE
        )
    )
    cid = ctx["contextId"]
    etag = (await service.get(f"/v2/sessions/{sid}", headers=ALICE)).headers["etag"]
    context_etag = (await service.get(f"/v2/contexts/{cid}", headers=ALICE)).headers["etag"]
    before = await alices_reads(service, sid, cid)

    # The answers bob gets for alice's rows are those for rows that do not exist.
    missing_session, missing_context = 999_999, 999_998
    for method, path, body, headers in (
        ("GET", "/v1/sessions/{s}/context", None, {}),
        ("PUT", "/v1/sessions/{s}", {"context": "Taken"}, {}),
        ("GET", "/v2/sessions/{s}", None, {}),
        ("PATCH", "/v2/sessions/{s}", {"context": "Taken"}, {}),
        ("PATCH", "/v2/sessions/{s}", {"context": "Taken"}, {"If-Match": etag}),
        ("PATCH", "/v2/sessions/{s}", {"context": "Taken"}, {"If-Match": '"stale"'}),
        ("DELETE", "/v2/sessions/{s}", None, {}),
        ("DELETE", "/v2/sessions/{s}", None, {"If-Match": etag}),
        ("GET", "/v2/sessions/{s}/contexts", None, {}),
        ("POST", "/v2/sessions/{s}/contexts", {"characterId": 4}, {}),
        ("POST", "/v2/sessions/{s}/contexts", {"characterId": 4}, {"Idempotency-Key": "k"}),
        ("GET", "/v2/contexts/{c}", None, {}),
        ("PATCH", "/v2/contexts/{c}", {"data": {"mood": "angry"}}, {}),
        ("PATCH", "/v2/contexts/{c}", {"data": {"mood": "angry"}}, {"If-Match": context_etag}),
        ("DELETE", "/v2/contexts/{c}", None, {}),
        ("DELETE", "/v2/contexts/{c}", None, {"If-Match": '"stale"'}),
    ):
        for who in (BOB, RITA):
            answers = []
            for s, c in ((sid, cid), (missing_session, missing_context)):
                response = await service.request(method, path.format(s=s, c=c), json=body, headers={**who, **headers})
                answers.append((response.status_code, re.sub(rf"\b({s}|{c})\b", "N", response.text)))
            expected = 403 if who is RITA and method != "GET" else 404
            assert answers[0][0] == expected, (who, method, path, headers, answers)
            assert answers[0] == answers[1], (method, path, headers)
    assert await alices_reads(service, sid, cid) == before

    # Bob's lists, filtered by alice's ids or not, hold none of alice's rows.
    for params in ({}, {"contextId": str(cid)}, {"characterId": "3"}, {"sessionId": str(sid)}):
        page = (await service.get("/v2/contexts", params=params, headers=BOB)).json()
        assert (page["items"], page["total"]) == ([], 0), params
    assert (await service.get("/v1/sessions", headers=BOB)).json() == []
    page = (await service.get("/v2/sessions", params={"userId": "7"}, headers=BOB)).json()
    assert (page["items"], page["total"]) == ([], 0)
    assert await alices_reads(service, sid, cid) == before


async def test_each_account_lists_its_own_and_an_admin_every_one(
    secured_client: ClientFor, engine: AsyncEngine
) -> None:
    await reset_sessions(engine)
    service = secured_client("session_context")
    sessions = {}
    for name, who in (("alice", ALICE), ("bob", BOB), ("alice2", ALICE)):
        # Both use user 7: the client-chosen user id is not whose the session is.
        body = await created(await service.post("/v1/sessions", json={"userId": 7, "context": name}, headers=who))
        sessions[name] = body["sessionId"]
    contexts = {}
    for name in sessions:
        who = BOB if name == "bob" else ALICE
        response = await service.post(
            f"/v2/sessions/{sessions[name]}/contexts", json={"characterId": 3, "data": {"of": name}}, headers=who
        )
        contexts[name] = (await created(response))["contextId"]

    def listed(page: dict[str, object]) -> tuple[list[object], object]:
        items = page["items"]
        assert isinstance(items, list)
        return [item.get("context") or item["data"]["of"] for item in items], page["total"]

    assert [s["context"] for s in (await service.get("/v1/sessions", headers=BOB)).json()] == ["bob"]
    assert [s["context"] for s in (await service.get("/v1/sessions", headers=ALICE)).json()] == ["alice", "alice2"]
    assert listed((await service.get("/v2/sessions", params={"userId": "7"}, headers=BOB)).json()) == (["bob"], 1)
    assert listed((await service.get("/v2/sessions", params={"limit": "1"}, headers=ALICE)).json()) == (["alice"], 2)
    all_ids = ",".join(str(c) for c in contexts.values())
    by_ids = (await service.get("/v2/contexts", params={"contextId": all_ids}, headers=ALICE)).json()
    assert listed(by_ids) == (["alice", "alice2"], 2)  # as Story Factory reads them
    by_character = (await service.get("/v2/contexts", params={"characterId": "3", "limit": "1"}, headers=BOB)).json()
    assert listed(by_character) == (["bob"], 1)
    # An admin reaches every account's sessions and contexts; a reader of no account, none.
    assert listed((await service.get("/v2/sessions", headers=ROOT)).json()) == (["alice", "bob", "alice2"], 3)
    assert listed((await service.get("/v2/contexts", params={"contextId": all_ids}, headers=ROOT)).json())[1] == 3
    assert (await service.get(f"/v2/contexts/{contexts['bob']}", headers=ROOT)).status_code == 200
    changed = await service.patch(f"/v2/sessions/{sessions['alice']}", json={"context": "by root"}, headers=ROOT)
    assert changed.status_code == 200 and changed.json()["context"] == "by root"
    assert listed((await service.get("/v2/sessions", headers=RITA)).json()) == ([], 0)
    # Deleting her session takes its context with it; bob's, with the same character, stays.
    assert (await service.delete(f"/v2/sessions/{sessions['alice']}", headers=ALICE)).status_code == 204
    assert listed((await service.get("/v2/contexts", headers=ROOT)).json()) == (["bob", "alice2"], 2)


async def test_the_same_idempotency_key_from_two_accounts_makes_two_sessions(
    secured_client: ClientFor, engine: AsyncEngine
) -> None:
    await reset_sessions(engine)
    service = secured_client("session_context")
    key = {"Idempotency-Key": "new-session"}
    alices = await created(await service.post("/v2/sessions", json={"userId": 1}, headers={**ALICE, **key}))
    bobs = await created(await service.post("/v2/sessions", json={"userId": 1}, headers={**BOB, **key}))
    assert alices["sessionId"] != bobs["sessionId"]
    replay = await service.post("/v2/sessions", json={"userId": 1}, headers={**ALICE, **key})
    assert replay.json() == alices
    async with engine.connect() as conn:
        owners = (await conn.execute(text("SELECT owner FROM session_context.sessions ORDER BY id"))).scalars().all()
    assert owners == ["alice", "bob"]


async def test_without_identities_every_session_is_reached(
    secured_client: ClientFor, client: httpx.AsyncClient
) -> None:
    """A service that checks no identity (the `client` fixture, which also empties the tables) reads and
    changes every account's sessions, and makes sessions of no account."""
    service = secured_client("session_context")
    alices = await created(await service.post("/v2/sessions", json={"userId": 1, "context": "hers"}, headers=ALICE))
    unowned = await created(await client.post("/v2/sessions", json={"userId": 1, "context": "nobody's"}))
    assert [s["context"] for s in (await client.get("/v1/sessions")).json()] == ["hers", "nobody's"]
    assert (await client.put(f"/v1/sessions/{alices['sessionId']}", json={"context": "x"})).status_code == 200
    # The session of no account: with identities checked, only an admin reaches it.
    assert (await service.get(f"/v2/sessions/{unowned['sessionId']}", headers=ALICE)).status_code == 404
    assert (await service.get(f"/v2/sessions/{unowned['sessionId']}", headers=ROOT)).status_code == 200
