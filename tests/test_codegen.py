"""Generated code: in step with the specs, deterministic, and faithful to the contract."""

import filecmp
import importlib
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli import codegen, registry
from fountain_common.app import create_service_app
from fountain_common.problems import install_problem_handlers
from fountain_common.settings import Settings
from services.character.generated import api as character_api

METHODS = {"get", "put", "post", "delete", "patch"}


def operations_of(document: dict[str, object]) -> set[tuple[str, str, str]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {
        (path, method, operation["operationId"])
        for path, item in paths.items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.mark.parametrize("service", registry.service_names())
def test_committed_generated_code_matches_the_spec(service: str) -> None:
    assert codegen.differences(service) == []


def test_generation_is_deterministic(tmp_path: Path) -> None:
    spec = registry.load_service("central_sequence").spec_path
    codegen.render(spec, tmp_path / "first")
    codegen.render(spec, tmp_path / "second")
    comparison = filecmp.dircmp(tmp_path / "first", tmp_path / "second")
    assert comparison.diff_files == [] and comparison.left_only == [] and comparison.right_only == []


def test_a_spec_change_is_detected_as_stale_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = yaml.safe_load(registry.load_service("central_sequence").spec_path.read_text())
    spec["paths"]["/v2/scopes/{scope}/elements"]["get"]["summary"] = "Changed without regenerating"
    changed = tmp_path / "central_sequence.yaml"
    changed.write_text(yaml.safe_dump(spec, sort_keys=False))
    monkeypatch.setattr(codegen, "spec_for", lambda service: changed)
    assert codegen.differences("central_sequence") == [
        "services/central_sequence/generated/.codegen-stamp (differs)",
        "services/central_sequence/generated/api.py (differs)",
    ]


def test_an_unchanged_spec_is_not_regenerated() -> None:
    assert codegen.generate("central_sequence") is False


@pytest.mark.parametrize("service", registry.service_names())
async def test_served_openapi_is_the_spec_naming_where_it_was_served(service: str) -> None:
    definition = registry.load_service(service)
    app: FastAPI = create_service_app(definition, settings=Settings(database_url="postgresql://unused/db"))
    spec = yaml.safe_load(definition.spec_path.read_text())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{definition.host}") as client:
        served = (await client.get("/openapi.json")).json()
        forwarded = (
            await client.get("/openapi.json", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example"})
        ).json()
        docs = await client.get("/docs")
    assert operations_of(served) == operations_of(spec)
    assert {k: v for k, v in served.items() if k != "servers"} == {k: v for k, v in spec.items() if k != "servers"}
    assert served["servers"][0]["url"] == f"http://{definition.host}"
    assert forwarded["servers"][0]["url"] == "https://api.example"
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_generated_routes_declare_no_responses_of_their_own() -> None:
    # The spec is served as written, so nothing in the routes restates it.
    for service in registry.service_names():
        api = (codegen.output_for(service) / "api.py").read_text()
        assert "responses=" not in api, service


async def test_an_operation_without_implementation_answers_501_problem(settings: Settings, engine: AsyncEngine) -> None:
    # The generated routes over an implementation that overrides nothing but the shared probes.
    class NothingImplemented(character_api.Operations):
        pass

    definition = replace(registry.load_service("character"), operations=NothingImplemented)
    transport = httpx.ASGITransport(app=create_service_app(definition, settings=settings, engine=engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/v1/characters")
        assert response.status_code == 501
        assert (
            response.json()["detail"] == "Operation listCharacters is declared in the contract but not implemented yet."
        )
        assert (await client.get("/health")).json() == {"status": "ok", "service": "character"}


TEXT_BODY_SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "Text Body API", "version": "1.0.0"},
    "paths": {
        "/v2/notes": {
            "post": {
                "operationId": "addNote",
                "summary": "Take a text",
                "x-fountain-connection": "none",
                "requestBody": {
                    "required": True,
                    "content": {"text/plain; charset=utf-8": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "201": {
                        "description": "Its length.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NoteLength"}}},
                    }
                },
            }
        }
    },
    "components": {
        "schemas": {
            "NoteLength": {
                "type": "object",
                "properties": {"characters": {"type": "integer"}},
                "required": ["characters"],
            }
        }
    },
}


async def test_a_text_plain_request_body_reaches_the_operation_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "text_body.yaml"
    spec.write_text(yaml.safe_dump(TEXT_BODY_SPEC, sort_keys=False))
    package = tmp_path / "text_body_service"
    (package / "generated").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    codegen.render(spec, package / "generated")
    monkeypatch.syspath_prepend(str(tmp_path))
    api = importlib.import_module("text_body_service.generated.api")
    models = importlib.import_module("text_body_service.generated.models")
    received: list[str] = []

    class Notes(api.Operations):  # type: ignore[name-defined,misc]
        async def add_note(self, *, body: str) -> object:
            received.append(body)
            return models.NoteLength(characters=len(body))

    app = FastAPI()
    install_problem_handlers(app)
    app.state.operations = Notes(app.state)
    app.include_router(api.build_router())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        plain = {"content-type": "text/plain; charset=utf-8"}
        taken = await client.post("/v2/notes", content="Café\nnoir".encode(), headers=plain)
        not_utf8 = await client.post("/v2/notes", content=b"ok\nCaf\xe9", headers=plain)
        json_body = await client.post("/v2/notes", json={"text": "Café"})
    assert taken.status_code == 201 and taken.json() == {"characters": 9}
    assert received == ["Café\nnoir"]
    assert not_utf8.status_code == 400
    assert not_utf8.json()["type"].endswith("malformed-request")
    assert not_utf8.json()["errors"] == [
        {"location": "body.6", "message": "Invalid UTF-8 at line 2, column 4 (byte 6)"}
    ]
    assert json_body.status_code == 415 and received == ["Café\nnoir"]
