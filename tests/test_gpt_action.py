"""`fountain export-openapi --gpt-action SERVICE`: each service's /v2 as a document a GPT Action accepts."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate
from typer.testing import CliRunner

from fountain_cli import registry
from fountain_cli.gpt_action import chosen_operations, shortened
from fountain_cli.main import app

METHODS = ("get", "put", "post", "delete", "patch")
runner = CliRunner()


def keys_in(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for value in node.values() for k in keys_in(value)}
    if isinstance(node, list):
        return {k for item in node for k in keys_in(item)}
    return set()


@pytest.mark.parametrize("service", registry.service_names())
def test_each_service_exports_a_document_a_gpt_action_accepts(service: str, tmp_path: Path) -> None:
    output = tmp_path / "action.json"
    result = runner.invoke(app, ["export-openapi", "--gpt-action", service, "--output", str(output)])
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text(encoding="utf-8"))
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": f"https://{registry.load_service(service).host}"}]
    assert document["components"]["securitySchemes"]["apiKey"] | {"description": ""} == {
        "type": "apiKey",
        "in": "header",
        "name": "apikey",
        "description": "",
    }
    assert document["security"] == [{"apiKey": []}]
    operations = [(path, item[m]) for path, item in document["paths"].items() for m in METHODS if m in item]
    assert 0 < len(operations) <= 30
    for path, operation in operations:
        assert path.startswith("/v2/"), path
        assert len(operation["description"]) <= 300, operation["operationId"]
        assert 0 < len(operation["summary"]) <= 80, operation["operationId"]
        assert "servers" not in operation and "security" not in operation
    assert "servers" not in keys_in(document["paths"])
    assert not {key for key in keys_in(document) if key.startswith("x-")}
    assert len(document["info"]["description"]) <= 300


def test_a_service_with_more_than_30_operations_leaves_out_its_batches_and_says_so(tmp_path: Path) -> None:
    output = tmp_path / "character.yaml"
    result = runner.invoke(app, ["export-openapi", "--gpt-action", "character", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "left out (a GPT Action takes at most 30 operations): addBatch (POST /v2/batches), deleteBatch" in (
        result.stderr
    )
    document = yaml.safe_load(output.read_text(encoding="utf-8"))
    ids = {item[m]["operationId"] for item in document["paths"].values() for m in METHODS if m in item}
    assert len(ids) == 30
    assert {"searchCharacters", "addCharacter", "addSpokenWord", "deleteSpokenWordParaphrase"} <= ids
    assert not ids & {"addBatch", "deleteBatch"}
    assert "Left out here: addBatch, deleteBatch." in document["info"]["description"]
    # Only what the kept operations use: the /v1 models are gone.
    assert "CharacterCreateRequest" not in document["components"]["schemas"]


def test_past_the_batches_nested_deletions_then_changes_are_left_out() -> None:
    def op(name: str) -> dict[str, Any]:
        return {"operationId": name}

    paths: dict[str, Any] = {"/v2/things/batch": {"post": op("addMany")}}
    for n in range(12):
        paths[f"/v2/k{n}"] = {"get": op(f"list{n}"), "post": op(f"add{n}")}
        paths[f"/v2/k{n}/{{id}}/sub/{{subId}}"] = {"patch": op(f"change{n}"), "delete": op(f"remove{n}")}
    kept, left_out = chosen_operations({"paths": paths})
    assert len(kept) == 30
    # 49 operations: the batch, every nested deletion and the last six nested changes go (named in spec order).
    expected = ["addMany"]
    for n in range(12):
        expected += [f"remove{n}", *([f"change{n}"] if n >= 6 else [])]
    assert [name.split(" ")[0] for name in left_out] == expected


def test_long_descriptions_are_cut_at_a_word() -> None:
    assert shortened("short  and\n spaced", 300) == "short and spaced"
    cut = shortened("word " * 100, 300)
    assert len(cut) <= 300 and cut.endswith("word…")
