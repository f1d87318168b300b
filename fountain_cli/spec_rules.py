"""`fountain validate`: each spec must be valid OpenAPI 3.1 and keep FountainAI's own rules.

Every finding names the file and the operation at fault. The rules (docs/spec-conventions.md):
- paths live under /v1/ or /v2/ (plus the /health and /ready probes);
- servers name the production host and a local address;
- each operation has a unique operationId, tags, a summary, a description of at most 300 characters
  (the limit GPT actions impose), a request example (when it takes a body) and a success example;
- every example is valid against the schema it illustrates;
- each operation declares 500; one that takes input declares 400 on /v1 (where every input fault is
  400), or on /v2 422 and, when it takes a body, 400 (a body that is not JSON); one with a path
  parameter declares 404 (unless the parameter is marked x-fountain-every-value-exists); one that
  takes a body declares 413 (a body over FOUNTAIN_MAX_BODY_BYTES), and a text/plain body 415;
- /v2: errors are application/problem+json; every POST accepts Idempotency-Key; every property of a
  response schema is required; every list is paginated (limit, offset, {items, total, limit, offset});
  property and parameter names are camelCase;
- a spec with the `apiKey` security scheme declares `security` on every operation: none (`[]`) on the
  probes, and on every other operation the roles the gateway admits for its method as the scheme's
  scopes (`gateway.access_groups`: Kong's routes and `fountain serve` check the same), with 401 and 403;
  with the `bearerAuth` scheme too (a token), each operation admits the same roles through either.
"""

import re
from pathlib import Path
from typing import Any

import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

METHODS = ("get", "put", "post", "delete", "patch")
PROBES = {"/health", "/ready"}
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
# The connections a generated route can open (fountain_common/routes.py).
CONNECTIONS = ("none", "read", "snapshot", "write", "statement")
DESCRIPTION_LIMIT = 300
PAGE_FIELDS = {"items", "total", "limit", "offset"}


