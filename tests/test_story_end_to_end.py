"""The whole system at work: the upstream Romeo and Juliet example built part by part through the
public APIs of four services, all served by one `fountain serve` process exactly as a user runs it
(routed by Host header, the services calling each other over HTTP through it), and read back whole
from Story Factory. The answer must equal the upstream FullStory example in content and order; only
the ids differ, and they must be the ones the services handed out."""

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from fountain_cli.main import app
from tests.service_processes import serve

SPECS = Path(__file__).resolve().parent.parent / "specs"
HOSTS = {
    "character": "character.fountain.coach",
    "core_script": "scriptmanagement.fountain.coach",
    "session_context": "sessioncontext.fountain.coach",
    "story_factory": "storyfactory.fountain.coach",
}

pytestmark = pytest.mark.slow


def upstream_example() -> dict[str, Any]:
    spec = yaml.safe_load((SPECS / "story_factory.yaml").read_text())
    operation = spec["paths"]["/v1/stories"]["get"]
    example: dict[str, Any] = operation["responses"]["200"]["content"]["application/json"]["examples"]["example"]
    return copy.deepcopy(example["value"])


class System:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)

    def call(self, service: str, method: str, path: str, *, expect: int, **kwargs: Any) -> Any:
        response = self.http.request(method, path, headers={"Host": HOSTS[service]}, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


@pytest.fixture(scope="module")
def system(database_url: str) -> Iterator[System]:
    with serve([], database_url, ready_path="/ready", host_header=HOSTS["story_factory"]) as urls:
        system = System(urls[0])
        yield system
        system.http.close()


def build_romeo_and_juliet(system: System, example: dict[str, Any]) -> dict[str, dict[int, int]]:
    """Create every part of the example through the public APIs; answers example id -> real id, by kind."""
    ids: dict[str, dict[int, int]] = {kind: {} for kind in ("script", "heading", "character", "action", "spoken")}
    ids["context"] = {}

    orchestration = example["orchestration"]
    script = system.call(
        "core_script",
        "POST",
        "/v2/scripts",
        expect=201,
        json={
            "title": example["title"],
            "author": example["author"],
            "description": example["description"],
            "orchestration": orchestration,
        },
    )
    ids["script"][example["scriptId"]] = script["scriptId"]
    for section in example["sections"]:
        added = system.call(
            "core_script",
            "POST",
            f"/v1/scripts/{script['scriptId']}/sections",
            expect=201,
            json={"title": section["title"]},
        )
        ids["heading"][section["headingId"]] = added["headingId"]

    # Characters, actions and spoken words through the upstream v1 API of Character Management.
    for element in example["story"]:
        character, action, spoken = element["character"], element["action"], element["spokenWord"]
        if character["characterId"] not in ids["character"]:
            created = system.call(
                "character",
                "POST",
                "/v1/characters",
                expect=201,
                json={"name": character["name"], "description": character["description"]},
            )
            ids["character"][character["characterId"]] = created["characterId"]
        created = system.call(
            "character", "POST", "/v1/actions", expect=201, json={"description": action["description"]}
        )
        ids["action"][action["actionId"]] = created["actionId"]
        created = system.call("character", "POST", "/v1/spokenWords", expect=201, json={"text": spoken["text"]})
        ids["spoken"][spoken["dialogueId"]] = created["dialogueId"]

    # A session holds one context per character: Juliet's second mood is a later session of the same user.
    sessions: list[tuple[int, set[int]]] = []
    for element in example["story"]:
        context = element["context"]
        character_id = ids["character"][context["characterId"]]
        session = next((s for s in sessions if character_id not in s[1]), None)
        if session is None:
            created = system.call("session_context", "POST", "/v2/sessions", expect=201, json={"userId": 123})
            session = (created["sessionId"], set())
            sessions.append(session)
        session[1].add(character_id)
        created = system.call(
            "session_context",
            "POST",
            f"/v2/sessions/{session[0]}/contexts",
            expect=201,
            json={"characterId": character_id, "data": context["data"]},
        )
        ids["context"][context["contextId"]] = created["contextId"]

    # The story lines, in the example's order, in the one section.
    heading_id = ids["heading"][example["sections"][0]["headingId"]]
    for element in example["story"]:
        system.call(
            "core_script",
            "POST",
            f"/v2/scripts/{script['scriptId']}/sections/{heading_id}/lines",
            expect=201,
            json={
                "characterId": ids["character"][element["character"]["characterId"]],
                "actionId": ids["action"][element["action"]["actionId"]],
                "spokenWordId": ids["spoken"][element["spokenWord"]["dialogueId"]],
                "contextId": ids["context"][element["context"]["contextId"]],
            },
        )
    return ids


def with_real_ids(example: dict[str, Any], ids: dict[str, dict[int, int]]) -> dict[str, Any]:
    expected = copy.deepcopy(example)
    expected["scriptId"] = ids["script"][example["scriptId"]]
    for section in expected["sections"]:
        section["headingId"] = ids["heading"][section["headingId"]]
        section["scriptId"] = expected["scriptId"]
    for element in expected["story"]:
        element["character"]["characterId"] = ids["character"][element["character"]["characterId"]]
        element["action"]["actionId"] = ids["action"][element["action"]["actionId"]]
        element["spokenWord"]["dialogueId"] = ids["spoken"][element["spokenWord"]["dialogueId"]]
        element["context"]["contextId"] = ids["context"][element["context"]["contextId"]]
        element["context"]["characterId"] = ids["character"][element["context"]["characterId"]]
    return expected


def test_romeo_and_juliet_built_through_four_services_comes_back_as_the_upstream_full_story(system: System) -> None:
    example = upstream_example()
    ids = build_romeo_and_juliet(system, example)
    script_id = ids["script"][example["scriptId"]]

    story = system.call("story_factory", "GET", "/v1/stories", params={"scriptId": script_id}, expect=200)
    assert story == with_real_ids(example, ids)

    middle = system.call(
        "story_factory",
        "GET",
        "/v1/stories/sequences",
        params={"scriptId": script_id, "startSequence": 2, "endSequence": 3},
        expect=200,
    )
    assert middle == {"scriptId": script_id, "sequences": story["story"][1:3]}
    for start, end in [(4, 9), (3, 2)]:  # past the end, inverted
        refused = system.call(
            "story_factory",
            "GET",
            "/v1/stories/sequences",
            params={"scriptId": script_id, "startSequence": start, "endSequence": end},
            expect=400,
        )
        assert refused["message"]

    # A change made in one service shows in the next story: Romeo's line moves to the front.
    heading_id = story["sections"][0]["headingId"]
    lines = system.call("core_script", "GET", f"/v2/scripts/{script_id}/sections/{heading_id}/lines", expect=200)[
        "items"
    ]
    system.call(
        "core_script",
        "POST",
        f"/v2/scripts/{script_id}/sections/{heading_id}/lines/{lines[1]['lineId']}/move",
        expect=200,
        json={"position": 1},
    )
    reordered = system.call("story_factory", "GET", "/v1/stories", params={"scriptId": script_id}, expect=200)
    speakers = [element["character"]["name"] for element in reordered["story"]]
    assert speakers == ["Romeo", "Juliet", "Juliet"]
    assert [element["sequence"] for element in reordered["story"]] == [1, 2, 3]

    missing = system.call("story_factory", "GET", "/v1/stories", params={"scriptId": script_id + 1000}, expect=404)
    assert "not found" in missing["message"]


def test_fountain_import_sends_a_screenplay_that_comes_back_as_fountain(system: System, tmp_path: Path) -> None:
    screenplay = tmp_path / "scene.fountain"
    screenplay.write_text(
        "Title: The Call\n\nINT. KITCHEN - NIGHT #1#\n\nThe phone rings.\n\nANNA (O.S.)\n(sleepy)\nWho is it?\n"
    )
    result = CliRunner().invoke(app, ["import", str(screenplay), "--url", system.url])
    assert result.exit_code == 0, result.output
    script_id = int(result.output.split(" as script ", 1)[1].split(" ", 1)[0])
    assert "1 scenes, 2 elements, 1 characters" in result.output
    fountain = system.http.get(f"/v2/stories/{script_id}/fountain", headers={"Host": HOSTS["story_factory"]})
    assert fountain.status_code == 200
    assert ".INT. KITCHEN - NIGHT #1#" in fountain.text and "ANNA (O.S.)\n(sleepy)\nWho is it?" in fountain.text

    not_utf8 = tmp_path / "latin1.fountain"
    not_utf8.write_bytes("INT. CAF\xc9 - DAY\n".encode("latin-1"))
    refused = CliRunner().invoke(app, ["import", str(not_utf8), "--url", system.url])
    assert refused.exit_code == 1 and "is not UTF-8 text (byte 8, line 1)" in refused.output
    bad = tmp_path / "bad.fountain"
    bad.write_text("INT. KITCHEN - NIGHT #1_A#\n\nThe phone rings.\n")
    failed = CliRunner().invoke(app, ["import", str(bad), "--url", system.url])
    assert failed.exit_code == 1 and "422 Invalid request: Line 1: Scene number #1_A#" in failed.output
