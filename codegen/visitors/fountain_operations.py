"""Template data for the FountainAI router templates, read straight from the spec.

fastapi-code-generator's own operation data drops parameter constraints (pattern, bounds) and picks
the 200 response as primary even when the spec lists 201 first; routers generated from it would
accept input the contract forbids. This visitor gives the templates exact, resolved data instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi_code_generator.parser import OpenAPIParser

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
SCALARS = {"integer": "int", "string": "str", "boolean": "bool", "number": "float"}
CONSTRAINTS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
}


def _snake(name: str) -> str:
    name = re.sub(r"[^0-9A-Za-z]+", "_", name)
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return name.strip("_").lower()


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references are supported, got {ref}")
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _ref_name(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[1] if isinstance(ref, str) else None


def _model_hint(schema: dict[str, Any], spec: dict[str, Any] | None = None) -> str:
    """The Python type of a request or response body: a named model or a list of one (also when a
    named schema is an array of one, which the model generator leaves out of models.py)."""
    if (name := _ref_name(schema)) is not None:
        named = _resolve(spec, schema) if spec is not None else {}
        if named.get("type") == "array" and (item := _ref_name(named.get("items", {}))):
            return f"List[{item}]"
        return name
    if schema.get("type") == "array" and (name := _ref_name(schema.get("items", {}))):
        return f"List[{name}]"
    raise ValueError("bodies must be a $ref to a named schema or an array of one")


# An id-list query parameter (`?ids=3,1,7`) as the specs bound it: up to N+1 ids by its pattern.
ID_LIST_PATTERN = re.compile(r"^\^\[1-9\]\[0-9\]\{0,18\}\(,\[1-9\]\[0-9\]\{0,18\}\)\{0,(\d+)\}\$$")
# Headers the generated route handles itself: the operation never sees them.
ROUTE_HEADERS = {"Idempotency-Key"}
# Operations every service answers the same way (fountain_common.operations.ServiceOperations).
COMMON_OPERATIONS = {"getHealth", "getReadiness"}
CONNECTIONS = ("none", "read", "snapshot", "write", "statement")


def _parameter(spec: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    param = _resolve(spec, raw)
    schema = _resolve(spec, param.get("schema", {}))
    kind = schema.get("type")
    if "enum" in schema:
        hint = "Literal[" + ", ".join(repr(v) for v in schema["enum"]) + "]"
    elif kind in SCALARS:
        hint = SCALARS[kind]
    else:
        raise ValueError(f"parameter {param['name']}: unsupported schema type {kind!r}")
    required = bool(param.get("required")) or param["in"] == "path"
    base_hint = hint
    if not required and "default" not in schema:
        hint = f"Optional[{hint}]"
    # A pattern the operation checks itself, to say what is wrong in words (a table read's embed=
    # and select=: an unknown relation named, with the known ones), is left to it.
    own_pattern = bool(param.get("x-fountain-pattern-checked-by-operation"))
    constraints = [
        f"{py}={schema[js]!r}"
        for js, py in CONSTRAINTS.items()
        if js in schema and not (own_pattern and js == "pattern")
    ]
    default = "..." if required else repr(schema.get("default"))
    location = {"path": "Path", "query": "Query", "header": "Header", "cookie": "Cookie"}[param["in"]]
    alias = "alias=" + repr(param["name"])
    id_list = ID_LIST_PATTERN.match(schema.get("pattern", "")) if param["in"] == "query" else None
    return {
        "name": _snake(param["name"]),
        "alias": param["name"],
        "location": location,
        "type_hint": hint,
        "fastapi_default": f"{location}({', '.join([default, alias, *constraints])})",
        # What the operation receives: the value, or for an id list the ids of every occurrence.
        "operation_hint": "Optional[Set[int]]" if id_list else hint,
        "id_list_max": int(id_list.group(1)) + 1 if id_list else None,
        "for_route_only": param["in"] == "header" and param["name"] in ROUTE_HEADERS,
        "required": required,
        # What a client of the operation passes: ids as a collection; an optional value may be left out.
        "client_hint": "Collection[int]" if id_list else base_hint,
    }


def _is_text(media_type: str | None, media: dict[str, Any]) -> bool:
    """A body served as it is, not as JSON: any media type but JSON with a string schema (text/plain,
    text/html, an XML type, application/pdf)."""
    return (
        media_type is not None
        and media_type != "application/json"
        and not media_type.endswith("+json")
        and media.get("schema", {}).get("type") == "string"
    )


def _is_character_data(media_type: str) -> bool:
    """Text (a str, sent as UTF-8) rather than bytes."""
    return media_type.startswith("text/") or media_type.endswith(("/xml", "+xml"))


def _content_type(media_type: str) -> str:
    return f"{media_type}; charset=utf-8" if _is_character_data(media_type) else media_type


def _text_request(content: dict[str, Any]) -> bool:
    """A request body declared only as text/plain (any parameters, e.g. `; charset=utf-8`) with a
    string schema: the operation receives it decoded, as a str."""
    return bool(content) and all(
        media_type.split(";")[0].strip() == "text/plain" and media.get("schema", {}).get("type") == "string"
        for media_type, media in content.items()
    )


def _responses(spec: dict[str, Any], raw: dict[str, Any]) -> list[dict[str, Any]]:
    responses = []
    for status, response_raw in raw.items():
        response = _resolve(spec, response_raw)
        content = response.get("content", {})
        media_type, media = next(iter(content.items()), (None, {}))
        text = _is_text(media_type, media)
        responses.append(
            {
                "status": str(status),
                "description": response.get("description", ""),
                "media_type": media_type,
                "model": (
                    ("str" if _is_character_data(media_type) else "bytes")
                    if text and media_type
                    else _model_hint(media["schema"])
                    if media_type
                    else None
                ),
                "response_class": "PlainTextResponse" if text else None,
                "content_type": _content_type(media_type) if text and media_type else None,
                # The same rows as CSV too, for a client that asks for text/csv.
                "csv": media_type == "application/json" and "text/csv" in content,
            }
        )
    return responses


def _roles(spec: dict[str, Any], operation: dict[str, Any]) -> list[str] | None:
    """The roles an operation admits: the scopes of its security requirements (the spec's own
    `security` when it declares none), each role once; None when the operation is open to anyone."""
    requirements = operation.get("security", spec.get("security"))
    if not requirements:
        return None
    roles: list[str] = []
    for requirement in requirements:
        if not requirement:  # `{}`: no credentials needed
            return None
        for scopes in requirement.values():
            roles.extend(scope for scope in scopes if scope not in roles)
    return roles


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    operations = []
    for path, path_item in spec.get("paths", {}).items():
        shared = path_item.get("parameters", [])
        for method in HTTP_METHODS:
            if method not in path_item:
                continue
            raw = path_item[method]
            parameters = [_parameter(spec, p) for p in [*shared, *raw.get("parameters", [])]]
            body = None
            text_body = False
            if "requestBody" in raw:
                request = _resolve(spec, raw["requestBody"])
                if _text_request(request["content"]):
                    body, text_body = "str", True
                else:
                    body = _model_hint(request["content"]["application/json"]["schema"], spec)
            responses = _responses(spec, raw["responses"])
            success = next(r for r in responses if r["status"].startswith("2"))
            connection = raw.get("x-fountain-connection")
            if connection is None:
                if raw["operationId"] in COMMON_OPERATIONS:
                    connection = "none"
                else:
                    connection = "read" if method in ("get", "head") else "write"
            if connection not in CONNECTIONS:
                raise ValueError(f"{raw['operationId']}: x-fountain-connection must be one of {CONNECTIONS}")
            if connection == "statement" and any(p["alias"] == "Idempotency-Key" for p in parameters):
                # The key is claimed and its reply stored in the operation's transaction: it needs one.
                raise ValueError(f"{raw['operationId']}: Idempotency-Key needs x-fountain-connection write")
            operations.append(
                {
                    "operation_id": raw["operationId"],
                    "function_name": _snake(raw["operationId"]),
                    "method": method,
                    "path": path,
                    "summary": raw.get("summary", ""),
                    "description": " ".join(raw.get("description", "").split()),
                    "tags": raw.get("tags", []),
                    "parameters": parameters,
                    "body": body,
                    # A text/plain body: the route reads and decodes it, FastAPI does not parse it.
                    "text_body": text_body,
                    "status_code": int(success["status"]),
                    "response_model": success["model"],
                    "response_class": success["response_class"],
                    "content_type": success["content_type"],
                    # Optional response fields without a value are left out instead of sent as null.
                    "omit_null": bool(raw.get("x-omit-null-fields")),
                    # Only the fields the operation set are answered (a table read's select=).
                    "omit_unset": bool(raw.get("x-omit-unset-fields")),
                    "csv": success["csv"],
                    "connection": connection,
                    "common": raw["operationId"] in COMMON_OPERATIONS,
                    "idempotency": any(p["alias"] == "Idempotency-Key" for p in parameters),
                    "if_match": next((p["name"] for p in parameters if p["alias"] == "If-Match"), None),
                    "query": sorted(p["alias"] for p in parameters if p["location"] == "Query"),
                    "operation_parameters": [p for p in parameters if not p["for_route_only"]],
                    "constant": _snake(raw["operationId"]).upper(),
                    "roles": _roles(spec, raw),
                }
            )
    return operations


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every operation of `spec` as the templates see it (also used to write typed clients)."""
    return _operations(spec)


def visit(parser: OpenAPIParser, model_path: Path) -> dict[str, object]:
    spec = parser.raw_obj
    models = sorted(
        {
            name
            for op in _operations(spec)
            for hint in [None if op["text_body"] else op["body"], op["response_model"]]
            if hint
            for name in re.findall(r"[A-Z]\w*", hint)
            if name != "List"
        }
    )
    return {
        "fountain_plain_text": any(op["response_class"] == "PlainTextResponse" for op in _operations(spec)),
        "fountain_operations": _operations(spec),
        "fountain_models": models,
        "fountain_title": spec["info"]["title"],
    }
