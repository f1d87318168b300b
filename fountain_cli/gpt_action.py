"""`fountain export-openapi --gpt-action SERVICE`: one service's /v2 API as a GPT Action imports it.

A GPT Action takes an OpenAPI 3.1 document with one server, at most 30 operations, an operation
description of at most 300 characters and a short summary, and an authentication scheme it can fill
in: here the gateway's API key (Kong's key-auth, header `apikey`). The document is the service's spec
cut to that: /v2 only (the probes and /v1 are for other clients), the public host as the one server,
no vendor extensions, and the components the kept operations use.
"""

import copy
import re
from typing import Any

import yaml

from fountain_cli import registry

MAX_OPERATIONS = 30
DESCRIPTION_LIMIT = 300
SUMMARY_LIMIT = 80
METHODS = ("get", "put", "post", "delete", "patch")
SECURITY_SCHEME = "apiKey"
COMPONENT_REF = re.compile(r"^#/components/([A-Za-z]+)/(.+)$")
# Left out first when a service has more than MAX_OPERATIONS: operations on many items at once (an
# agent adds and removes a few), then the changes and deletions of nested items (paraphrases), whose
# originals keep theirs.
BATCH_PATH = re.compile(r"/batch(es)?(/|$)")


def shortened(text: str, limit: int) -> str:
    """`text` on one line, cut at a word before `limit` characters (with an ellipsis) when longer."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in spec.get("paths", {}).items()
        if path.startswith("/v2/")
        for method in METHODS
        if method in item
    ]


def _leave_out_rank(path: str, method: str) -> int:
    """0 for the operations kept longest; higher ones are left out first."""
    if BATCH_PATH.search(path):
        return 3
    nested = path.count("{") >= 2
    if nested and method in ("delete", "patch", "put"):
        return 2 if method == "delete" else 1
    return 0


def chosen_operations(spec: dict[str, Any]) -> tuple[set[tuple[str, str]], list[str]]:
    """The /v2 operations kept (path, method) and those left out (as `operationId (METHOD path)`)."""
    operations = _operations(spec)
    keep = list(operations)
    if len(keep) > MAX_OPERATIONS:
        # Among equal ranks the later operation in the spec goes first: specs list the main ones first.
        ranked = sorted(enumerate(keep), key=lambda entry: (_leave_out_rank(entry[1][0], entry[1][1]), entry[0]))
        keep = [op for _, op in sorted(ranked[:MAX_OPERATIONS], key=lambda entry: entry[0])]
    kept = {(path, method) for path, method, _ in keep}
    left_out = [
        f"{op['operationId']} ({method.upper()} {path})"
        for path, method, op in operations
        if (path, method) not in kept
    ]
    return kept, left_out


def _without_extensions(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _without_extensions(value) for key, value in node.items() if not str(key).startswith("x-")}
    if isinstance(node, list):
        return [_without_extensions(item) for item in node]
    return node


def _references(node: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and (match := COMPONENT_REF.match(value)):
                found.add((match.group(1), match.group(2)))
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


def _used_components(components: dict[str, Any], paths: dict[str, Any]) -> dict[str, Any]:
    """The components the paths refer to, directly or through other components."""
    wanted = _references(paths)
    seen: set[tuple[str, str]] = set()
    while wanted - seen:
        kind, name = (wanted - seen).pop()
        seen.add((kind, name))
        wanted |= _references(components.get(kind, {}).get(name, {}))
    used: dict[str, Any] = {}
    for kind, name in sorted(seen):
        if name in components.get(kind, {}):
            used.setdefault(kind, {})[name] = components[kind][name]
    return used


def _drop_links_to_others(node: Any, kept_ids: set[str]) -> None:
    """Remove response links to operations the document leaves out."""
    if isinstance(node, dict):
        links = node.get("links")
        if isinstance(links, dict):
            for name in [n for n, link in links.items() if link.get("operationId") not in kept_ids]:
                del links[name]
            if not links:
                del node["links"]
        for value in node.values():
            _drop_links_to_others(value, kept_ids)
    elif isinstance(node, list):
        for item in node:
            _drop_links_to_others(item, kept_ids)


def _tags_used(paths: dict[str, Any]) -> set[str]:
    return {
        tag for item in paths.values() for method in METHODS if method in item for tag in item[method].get("tags", [])
    }


def gpt_action_document(service_name: str) -> tuple[dict[str, Any], list[str]]:
    """The service's GPT Action document, and the /v2 operations it leaves out."""
    service = registry.load_service(service_name)
    spec: dict[str, Any] = yaml.safe_load(service.spec_path.read_text(encoding="utf-8"))
    kept, left_out = chosen_operations(spec)
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        methods = {method: item[method] for method in METHODS if (path, method) in kept}
        if not methods:
            continue
        shared = {key: value for key, value in item.items() if key not in (*METHODS, "servers")}
        paths[path] = {**copy.deepcopy(shared), **copy.deepcopy(methods)}
        for operation in methods:
            op = paths[path][operation]
            op.pop("security", None)
            op.pop("servers", None)
            op["summary"] = shortened(op.get("summary") or op["operationId"], SUMMARY_LIMIT)
            op["description"] = shortened(op.get("description") or op["summary"], DESCRIPTION_LIMIT)
    kept_ids = {op["operationId"] for item in paths.values() for method, op in item.items() if method in METHODS}
    _drop_links_to_others(paths, kept_ids)
    components = _used_components(spec.get("components", {}), paths)
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": "apikey",
            "description": "A key of the FountainAI gateway (a writer key for the operations that change data).",
        }
    }
    info = copy.deepcopy(spec["info"])
    info["description"] = shortened(
        f"{info['title']} /v2 for a GPT Action, through the FountainAI gateway. Full API: the service's /docs."
        + (f" Left out here: {', '.join(op.split(' ')[0] for op in left_out)}." if left_out else ""),
        DESCRIPTION_LIMIT,
    )
    document = {
        "openapi": "3.1.0",
        "info": info,
        "servers": [{"url": f"https://{service.host}"}],
        "security": [{SECURITY_SCHEME: []}],
        "tags": [tag for tag in spec.get("tags", []) if tag["name"] in _tags_used(paths)],
        "paths": paths,
        "components": components,
    }
    return _without_extensions(document), left_out
