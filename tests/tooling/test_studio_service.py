"""`fountain studio services/NAME`: a service scaffolded from a schema.json keeps it, and the studio
opens it, saves back to it, and still refuses to scaffold the taken name."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fountain_cli.main import app as cli
from fountain_cli.scaffold.pipeline import ScaffoldError
from fountain_cli.studio.app import create_app, open_studio
from tests.tooling.conftest import INPUTS, snapshot

LIBRARY = json.loads((INPUTS / "library.json").read_text())


@pytest.fixture(scope="module")
def scaffolded(repository_copy: Callable[[], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository copy with `shelf` scaffolded from library.json through the studio."""
    root = repository_copy()
    source = tmp_path_factory.mktemp("input") / "library.json"
    source.write_text((INPUTS / "library.json").read_text())
    with TestClient(create_app(open_studio(source, None, root)), base_url="http://127.0.0.1:8790") as client:
        answer = client.post("/api/scaffold", json={"service": "shelf"})
    assert answer.status_code == 200, answer.text
    assert "services/shelf/schema.json" in answer.json()["files"]
    return root


def test_the_scaffold_keeps_the_declared_schema(scaffolded: Path) -> None:
    kept = (scaffolded / "services" / "shelf" / "schema.json").read_text()
    assert json.loads(kept) == LIBRARY
    assert kept.startswith('{\n  "description"'), "kept as Save writes it, for people to read and diff"


def test_a_service_folder_opens_its_schema_and_saves_back_to_it(scaffolded: Path) -> None:
    folder = scaffolded / "services" / "shelf"
    declared = folder / "schema.json"
    with TestClient(create_app(open_studio(folder, None, scaffolded)), base_url="http://127.0.0.1:8790") as client:
        answer = client.get("/api/schema").json()
        assert answer["document"] == LIBRARY
        assert answer["service"] == "shelf" and answer["saveTo"] == str(declared)
        # Its tables' paths are the service's own, not taken by another.
        assert answer["problems"] == []
        preview = client.get("/api/preview/openapi", params={"service": "shelf"})
        assert preview.status_code == 200 and "/v1/review:" in preview.text

        edited = json.loads(json.dumps(LIBRARY))
        edited["entities"]["review"]["fields"]["note"] = {"type": "text"}
        assert client.put("/api/schema", json=edited).json() == {"problems": []}
        before = snapshot(scaffolded)
        assert client.post("/api/save").json() == {"saved": str(declared)}
        assert json.loads(declared.read_text()) == edited
        assert set(snapshot(scaffolded)) == set(before), "Save writes the declared schema and nothing else"

        before = snapshot(scaffolded)
        again = client.post("/api/scaffold", json={"service": "shelf"})
        assert again.status_code == 422
        assert "service name: 'shelf' exists already (services/shelf/)" in again.json()["problems"]
        other = client.post("/api/scaffold", json={"service": "shelf_copy"})
        assert other.status_code == 422
        assert any("is served by shelf already" in p for p in other.json()["problems"])
        assert snapshot(scaffolded) == before


def test_a_folder_without_a_declared_schema_is_refused(scaffolded: Path) -> None:
    with pytest.raises(ScaffoldError) as hand_written:
        open_studio(scaffolded / "services" / "character", None, scaffolded)
    assert "no declared schema (schema.json)" in hand_written.value.problems[0]
    with pytest.raises(ScaffoldError) as not_a_service:
        open_studio(scaffolded / "docs", None, scaffolded)
    assert "not a service folder" in not_a_service.value.problems[0]

    result = CliRunner().invoke(cli, ["studio", str(scaffolded / "services" / "character")])
    assert result.exit_code == 1
    assert "Cannot open" in result.output and "no declared schema" in result.output
