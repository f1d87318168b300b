"""How a story is read from its sources: the request budget, concurrency, and what happens when a
source fails or a line names a part that no longer exists."""

import time
from collections.abc import Callable

import httpx
import pytest

from fountain_common.settings import Settings
from tests.story_factory.conftest import StoryClient
from tests.story_factory.stub_upstreams import (
    HANG,
    REFUSE,
    StoryData,
    StubUpstreams,
    action,
    character,
    context,
    script_content,
    spoken_word,
)

LINES = 1000


def long_story() -> StoryData:
    """1,000 lines in 4 sections, every line naming parts no other line names."""
    data = StoryData()
    lines = [(i, i, i, i) for i in range(1, LINES + 1)]
    sections = [(s + 1, f"Part {s + 1}", 10 + s, lines[s * 250 : (s + 1) * 250]) for s in range(4)]
    data.scripts[5] = script_content(5, "Long", sections)
    for i in range(1, LINES + 1):
        data.characters[i] = character(i, f"Person {i}", "")
        data.actions[i] = action(i, f"Action {i}.")
        data.spoken_words[i] = spoken_word(i, f"Words {i}.")
        data.contexts[i] = context(i, i, {"mood": "calm"})
    return data


async def test_a_1000_line_story_takes_17_requests(story_client: StoryClient) -> None:
    stub = StubUpstreams(long_story())
    response = await story_client(stub).get("/v2/stories/5")
    assert response.status_code == 200, response.text
    story = response.json()
    assert story["lineCount"] == LINES
    assert [line["sequence"] for s in story["sections"] for line in s["lines"]] == list(range(1, LINES + 1))
    assert [line["spokenWord"]["text"] for line in story["sections"][3]["lines"][-2:]] == ["Words 999.", "Words 1000."]

    per_path = {path: len(stub.calls(path)) for path in {r.url.path for r in stub.requests}}
    assert per_path == {
        "/v2/scripts/5/content": 1,
        "/v2/characters": 2,
        "/v2/actions": 2,
        "/v2/spokenWords": 2,
        "/v2/contexts": 10,
    }
    asked: dict[str, set[int]] = {}
    parts = [
        r for path in ("/v2/characters", "/v2/actions", "/v2/spokenWords", "/v2/contexts") for r in stub.calls(path)
    ]
    for request in parts:
        param = "contextId" if request.url.path == "/v2/contexts" else "ids"
        ids = [int(i) for i in request.url.params[param].split(",")]
        assert len(ids) <= int(request.url.params["limit"]) <= 500
        asked.setdefault(request.url.path, set()).update(ids)
    assert all(ids == set(range(1, LINES + 1)) for ids in asked.values())


async def test_a_part_named_by_many_lines_is_asked_for_once(story_client: StoryClient, stub: StubUpstreams) -> None:
    lines = [(1, 1, 1, 1)] * 600
    stub.data.scripts[1] = script_content(1, "Echo", [(1, "One", 2, lines)])
    response = await story_client(stub).get("/v1/stories", params={"scriptId": 1})
    assert response.status_code == 200
    assert len(response.json()["story"]) == 600
    assert [(r.url.path, r.url.params.get("ids") or r.url.params["contextId"]) for r in stub.requests[1:]] == [
        ("/v2/characters", "1"),
        ("/v2/actions", "1"),
        ("/v2/spokenWords", "1"),
        ("/v2/contexts", "1"),
    ]


async def test_all_parts_are_read_concurrently(story_client: StoryClient) -> None:
    """Every request for parts waits until 16 are in flight: only a concurrent fan-out gets there."""
    stub = StubUpstreams(long_story())
    stub.gather_at = 16
    started = time.monotonic()
    response = await story_client(stub).get("/v1/stories", params={"scriptId": 5})
    assert response.status_code == 200
    assert stub.most_in_flight == 16
    assert time.monotonic() - started < stub.gather_timeout


@pytest.mark.parametrize(
    ("field", "part", "label"),
    [("characterId", 77, "character"), ("actionId", 78, "action"), ("spokenWordId", 79, "spoken word"),
     ("contextId", 80, "context")],
)  # fmt: skip
async def test_a_part_that_no_longer_exists_is_409(
    client: httpx.AsyncClient, stub: StubUpstreams, field: str, part: int, label: str
) -> None:
    line = stub.data.scripts[1]["sections"][0]["lines"][2]
    line[field] = part
    for path in ("/v1/stories?scriptId=1", "/v2/stories/1", "/v2/stories/1/fountain"):
        response = await client.get(path)
        assert response.status_code == 409
        expected = f"Line {line['lineId']} (story element 3) names {label} {part}, which no longer exists."
        assert response.json()["detail"] == expected


@pytest.mark.parametrize(
    ("failing", "upstream"),
    [("core_script", "core_script"), ("/v2/actions", "character"), ("session_context", "session_context")],
)
async def test_a_refused_connection_is_502_naming_the_source(
    client: httpx.AsyncClient, stub: StubUpstreams, failing: str, upstream: str
) -> None:
    stub.failures[failing] = REFUSE
    response = await client.get("/v2/stories/1")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["upstream"] == upstream
    v1 = await client.get("/v1/stories", params={"scriptId": 1})
    assert (v1.status_code, v1.json()["upstream"]) == (502, upstream)
    assert "failed" in v1.json()["message"]


