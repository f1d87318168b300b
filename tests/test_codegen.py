"""Generated code: in step with the specs, deterministic, and faithful to the contract."""

import filecmp
from dataclasses import replace
from functools import partial
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli import codegen, registry
from fountain_common.app import create_service_app
from fountain_common.operations import RequestScope
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
    spec["paths"]["/v2/elements"]["get"]["summary"] = "Changed without regenerating"
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
def test_served_openapi_has_exactly_the_operations_of_the_spec(service: str) -> None:
    definition = registry.load_service(service)
    app: FastAPI = create_service_app(definition, settings=Settings(database_url="postgresql://unused/db"))
    spec = yaml.safe_load(definition.spec_path.read_text())
    served = app.openapi()
    assert operations_of(served) == operations_of(spec)
    by_id = {op["operationId"]: op for item in spec["paths"].values() for m, op in item.items() if m in METHODS}
    for item in served["paths"].values():
        for operation in item.values():
            declared = by_id[operation["operationId"]]
            assert operation["summary"] == declared["summary"]
            assert set(operation["responses"]) == {str(code) for code in declared["responses"]}


async def test_an_operation_without_implementation_answers_501_problem(settings: Settings, engine: AsyncEngine) -> None:
    # The generated routes over an implementation that overrides nothing but the shared probes.
    class NothingImplemented(RequestScope, character_api.Operations):
        pass

    definition = replace(
        registry.load_service("character"), build_router=partial(character_api.build_router, NothingImplemented)
    )
    transport = httpx.ASGITransport(app=create_service_app(definition, settings=settings, engine=engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/v1/characters")
        assert response.status_code == 501
        assert (
            response.json()["detail"] == "Operation listCharacters is declared in the contract but not implemented yet."
        )
        assert (await client.get("/health")).json() == {"status": "ok", "service": "character"}
