"""Scope names are per account: a name always means a scope of the account the request acts for (an
admin's own too), so another account's scope of that name is never reached, its elements are never
numbered with yours, and /v1 (the scope `default`) numbers each account on its own. Real service,
identities checked (FOUNTAIN_GATEWAY_SECRET set)."""

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.identity import ACTING_FOR_HEADER
from tests.central_sequence.conftest import reset_numbering
from tests.identities import ClientFor, caller

ALICE = caller("alice", "writer")
BOB = caller("bob", "writer")
ROOT = caller("root", "admin")
RITA = caller("rita", "reader")


async def v1_number(service: httpx.AsyncClient, who: dict[str, str], element_type: str, element_id: int) -> int:
    response = await service.post(
        "/v1/sequence", json={"elementType": element_type, "elementId": element_id}, headers=who
    )
    assert response.status_code in (200, 201), response.text
    number: int = response.json()["sequenceNumber"]
    return number


async def listed(service: httpx.AsyncClient, who: dict[str, str], scope: str) -> tuple[list[tuple[str, int, int]], int]:
    page = (await service.get(f"/v2/scopes/{scope}/elements", headers=who)).json()
    items = [(e["elementType"], e["elementId"], e["sequenceNumber"]) for e in page["items"]]
    return items, page["total"]


async def test_each_account_numbers_in_its_own_default_through_v1(
    secured_client: ClientFor, engine: AsyncEngine
) -> None:
    await reset_numbering(engine)
    service = secured_client("central_sequence")
    numbers: dict[str, list[int]] = {"alice": [], "bob": []}
    for element_id in (1, 2, 3):
        numbers["alice"].append(await v1_number(service, ALICE, "script", element_id))
        numbers["bob"].append(await v1_number(service, BOB, "section", element_id))
    assert numbers == {"alice": [1, 2, 3], "bob": [1, 2, 3]}
    # The same element numbered by both is one element in each account's `default`.
    assert await v1_number(service, BOB, "script", 1) == 4
    assert await v1_number(service, ALICE, "script", 1) == 1
    alices = await listed(service, ALICE, "default")
    assert alices == ([("script", 1, 1), ("script", 2, 2), ("script", 3, 3)], 3)

    # Bob's /v1 reorder and versions name elements of his own `default`: alice's are not there.
    reorder = {
        "elementType": "script",
        "elements": [{"elementId": 2, "newSequence": 3}, {"elementId": 3, "newSequence": 2}],
    }
    refused = await service.post("/v1/sequence/reorder", json=reorder, headers=BOB)
    assert refused.status_code == 404 and "script/2" in refused.json()["message"]
    version = {"elementType": "script", "elementId": 2, "newVersionData": {"text": "bob's"}}
    assert (await service.post("/v1/sequence/version", json=version, headers=BOB)).status_code == 404
    assert await listed(service, ALICE, "default") == alices
    assert (await service.post("/v1/sequence/reorder", json=reorder, headers=ALICE)).status_code == 200
    assert (await service.post("/v1/sequence/version", json=version, headers=ALICE)).json() == {"versionNumber": 2}
    assert await listed(service, BOB, "default") == (
        [("section", 1, 1), ("section", 2, 2), ("section", 3, 3), ("script", 1, 4)],
        4,
    )

    # The scope of no account (numbered without identities, or before accounts) is nobody's `default`.
    async with engine.connect() as conn:
        scopes = (
            await conn.execute(text("SELECT owner, name, last_value FROM central_sequence.scopes ORDER BY id"))
        ).all()
    assert [tuple(s) for s in scopes] == [("", "default", 0), ("alice", "default", 3), ("bob", "default", 4)]


