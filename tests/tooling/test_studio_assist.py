"""The studio's AI assist against a small OpenAI-compatible server run by the test (a real HTTP server
standing in for the model): a proposal is shown with its problems and what it changes, and nothing
changes until the page sends it back as an edit; bad answers, a dead endpoint and no endpoint at all
are problems, never a 500."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fountain_cli.studio.app import create_app, open_studio
from fountain_cli.studio.assist import AssistSettings
from tests.service_processes import free_port
from tests.tooling.conftest import INPUTS, snapshot
from tests.tooling.fake_model import FakeModel, fake_model

LIBRARY = json.loads((INPUTS / "library.json").read_text())


@pytest.fixture(scope="module")
def model() -> Iterator[FakeModel]:
    with fake_model() as fake:
        yield fake


@pytest.fixture(scope="module")
def root(repository_copy: Callable[[], Path]) -> Path:
    return repository_copy()


@pytest.fixture
def studio(tmp_path: Path, root: Path, model: FakeModel) -> Iterator[tuple[TestClient, Path]]:
    model.requests.clear()
    model.headers.clear()
    model.status = 200
    model.delay = 0.0
    source = tmp_path / "library.json"
    source.write_text((INPUTS / "library.json").read_text())
    opened = open_studio(source, None, root)
    opened.assist = AssistSettings(model.url, "tiny-model", "secret-key")
    with TestClient(create_app(opened), base_url="http://127.0.0.1:8790") as client:
        yield client, source


def with_note() -> dict[str, Any]:
    proposal = json.loads(json.dumps(LIBRARY))
    proposal["entities"]["review"]["fields"]["note"] = {"type": "text"}
    del proposal["entities"]["book"]["fields"]["pages"]
    proposal["entities"]["tag"] = {"fields": {"id": {"type": "serial", "primaryKey": True}}}
    return proposal


def test_a_valid_proposal_is_shown_then_accepted_as_an_edit(studio: tuple[TestClient, Path], model: FakeModel) -> None:
    client, source = studio
    before = snapshot(source.parent)
    model.content = json.dumps(with_note())
    answer = client.post("/api/assist", json={"instruction": "add a note to reviews"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["proposal"] == with_note() and body["problems"] == []
    assert body["changes"] == [
        "field book.pages removed",
        'field review.note added: {"type": "text"}',
        "table tag added (id)",
    ]

    # The model was asked with the schema, the rules and the instruction, for a JSON object.
    asked = model.requests[-1]
    assert asked["path"] == "/v1/chat/completions" and asked["model"] == "tiny-model"
    assert asked["response_format"] == {"type": "json_object"}
    system, user = asked["messages"]
    assert '"primaryKey"' in system["content"] and "Every entity has a primary key" in system["content"]
    assert json.loads(user["content"].split("\n", 1)[1].split("\n\nThe change:")[0]) == LIBRARY
    assert user["content"].endswith("The change: add a note to reviews")
    assert model.headers[-1]["Authorization"] == "Bearer secret-key"

    # Nothing changed until accepted; accepting is the page's edit and save.
    assert client.get("/api/schema").json()["document"] == LIBRARY
    assert snapshot(source.parent) == before
    assert client.put("/api/schema", json=body["proposal"]).json() == {"problems": []}
    assert client.post("/api/save").status_code == 200
    assert json.loads(source.read_text()) == with_note()


def test_an_invalid_proposal_is_shown_with_the_scaffolds_problems_and_not_applied(
    studio: tuple[TestClient, Path], model: FakeModel
) -> None:
    client, source = studio
    before = snapshot(source.parent)
    bad = json.loads(json.dumps(LIBRARY))
    bad["entities"]["Bad Review"] = bad["entities"].pop("review")
    bad["entities"]["book"]["fields"]["pages"]["type"] = "money"
    model.content = json.dumps(bad)
    body = client.post("/api/assist", json={"instruction": "rename reviews"}).json()
    assert body["problems"], body
    assert body["problems"] == client.post("/api/validate", json=bad).json()["problems"]
    assert any("/entities/book/fields/pages/type" in p for p in body["problems"]), body["problems"]
    assert "table review removed" in body["changes"]
    assert client.get("/api/schema").json()["document"] == LIBRARY
    assert snapshot(source.parent) == before


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("Sure! I added a note field to reviews.", "The model did not answer JSON"),
        ('["entities"]', "The model did not answer a schema.json"),
    ],
    ids=["prose", "not-an-object"],
)
def test_an_answer_that_is_not_a_schema_is_a_problem(
    studio: tuple[TestClient, Path], model: FakeModel, content: str, title: str
) -> None:
    client, source = studio
    model.content = content
    answer = client.post("/api/assist", json={"instruction": "add a note"})
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == title
    assert client.get("/api/schema").json()["document"] == LIBRARY


def test_a_fenced_json_answer_is_read(studio: tuple[TestClient, Path], model: FakeModel) -> None:
    client, _ = studio
    model.content = "```json\n" + json.dumps(with_note()) + "\n```"
    assert client.post("/api/assist", json={"instruction": "add a note"}).json()["proposal"] == with_note()


def test_an_endpoint_that_fails_or_is_down_is_a_problem(
    studio: tuple[TestClient, Path], model: FakeModel, tmp_path: Path, root: Path
) -> None:
    client, _ = studio
    model.status = 500
    refused = client.post("/api/assist", json={"instruction": "add a note"})
    assert refused.status_code == 502 and refused.json()["title"] == "The model's endpoint refused the request"
    assert "500" in refused.json()["detail"]

    down = open_studio(None, tmp_path / "schema.json", root)
    down.assist = AssistSettings(f"http://127.0.0.1:{free_port()}/v1", "tiny-model")
    with TestClient(create_app(down), base_url="http://127.0.0.1:8790") as unreachable:
        answer = unreachable.post("/api/assist", json={"instruction": "add a table"})
    assert answer.status_code == 502, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "The model could not be reached"


def test_the_assist_is_off_without_an_endpoint(tmp_path: Path, root: Path) -> None:
    assert AssistSettings.from_environment({}) is None
    assert AssistSettings.from_environment({"FOUNTAIN_STUDIO_AI_URL": " "}) is None
    settings = AssistSettings.from_environment(
        {"FOUNTAIN_STUDIO_AI_URL": "http://localhost:11434/v1/", "FOUNTAIN_STUDIO_AI_MODEL": "llama3"}
    )
    assert settings == AssistSettings("http://localhost:11434/v1", "llama3", None)

    off = open_studio(None, tmp_path / "schema.json", root)
    with TestClient(create_app(off), base_url="http://127.0.0.1:8790") as client:
        assert client.get("/api/schema").json()["assist"] is False
        answer = client.post("/api/assist", json={"instruction": "add a table"})
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert "FOUNTAIN_STUDIO_AI_URL" in answer.json()["detail"]


def test_an_empty_instruction_or_a_missing_model_is_a_problem(
    studio: tuple[TestClient, Path], model: FakeModel, tmp_path: Path, root: Path
) -> None:
    client, _ = studio
    assert client.get("/api/schema").json()["assist"] is True
    assert client.post("/api/assist", json={"instruction": "  "}).status_code == 400
    assert model.requests == []
    unnamed = open_studio(None, tmp_path / "schema.json", root)
    unnamed.assist = AssistSettings(model.url, "")
    with TestClient(create_app(unnamed), base_url="http://127.0.0.1:8790") as no_model:
        answer = no_model.post("/api/assist", json={"instruction": "add a table"})
    assert answer.status_code == 503 and "FOUNTAIN_STUDIO_AI_MODEL" in answer.json()["detail"]


def test_a_model_too_slow_is_a_504_and_nothing_changes(root: Path, tmp_path: Path, model: FakeModel) -> None:
    source = tmp_path / "library.json"
    source.write_text((INPUTS / "library.json").read_text())
    opened = open_studio(source, None, root)
    opened.assist = AssistSettings(model.url, "tiny-model", timeout=0.2)
    model.content = json.dumps(with_note())
    model.delay = 2.0  # past the timeout set above
    try:
        with TestClient(create_app(opened), base_url="http://127.0.0.1:8790") as client:
            answer = client.post("/api/assist", json={"instruction": "add a note to reviews"})
            assert answer.status_code == 504
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["title"] == "The model did not answer in time"
            assert client.get("/api/schema").json()["document"] == LIBRARY
    finally:
        model.delay = 0.0
