"""How a story is read from its sources: the request budget, concurrency, a line naming a part that no
longer exists (against the real services, in-process), and what happens when a source fails (a stub
injects the failure)."""

from collections.abc import Callable

import httpx
import pytest

from fountain_common.settings import Settings
from services.story_factory import assembly
from tests.story_factory.authoring import Author, Speech, Written
from tests.story_factory.conftest import Recorder, StoryClient
from tests.story_factory.stub_upstreams import HANG, REFUSE, StoryData, StubUpstreams

PART_PATHS = ("/v2/characters", "/v2/actions", "/v2/spokenWords", "/v2/contexts")


def asked_ids(request: httpx.Request) -> list[int]:
    param = "contextId" if request.url.path == "/v2/contexts" else "ids"
    return [int(i) for i in request.url.params[param].split(",")]


async def distinct_lines(author: Author, count: int, sections: int = 1) -> Written:
    """`count` lines over `sections` sections, every line naming parts no other line names."""
    written = await author.script("Crowd")
    per_section = count // sections
    for s in range(sections):
        numbers = range(s * per_section + 1, (s + 1) * per_section + 1)
        speeches = [Speech(f"Person {i}", f"Action {i}.", f"Words {i}.", {"mood": f"calm {i}"}) for i in numbers]
        await author.section(written, f"Part {s + 1}", speeches)
    return written


async def test_the_batch_sizes_are_the_owners_bounds(client_for: Callable[[str], httpx.AsyncClient]) -> None:
    """A full batch is one request the owner accepts; one id more is one it refuses."""
    character, session_context = client_for("character"), client_for("session_context")
    for path in ("/v2/characters", "/v2/actions", "/v2/spokenWords"):
        full = ",".join(str(i) for i in range(1, assembly.CHARACTER_BATCH + 1))
        assert (await character.get(path, params={"ids": full, "limit": assembly.CHARACTER_BATCH})).status_code == 200
        over = full + f",{assembly.CHARACTER_BATCH + 1}"
        assert (await character.get(path, params={"ids": over, "limit": assembly.CHARACTER_BATCH})).status_code == 422
    full = ",".join(str(i) for i in range(1, assembly.CONTEXT_BATCH + 1))
    ok = await session_context.get("/v2/contexts", params={"contextId": full, "limit": assembly.CONTEXT_BATCH})
    assert ok.status_code == 200
    over = await session_context.get("/v2/contexts", params={"contextId": f"{full},999", "limit": 100})
    assert over.status_code == 422


