"""Unknown query parameters are refused in both versions, as unknown body fields are; the declared
ones (repeated, too) pass."""

from collections.abc import Callable

import httpx


async def test_a_misspelt_query_parameter_is_422_naming_it_and_what_the_operation_takes(
    client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    sessions = client_for("session_context")
    response = await sessions.get("/v2/contexts", params={"limt": "5", "sessionId": "1"})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [{"location": "query.limt", "message": "Unknown query parameter."}]
    assert body["detail"] == (
        "Unknown query parameter 'limt'; this operation takes: characterId, contextId, limit, offset, sessionId."
    )


async def test_v1_answers_400_and_an_operation_without_parameters_says_so(
    client_for: Callable[[str], httpx.AsyncClient],
) -> None:
    characters = client_for("character")
    response = await characters.get("/v1/characters?page=2&=x")
    assert response.status_code == 400
    assert response.json()["message"] == "Unknown query parameters '', 'page'; this operation takes: none."
    assert (await characters.get("/health?verbose=1")).status_code == 422


async def test_declared_parameters_pass_also_repeated(client_for: Callable[[str], httpx.AsyncClient]) -> None:
    characters = client_for("character")
    assert (await characters.get("/v2/characters?ids=1,2&ids=3&limit=5")).status_code == 200
    assert (await characters.get("/v1/characters")).status_code == 200
