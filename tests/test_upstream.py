"""Calls between services (fountain_common/upstream.py): where they go, what is retried, and the
problem a caller's client sees when another service is down. The other service is stubbed at the
HTTP boundary with httpx.MockTransport."""

import asyncio
import uuid
from collections.abc import Callable

import httpx
import pytest
from pydantic import TypeAdapter

from fountain_common.problems import Problem
from fountain_common.settings import Settings
from fountain_common.upstream import Upstreams

Handler = Callable[[httpx.Request], httpx.Response]


def upstreams(handler: Handler, **settings: object) -> tuple[Upstreams, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    fast = {"upstream_timeout_seconds": 0.5, **settings}
    return Upstreams(Settings(database_url="postgresql://unused/db", **fast), httpx.MockTransport(record)), seen


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


async def test_by_default_a_service_is_called_at_its_public_host_over_https() -> None:
    client, seen = upstreams(ok)
    response = await client.request("character", "GET", "/v2/characters", params={"ids": "1,2"})
    assert response.status_code == 200
    assert str(seen[0].url) == "https://character.fountain.coach/v2/characters?ids=1%2C2"


async def test_through_a_gateway_the_request_names_the_service_by_host_and_carries_the_key() -> None:
    client, seen = upstreams(ok, gateway_url="http://127.0.0.1:8080/", gateway_api_key="k" * 32)
    await client.request("central_sequence", "POST", "/v1/sequence", json={"elementType": "script", "elementId": 1})
    assert str(seen[0].url) == "http://127.0.0.1:8080/v1/sequence"
    assert seen[0].headers["host"] == "centralsequence.fountain.coach"
    assert seen[0].headers["apikey"] == "k" * 32


async def test_a_service_url_of_its_own_wins_over_the_gateway() -> None:
    client, seen = upstreams(ok, gateway_url="http://gateway:8000", session_context_url="http://session-context:8104")
    await client.request("session_context", "GET", "/v2/contexts", request_id="req-1")
    assert str(seen[0].url) == "http://session-context:8104/v2/contexts"
    assert seen[0].headers["host"] == "session-context:8104"
    assert "apikey" not in seen[0].headers
    assert seen[0].headers["x-request-id"] == "req-1"


async def test_a_client_error_is_handed_back_to_the_caller_without_retry() -> None:
    client, seen = upstreams(lambda request: httpx.Response(404, json={"detail": "Character 9 not found."}))
    response = await client.request("character", "GET", "/v2/characters/9")
    assert response.status_code == 404
    assert len(seen) == 1


async def test_a_repeatable_request_is_retried_until_it_succeeds() -> None:
    answers = iter([httpx.Response(503), httpx.Response(502), httpx.Response(200, json={})])
    client, seen = upstreams(lambda request: next(answers))
    response = await client.request("character", "GET", "/v2/actions")
    assert response.status_code == 200
    assert len(seen) == 3


async def test_retries_are_bounded_and_the_failure_names_the_upstream() -> None:
    client, seen = upstreams(lambda request: httpx.Response(503, json={"detail": "The database is unavailable."}))
    with pytest.raises(Problem) as raised:
        await client.request("core_script", "GET", "/v2/scripts/1/content")
    assert len(seen) == 3  # the first attempt and upstream_retries=2
    problem = raised.value
    assert problem.status == 502
    body = problem.body("/v1/stories")
    assert body["upstream"] == "core_script"
    assert body["type"] == "https://fountain.coach/problems/bad-gateway"
    assert "Core Script Management failed" in body["detail"]
    assert "503" in body["detail"] and "The database is unavailable" in body["detail"]


async def test_a_post_is_not_repeated_unless_the_caller_says_it_is_idempotent() -> None:
    client, seen = upstreams(lambda request: httpx.Response(503))
    with pytest.raises(Problem):
        await client.request("central_sequence", "POST", "/v2/elements", json={})
    assert len(seen) == 1
    with pytest.raises(Problem):
        await client.request("central_sequence", "POST", "/v1/sequence", json={}, idempotent=True)
    assert len(seen) == 1 + 3


async def test_an_unreachable_service_is_502_and_one_that_does_not_answer_in_time_504() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client, seen = upstreams(refuse, upstream_retries=1)
    with pytest.raises(Problem) as raised:
        await client.request("character", "GET", "/v2/characters")
    assert (raised.value.status, len(seen)) == (502, 2)
    assert "Character Management failed" in str(raised.value.detail)
    assert "https://character.fountain.coach" in str(raised.value.detail)

    client, seen = upstreams(hang, upstream_retries=0)
    with pytest.raises(Problem) as raised:
        await client.request("session_context", "GET", "/v2/contexts")
    assert (raised.value.status, len(seen)) == (504, 1)
    assert raised.value.body("/")["type"] == "https://fountain.coach/problems/gateway-timeout"
    assert "Session and Context" in str(raised.value.detail)
    assert "0.5 s" in str(raised.value.detail)


async def test_a_real_timeout_is_a_504() -> None:
    """A server that accepts the connection and answers only long after the configured timeout (not a
    simulated exception): the call gives up at that timeout, not at some default of its HTTP client."""

    async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(late, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = Settings(
            database_url="postgresql://unused/db",
            character_url=f"http://127.0.0.1:{port}",
            upstream_timeout_seconds=0.2,
            upstream_retries=1,
        )
        client = Upstreams(settings)
        with pytest.raises(Problem) as raised:
            await client.request("character", "GET", "/v2/characters")
        assert raised.value.status == 504
        await client.aclose()
    finally:
        server.close()


async def test_calls_to_one_service_share_at_most_100_connections_and_keep_20_open_between_bursts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real server that answers once every new connection has sent its call: of 101 calls
    at once, one waits for an answered connection instead of opening a 101st; after the burst 20
    connections stay open, so the next burst of 100 calls opens 80 new ones."""
    # Counts, not idle time, are under test: on a loaded machine the bursts may lie seconds apart.
    monkeypatch.setattr(Upstreams, "KEEPALIVE_SECONDS", 300.0)
    opened = 0  # connections the server accepted
    opened_unanswered = 0  # of those, accepted in this burst before the server answered any of its calls
    arrived = 0
    answered = 0
    burst_size = 0
    everyone_arrived = asyncio.Event()
    release = asyncio.Event()

    async def answer_when_released(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal opened, opened_unanswered, arrived, answered
        opened += 1
        opened_unanswered += answered == 0
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # a GET: headers only
                arrived += 1
                if arrived >= min(burst_size, 100) and arrived >= opened_unanswered:
                    everyone_arrived.set()
                await release.wait()
                answered += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()  # the client closed the connection

    async def burst(client: Upstreams, calls: int) -> int:
        """Answers `calls` calls at once; the connections the server accepted for them."""
        nonlocal opened, opened_unanswered, arrived, answered, burst_size
        opened_before, opened_unanswered, arrived, answered, burst_size = opened, 0, 0, 0, calls
        everyone_arrived.clear()
        release.clear()
        answers = asyncio.gather(*(client.request("character", "GET", "/v2/characters") for _ in range(calls)))
        # Bounded only so that a pool that never sends them fails this test instead of hanging it.
        await asyncio.wait_for(everyone_arrived.wait(), 60)
        release.set()
        assert all(response.status_code == 200 for response in await answers)
        assert arrived == calls
        return opened - opened_before

    server = await asyncio.start_server(answer_when_released, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = Settings(
        database_url="postgresql://unused/db", character_url=f"http://127.0.0.1:{port}", upstream_timeout_seconds=60
    )
    client = Upstreams(settings)
    try:
        await burst(client, 101)
        assert opened_unanswered == 100  # the 101st call waited for an answered connection
        assert await burst(client, 100) == 80  # 20 connections were kept open
    finally:
        await client.aclose()
        server.close()


async def test_a_success_whose_body_breaks_the_contract_is_named_so() -> None:
    client, _ = upstreams(ok)
    response = await client.request("character", "GET", "/v2/characters")
    problem = client.unexpected("character", response)
    assert (problem.status, problem.detail) == (
        502,
        "Character Management failed: the answer to GET /v2/characters broke its contract.",
    )


# --- typed clients (generated from the called service's spec) ------------------------------------
CHARACTER = {  # a Character Management answer, for the failures a stub injects
    "characterId": 7,
    "name": "Juliet",
    "description": "A Capulet.",
    "revision": 1,
    "createdAt": "2026-01-01T00:00:00Z",
    "updatedAt": "2026-01-01T00:00:00Z",
}


def through_gateway(settings: Settings, gateway_transport: httpx.ASGITransport) -> Upstreams:
    """Calls to the real services in-process, by public host, as `fountain serve` routes them."""
    return Upstreams(settings.model_copy(update={"gateway_url": "http://gateway"}), gateway_transport)


async def test_a_typed_client_reads_id_lists_from_the_real_service_as_its_models(
    settings: Settings, gateway_transport: httpx.ASGITransport
) -> None:
    from services.story_factory.generated.clients.character import CharacterClient
    from services.story_factory.generated.clients.character_models import CharacterCreate, CharacterPage

    client = CharacterClient(through_gateway(settings, gateway_transport))
    made = [
        await client.add_character(body=CharacterCreate(name=name, description="Of Verona."))
        for name in ("Romeo", "Juliet", "Tybalt")
    ]
    wanted = {made[0].characterId, made[2].characterId, 9_000_000_000}  # one id that names nothing
    page = await client.search_characters(ids=wanted, limit=500)
    assert isinstance(page, CharacterPage)
    assert sorted(item.name for item in page.items) == ["Romeo", "Tybalt"]
    assert page.total == 2


async def test_a_typed_client_sends_preconditions_and_keys_the_real_service_honours(
    settings: Settings, gateway_transport: httpx.ASGITransport
) -> None:
    from fountain_common.upstream import UpstreamRefused
    from services.core_script.generated.clients.central_sequence import CentralSequenceClient
    from services.core_script.generated.clients.central_sequence_models import ElementCreate, ElementMove

    client = CentralSequenceClient(through_gateway(settings, gateway_transport))
    scope = f"typed-client-{uuid.uuid4().hex[:8]}"  # a story of its own: nothing else numbers there
    first = await client.create_element(scope=scope, body=ElementCreate(elementType="typed-client", elementId=1))
    await client.create_element(scope=scope, body=ElementCreate(elementType="typed-client", elementId=2))
    assert (first.scope, first.sequenceNumber) == (scope, 1)
    element = {"scope": scope, "element_type": "typed-client", "element_id": 1}
    with pytest.raises(UpstreamRefused) as stale:
        await client.move_element(**element, body=ElementMove(sequenceNumber=2), if_match='"999"')
    assert stale.value.upstream_status == 412
    move = ElementMove(sequenceNumber=2)
    moved = await client.move_element(**element, body=move, if_match="*", idempotency_key="tc-1")
    again = await client.move_element(**element, body=move, if_match="*", idempotency_key="tc-1")
    assert moved.sequenceNumber == again.sequenceNumber == 2
    assert again == moved  # the retry was answered from the stored reply, not moved twice
    with pytest.raises(UpstreamRefused) as reused:  # the key reached the service: a new request under it is refused
        await client.move_element(**element, body=ElementMove(sequenceNumber=1), idempotency_key="tc-1")
    assert reused.value.upstream_status == 422


async def test_a_typed_client_raises_upstream_refused_for_a_4xx_and_502_for_a_broken_body() -> None:
    from fountain_common.upstream import UpstreamRefused
    from services.core_script.generated.clients.character import CharacterClient

    missing = {"type": "about:blank", "title": "Not found", "status": 404, "detail": "Character 9 not found."}
    client, seen = upstreams(lambda request: httpx.Response(404, json=missing))
    with pytest.raises(UpstreamRefused) as refused:
        await CharacterClient(client).get_character(character_id=9)
    assert (refused.value.upstream_status, refused.value.answer["detail"]) == (404, "Character 9 not found.")
    assert refused.value.status == 502 and "GET /v2/characters/9 answered 404" in refused.value.detail
    assert len(seen) == 1  # a client error is not retried

    broken, _ = upstreams(lambda request: httpx.Response(200, json={**CHARACTER, "characterId": "seven"}))
    with pytest.raises(Problem) as problem:
        await CharacterClient(broken).get_character(character_id=7)
    assert (problem.value.status, problem.value.detail) == (
        502,
        "Character Management failed: the answer to GET /v2/characters/7 broke its contract.",
    )


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (httpx.Response(503, json={"detail": "The database is unavailable."}),
         "answered 503 Service Unavailable: The database is unavailable."),
        (httpx.Response(500, json={"message": "Boom"}), "answered 500 Internal Server Error: Boom."),
        (httpx.Response(500, json={"detail": "Too big: MAX"}), "answered 500 Internal Server Error: Too big: MAX."),
        (httpx.Response(502, text="<html>proxy</html>"), "answered 502 Bad Gateway."),
        (httpx.Response(599, json={"detail": ""}), "answered 599 error."),
    ],
)  # fmt: skip
async def test_a_failed_answer_is_named_in_one_sentence(answer: httpx.Response, detail: str) -> None:
    client, _ = upstreams(lambda request: answer, upstream_retries=0)
    with pytest.raises(Problem) as raised:
        await client.request("core_script", "GET", "/v2/scripts/1/content")
    assert raised.value.detail == f"Core Script Management failed: GET /v2/scripts/1/content {detail}"
    assert (raised.value.status, raised.value.kind, raised.value.title) == (502, "bad-gateway", "Bad gateway")


async def test_a_path_parameter_is_sent_as_one_path_segment() -> None:
    """An id holding a slash or a question mark cannot reach another route of the called service."""
    client, seen = upstreams(lambda request: httpx.Response(200, json={"ok": True}))
    answer = await client.call(
        "central_sequence", "GET", "/v2/elements/{elementType}/{elementId}", TypeAdapter(dict[str, bool]),
        path_params={"elementType": "act/1?x=y", "elementId": 7},
    )  # fmt: skip
    assert answer == {"ok": True}
    assert seen[0].url.raw_path == b"/v2/elements/act%2F1%3Fx%3Dy/7"
