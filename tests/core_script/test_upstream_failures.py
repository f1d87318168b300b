"""Core Script Management when the Central Sequence Service fails: creates and reorders answer 502/504
naming it, and leave neither rows here nor numbers there; an order the Central Sequence Service took
whose local commit then failed is sent back."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.settings import Settings
from tests.core_script.conftest import FailingCentralSequence, count_rows, reset_scripts
from tests.in_process import service_app

Flaky = tuple[httpx.AsyncClient, FailingCentralSequence]


async def elements_in_central_sequence(sequence: httpx.AsyncClient, scope: str) -> list[tuple[str, int, int]]:
    page = (await sequence.get(f"/v2/scopes/{scope}/elements", params={"limit": 500})).json()
    return [(e["elementType"], e["elementId"], e["sequenceNumber"]) for e in page["items"]]


@pytest.mark.parametrize(
    ("failure", "status", "kind"),
    [
        ("down", 502, "bad-gateway"),
        ("unreachable", 502, "bad-gateway"),
        ("timeout", 504, "gateway-timeout"),
        ("slow", 504, "gateway-timeout"),
    ],
)
async def test_create_stores_nothing_when_central_sequence_fails(
    flaky: Flaky, sequence: httpx.AsyncClient, engine: AsyncEngine, failure: str, status: int, kind: str
) -> None:
    client, transport = flaky
    transport.failure = failure
    v1 = await client.post("/v1/scripts", json={"title": "Romeo and Juliet"})
    assert v1.status_code == status
    assert v1.headers["content-type"] == "application/json"
    body = v1.json()
    assert body["message"].startswith("Central Sequence Service")
    assert body["type"].endswith(kind) and body["upstream"] == "central_sequence"
    v2 = await client.post("/v2/scripts", json={"title": "Romeo and Juliet"}, headers={"Idempotency-Key": "k1"})
    assert v2.status_code == status
    assert v2.headers["content-type"] == "application/problem+json"
    assert transport.calls == 4  # each create tried twice (one retry: numbering is safe to repeat)
    assert await count_rows(engine, "scripts") == 0
    assert await count_rows(engine, "idempotency_keys") == 0
    # Only the create sent with a key keeps its script id reserved, for its retry.
    assert await count_rows(engine, "script_reservations") == 1
    # The key was not used up by the failure: the retry runs and succeeds.
    transport.failure = None
    retried = await client.post("/v2/scripts", json={"title": "Romeo and Juliet"}, headers={"Idempotency-Key": "k1"})
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    script_id = retried.json()["scriptId"]
    assert await elements_in_central_sequence(sequence, "default") == [("script", script_id, 1)]
    assert await elements_in_central_sequence(sequence, f"script-{script_id}") == [("script", script_id, 1)]
    assert await count_rows(engine, "script_reservations") == 0


async def test_section_is_not_stored_when_central_sequence_fails(
    flaky: Flaky, sequence: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    client, transport = flaky
    assert (await client.post("/v1/scripts", json={"title": "Hamlet"})).status_code == 201
    transport.failure = "timeout"
    assert (await client.post("/v1/scripts/1/sections", json={"title": "Act 1"})).status_code == 504
    assert (await client.post("/v2/scripts/1/sections", json={"title": "Act 1"})).status_code == 504
    assert await count_rows(engine, "section_headings") == 0
    assert await elements_in_central_sequence(sequence, "script-1") == [("script", 1, 1)]


async def numbered_sections(client: httpx.AsyncClient) -> list[tuple[int, int]]:
    listed = (await client.get("/v2/scripts/1/sections")).json()["items"]
    return [(s["headingId"], s["sequenceNumber"]) for s in listed]


async def three_sections(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/scripts", json={"title": "Hamlet"})).status_code == 201
    for title in ("Act 1", "Act 2", "Act 3"):
        assert (await client.post("/v1/scripts/1/sections", json={"title": title})).status_code == 201


SWAP = {"elements": [{"headingId": 1, "newSequence": 4}, {"headingId": 3, "newSequence": 2}]}
BEFORE = [(1, 2), (2, 3), (3, 4)]


@pytest.mark.parametrize(("failure", "status"), [("down", 502), ("timeout", 504)])
async def test_reorder_changes_nothing_when_central_sequence_fails(
    flaky: Flaky, sequence: httpx.AsyncClient, failure: str, status: int
) -> None:
    client, transport = flaky
    await three_sections(client)
    transport.failure = failure
    transport.paths = {"/v2/scopes/script-1/reorder"}
    reorder = await client.post("/v1/scripts/1/sections/reorder", json=SWAP)
    assert reorder.status_code == status and reorder.json()["message"]
    move = await client.post("/v2/scripts/1/sections/3/move", json={"position": 1})
    assert move.status_code == status
    assert move.headers["content-type"] == "application/problem+json"
    transport.failure = None
    assert await numbered_sections(client) == BEFORE
    assert [
        (e[1], e[2]) for e in await elements_in_central_sequence(sequence, "script-1") if e[0] == "section"
    ] == BEFORE


async def test_an_order_central_sequence_took_is_sent_back_when_the_request_fails(
    flaky: Flaky, sequence: httpx.AsyncClient
) -> None:
    client, transport = flaky
    await three_sections(client)
    # Central Sequence applies the reorder, but its answer never arrives (twice: the call and its retry).
    transport.failure, transport.paths, transport.remaining = "lost-answer", {"/v2/scopes/script-1/reorder"}, 2
    reorder = await client.post("/v1/scripts/1/sections/reorder", json=SWAP)
    assert reorder.status_code == 504
    assert transport.remaining == 0
    assert await numbered_sections(client) == BEFORE
    assert [
        (e[1], e[2]) for e in await elements_in_central_sequence(sequence, "script-1") if e[0] == "section"
    ] == BEFORE
    # Once it answers again, the same reorder goes through in both services.
    assert (await client.post("/v1/scripts/1/sections/reorder", json=SWAP)).status_code == 200
    after = [(3, 2), (2, 3), (1, 4)]
    assert await numbered_sections(client) == after
    numbers = sorted(
        (e[1], e[2]) for e in await elements_in_central_sequence(sequence, "script-1") if e[0] == "section"
    )
    assert numbers == sorted(after)


class GarbledContexts(httpx.AsyncBaseTransport):
    """The real services, except that Session and Context answers a context read with 200 and a body
    that is not the contract's."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("host") == "sessioncontext.fountain.coach" and request.method == "GET":
            return httpx.Response(200, text="<html>maintenance</html>", request=request)
        return await self.inner.handle_async_request(request)


