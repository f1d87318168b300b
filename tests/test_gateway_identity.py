"""Services with FOUNTAIN_GATEWAY_SECRET: they trust the caller the gateway names only with the
gateway's proof, admit the roles their spec declares for each operation, and call each other for the
same caller. Real services in-process, on the test database."""

import re

from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli import gateway, registry
from fountain_common.identity import PROOF_HEADER, Caller, reset_caller, set_caller
from fountain_common.settings import Settings
from tests.core_script.conftest import count_rows, reset_scripts
from tests.identities import SECRET, ClientFor, Recorder, caller
from tests.in_process import service_app


def _every_operation() -> list[tuple[str, str, str]]:
    return [
        (service.name, operation.method, operation.path)
        for service in registry.all_services()
        for operation in gateway.spec_operations(service)
    ]


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", template)


async def test_every_operation_of_every_service_checks_the_caller(secured_client: ClientFor) -> None:
    """No identity: 401 (problem+json on /v2, JSON with `message` on /v1); a reader's write: 403; the
    probes answer anyone. Each refusal comes before the request is read: nothing is needed in it."""
    clients = {service.name: secured_client(service.name) for service in registry.all_services()}
    for name, method, path in _every_operation():
        url = _concrete(path)
        anonymous = await clients[name].request(method, url)
        if path in ("/health", "/ready"):
            assert anonymous.status_code == 200, (name, method, path)
            continue
        assert anonymous.status_code == 401, (name, method, path, anonymous.text)
        assert anonymous.headers["www-authenticate"] == 'apikey header="apikey"'
        if path.startswith("/v1/"):
            assert anonymous.headers["content-type"].startswith("application/json")
            assert "API key" in anonymous.json()["message"]
        else:
            assert anonymous.headers["content-type"].startswith("application/problem+json")
        if method not in ("GET", "HEAD"):
            as_reader = await clients[name].request(method, url, headers=caller("dana", "reader"))
            assert as_reader.status_code == 403, (name, method, path, as_reader.text)
            assert "Role reader may not" in as_reader.text and "writer, admin" in as_reader.text


async def test_a_forged_identity_is_refused(secured_client: ClientFor, engine: AsyncEngine) -> None:
    await reset_scripts(engine)
    scripts = secured_client("core_script")
    body = {"title": "Forged"}
    for headers in (
        caller("mallory", "admin", proof=None),  # straight to the service, no proof
        caller("mallory", "admin", proof="a guess at the secret"),
        caller("mallory", "admin", proof=SECRET[:-1]),
        {PROOF_HEADER: SECRET},  # the proof without anybody named
    ):
        refused = await scripts.post("/v2/scripts", json=body, headers=headers)
        assert refused.status_code == 401, (headers, refused.text)
        assert refused.json()["type"].endswith("/unauthorized")
    assert await count_rows(engine, "scripts") == 0


async def test_roles_decide_what_a_caller_may_do(secured_client: ClientFor, engine: AsyncEngine) -> None:
    await reset_scripts(engine)
    scripts = secured_client("core_script")
    written = await scripts.post("/v2/scripts", json={"title": "By a writer"}, headers=caller("ada", "writer"))
    assert written.status_code == 201, written.text
    by_admin = await scripts.post("/v2/scripts", json={"title": "By an admin"}, headers=caller("root", "admin"))
    assert by_admin.status_code == 201, by_admin.text
    refused = await scripts.post("/v2/scripts", json={"title": "By a reader"}, headers=caller("dana", "reader"))
    assert refused.status_code == 403
    read = await scripts.get("/v2/scripts", headers=caller("dana", "reader"))
    assert read.status_code == 200
    assert read.json()["items"] == []  # a reader may list; it has no script of its own
    listed = await scripts.get("/v2/scripts", headers=caller("root", "admin"))
    assert [item["title"] for item in listed.json()["items"]] == ["By a writer", "By an admin"]
    # A caller with several groups (Kong lists each): one admitted role is enough.
    eve = caller("eve", "reader, writer")
    own = await scripts.post("/v2/scripts", json={"title": "By eve"}, headers=eve)
    assert own.status_code == 201
    several = await scripts.delete(f"/v2/scripts/{own.json()['scriptId']}", headers=eve)
    assert several.status_code == 204
    # A group that is no role of the spec admits nothing.
    unknown = await scripts.get("/v2/scripts", headers=caller("zed", "owner"))
    assert unknown.status_code == 403


async def test_story_factory_calls_the_other_services_for_its_caller(
    secured_client: ClientFor, secured: Settings, engine: AsyncEngine, between_services: Recorder
) -> None:
    await reset_scripts(engine)
    stories = secured_client("story_factory")
    screenplay = "Title: Acting for\n\nINT. ROOM - DAY\n\nA door opens.\n"
    plain = {"Content-Type": "text/plain; charset=utf-8"}
    imported = await stories.post("/v2/stories", content=screenplay, headers={**plain, **caller("ada", "writer")})
    assert imported.status_code == 201, imported.text
    # Every call it made named the writer, with her role only, and the proof.
    assert between_services.requests
    for request in between_services.requests:
        assert request.headers["x-consumer-username"] == "ada"
        assert request.headers["x-consumer-groups"] == "writer"
        assert request.headers[PROOF_HEADER] == SECRET
    script_id = imported.json()["scriptId"]
    shared = await secured_client("core_script").put(
        f"/v2/scripts/{script_id}/shares/dana", json={"role": "reader"}, headers=caller("ada", "writer")
    )
    assert shared.status_code == 201, shared.text
    between_services.requests.clear()
    read = await stories.get(f"/v2/stories/{script_id}", headers=caller("dana", "reader"))
    assert read.status_code == 200, read.text
    assert {r.headers["x-consumer-groups"] for r in between_services.requests} == {"reader"}

    refused = await stories.post("/v2/stories", content=screenplay, headers={**plain, **caller("dana", "reader")})
    assert refused.status_code == 403
    # Story Factory acting for a reader is a reader in Core Script: its write is refused, nothing changes.
    scripts_before = await count_rows(engine, "scripts")
    app = service_app("story_factory", secured, engine, between_services)
    token = set_caller(Caller("id-of-dana", "dana", "key-of-dana", ("reader",)))
    try:
        answer = await app.state.upstreams.request("core_script", "POST", "/v2/scripts", json={"title": "Sneaked"})
    finally:
        reset_caller(token)
        await app.state.upstreams.aclose()
    assert answer.status_code == 403, answer.text
    assert await count_rows(engine, "scripts") == scripts_before


async def test_without_the_secret_a_service_checks_nothing(client_for: ClientFor, engine: AsyncEngine) -> None:
    """In-process apps and `--no-auth` set no secret: no identity is asked for, none is believed."""
    await reset_scripts(engine)
    scripts = client_for("core_script")
    created = await scripts.post("/v2/scripts", json={"title": "Open"})
    assert created.status_code == 201
    forged = await scripts.post("/v2/scripts", json={"title": "Also open"}, headers=caller("dana", "reader"))
    assert forged.status_code == 201
