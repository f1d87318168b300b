"""Two accounts on one deployment, each using a `fountain serve` process of its own (two processes, one
database, keys checked by the server): alice imports a public screenplay and adds to it; bob, a writer too,
tries every operation of every service on what is hers, with her ids in the path, the query and the
body. He gets nothing: 404 where he names her things, his lists empty and their totals zero, no
answer holding her text or her name; and everything of hers reads the same afterwards, byte for byte.
Then she shares the script with him: he reads the story through it, still nothing else of hers.

Request bodies are the spec's examples, with every id field set to one of alice's."""

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from fountain_cli import accounts, gateway, registry
from fountain_common.service import ServiceDefinition
from tests.service_processes import serve

# A public screenplay (Stu Maschwitz's "Brick & Steel", the Fountain format's sample; see
# tests/story_factory/screenplays/README.md), imported by alice.
SCREENPLAY = (Path(__file__).parent / "story_factory" / "screenplays" / "Brick-and-Steel.fountain").read_text(
    encoding="utf-8"
)
# What only alice's work holds: none of it may reach bob.
# (Words the specs' own examples use, such as "Beer's ready!", are left out: bob may send those himself.)
HER_TEXT = (
    "braddock",
    "dick steel",
    "bear crap",
    "dumb joke",
    "solvang",
    "full retired",
    "guards the patio",
    "is wary",
)
HOSTS = {service.name: service.host for service in registry.all_services()}
# Body and query fields that name a row, filled with alice's ids (what a snooping client would try).
ID_FIELDS = {
    "scriptId": "scriptId",
    "characterId": "characterId",
    "actionId": "actionId",
    "spokenWordId": "spokenWordId",
    "sessionId": "sessionId",
    "contextId": "contextId",
    "headingId": "headingId",
    "lineId": "lineId",
    "originalId": "originalId",
    "elementId": "scriptId",
}
ID_LISTS = {"characters": "characterId", "actions": "actionId", "spokenWords": "spokenWordId", "ids": "characterId"}