class SpecChecker:
    def __init__(self, path: Path, production_host: str | None = None) -> None:
        self.path = path
        self.production_host = production_host
        self.spec: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.findings: list[str] = []
        self.registry: Registry[Any] = Registry().with_resource(
            "urn:spec", Resource.from_contents(self.spec, default_specification=DRAFT202012)
        )

    def fail(self, where: str, message: str) -> None:
        self.findings.append(f"{self.path.name}: {where}: {message}")

    def resolve(self, node: Any) -> Any:
        return self.locate(node, "")[0]

    def locate(self, node: Any, pointer: str) -> tuple[Any, str]:
        """Follow $refs; answers the node and its JSON pointer in the document."""
        while isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"][1:]
            target: Any = self.spec
            for part in pointer[1:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node, pointer

    def check_examples(self, where: str, container: Any, pointer: str) -> None:
        """Every example of a media type object must validate against its schema."""
        for media_type, media in container.get("content", {}).items():
            media_pointer = f"{pointer}/content/{media_type.replace('~', '~0').replace('/', '~1')}"
            if "schema" not in media:
                continue
            schema_pointer = self.locate(media["schema"], media_pointer + "/schema")[1]
            validator = OAS31Validator({"$ref": f"urn:spec#{schema_pointer}"}, registry=self.registry)
            examples = {name: self.resolve(example).get("value") for name, example in media.get("examples", {}).items()}
            if "example" in media:
                examples["example"] = media["example"]
            for name, value in examples.items():
                for error in validator.iter_errors(value):
                    at = "/".join(str(p) for p in error.absolute_path) or "(root)"
                    self.fail(where, f"example {name!r} ({media_type}) at {at}: {error.message}")

    def check(self) -> list[str]:
        try:
            validate(self.spec)
        except OpenAPIValidationError as error:
            self.fail("document", f"not valid OpenAPI: {error.message}")
            return self.findings
        if not str(self.spec.get("openapi", "")).startswith("3.1"):
            self.fail("document", "must be OpenAPI 3.1")
        self.check_servers()
        secured = "apiKey" in self.spec.get("components", {}).get("securitySchemes", {})
        seen: dict[str, str] = {}
        for path, item in self.spec.get("paths", {}).items():
            if path not in PROBES and not path.startswith(("/v1/", "/v2/")):
                self.fail(path, "paths must start with /v1/ or /v2/ (or be /health or /ready)")
            for method in METHODS:
                if method in item:
                    self.check_operation(path, method, item, item[method], seen)
                    self.check_operation_examples(path, method, item[method])
                    if secured:
                        self.check_security(path, method, item[method])
        return self.findings

    def check_security(self, path: str, method: str, op: dict[str, Any]) -> None:
        from fountain_cli.gateway import access_groups

        where = f"{method.upper()} {path} ({op.get('operationId', 'no operationId')})"
        if "security" not in op:
            self.fail(where, "security is missing (the roles that may call it, or [] for an open probe)")
            return
        groups = access_groups(path, method)
        if groups is None:
            if op["security"] != []:
                self.fail(where, "an open probe declares security: []")
            return
        expected = [{"apiKey": list(groups)}]
        if "bearerAuth" in self.spec.get("components", {}).get("securitySchemes", {}):
            expected.append({"bearerAuth": list(groups)})  # a token admits the same roles as a key
        if op["security"] != expected:
            self.fail(where, f"security must be {expected}, the roles the gateway admits for {method.upper()}")
        for code in ("401", "403"):
            if code not in op.get("responses", {}):
                self.fail(where, f"must declare a {code} response")

    def check_operation_examples(self, path: str, method: str, op: dict[str, Any]) -> None:
        where = f"{method.upper()} {path} ({op.get('operationId', 'no operationId')})"
        base = "/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method
        if "requestBody" in op:
            body, pointer = self.locate(op["requestBody"], base + "/requestBody")
            self.check_examples(where, body, pointer)
        for code, raw in op.get("responses", {}).items():
            response, pointer = self.locate(raw, f"{base}/responses/{code}")
            self.check_examples(where, response, pointer)

    def check_servers(self) -> None:
        urls = [s.get("url", "") for s in self.spec.get("servers", [])]
        if self.production_host and f"https://{self.production_host}" not in urls:
            self.fail("servers", f"must list the production host https://{self.production_host}")
        if not any(u.startswith(("http://localhost", "http://127.0.0.1")) for u in urls):
            self.fail("servers", "must list a local address (http://localhost:PORT)")

    def check_operation(
        self, path: str, method: str, item: dict[str, Any], op: dict[str, Any], seen: dict[str, str]
    ) -> None:
        op_id = op.get("operationId")
        where = f"{method.upper()} {path} ({op_id or 'no operationId'})"
        if not op_id:
            self.fail(where, "operationId is missing")
        elif op_id in seen:
            self.fail(where, f"operationId {op_id} is also used by {seen[op_id]}")
        else:
            seen[op_id] = f"{method.upper()} {path}"
        if not op.get("summary"):
            self.fail(where, "summary is missing")
        description = " ".join(str(op.get("description", "")).split())
        if not description:
            self.fail(where, "description is missing")
        elif len(description) > DESCRIPTION_LIMIT:
            self.fail(where, f"description is {len(description)} characters; the limit is {DESCRIPTION_LIMIT}")
        if not op.get("tags"):
            self.fail(where, "tags are missing")
        connection = op.get("x-fountain-connection")
        if connection is not None and connection not in CONNECTIONS:
            self.fail(where, f"x-fountain-connection must be one of {', '.join(CONNECTIONS)}, not {connection!r}")

        version = "v1" if path.startswith("/v1/") else "v2" if path.startswith("/v2/") else None
        params = [self.resolve(p) for p in [*item.get("parameters", []), *op.get("parameters", [])]]
        body = self.resolve(op["requestBody"]) if "requestBody" in op else None
        responses = {str(k): self.resolve(v) for k, v in op.get("responses", {}).items()}

        text_body = False
        if body is not None:
            content = body.get("content", {})
            text_body = bool(content) and all(key.split(";")[0].strip() == "text/plain" for key in content)
            media = next(iter(content.values()), None) if text_body else content.get("application/json")
            if media is None:
                self.fail(where, "request body must be application/json or text/plain")
            elif not (media.get("example") or media.get("examples")):
                self.fail(where, "request body has no example")
            elif text_body and self.resolve(media.get("schema", {})).get("type") != "string":
                self.fail(where, "a text/plain request body's schema must be a string")
            elif not text_body and "$ref" not in media.get("schema", {}):
                self.fail(where, "request body schema must be a $ref to a named schema")
        success = [code for code in responses if code.startswith("2")]
        if not success:
            self.fail(where, "no success (2xx) response")
        for code in success:
            media = next(iter(responses[code].get("content", {}).values()), None)
            if media is not None and not (media.get("example") or media.get("examples")):
                self.fail(where, f"response {code} has no example")

        expected = {"500"}
        if body is not None:
            expected.add("413")  # any body may be over the size limit (request_limits.py)
        if version == "v2":
            if body is not None:
                expected.add("400")
            if body is not None or params:
                expected.add("422")
        elif body is not None or params:
            expected.add("400")
        if text_body:  # read by the route itself, which refuses another media type
            expected.add("415")
        # A path parameter names something that may not exist, unless the spec says every value names
        # something (x-fountain-every-value-exists: a numbering scope is empty until used).
        if any(p.get("in") == "path" and not p.get("x-fountain-every-value-exists") for p in params):
            expected.add("404")
        for code in sorted(expected - set(responses)):
            self.fail(where, f"must declare a {code} response")

        if connection == "statement" and "Idempotency-Key" in {p["name"] for p in params}:
            # The key is claimed, and its reply stored, in the operation's transaction.
            self.fail(
                where, "an operation that takes Idempotency-Key needs a transaction (x-fountain-connection write)"
            )
        if version == "v2":
            self.check_v2(where, method, params, body, responses)
        elif version == "v1":
            for code, response in responses.items():
                if code[0] in "45" and "application/json" not in response.get("content", {}):
                    self.fail(where, f"v1 error {code} must be application/json with a message field")

    def check_v2(
        self,
        where: str,
        method: str,
        params: list[dict[str, Any]],
        body: dict[str, Any] | None,
        responses: dict[str, Any],
    ) -> None:
        names = {p["name"] for p in params}
        if method == "post" and "Idempotency-Key" not in names:
            self.fail(where, "a /v2 POST must accept the Idempotency-Key header")
        for p in params:
            if p.get("in") in ("query", "path") and not CAMEL.match(p["name"]):
                self.fail(where, f"parameter {p['name']} is not camelCase")
        for code, response in responses.items():
            content = response.get("content", {})
            if code[0] in "45" and set(content) != {"application/problem+json"}:
                self.fail(where, f"error {code} must be application/problem+json only")
            if code.startswith("2"):
                for media in content.values():
                    self.check_response_schema(where, code, self.resolve(media.get("schema", {})))
                    schema = self.resolve(media.get("schema", {}))
                    if method == "get" and "items" in schema.get("properties", {}):
                        self.check_pagination(where, names, schema)

    def check_response_schema(
        self, where: str, code: str, schema: dict[str, Any], seen: frozenset[int] = frozenset()
    ) -> None:
        if id(schema) in seen:
            return
        properties = schema.get("properties", {})
        missing = sorted(set(properties) - set(schema.get("required", [])))
        if missing:
            self.fail(where, f"response {code}: fields {', '.join(missing)} must be required")
        for name, prop in properties.items():
            if not CAMEL.match(name):
                self.fail(where, f"response {code}: field {name} is not camelCase")
            prop = self.resolve(prop)
            nested = self.resolve(prop.get("items", {})) if prop.get("type") == "array" else prop
            if nested.get("type") == "object" and nested.get("properties"):
                self.check_response_schema(where, code, nested, seen | {id(schema)})

    def check_pagination(self, where: str, params: set[str], schema: dict[str, Any]) -> None:
        if not {"limit", "offset"} <= params:
            self.fail(where, "a /v2 list must take limit and offset")
        if not set(schema.get("properties", {})) >= PAGE_FIELDS:
            self.fail(where, "a /v2 list must answer {items, total, limit, offset}")


def check_spec(path: Path, production_host: str | None = None) -> list[str]:
    return SpecChecker(path, production_host).check()
