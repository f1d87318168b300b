"""`fountain validate`: every spec keeps the rules, and a spec that breaks one is named with the
operation at fault."""

import importlib
from pathlib import Path

import pytest
import yaml

from fountain_cli import registry
from fountain_cli.spec_rules import check_spec
from fountain_common.routes import Route


@pytest.mark.parametrize("service", registry.service_names())
def test_every_spec_keeps_the_rules(service: str) -> None:
    definition = registry.load_service(service)
    assert check_spec(definition.spec_path, definition.host) == []


def broken_copy(tmp_path: Path, change: str) -> list[str]:
    spec = yaml.safe_load(registry.load_service("central_sequence").spec_path.read_text())
    post = spec["paths"]["/v2/scopes/{scope}/elements"]["post"]
    if change == "long description":
        post["description"] = "x" * 301
    elif change == "no idempotency key":
        post["parameters"] = []
    elif change == "duplicate operationId":
        spec["paths"]["/v2/scopes/{scope}/elements"]["get"]["operationId"] = "createElement"
    elif change == "optional response field":
        spec["components"]["schemas"]["Element"]["required"].remove("version")
    elif change == "unversioned path":
        spec["paths"]["/sequence"] = spec["paths"].pop("/v1/sequence")
    elif change == "no 500":
        del post["responses"]["500"]
    elif change == "no 413":
        del post["responses"]["413"]
    elif change == "no example":
        del post["requestBody"]["content"]["application/json"]["examples"]
    elif change == "example breaks its schema":
        post["requestBody"]["content"]["application/json"]["examples"]["append"]["value"]["elementId"] = "one"
    elif change == "no production server":
        spec["servers"] = spec["servers"][1:]
    elif change == "unknown connection":
        post["x-fountain-connection"] = "pooled"
    elif change == "text body":
        post["requestBody"]["content"] = {"text/plain; charset=utf-8": {"schema": {"type": "string"}, "example": "a"}}
    elif change == "text body not a string":
        post["requestBody"]["content"] = {"text/plain": {"schema": {"type": "object"}, "example": "a"}}
    elif change == "no security":
        del post["security"]
    elif change == "reader may write":
        post["security"] = [{"apiKey": ["reader", "writer", "admin"]}, {"bearerAuth": ["reader", "writer", "admin"]}]
    elif change == "a token admits more than a key":
        post["security"] = [{"apiKey": ["writer", "admin"]}, {"bearerAuth": ["reader", "writer", "admin"]}]
    elif change == "no 403":
        del post["responses"]["403"]
    elif change == "secured probe":
        spec["paths"]["/health"]["get"]["security"] = [{"apiKey": ["reader"]}]
    elif change == "scope that may be missing":
        del spec["components"]["parameters"]["ScopePath"]["x-fountain-every-value-exists"]
    path = tmp_path / "central_sequence.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return check_spec(path, "centralsequence.fountain.coach")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            "long description",
            "POST /v2/scopes/{scope}/elements (createElement): description is 301 characters; the limit is 300",
        ),
        (
            "unknown connection",
            "POST /v2/scopes/{scope}/elements (createElement): x-fountain-connection must be one of none, read, snapshot, write, "
            "statement, not 'pooled'",
        ),
        (
            "no idempotency key",
            "POST /v2/scopes/{scope}/elements (createElement): a /v2 POST must accept the Idempotency-Key header",
        ),
        (
            "duplicate operationId",
            "not valid OpenAPI: Operation ID 'createElement' for 'get' in '/v2/scopes/{scope}/elements' is not unique",
        ),
        ("optional response field", "fields version must be required"),
        ("unversioned path", "/sequence: paths must start with /v1/ or /v2/"),
        ("no 500", "POST /v2/scopes/{scope}/elements (createElement): must declare a 500 response"),
        ("no 413", "POST /v2/scopes/{scope}/elements (createElement): must declare a 413 response"),
        ("no example", "POST /v2/scopes/{scope}/elements (createElement): request body has no example"),
        (
            "example breaks its schema",
            "POST /v2/scopes/{scope}/elements (createElement): example 'append' (application/json) at elementId: 'one' is not of type 'integer'",
        ),
        ("no production server", "servers: must list the production host https://centralsequence.fountain.coach"),
        ("text body", "POST /v2/scopes/{scope}/elements (createElement): must declare a 415 response"),
        (
            "text body not a string",
            "POST /v2/scopes/{scope}/elements (createElement): a text/plain request body's schema must be a string",
        ),
        ("scope that may be missing", "GET /v2/scopes/{scope}/elements (listElements): must declare a 404 response"),
        ("no security", "POST /v2/scopes/{scope}/elements (createElement): security is missing"),
        (
            "reader may write",
            "POST /v2/scopes/{scope}/elements (createElement): security must be [{'apiKey': ['writer', 'admin']}, "
            "{'bearerAuth': ['writer', 'admin']}]",
        ),
        (
            "a token admits more than a key",
            "POST /v2/scopes/{scope}/elements (createElement): security must be [{'apiKey': ['writer', 'admin']}, "
            "{'bearerAuth': ['writer', 'admin']}]",
        ),
        ("no 403", "POST /v2/scopes/{scope}/elements (createElement): must declare a 403 response"),
        ("secured probe", "GET /health (getHealth): an open probe declares security: []"),
    ],
)
def test_a_broken_rule_is_named_with_file_and_operation(tmp_path: Path, change: str, expected: str) -> None:
    findings = broken_copy(tmp_path, change)
    assert any(expected in finding and finding.startswith("central_sequence.yaml: ") for finding in findings), findings


@pytest.mark.parametrize("service", registry.service_names())
def test_every_operation_declares_the_roles_the_gateway_admits(service: str) -> None:
    """One source of truth: the roles a route checks (from the spec) are the ones Kong's routes and
    `fountain serve`'s key check admit (gateway.access_groups), for every operation of every service."""
    from fountain_cli.gateway import access_groups, spec_operations
    from fountain_common.identity import ROLES

    definition = registry.load_service(service)
    module = importlib.import_module(f"services.{service}.generated.api")
    routes = {value.operation_id: value for value in vars(module).values() if isinstance(value, Route)}
    operations = spec_operations(definition)
    assert {operation.operation_id for operation in operations} == set(routes)
    for operation in operations:
        assert routes[operation.operation_id].roles == access_groups(operation.path, operation.method), operation
    secured = [routes[o.operation_id].roles for o in operations if routes[o.operation_id].roles is not None]
    assert secured and all(set(roles) <= set(ROLES) for roles in secured)