class Account:
    def __init__(self, http: httpx.Client, name: str, key: str, accounts_file: Path | None = None) -> None:
        self.http = http
        self.name = name
        self.key = key
        self.accounts_file = accounts_file

    def call(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Host": HOSTS[service], "apikey": self.key, **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def deployment(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Account]]:
    """alice, bob (writers), rita (reader) and root (admin); alice and root use one server process, bob
    and rita another. Names are new each run, so rows of other tests are never theirs."""
    accounts_file = tmp_path_factory.mktemp("ownership") / "accounts.json"
    run = secrets.token_hex(3)
    roles = {"alice": gateway.WRITER, "bob": gateway.WRITER, "rita": gateway.READER, "root": gateway.ADMIN}
    keys = {who: accounts.add_account(accounts_file, f"{who}-{run}", role) for who, role in roles.items()}
    env = {"FOUNTAIN_ACCOUNTS_FILE": str(accounts_file)}
    host = HOSTS["story_factory"]
    with serve([], database_url, count=2, host_header=host, auth=[], env=env) as urls:
        clients = [httpx.Client(base_url=url, timeout=60) for url in urls]
        try:
            yield {
                who: Account(clients[0 if who in ("alice", "root") else 1], f"{who}-{run}", key, accounts_file)
                for who, key in keys.items()
            }
        finally:
            for client in clients:
                client.close()


def build_her_world(alice: Account) -> dict[str, Any]:
    """alice's screenplay, imported, with a paraphrase, a session and a context: her ids by field name."""
    imported = alice.call(
        "story_factory",
        "POST",
        "/v2/stories",
        content=SCREENPLAY,
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    assert imported.status_code == 201, imported.text
    script_id = imported.json()["scriptId"]
    content = alice.call("core_script", "GET", f"/v2/scripts/{script_id}/content").json()
    lines = [line for section in content["sections"] for line in section["lines"]]
    dialogue = next(line for line in lines if line["kind"] == "dialogue")
    action = next(line for line in lines if line["kind"] == "action")
    paraphrase = alice.call(
        "character",
        "POST",
        f"/v2/characters/{dialogue['characterId']}/paraphrases",
        json={"text": "Brick, who guards the patio", "commentary": "hers"},
    )
    assert paraphrase.status_code == 201, paraphrase.text
    session = alice.call("session_context", "POST", "/v2/sessions", json={"userId": 7, "context": "Patio notes, wary"})
    assert session.status_code == 201, session.text
    context = alice.call(
        "session_context",
        "POST",
        f"/v2/sessions/{session.json()['sessionId']}/contexts",
        json={"characterId": dialogue["characterId"], "data": {"mood": "Steel is wary"}},
    )
    assert context.status_code == 201, context.text
    return {
        "scriptId": script_id,
        "headingId": dialogue["headingId"],
        "lineId": dialogue["lineId"],
        "characterId": dialogue["characterId"],
        "spokenWordId": dialogue["spokenWordId"],
        "actionId": action["actionId"],
        "paraphraseId": paraphrase.json()["paraphraseId"],
        "sessionId": session.json()["sessionId"],
        "contextId": context.json()["contextId"],
        "scope": f"script-{script_id}",
        "elementType": "script",
        "elementId": script_id,
        "version": 1,
        "account": "nobody",
    }


def _operations() -> list[tuple[ServiceDefinition, str, str]]:
    return [
        (service, operation.method, operation.path)
        for service in registry.all_services()
        for operation in gateway.spec_operations(service)
        if operation.path.startswith(("/v1/", "/v2/"))
    ]


def _spec(service: ServiceDefinition) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(service.spec_path.read_text(encoding="utf-8"))
    return loaded


def _with_her_ids(value: Any, ids: dict[str, Any]) -> Any:
    """`value` with every id field, and every list of ids, naming one of alice's rows."""
    if isinstance(value, dict):
        changed = {}
        for name, item in value.items():
            if name in ID_FIELDS and isinstance(item, int):
                changed[name] = ids[ID_FIELDS[name]]
            elif name in ID_LISTS and isinstance(item, list) and all(isinstance(i, int) for i in item):
                changed[name] = [ids[ID_LISTS[name]]]
            else:
                changed[name] = _with_her_ids(item, ids)
        return changed
    if isinstance(value, list):
        return [_with_her_ids(item, ids) for item in value]
    return value


def _body(spec: dict[str, Any], method: str, path: str) -> tuple[Any, str | None]:
    """The operation's body as its spec's example gives it (every operation with a body has one:
    `fountain validate` requires it), and its media type."""
    request_body = spec["paths"][path][method.lower()].get("requestBody")
    if not request_body:
        return None, None
    media_type, content = next(iter(request_body["content"].items()))
    if "example" in content:
        return content["example"], media_type
    return next(iter(content["examples"].values()))["value"], media_type


def _her_reads(alice: Account, ids: dict[str, Any]) -> dict[str, tuple[int, bytes]]:
    """Every GET of every service on alice's ids, as she sees it."""
    reads = {}
    for service, method, path in _operations():
        if method == "GET" and "{" in path:
            concrete = path.format(**ids)
            answer = alice.call(service.name, "GET", concrete)
            reads[f"{service.name} {concrete}"] = (answer.status_code, answer.content)
    return reads


def _leaks(answer: httpx.Response, her_name: str) -> list[str]:
    text = answer.text.lower()
    return [word for word in (*HER_TEXT, her_name) if word in text]


def test_another_account_reaches_nothing_of_hers(deployment: dict[str, Account]) -> None:
    alice, bob = deployment["alice"], deployment["bob"]
    ids = build_her_world(alice)
    # Twice: a read that differs between two identical reads (none should) cannot be compared.
    before = _her_reads(alice, ids)
    assert before == _her_reads(alice, ids)
    assert sum(status == 200 for status, _ in before.values()) >= 25, "alice reads her own work"

    # bob's lists, before he has anything: empty, their totals zero, whatever the filters name.
    for service, method, path in _operations():
        if method != "GET" or "{" in path:
            continue
        for query in ({}, {name: ids[field] for name, field in ID_FIELDS.items() if name in ("scriptId", "contextId")}):
            answer = bob.call(service.name, "GET", path, params=query)
            assert answer.status_code in (200, 400, 404, 422), f"{path} {query}: {answer.status_code} {answer.text}"
            assert not _leaks(answer, alice.name), f"{path} {query}: {answer.text[:300]}"
            if answer.status_code == 200 and answer.headers["content-type"].startswith("application/json"):
                body = answer.json()
                items = body.get("items", body.get("data")) if isinstance(body, dict) else body
                assert items in ([], None), f"{path} {query} shows bob rows: {answer.text[:300]}"
                if isinstance(body, dict) and "total" in body:
                    assert body["total"] == 0, f"{path}: total {body['total']}"

    # Every operation, her ids wherever an id goes.
    for service, method, path in _operations():
        spec = _spec(service)
        body, media_type = _body(spec, method, path)
        # A /v1 paraphrase names its original in the body too: hers, of the path's kind.
        kind = next((name for name in ("characterId", "actionId", "spokenWordId") if f"{{{name}}}" in path), "")
        body = _with_her_ids(body, {**ids, "originalId": ids[kind or "characterId"]})
        query = {name: ids[field] for name, field in ID_FIELDS.items() if _has_query(spec, method, path, name)}
        kwargs: dict[str, Any] = {"params": query}
        if media_type == "application/json" or (media_type or "").endswith("+json"):
            kwargs["json"] = body
        elif body is not None:
            kwargs["content"] = body if isinstance(body, (str, bytes)) else str(body)
            kwargs["headers"] = {"Content-Type": media_type}
        answer = bob.call(service.name, method, path.format(**ids), **kwargs)
        where = f"bob {method} {path.format(**ids)}"
        if "{scope}" in path:
            # Scope names are each account's own: bob's "script-N" is his, empty until he numbers in it.
            assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:300]}"
        elif "{" in path and body is None:
            assert answer.status_code == 404, f"{where}: {answer.status_code} {answer.text[:300]}"
        elif "{" in path:
            assert answer.status_code in (404, 422), f"{where}: {answer.status_code} {answer.text[:300]}"
        else:
            assert answer.status_code < 500, f"{where}: {answer.status_code} {answer.text[:300]}"
        assert not _leaks(answer, alice.name), f"{where}: {answer.text[:300]}"

    assert _her_reads(alice, ids) == before