async def test_parts_are_read_in_batches_of_the_owners_bound(
    stories: httpx.AsyncClient, author: Author, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the bounds lowered to 3 and 2, a story of 7 lines naming 7 parts of each kind takes one read
    of the script and 3 + 3 + 3 + 4 reads of parts, each asking for distinct ids, together all of them."""
    monkeypatch.setattr(assembly, "CHARACTER_BATCH", 3)
    monkeypatch.setattr(assembly, "CONTEXT_BATCH", 2)
    written = await distinct_lines(author, 7)
    response = await stories.get(f"/v2/stories/{written.script_id}")
    assert response.status_code == 200, response.text
    assert [line["spokenWord"]["text"] for line in response.json()["sections"][0]["lines"]] == [
        f"Words {i}." for i in range(1, 8)
    ]
    per_path = {path: len(recorder.calls(path)) for path in {r.url.path for r in recorder.requests}}
    assert per_path == {
        f"/v2/scripts/{written.script_id}/content": 1,
        "/v2/characters": 3,
        "/v2/actions": 3,
        "/v2/spokenWords": 3,
        "/v2/contexts": 4,
    }
    expected = {
        "/v2/characters": set(written.characters.values()),
        "/v2/actions": set(written.actions.values()),
        "/v2/spokenWords": set(written.spoken_words.values()),
        "/v2/contexts": set(written.contexts),
    }
    for path, bound in zip(PART_PATHS, (3, 3, 3, 2), strict=True):
        batches = [asked_ids(request) for request in recorder.calls(path)]
        assert all(len(ids) <= bound for ids in batches)
        assert {int(request.url.params["limit"]) for request in recorder.calls(path)} == {bound}
        asked = [i for ids in batches for i in ids]
        assert len(asked) == len(set(asked)) and set(asked) == expected[path], path


@pytest.mark.realdata
async def test_a_1000_line_story_takes_17_requests(
    stories: httpx.AsyncClient, author: Author, recorder: Recorder
) -> None:
    """1,000 lines in 4 sections naming 1,000 parts of each kind: 1 + 2 + 2 + 2 + 10 requests."""
    written = await distinct_lines(author, 1000, sections=4)
    response = await stories.get(f"/v2/stories/{written.script_id}")
    assert response.status_code == 200, response.text
    story = response.json()
    assert story["lineCount"] == 1000
    assert [line["sequence"] for s in story["sections"] for line in s["lines"]] == list(range(1, 1001))
    assert [line["spokenWord"]["text"] for line in story["sections"][3]["lines"][-2:]] == ["Words 999.", "Words 1000."]
    assert [len(recorder.calls(path)) for path in PART_PATHS] == [2, 2, 2, 10]
    assert len(recorder.requests) == 17


async def test_a_part_named_by_many_lines_is_asked_for_once(
    stories: httpx.AsyncClient, author: Author, recorder: Recorder
) -> None:
    written = await author.script("Echo")
    speech = Speech("Echo", "Echo repeats.", "Again.")
    await author.section(written, "One", [speech] * 12)
    response = await stories.get("/v1/stories", params={"scriptId": written.script_id})
    assert response.status_code == 200
    assert len(response.json()["story"]) == 12
    assert sorted((r.url.path, asked_ids(r)) for r in recorder.requests[1:]) == [
        ("/v2/actions", [written.actions[speech.action]]),
        ("/v2/characters", [written.characters["Echo"]]),
        ("/v2/spokenWords", [written.spoken_words[speech.words]]),
    ]  # and no context: no line names one


async def test_all_parts_are_read_concurrently(
    stories: httpx.AsyncClient, author: Author, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every read of parts waits until all 13 are in flight: only a concurrent fan-out gets there."""
    monkeypatch.setattr(assembly, "CHARACTER_BATCH", 3)
    monkeypatch.setattr(assembly, "CONTEXT_BATCH", 2)
    written = await distinct_lines(author, 7)
    recorder.gather_at = 13
    response = await stories.get("/v1/stories", params={"scriptId": written.script_id})
    assert response.status_code == 200
    assert recorder.most_in_flight == 13
    assert recorder.gather_gave_up == 0  # every read was let go by the crowd, none by the wait running out


async def test_the_requests_follow_the_interface(
    stories: httpx.AsyncClient, author: Author, recorder: Recorder
) -> None:
    """The exact calls for a three-line story: the content, then one id list per kind."""
    written = await distinct_lines(author, 3)
    assert (await stories.get(f"/v2/stories/{written.script_id}")).status_code == 200
    sent = [(r.method, r.headers["host"], r.url.path, dict(r.url.params)) for r in recorder.requests]
    assert sent[0] == ("GET", "scriptmanagement.fountain.coach", f"/v2/scripts/{written.script_id}/content", {})

    def listed(ids: object) -> str:
        return ",".join(str(i) for i in sorted(ids))  # type: ignore[call-overload]

    assert sorted(sent[1:]) == [
        ("GET", "character.fountain.coach", "/v2/actions", {"ids": listed(written.actions.values()), "limit": "500"}),
        (
            "GET", "character.fountain.coach", "/v2/characters",
            {"ids": listed(written.characters.values()), "limit": "500"},
        ),
        (
            "GET", "character.fountain.coach", "/v2/spokenWords",
            {"ids": listed(written.spoken_words.values()), "limit": "500"},
        ),
        (
            "GET", "sessioncontext.fountain.coach", "/v2/contexts",
            {"contextId": listed(written.contexts), "limit": "100"},
        ),
    ]  # fmt: skip
    assert len({r.headers["x-request-id"] for r in recorder.requests}) == 1  # the request's id travels along


async def test_a_script_without_lines_reads_nothing_else(
    stories: httpx.AsyncClient, author: Author, recorder: Recorder
) -> None:
    draft = await author.script("Draft")
    prologue = await author.section(draft, "Prologue")
    blank = await author.script("Blank")
    story = (await stories.get(f"/v2/stories/{draft.script_id}")).json()
    number = (await author.section_numbers(draft))[prologue]
    assert story["sections"] == [
        {
            "headingId": prologue,
            "title": "Prologue",
            "sceneNumber": None,
            "sequence": 1,
            "sequenceNumber": number,
            "lines": [],
        }
    ]
    assert story["lineCount"] == 0
    full = (await stories.get("/v1/stories", params={"scriptId": blank.script_id})).json()
    assert (full["sections"], full["story"]) == ([], [])
    assert [r.url.path for r in recorder.requests] == [
        f"/v2/scripts/{draft.script_id}/content",
        f"/v2/scripts/{blank.script_id}/content",
    ]


@pytest.mark.parametrize(
    ("path", "kind", "part", "field"),
    [("/v2/characters", "characters", "character", "character"), ("/v2/actions", "actions", "action", "action"),
     ("/v2/spokenWords", "spoken_words", "spokenWord", "spokenWord"), ("/v2/contexts", "contexts", "context", "context")],
)  # fmt: skip
async def test_a_part_deleted_from_its_owner_is_marked_and_listed_and_the_story_stays_readable(
    stories: httpx.AsyncClient, author: Author, path: str, kind: str, part: str, field: str
) -> None:
    written = await distinct_lines(author, 3)
    part_id = written.contexts[2] if kind == "contexts" else list(getattr(written, kind).values())[2]
    owner = author.session_context if kind == "contexts" else author.character
    assert (await owner.delete(f"{path}/{part_id}")).status_code == 204
    line_id = written.line_ids[0][2]

    story = await stories.get(f"/v2/stories/{written.script_id}")
    assert story.status_code == 200, story.text
    lines = story.json()["sections"][0]["lines"]
    assert [line["missing"] for line in lines] == [[], [], [{"part": part, "id": part_id}]]
    assert lines[2][field] is None and lines[1][field] is not None
    assert story.json()["missingParts"] == [{"lineId": line_id, "sequence": 3, "part": part, "id": part_id}]
    # A range without the line lists nothing missing.
    assert (await stories.get(f"/v2/stories/{written.script_id}?toSequence=2")).json()["missingParts"] == []

    screenplay = await stories.get(f"/v2/stories/{written.script_id}/fountain")
    assert screenplay.status_code == 200, screenplay.text
    assert f"Missing from line {line_id}: " in screenplay.text

    v1 = await stories.get(f"/v1/stories?scriptId={written.script_id}")
    assert v1.status_code == 200, v1.text
    elements = v1.json()["story"]
    if part == "context":
        # The element stays, without the context it no longer has.
        assert [e["sequence"] for e in elements] == [1, 2, 3] and "context" not in elements[2]
    else:
        # v1 has no way to mark a hole: the element is left out, like one v1 cannot express.
        assert [e["sequence"] for e in elements] == [1, 2]


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
