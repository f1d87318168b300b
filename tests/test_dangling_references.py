"""A character and spoken words deleted while a story uses them, with every service in a process of
its own (calls between them over HTTP): the owners answer 204, and the story stays readable in every
form, each missing part marked where it stood and listed (docs/api-v2.md, section 7.8)."""

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from screenplain.parsers import fountain as fountain_parser
from screenplain.types import Dialog

from tests.service_processes import serve_each

# Five service processes take about a minute to start on a busy machine: run with make test-realdata;
# the default run checks the same marking against the services in-process (tests/story_factory/test_assembly.py).
pytestmark = [pytest.mark.slow, pytest.mark.realdata]


SERVICES = ("central_sequence", "character", "session_context", "core_script", "story_factory")


@pytest.fixture(scope="module")
def urls(database_url: str) -> Iterator[dict[str, str]]:
    """Each service in its own `fountain serve` process, all started at once, each told where the
    others are."""

    def where(urls: list[str]) -> dict[str, str]:
        return {f"FOUNTAIN_{service.upper()}_URL": url for service, url in zip(SERVICES, urls, strict=True)}

    with serve_each([[service] for service in SERVICES], database_url, env_for=where) as urls:
        yield dict(zip(SERVICES, urls, strict=True))


def created(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(url + path, json=body, timeout=30)
    assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"
    answer: dict[str, Any] = response.json()
    return answer


def test_deleting_a_character_and_spoken_words_a_story_uses_leaves_it_readable(urls: dict[str, str]) -> None:
    character, core = urls["character"], urls["core_script"]
    script_id = created(core, "/v2/scripts", {"title": "Balcony"})["scriptId"]
    heading_id = created(core, f"/v2/scripts/{script_id}/sections", {"title": "EXT. BALCONY - NIGHT"})["headingId"]
    juliet = created(character, "/v2/characters", {"name": "Juliet", "description": ""})["characterId"]
    romeo = created(character, "/v2/characters", {"name": "Romeo", "description": ""})["characterId"]
    looks = created(character, "/v2/actions", {"description": "Juliet looks out."})["actionId"]
    words = [created(character, "/v2/spokenWords", {"text": text})["spokenWordId"] for text in ("O Romeo.", "Here.")]
    lines_path = f"/v2/scripts/{script_id}/sections/{heading_id}/lines"
    first = created(core, lines_path, {"characterId": juliet, "actionId": looks, "spokenWordId": words[0]})
    second = created(core, lines_path, {"kind": "dialogue", "characterId": romeo, "spokenWordId": words[1]})

    assert httpx.delete(f"{character}/v2/characters/{romeo}").status_code == 204
    assert httpx.delete(f"{character}/v2/spokenWords/{words[0]}").status_code == 204

    stories = urls["story_factory"]
    story = httpx.get(f"{stories}/v2/stories/{script_id}", timeout=30)
    assert story.status_code == 200, story.text
    assert story.json()["missingParts"] == [
        {"lineId": first["lineId"], "sequence": 1, "part": "spokenWord", "id": words[0]},
        {"lineId": second["lineId"], "sequence": 2, "part": "character", "id": romeo},
    ]
    one, two = story.json()["sections"][0]["lines"]
    assert (one["character"]["name"], one["action"]["description"], one["spokenWord"]) == (
        "Juliet",
        "Juliet looks out.",
        None,
    )
    assert one["missing"] == [{"part": "spokenWord", "id": words[0]}]
    assert (two["character"], two["spokenWord"]["text"]) == (None, "Here.")
    assert two["missing"] == [{"part": "character", "id": romeo}]

    screenplay = httpx.get(f"{stories}/v2/stories/{script_id}/fountain", timeout=30)
    assert screenplay.status_code == 200, screenplay.text
    notes = [line for line in screenplay.text.splitlines() if line.startswith("[[Missing")]
    assert notes == [
        f"[[Missing from line {first['lineId']}: spoken words {words[0]} (deleted since the line was written).]]",
        f"[[Missing from line {second['lineId']}: character {romeo} (deleted since the line was written).]]",
    ]
    dialogues = [p for p in fountain_parser.parse(io.StringIO(screenplay.text)) if isinstance(p, Dialog)]
    assert [(str(d.character), [(paren, str(text)) for paren, text in d.blocks]) for d in dialogues] == [
        ("JULIET", [(True, f"(missing spoken words {words[0]})")]),
        (f"MISSING CHARACTER {romeo}", [(False, "Here.")]),
    ]
    for form in ("fdx", "html", "pdf", "statistics", "scenes"):
        assert httpx.get(f"{stories}/v2/stories/{script_id}/{form}", timeout=60).status_code == 200, form
    statistics = httpx.get(f"{stories}/v2/stories/{script_id}/statistics", timeout=30).json()
    assert [c["name"] for c in statistics["characters"]] == ["Juliet"]
    v1 = httpx.get(f"{stories}/v1/stories", params={"scriptId": script_id}, timeout=30)
    assert v1.status_code == 200 and v1.json()["story"] == []
