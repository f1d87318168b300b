"""Hostile input and a database that stops answering: every answer is a problem a client can act on,
nothing stored is ever unreadable, and no request hangs."""

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli import registry
from fountain_common.app import create_service_app
from fountain_common.database import create_engine
from fountain_common.http_server import server_options
from fountain_common.request_limits import parse_json
from fountain_common.settings import Settings
from tests.service_processes import free_port

Client = Callable[[str], httpx.AsyncClient]
MALFORMED = "https://fountain.coach/problems/malformed-request"
JSON = {"content-type": "application/json"}


def nested(depth: int) -> Any:
    """An object `depth` levels deep (version data is an object)."""
    value: Any = "leaf"
    for _ in range(depth):
        value = {"in": value}
    return value


async def numbered_element(client: httpx.AsyncClient, element_id: int) -> None:
    await client.post("/v2/scopes/default/elements", json={"elementType": "dialogue", "elementId": element_id})


# --- nothing stored is unreadable ------------------------------------------------------------------


async def test_version_data_nested_too_deep_is_refused_on_v1_and_v2(client_for: Client) -> None:
    client = client_for("central_sequence")
    await numbered_element(client, 91_001)
    deep = json.dumps({"elementType": "dialogue", "elementId": 91_001, "newVersionData": nested(256)})
    v1 = await client.post("/v1/sequence/version", content=deep, headers=JSON)
    assert v1.status_code == 400
    assert v1.json()["type"] == MALFORMED
    assert "Nested deeper than 64 levels" in v1.json()["message"]
    # At the 65th opening brace (the body's own object is the first level).
    fault = [index for index, char in enumerate(deep) if char == "{"][64]
    assert v1.json()["errors"] == [{"location": f"body.{fault}", "message": "Nested deeper than 64 levels"}]

    v2 = await client.post(
        "/v2/scopes/default/elements/dialogue/91001/versions",
        json={"data": nested(256)},
        headers={"Idempotency-Key": "deep"},
    )
    assert v2.status_code == 400
    assert v2.headers["content-type"] == "application/problem+json"
    assert v2.json()["type"] == MALFORMED
    assert (await client.get("/v2/scopes/default/elements/dialogue/91001")).json()["version"] == 1  # nothing stored


async def test_the_deepest_value_accepted_is_read_back_everywhere(client_for: Client) -> None:
    client = client_for("central_sequence")
    await numbered_element(client, 91_002)
    deepest = nested(63)  # inside {"data": ...}: 64 levels
    v2 = await client.post("/v2/scopes/default/elements/dialogue/91002/versions", json={"data": deepest})
    assert v2.status_code == 201, v2.text
    v1 = await client.post(
        "/v1/sequence/version", json={"elementType": "dialogue", "elementId": 91_002, "newVersionData": nested(62)}
    )
    assert v1.status_code == 201
    assert (await client.get("/v2/scopes/default/elements/dialogue/91002/versions/2")).json()["data"] == deepest
    assert (await client.get("/v2/scopes/default/elements/dialogue/91002/versions/3")).json()["data"] == nested(62)
    page = await client.get("/v2/scopes/default/elements/dialogue/91002/versions")
    assert page.status_code == 200
    assert [version["data"] for version in page.json()["items"]] == [None, deepest, nested(62)]


async def test_a_value_stored_deeper_before_the_limit_is_still_read_back(
    client_for: Client, engine: AsyncEngine
) -> None:
    client = client_for("central_sequence")
    await numbered_element(client, 91_005)
    assert (
        await client.post("/v2/scopes/default/elements/dialogue/91005/versions", json={"data": {}})
    ).status_code == 201
    legacy = nested(300)  # as /v1 stored it before bodies were limited
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE central_sequence.element_versions SET data = CAST(:data AS jsonb) FROM "
                "central_sequence.elements e WHERE element_pk = e.id AND e.element_id = 91005 AND element_versions.version = 2"
            ),
            {"data": json.dumps(legacy)},
        )
    one = await client.get("/v2/scopes/default/elements/dialogue/91005/versions/2")
    assert one.status_code == 200
    assert one.json()["data"] == legacy
    page = await client.get("/v2/scopes/default/elements/dialogue/91005/versions")
    assert page.status_code == 200
    assert page.json()["items"][1]["data"] == legacy
    assert page.json()["items"][1]["createdAt"] == one.json()["createdAt"]


# --- the body parser's failures are malformed-request, with a position ------------------------------