async def test_another_account_cannot_read_change_or_delete_a_scope_by_its_name(
    secured_client: ClientFor, engine: AsyncEngine
) -> None:
    await reset_numbering(engine)
    service = secured_client("central_sequence")
    story = "/v2/scopes/story"
    element = f"{story}/elements/section/1"
    for element_id in (1, 2):
        response = await service.post(
            f"{story}/elements", json={"elementType": "section", "elementId": element_id}, headers=ALICE
        )
        assert response.status_code == 201
    batch = {"elements": [{"elementType": "section", "elementId": 3}]}
    assert (await service.post(f"{story}/elements/batch", json=batch, headers=ALICE)).status_code == 201
    assert (
        await service.post(f"{element}/versions", json={"data": {"title": "Act I"}}, headers=ALICE)
    ).status_code == 201
    etag = (await service.get(element, headers=ALICE)).headers["etag"]

    async def alices_reads() -> list[bytes]:
        reads = [
            await service.get("/v2/scopes", headers=ALICE),
            await service.get(f"{story}/elements", headers=ALICE),
            await service.get(element, headers=ALICE),
            await service.get(f"{element}/versions", headers=ALICE),
            await service.get(f"{element}/versions/2", headers=ALICE),
        ]
        assert all(r.status_code == 200 for r in reads), [r.text for r in reads]
        return [r.content + r.headers.get("etag", "").encode() for r in reads]

    before = await alices_reads()
    # For bob (and for an admin, which works in its own namespace) `story` is a scope he never used:
    # every answer is the one for a name nobody used, `unused`.
    reorder = {
        "elements": [
            {"elementType": "section", "elementId": 1, "sequenceNumber": 2},
            {"elementType": "section", "elementId": 2, "sequenceNumber": 1},
        ]
    }
    for method, path, body, headers in (
        ("GET", "/v2/scopes/{scope}/elements", None, {}),
        ("GET", "/v2/scopes/{scope}/elements/section/1", None, {}),
        ("GET", "/v2/scopes/{scope}/elements/section/1/versions", None, {}),
        ("GET", "/v2/scopes/{scope}/elements/section/1/versions/2", None, {}),
        ("POST", "/v2/scopes/{scope}/elements/section/1/move", {"sequenceNumber": 2}, {}),
        ("POST", "/v2/scopes/{scope}/elements/section/1/move", {"sequenceNumber": 1}, {"If-Match": etag}),
        ("POST", "/v2/scopes/{scope}/elements/section/1/versions", {"data": {"title": "Taken"}}, {}),
        ("POST", "/v2/scopes/{scope}/elements/section/1/versions", {"data": {"title": "Taken"}}, {"If-Match": etag}),
        ("DELETE", "/v2/scopes/{scope}/elements/section/1", None, {}),
        ("DELETE", "/v2/scopes/{scope}/elements/section/1", None, {"If-Match": etag}),
        ("POST", "/v2/scopes/{scope}/reorder", reorder, {}),
        ("DELETE", "/v2/scopes/{scope}", None, {}),
    ):
        for who in (BOB, ROOT):
            answers = []
            for scope in ("story", "unused"):
                response = await service.request(
                    method, path.format(scope=scope), json=body, headers={**who, **headers}
                )
                answers.append((response.status_code, response.text.replace(scope, "SCOPE")))
            assert answers[0] == answers[1], (who, method, path, headers, answers)
            assert answers[0][0] == (200 if path.endswith("/elements") else 404), answers
    assert (await service.get("/v2/scopes", headers=BOB)).json()["items"] == []
    assert await alices_reads() == before

    # Bob numbering in his own `story` starts it at 1; alice's goes on at 4.
    for who in (BOB, ALICE):
        response = await service.post(f"{story}/elements", json={"elementType": "line", "elementId": 9}, headers=who)
        assert response.status_code == 201
    assert await listed(service, BOB, "story") == ([("line", 9, 1)], 1)
    assert (await listed(service, ALICE, "story"))[0][-1] == ("line", 9, 4)
    # An admin lists its own namespace; a service acting for alice (as Core Script does for the
    # owner of a script) reaches hers.
    assert (await service.get("/v2/scopes", headers=ROOT)).json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    for_alice = {**ROOT, ACTING_FOR_HEADER: "alice"}
    assert (await service.get("/v2/scopes", headers=for_alice)).json()["items"] == [{"scope": "story", "elements": 4}]
    assert (await service.delete(story, headers=BOB)).status_code == 204
    assert (await listed(service, ALICE, "story"))[1] == 4


async def test_lists_and_totals_hold_the_callers_scopes_only(secured_client: ClientFor, engine: AsyncEngine) -> None:
    await reset_numbering(engine)
    service = secured_client("central_sequence")
    made = {"alice": ["script-1", "script-2", "default"], "bob": ["script-1"]}
    for name, who in (("alice", ALICE), ("bob", BOB)):
        for scope in made[name]:
            elements = {"elements": [{"elementType": "section", "elementId": n} for n in range(1, len(name))]}
            assert (
                await service.post(f"/v2/scopes/{scope}/elements/batch", json=elements, headers=who)
            ).status_code == 201

    async def scopes(who: dict[str, str], **params: str) -> tuple[list[tuple[str, int]], int]:
        page = (await service.get("/v2/scopes", params=params, headers=who)).json()
        return [(s["scope"], s["elements"]) for s in page["items"]], page["total"]

    assert await scopes(ALICE) == ([("default", 4), ("script-1", 4), ("script-2", 4)], 3)
    assert await scopes(ALICE, limit="1") == ([("default", 4)], 3)
    assert await scopes(BOB) == ([("script-1", 2)], 1)
    assert await scopes(RITA) == ([], 0)
    assert (await listed(service, BOB, "script-1"))[1] == 2
    assert (await listed(service, ALICE, "script-1"))[1] == 4


async def test_the_same_idempotency_key_from_two_accounts_numbers_two_elements(
    secured_client: ClientFor, engine: AsyncEngine
) -> None:
    await reset_numbering(engine)
    service = secured_client("central_sequence")
    key = {"Idempotency-Key": "number-script-1"}
    body = {"elementType": "script", "elementId": 1}
    alices = await service.post("/v2/scopes/story/elements", json=body, headers={**ALICE, **key})
    bobs = await service.post("/v2/scopes/story/elements", json=body, headers={**BOB, **key})
    assert (alices.status_code, bobs.status_code) == (201, 201)
    replay = await service.post("/v2/scopes/story/elements", json=body, headers={**ALICE, **key})
    assert replay.json() == alices.json()
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT s.owner, e.sequence_number FROM central_sequence.elements e "
                    "JOIN central_sequence.scopes s ON s.id = e.scope_id ORDER BY s.owner"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [("alice", 1), ("bob", 1)]
