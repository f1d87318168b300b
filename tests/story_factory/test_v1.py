"""/v1: the upstream FullStory and StorySequence shapes, assembled from stubbed source services."""

from typing import Any

import httpx
import yaml

from fountain_common.service import REPO_ROOT
from tests.story_factory.stub_upstreams import StubUpstreams

SPEC = yaml.safe_load((REPO_ROOT / "specs" / "story_factory.yaml").read_text())


def spec_example(path: str) -> Any:
    return SPEC["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["examples"]["example"]["value"]


async def test_full_story_is_the_contract_example(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/stories", params={"scriptId": 1})
    assert response.status_code == 200, response.text
    assert response.json() == spec_example("/v1/stories")


async def test_a_line_without_context_leaves_context_out(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    stub.data.scripts[1]["sections"][0]["lines"][1]["contextId"] = None
    story = (await client.get("/v1/stories", params={"scriptId": 1})).json()["story"]
    assert "context" not in story[1]
    assert [element["context"]["contextId"] for element in (story[0], story[2])] == [1, 3]
    # No context was asked for that no line names.
    assert stub.calls("/v2/contexts")[0].url.params["contextId"] == "1,3"


async def test_unknown_script_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/stories", params={"scriptId": 42})
    assert response.status_code == 404
    assert response.json()["message"] == "Script 42 not found."


async def test_missing_script_id_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/stories")
    assert response.status_code == 400
    assert "scriptId" in response.json()["message"]


async def sequences(client: httpx.AsyncClient, start: int, end: int, script_id: int = 1) -> httpx.Response:
    return await client.get(
        "/v1/stories/sequences", params={"scriptId": script_id, "startSequence": start, "endSequence": end}
    )


async def test_sequences_inside_and_at_the_edges(client: httpx.AsyncClient) -> None:
    full = (await client.get("/v1/stories", params={"scriptId": 1})).json()["story"]
    for start, end in [(1, 3), (2, 2), (1, 1), (3, 3), (2, 3), (1, 2), (3, 99)]:
        response = await sequences(client, start, end)
        assert response.status_code == 200
        assert response.json() == {"scriptId": 1, "sequences": full[start - 1 : end]}, (start, end)


async def test_a_range_holding_no_element_is_400_naming_the_story_length(client: httpx.AsyncClient) -> None:
    response = await sequences(client, 4, 10)
    assert response.status_code == 400
    assert response.json()["message"] == "No story element lies in 4..10: script 1 has sequences 1 to 3."


async def test_inverted_range_is_400(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    response = await sequences(client, 3, 2)
    assert response.status_code == 400
    assert response.json()["message"] == "startSequence must not be greater than endSequence."
    assert stub.requests == []  # refused before anything is read


async def test_sequences_of_an_unknown_script_is_404(client: httpx.AsyncClient) -> None:
    response = await sequences(client, 1, 2, script_id=7)
    assert response.status_code == 404
    assert response.json()["message"] == "Script 7 not found."


async def test_sequences_follow_section_order_then_position(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    """Sections by sequenceNumber (even when listed otherwise), lines by position."""
    content = stub.data.scripts[1]
    first = content["sections"][0]
    content["sections"] = [
        {**first, "headingId": 2, "title": "Act 2", "sequenceNumber": 9, "lines": first["lines"][:1]},
        {**first, "lines": list(reversed(first["lines"][1:]))},
    ]
    story = (await client.get("/v1/stories", params={"scriptId": 1})).json()
    assert [(s["headingId"], s["sequence"]) for s in story["sections"]] == [(1, 1), (2, 2)]
    assert [e["action"]["actionId"] for e in story["story"]] == [2, 3, 1]
    assert [e["sequence"] for e in story["story"]] == [1, 2, 3]
    assert [e["spokenWord"]["sequence"] for e in story["story"]] == [1, 2, 3]