@pytest.mark.parametrize(
    ("body", "reason", "offset"),
    [
        (b'{"name": "Jul\xffiet", "description": "d"}', "Invalid UTF-8", 13),
        (b'{"name": "J", "description": "d", "n": ' + b"7" * 5000 + b"}", "Number too long", 39),
        (b'{"name": "J", "description": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "Nested deeper", 92),
        (b'{"name": "J", "description": NaN}', "NaN is not a JSON value", 29),
        (b'{"name": "J", "description": "1e400", "n": 1e400}', "Number out of range", 43),
        (b'{"name": "J", "description": [1.5, 2e308, -1e400]}', "Number out of range", 35),
        (b'{"name": "J", "description": "d"', "Expecting ',' delimiter", 32),
    ],
    ids=["invalid-utf8", "long-integer", "parser-recursion", "nan", "huge-float", "huge-float-in-array", "truncated"],
)
async def test_a_body_the_parser_refuses_is_malformed_request_with_its_position(
    client_for: Client, body: bytes, reason: str, offset: int
) -> None:
    response = await client_for("character").post("/v2/characters", content=body, headers=JSON)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == MALFORMED
    assert reason in problem["detail"]
    assert problem["errors"][0]["location"] == f"body.{offset}"


def test_the_position_of_a_fault_counts_characters_not_bytes() -> None:
    with pytest.raises(json.JSONDecodeError) as fault:
        parse_json('["é", "\u00e9x'.encode() + b"\xc3(", max_depth=8)
    assert fault.value.pos == len('["é", "éx')


def test_brackets_and_digits_inside_strings_are_text() -> None:
    text = json.dumps({"s": "[{" * 500 + "9" * 5000, "v": nested(3)})
    assert parse_json(text.encode(), max_depth=4) == json.loads(text)


# --- integers are written in digits ---------------------------------------------------------------


@pytest.mark.parametrize("written", ["%20{}", "{}%20", "%2B{}", "{}%0A", "{}_0"])
async def test_an_integer_path_value_not_written_in_digits_is_422_and_touches_nothing(
    client_for: Client, written: str
) -> None:
    client = client_for("character")
    character_id = (await client.post("/v2/characters", json={"name": "Tybalt", "description": "d"})).json()[
        "characterId"
    ]
    decorated = written.format(character_id)
    response = await client.delete(f"/v2/characters/{decorated}")
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "path.characterId"
    assert (await client.get(f"/v2/characters/{character_id}")).status_code == 200
    assert (await client.get(f"/v1/characters/{decorated}/paraphrases")).status_code == 400


@pytest.mark.parametrize("limit", [" 5", "5 ", "+5", "5_0"])
async def test_an_integer_query_value_not_written_in_digits_is_422(client_for: Client, limit: str) -> None:
    response = await client_for("character").get("/v2/characters", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "query.limit"


async def test_an_id_list_with_a_trailing_newline_is_422_in_any_occurrence(client_for: Client) -> None:
    response = await client_for("character").get("/v2/characters", params=[("ids", "1\n"), ("ids", "2")])
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "query.ids"


async def test_thousands_of_unknown_query_parameters_are_named_by_a_few(client_for: Client) -> None:
    query = "&".join(f"p{n}=1" for n in range(4000))
    response = await client_for("character").get(f"/v2/characters?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "and 3990 more" in response.json()["detail"]
    assert len(response.json()["errors"]) == 10


# --- request size ---------------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_and_stores_nothing(client_for: Client, settings: Settings) -> None:
    client = client_for("central_sequence")
    await numbered_element(client, 91_003)
    text = "x" * settings.max_body_bytes
    declared = await client.post("/v2/scopes/default/elements/dialogue/91003/versions", json={"data": {"text": text}})
    assert declared.status_code == 413
    assert declared.headers["content-type"] == "application/problem+json"
    assert declared.json()["type"] == "https://fountain.coach/problems/content-too-large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"data": {"text": "'
        for _ in range(settings.max_body_bytes // 65536 + 1):
            yield b"x" * 65536
        yield b'"}}'

    streamed = await client.post("/v2/scopes/default/elements/dialogue/91003/versions", content=chunks(), headers=JSON)
    assert streamed.status_code == 413
    assert streamed.json()["type"] == "https://fountain.coach/problems/content-too-large"
    v1 = await client.post(
        "/v1/sequence/version", json={"elementType": "dialogue", "elementId": 91_003, "newVersionData": text}
    )
    assert v1.status_code == 413 and "message" in v1.json()
    assert (await client.get("/v2/scopes/default/elements/dialogue/91003")).json()["version"] == 1


@pytest.mark.parametrize("service", ["central_sequence", "character", "core_script", "session_context"])
async def test_every_operation_taking_a_body_answers_413_as_its_spec_declares(
    client_for: Client, settings: Settings, service: str
) -> None:
    spec = yaml.safe_load(registry.load_service(service).spec_path.read_text())
    client = client_for(service)
    # Declared too large: refused before a byte of it is read (and before the path is routed).
    declared_length = {**JSON, "content-length": str(settings.max_body_bytes + 1)}
    operations = [
        (m, path, op) for path, item in spec["paths"].items() for m, op in item.items() if "requestBody" in op
    ]
    assert operations
    for method, path, operation in operations:
        declared = spec["components"]["responses"][operation["responses"]["413"]["$ref"].rsplit("/", 1)[1]]
        [(media_type, media)] = declared["content"].items()
        schema = spec["components"]["schemas"][media["schema"]["$ref"].rsplit("/", 1)[1]]
        response = await client.request(method, path, content=b"{}", headers=declared_length)
        assert response.status_code == 413, (method, path)
        assert response.headers["content-type"] == media_type
        problem = response.json()
        assert set(schema["required"]) <= set(problem)
        assert problem["type"] == "https://fountain.coach/problems/content-too-large"
        assert f"({settings.max_body_bytes} bytes)" in problem["detail"]


# --- a real server: what the connection says ------------------------------------------------------


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[tuple[str, FastAPI]]:
    """Central Sequence under uvicorn in a thread, as `fountain serve` runs it."""
    app = create_service_app(registry.load_service("central_sequence"), settings=Settings(database_url=database_url))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **server_options()))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=15)


def test_after_a_500_the_server_says_it_closes_the_connection(
    served: tuple[str, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, app = served

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected failure")

    monkeypatch.setattr(app.state.operations, "list_elements", broken)
    with httpx.Client(base_url=url) as http:
        failed = http.get("/v2/scopes/default/elements")
        assert failed.status_code == 500
        assert failed.headers["connection"] == "close"
        assert http.get("/health").status_code == 200  # the client opened a new connection


def _raw(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_declared_oversized_body_is_refused_without_waiting_for_it(served: tuple[str, FastAPI]) -> None:
    answer = _raw(
        served[0],
        b"POST /v2/scopes/default/elements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 209715200\r\n\r\n{",
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["type"] == "https://fountain.coach/problems/content-too-large"


def test_a_request_line_too_long_to_parse_is_answered_with_a_problem(served: tuple[str, FastAPI]) -> None:
    query = "&".join(f"p{n}={n}" for n in range(10_000)).encode()
    answer = _raw(served[0], b"GET /v2/scopes/default/elements?" + query + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/problem+json" in head.lower()
    assert json.loads(body)["type"] == MALFORMED


# --- a database that stops answering --------------------------------------------------------------


def _postgres_processes(postgres_dir: Path) -> list[psutil.Process]:
    postmaster = psutil.Process(int((postgres_dir / "pgdata" / "postmaster.pid").read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


async def test_a_frozen_database_turns_into_503_for_requests_and_ready(postgres_dir: Path, database_url: str) -> None:
    settings = Settings(
        database_url=database_url,
        database_statement_timeout_seconds=1,
        database_connect_timeout_seconds=1,
        database_pool_timeout_seconds=1,
    )
    own_engine = create_engine(settings, pool_size=2)
    app = create_service_app(registry.load_service("central_sequence"), settings=settings, engine=own_engine)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/v2/scopes/default/elements")).status_code == 200  # a pooled connection, open
            frozen = _postgres_processes(postgres_dir)
            for process in frozen:
                process.send_signal(signal.SIGSTOP)
            try:
                # Without timeouts these never answer; the guard only keeps a failing test from hanging.
                answers = await asyncio.wait_for(
                    asyncio.gather(
                        client.get("/v2/scopes/default/elements"),
                        client.post("/v1/sequence", json={"elementType": "script", "elementId": 91_004}),
                        client.get("/ready"),
                    ),
                    timeout=60,
                )
            finally:
                for process in frozen:
                    process.send_signal(signal.SIGCONT)
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "5"
            recovered = await client.get("/ready")
            assert recovered.status_code == 200  # and back once the database answers again
    finally:
        await own_engine.dispose()


async def test_a_statement_past_the_timeout_is_503(database_url: str) -> None:
    settings = Settings(database_url=database_url, database_statement_timeout_seconds=0.2)
    own_engine = create_engine(settings, pool_size=1)
    app = create_service_app(registry.load_service("central_sequence"), settings=settings, engine=own_engine)

    async def slow(conn: Any, *args: object, **kwargs: object) -> None:
        await conn.exec_driver_sql("SELECT pg_sleep(5)")

    app.state.operations.list_elements = slow
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            response = await client.get("/v2/scopes/default/elements")
        assert response.status_code == 503
        assert response.json()["detail"] == "The database did not answer in time."
    finally:
        await own_engine.dispose()