async def test_a_503_is_retried_a_bounded_number_of_times_then_502(
    client: httpx.AsyncClient, stub: StubUpstreams, settings: Settings
) -> None:
    stub.failures["/v2/characters"] = 503
    response = await client.get("/v1/stories", params={"scriptId": 1})
    assert response.status_code == 502
    assert response.json()["upstream"] == "character"
    assert len(stub.calls("/v2/characters")) == 1 + settings.upstream_retries


async def test_an_unexpected_4xx_is_502(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    stub.failures["/v2/contexts"] = 422
    response = await client.get("/v2/stories/1")
    assert response.status_code == 502
    assert response.json()["upstream"] == "session_context"
    assert len(stub.calls("/v2/contexts")) == 1  # a 4xx is an answer: not retried


async def test_an_answer_that_breaks_the_interface_is_502(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    del stub.data.scripts[1]["sections"][0]["lines"][0]["position"]
    response = await client.get("/v2/stories/1")
    assert (response.status_code, response.json()["upstream"]) == (502, "core_script")


@pytest.mark.parametrize(("failing", "upstream"), [("core_script", "core_script"), ("/v2/spokenWords", "character")])
async def test_no_answer_in_time_is_504_after_bounded_retries(
    story_client: StoryClient, stub: StubUpstreams, database_url: str, failing: str, upstream: str
) -> None:
    quick = Settings(database_url=database_url, upstream_timeout_seconds=0.1, upstream_retries=1)
    stub.failures[failing] = HANG
    response = await story_client(stub, quick).get("/v2/stories/1")
    assert response.status_code == 504
    body = response.json()
    assert (body["upstream"], body["title"]) == (upstream, "Gateway timeout")
    path = "/v2/scripts/1/content" if failing == "core_script" else failing
    assert len(stub.calls(path)) == 2


async def test_the_requests_follow_the_interface(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    """The exact calls for Romeo and Juliet: the content, then one id list per kind."""
    assert (await client.get("/v2/stories/1")).status_code == 200
    sent = [(r.method, r.headers["host"], r.url.path, dict(r.url.params)) for r in stub.requests]
    assert sent[0] == ("GET", "scriptmanagement.fountain.coach", "/v2/scripts/1/content", {})
    assert sorted(sent[1:]) == [
        ("GET", "character.fountain.coach", "/v2/actions", {"ids": "1,2,3", "limit": "500"}),
        ("GET", "character.fountain.coach", "/v2/characters", {"ids": "1,2", "limit": "500"}),
        ("GET", "character.fountain.coach", "/v2/spokenWords", {"ids": "1,2,3", "limit": "500"}),
        ("GET", "sessioncontext.fountain.coach", "/v2/contexts", {"contextId": "1,2,3", "limit": "100"}),
    ]
    assert len({r.headers["x-request-id"] for r in stub.requests}) == 1  # the request's id travels along


async def test_a_script_without_lines_reads_nothing_else(client: httpx.AsyncClient, stub: StubUpstreams) -> None:
    stub.data.scripts[2] = script_content(2, "Draft", [(4, "Prologue", 3, [])])
    stub.data.scripts[3] = script_content(3, "Blank", [])
    prologue = await client.get("/v2/stories/2")
    assert prologue.json()["sections"] == [
        {"headingId": 4, "title": "Prologue", "sceneNumber": None, "sequence": 1, "sequenceNumber": 3, "lines": []}
    ]
    blank = await client.get("/v1/stories", params={"scriptId": 3})
    assert (blank.json()["sections"], blank.json()["story"]) == ([], [])
    assert [r.url.path for r in stub.requests] == ["/v2/scripts/2/content", "/v2/scripts/3/content"]


@pytest.mark.parametrize(
    ("break_answer", "upstream"),
    [
        (lambda data: data.characters[1].update(name=5), "character"),
        (lambda data: data.contexts[2].update(data={"mood": ["not", "text"]}), "session_context"),
        (lambda data: data.scripts[1]["sections"][0].update(title=None), "core_script"),
        (lambda data: data.scripts[1]["sections"][0]["lines"][1].update(lineId="two"), "core_script"),
        (lambda data: data.scripts[1]["sections"][0]["lines"][1].update(position="2"), "core_script"),
        (lambda data: data.scripts[1]["sections"][0]["lines"][0].update(characterId=[1]), "core_script"),
        (lambda data: data.actions[2].update(actionId={"id": 2}), "character"),
    ],
)
async def test_a_value_of_the_wrong_type_is_502_naming_its_source(
    client: httpx.AsyncClient, stub: StubUpstreams, break_answer: Callable[[StoryData], None], upstream: str
) -> None:
    break_answer(stub.data)
    for path in ("/v1/stories?scriptId=1", "/v2/stories/1"):
        response = await client.get(path)
        assert response.status_code == 502, response.text
        body = response.json()
        assert body["upstream"] == upstream
        assert "broke its contract" in body["detail"]