def _has_query(spec: dict[str, Any], method: str, path: str, name: str) -> bool:
    operation = spec["paths"][path][method.lower()]
    parameters = [*spec["paths"][path].get("parameters", []), *operation.get("parameters", [])]
    for parameter in parameters:
        if "$ref" in parameter:
            parameter = spec["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        if parameter.get("in") == "query" and parameter.get("name") == name:
            return True
    return False


def test_a_shared_script_is_read_through_the_story_and_nothing_else(deployment: dict[str, Account]) -> None:
    alice, bob, root = deployment["alice"], deployment["bob"], deployment["root"]
    ids = build_her_world(alice)
    story = f"/v2/stories/{ids['scriptId']}"
    assert bob.call("story_factory", "GET", story).status_code == 404
    shared = alice.call(
        "core_script", "PUT", f"/v2/scripts/{ids['scriptId']}/shares/{bob.name}", json={"role": "reader"}
    )
    assert shared.status_code == 201, shared.text
    read = bob.call("story_factory", "GET", story)
    assert read.status_code == 200, read.text
    # The whole story, every part the owner sees, nothing missing.
    assert read.json() == alice.call("story_factory", "GET", story).json()
    assert "Does a bear crap in the woods?" in read.text and read.json()["missingParts"] == []
    # The parts are reached through the script only.
    assert bob.call("character", "GET", f"/v2/characters/{ids['characterId']}").status_code == 404
    assert bob.call("session_context", "GET", f"/v2/sessions/{ids['sessionId']}").status_code == 404
    # Shared for reading: writing is refused, and says so.
    renamed = bob.call("core_script", "PATCH", f"/v2/scripts/{ids['scriptId']}", json={"title": "Mine now"})
    assert renamed.status_code == 403, renamed.text
    assert (
        alice.call("core_script", "GET", f"/v2/scripts/{ids['scriptId']}").json()["title"]
        == "BRICK & STEEL FULL RETIRED"
    )
    # Unshared: gone again. An admin sees everything.
    assert alice.call("core_script", "DELETE", f"/v2/scripts/{ids['scriptId']}/shares/{bob.name}").status_code == 204
    assert bob.call("story_factory", "GET", story).status_code == 404
    assert root.call("story_factory", "GET", story).status_code == 200
    assert root.call("character", "GET", f"/v2/characters/{ids['characterId']}").status_code == 200


def test_keys_decide_who_is_calling(deployment: dict[str, Account]) -> None:
    alice, bob, rita = deployment["alice"], deployment["bob"], deployment["rita"]
    ids = build_her_world(alice)
    script = f"/v2/scripts/{ids['scriptId']}"
    # A consumer header sent by bob is dropped by the key check: he stays bob.
    forged = {"X-Consumer-Username": alice.name, "X-Consumer-Groups": "admin", "X-Fountain-Acting-For": alice.name}
    assert bob.call("core_script", "GET", script, headers=forged).status_code == 404
    # A reader may not write, even her own kind of thing; no key, or a wrong one, is 401.
    assert rita.call("core_script", "POST", "/v2/scripts", json={"title": "x"}).status_code == 403
    anonymous = bob.http.get(script, headers={"Host": HOSTS["core_script"]})
    assert anonymous.status_code == 401
    wrong = bob.http.get(script, headers={"Host": HOSTS["core_script"], "apikey": "not-a-key"})
    assert wrong.status_code == 401
    # A key revoked while the servers run is refused by both from the next request on.
    accounts_file = alice.accounts_file
    assert accounts_file is not None
    name = f"temp-{secrets.token_hex(3)}"
    temp = Account(alice.http, name, accounts.add_account(accounts_file, name, gateway.WRITER))
    assert temp.call("core_script", "GET", "/v2/scripts").status_code == 200
    accounts.revoke(accounts_file, name)
    assert temp.call("core_script", "GET", "/v2/scripts").status_code == 401
    assert Account(bob.http, name, temp.key).call("core_script", "GET", "/v2/scripts").status_code == 401