async def test_a_line_whose_context_check_gets_a_garbled_answer_is_502_and_not_stored(
    engine: AsyncEngine, settings: Settings, gateway_transport: httpx.ASGITransport
) -> None:
    await reset_scripts(engine)
    app = service_app("core_script", settings, engine, GarbledContexts(gateway_transport))
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        httpx.AsyncClient(transport=gateway_transport, base_url="https://character.fountain.coach") as characters,
    ):
        part = {}
        for path, body, field in [
            ("/v2/characters", {"name": "Juliet", "description": ""}, "characterId"),
            ("/v2/actions", {"description": "She waits."}, "actionId"),
            ("/v2/spokenWords", {"text": "Romeo?"}, "spokenWordId"),
        ]:
            part[field] = (await characters.post(path, json=body)).json()[field]
        script = (await client.post("/v2/scripts", json={"title": "Romeo and Juliet"})).json()["scriptId"]
        heading = (await client.post(f"/v2/scripts/{script}/sections", json={"title": "Act 1"})).json()["headingId"]
        response = await client.post(f"/v2/scripts/{script}/sections/{heading}/lines", json={**part, "contextId": 1})
    assert response.status_code == 502
    assert response.json()["upstream"] == "session_context"
    assert "broke its contract" in response.json()["detail"]
    assert await count_rows(engine, "story_lines") == 0
