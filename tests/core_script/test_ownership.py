"""Scripts belong to the account that made them: another account finds no such script (404, as a
missing one), an account the script is shared with reads it (reader) or also changes it (writer) but
never its shares, admins reach every script, and whatever Core Script does in another service for a
script it does for the script's owner. Real services in-process, checking identities."""

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.identity import ACTING_FOR_HEADER
from fountain_common.settings import Settings
from fountain_common.upstream import Upstreams
from services.core_script.script_calls import sweep_abandoned_creates
from tests.core_script.conftest import count_rows, reset_scripts
from tests.identities import ClientFor, Recorder, caller

ALICE = caller("alice", "writer")
BOB = caller("bob", "writer")
ROOT = caller("root", "admin")
RITA = caller("rita", "reader")
MISSING = 999_999


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _parts(character: httpx.AsyncClient, headers: dict[str, str], name: str) -> dict[str, int]:
    """A character, an action and a spoken word of the account of `headers`."""
    made = _created(
        await character.post(
            "/v2/characters",
            json={"name": name, "description": f"{name}, as {headers['X-Consumer-Username']} wrote her."},
            headers=headers,
        )
    )
    action = _created(await character.post("/v2/actions", json={"description": f"{name} waits."}, headers=headers))
    words = _created(await character.post("/v2/spokenWords", json={"text": f"I am {name}."}, headers=headers))
    return {"characterId": made["characterId"], "actionId": action["actionId"], "spokenWordId": words["spokenWordId"]}


async def _alices_script(scripts: httpx.AsyncClient, character: httpx.AsyncClient) -> dict[str, int]:
    """Alice's script with a section holding her character's line and a transition."""
    parts = await _parts(character, ALICE, "Juliet")
    script = _created(await scripts.post("/v2/scripts", json={"title": "Alice's play"}, headers=ALICE))
    base = f"/v2/scripts/{script['scriptId']}"
    heading = _created(await scripts.post(f"{base}/sections", json={"title": "Balcony"}, headers=ALICE))
    lines = f"{base}/sections/{heading['headingId']}/lines"
    line = _created(await scripts.post(lines, json=parts, headers=ALICE))
    _created(await scripts.post(lines, json={"kind": "transition", "text": "CUT TO:"}, headers=ALICE))
    return {"scriptId": script["scriptId"], "headingId": heading["headingId"], "lineId": line["lineId"], **parts}


def _routes(ids: dict[str, int]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every route naming the script (method, path, body), /v1 and /v2."""
    script = f"/v2/scripts/{ids['scriptId']}"
    section = f"{script}/sections/{ids['headingId']}"
    line = f"{section}/lines/{ids['lineId']}"
    v1 = f"/v1/scripts/{ids['scriptId']}"
    return [
        ("GET", script, None),
        ("PATCH", script, {"title": "Taken"}),
        ("DELETE", script, None),
        ("GET", f"{script}/content", None),
        ("GET", f"{script}/lines", None),
        ("GET", f"{script}/sections", None),
        ("POST", f"{script}/sections", {"title": "Intruding"}),
        ("POST", f"{script}/batches", {"sections": [{"title": "Intruding", "lines": []}]}),
        ("GET", f"{script}/shares", None),
        ("PUT", f"{script}/shares/bob", {"role": "writer"}),
        ("DELETE", f"{script}/shares/bob", None),
        ("GET", section, None),
        ("PATCH", section, {"title": "Taken"}),
        ("DELETE", section, None),
        ("POST", f"{section}/move", {"position": 1}),
        ("GET", f"{section}/lines", None),
        ("POST", f"{section}/lines", {"kind": "note", "text": "Mine now."}),
        ("GET", line, None),
        ("PATCH", line, {"actionId": ids["actionId"]}),
        ("DELETE", line, None),
        ("POST", f"{line}/move", {"position": 1}),
        ("PUT", v1, {"title": "Taken"}),
        ("POST", f"{v1}/sections", {"title": "Intruding"}),
        ("PUT", f"{v1}/sections/{ids['headingId']}", {"title": "Taken"}),
        ("POST", f"{v1}/sections/reorder", {"elements": [{"headingId": ids["headingId"], "newSequence": 2}]}),
        # A body /v1 would refuse (400) is refused for the script first: no hint it exists.
        ("POST", f"{v1}/sections/reorder", {"elements": [{"headingId": 1, "newSequence": 2}] * 2}),
    ]


def _detail(response: httpx.Response) -> str:
    body = response.json()
    return str(body.get("detail") or body.get("message"))


async def _alices_view(scripts: httpx.AsyncClient, ids: dict[str, int]) -> list[bytes]:
    """Alice's reads of her script, byte for byte."""
    script = f"/v2/scripts/{ids['scriptId']}"
    paths = [script, f"{script}/content", f"{script}/lines", f"{script}/sections", f"{script}/shares", "/v1/scripts"]
    answers = [await scripts.get(path, headers=ALICE) for path in paths]
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    return [answer.content for answer in answers]


@pytest.fixture
async def scripts(secured_client: ClientFor, engine: AsyncEngine) -> httpx.AsyncClient:
    await reset_scripts(engine)
    return secured_client("core_script")


async def test_another_account_finds_no_script_and_changes_nothing(
    scripts: httpx.AsyncClient, secured_client: ClientFor, engine: AsyncEngine
) -> None:
    ids = await _alices_script(scripts, secured_client("character"))
    before = await _alices_view(scripts, ids)
    missing = {**ids, "scriptId": MISSING}
    for (method, path, body), (_, missing_path, _) in zip(_routes(ids), _routes(missing), strict=True):
        for headers in (BOB, {**BOB, "If-Match": '"1"'}):
            refused = await scripts.request(method, path, json=body, headers=headers)
            assert refused.status_code == 404, (method, path, refused.text)
            # Answered exactly as a script that does not exist.
            absent = await scripts.request(method, missing_path, json=body, headers=headers)
            assert absent.status_code == 404, (method, missing_path, absent.text)
            assert _detail(refused) == _detail(absent).replace(str(MISSING), str(ids["scriptId"])), (method, path)
        if method == "GET":
            by_reader = await scripts.get(path, headers=RITA)
            assert by_reader.status_code == 404, (path, by_reader.text)
    assert await _alices_view(scripts, ids) == before
    assert await count_rows(engine, "script_shares") == 0

    # Bob's lists hold his scripts only, totals included; id searches find nothing of Alice's.
    assert (await scripts.get("/v1/scripts", headers=BOB)).json() == []
    page = (await scripts.get("/v2/scripts", params={"ids": str(ids["scriptId"])}, headers=BOB)).json()
    assert (page["items"], page["total"]) == ([], 0)
    own = _created(await scripts.post("/v2/scripts", json={"title": "Bob's play"}, headers=BOB))
    assert (own["owner"], own["access"]) == ("bob", "owner")
    page = (await scripts.get("/v2/scripts", params={"limit": 1, "offset": 0}, headers=BOB)).json()
    assert ([item["scriptId"] for item in page["items"]], page["total"]) == ([own["scriptId"]], 1)
    page = (await scripts.get("/v2/scripts", params={"titleContains": "play"}, headers=BOB)).json()
    assert [item["title"] for item in page["items"]] == ["Bob's play"]
    assert [item["title"] for item in (await scripts.get("/v1/scripts", headers=BOB)).json()] == ["Bob's play"]
    assert [item["title"] for item in (await scripts.get("/v1/scripts", headers=ALICE)).json()] == ["Alice's play"]


async def test_sharing_lets_an_account_read_then_write_until_it_is_unshared(
    scripts: httpx.AsyncClient, secured_client: ClientFor, between_services: Recorder
) -> None:
    ids = await _alices_script(scripts, secured_client("character"))
    script = f"/v2/scripts/{ids['scriptId']}"
    section = f"{script}/sections/{ids['headingId']}"

    shared = await scripts.put(f"{script}/shares/bob", json={"role": "reader"}, headers=ALICE)
    assert shared.status_code == 201, shared.text
    assert shared.json() == {"account": "bob", "role": "reader"}
    assert shared.headers["location"] == f"{script}/shares/bob"
    again = await scripts.put(f"{script}/shares/bob", json={"role": "reader"}, headers=ALICE)
    assert (again.status_code, again.json()) == (200, {"account": "bob", "role": "reader"})

    # As reader: every read, none of the writes, and not the shares.
    read = await scripts.get(script, headers=BOB)
    assert read.status_code == 200, read.text
    assert (read.json()["owner"], read.json()["access"]) == ("alice", "reader")
    content = await scripts.get(f"{script}/content", headers=BOB)
    assert content.status_code == 200
    assert [line["lineId"] for line in content.json()["sections"][0]["lines"]][0] == ids["lineId"]
    assert (await scripts.get(f"{section}/lines/{ids['lineId']}", headers=BOB)).status_code == 200
    listed = (await scripts.get("/v2/scripts", headers=BOB)).json()
    assert [(i["scriptId"], i["access"]) for i in listed["items"]] == [(ids["scriptId"], "reader")]
    assert listed["total"] == 1
    assert [s["title"] for s in (await scripts.get("/v1/scripts", headers=BOB)).json()] == ["Alice's play"]
    before = await _alices_view(scripts, ids)
    for method, path, body in _routes(ids):
        if method == "GET" and not path.endswith("/shares"):
            continue
        refused = await scripts.request(method, path, json=body, headers=BOB)
        assert refused.status_code == 403, (method, path, refused.text)
        assert "bob" in _detail(refused), (method, path)
    assert await _alices_view(scripts, ids) == before

    # As writer: adds a section and a line to her script, numbered in her scope, but no shares.
    promoted = await scripts.put(f"{script}/shares/bob", json={"role": "writer"}, headers=ALICE)
    assert (promoted.status_code, promoted.json()["role"]) == (200, "writer")
    assert (await scripts.get(script, headers=BOB)).json()["access"] == "writer"
    between_services.requests.clear()
    added = _created(await scripts.post(f"{script}/sections", json={"title": "Bob's scene"}, headers=BOB))
    numbering = [r for r in between_services.requests if r.url.path.startswith(f"/v2/scopes/script-{ids['scriptId']}")]
    assert numbering, "the section was numbered in the script's scope"
    for request in numbering:
        assert request.headers["x-consumer-username"] == "bob"
        assert request.headers[ACTING_FOR_HEADER] == "alice"
        assert request.headers["x-consumer-groups"] == "writer"
    line = _created(
        await scripts.post(
            f"{script}/sections/{added['headingId']}/lines", json={"kind": "note", "text": "Bob was here."}, headers=BOB
        )
    )
    assert line["scriptId"] == ids["scriptId"]
    elements = await secured_client("central_sequence").get(
        f"/v2/scopes/script-{ids['scriptId']}/elements", headers=ALICE
    )
    assert elements.status_code == 200, elements.text
    assert {"elementType": "section", "elementId": added["headingId"], "sequenceNumber": added["sequenceNumber"]} in [
        {key: item[key] for key in ("elementType", "elementId", "sequenceNumber")} for item in elements.json()["items"]
    ]
    # Writing is not owning: a writer share neither deletes the script nor sees or changes its shares.
    for method, path, body in (
        ("GET", f"{script}/shares", None),
        ("PUT", f"{script}/shares/carol", {"role": "reader"}),
        ("DELETE", f"{script}/shares/bob", None),
        ("DELETE", script, None),
    ):
        refused = await scripts.request(method, path, json=body, headers=BOB)
        assert refused.status_code == 403, (method, path, refused.text)
    assert (await scripts.get(script, headers=ALICE)).status_code == 200
    shares = (await scripts.get(f"{script}/shares", headers=ALICE)).json()
    assert (shares["items"], shares["total"]) == ([{"account": "bob", "role": "writer"}], 1)

    # Unshared: Bob finds nothing again.
    assert (await scripts.delete(f"{script}/shares/bob", headers=ALICE)).status_code == 204
    gone = await scripts.delete(f"{script}/shares/bob", headers=ALICE)
    assert gone.status_code == 404 and _detail(gone) == f"Script {ids['scriptId']} is not shared with bob."
    for method, path, body in _routes(ids):
        refused = await scripts.request(method, path, json=body, headers=BOB)
        assert refused.status_code == 404, (method, path, refused.text)
    assert (await scripts.get("/v2/scripts", headers=BOB)).json()["total"] == 0


async def test_shares_are_managed_by_the_owner_and_admins_only(scripts: httpx.AsyncClient) -> None:
    script = _created(await scripts.post("/v2/scripts", json={"title": "Shared"}, headers=ALICE))
    shares = f"/v2/scripts/{script['scriptId']}/shares"
    to_herself = await scripts.put(f"{shares}/alice", json={"role": "writer"}, headers=ALICE)
    assert to_herself.status_code == 422 and "alice owns script" in to_herself.text
    for account, role in (("bad name", "reader"), ("-dash", "reader"), ("x" * 65, "reader"), ("bob", "owner")):
        refused = await scripts.put(f"{shares}/{account}", json={"role": role}, headers=ALICE)
        assert refused.status_code == 422, (account, role, refused.text)
    by_admin = await scripts.put(f"{shares}/carol", json={"role": "reader"}, headers=ROOT)
    assert by_admin.status_code == 201
    # A reader share's holder with the reader role: the route refuses its write first (role).
    assert (await scripts.put(f"{shares}/rita", json={"role": "reader"}, headers=ALICE)).status_code == 201
    assert (await scripts.delete(f"{shares}/carol", headers=RITA)).status_code == 403
    assert (await scripts.get(f"/v2/scripts/{script['scriptId']}", headers=RITA)).json()["access"] == "reader"
    listed = (await scripts.get(shares, headers=ROOT)).json()
    assert [(s["account"], s["role"]) for s in listed["items"]] == [("carol", "reader"), ("rita", "reader")]
    assert (await scripts.delete(f"{shares}/carol", headers=ROOT)).status_code == 204
    # Deleting the script deletes its shares.
    assert (await scripts.delete(f"/v2/scripts/{script['scriptId']}", headers=ALICE)).status_code == 204
    assert (await scripts.get(shares, headers=ROOT)).status_code == 404


async def test_a_line_names_only_parts_of_the_scripts_owner(
    scripts: httpx.AsyncClient, secured_client: ClientFor, between_services: Recorder
) -> None:
    character = secured_client("character")
    ids = await _alices_script(scripts, character)
    shared = await scripts.put(f"/v2/scripts/{ids['scriptId']}/shares/bob", json={"role": "writer"}, headers=ALICE)
    assert shared.status_code == 201
    bobs = await _parts(character, BOB, "Romeo")
    lines = f"/v2/scripts/{ids['scriptId']}/sections/{ids['headingId']}/lines"
    between_services.requests.clear()
    answer = await scripts.post(lines, json=bobs, headers=BOB)
    checks = [r for r in between_services.requests if r.headers["host"] == "character.fountain.coach"]
    assert checks, "the ids were checked with Character Management"
    assert {r.headers.get(ACTING_FOR_HEADER) for r in checks} == {"alice"}
    # Alice's own parts are what Bob may name there.
    assert (await scripts.post(lines, json={k: ids[k] for k in bobs}, headers=BOB)).status_code == 201
    assert answer.status_code == 422, answer.text
    assert f"characterId {bobs['characterId']} does not exist in Character Management." in answer.text


async def test_an_admin_reaches_every_script(scripts: httpx.AsyncClient, between_services: Recorder) -> None:
    alices = _created(await scripts.post("/v2/scripts", json={"title": "Hers"}, headers=ALICE))
    bobs = _created(await scripts.post("/v2/scripts", json={"title": "His"}, headers=BOB))
    page = (await scripts.get("/v2/scripts", headers=ROOT)).json()
    assert [(i["title"], i["owner"], i["access"]) for i in page["items"]] == [
        ("Hers", "alice", "admin"),
        ("His", "bob", "admin"),
    ]
    assert page["total"] == 2
    assert [s["title"] for s in (await scripts.get("/v1/scripts", headers=ROOT)).json()] == ["Hers", "His"]
    edited = await scripts.patch(f"/v2/scripts/{bobs['scriptId']}", json={"title": "His, edited"}, headers=ROOT)
    assert (edited.status_code, edited.json()["owner"]) == (200, "bob")
    between_services.requests.clear()
    path = f"/v2/scripts/{alices['scriptId']}/sections"
    assert _created(await scripts.post(path, json={"title": "I"}, headers=ROOT))["sequenceNumber"] == 2
    # Numbered in alice's scope (where her script is 1), with the admin's own role.
    assert between_services.requests
    for request in between_services.requests:
        assert (request.headers[ACTING_FOR_HEADER], request.headers["x-consumer-groups"]) == ("alice", "admin")
    own = _created(await scripts.post("/v2/scripts", json={"title": "Root's"}, headers=ROOT))
    assert (own["owner"], own["access"]) == ("root", "owner")


async def test_one_idempotency_key_from_two_accounts_makes_two_scripts(scripts: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "same-key-1"}
    alices = _created(await scripts.post("/v2/scripts", json={"title": "One"}, headers={**ALICE, **key}))
    bobs = _created(await scripts.post("/v2/scripts", json={"title": "One"}, headers={**BOB, **key}))
    assert alices["scriptId"] != bobs["scriptId"]
    assert (alices["owner"], bobs["owner"]) == ("alice", "bob")
    replayed = await scripts.post("/v2/scripts", json={"title": "One"}, headers={**ALICE, **key})
    assert replayed.json()["scriptId"] == alices["scriptId"]
    assert (await scripts.get("/v2/scripts", headers=ROOT)).json()["total"] == 2


async def test_an_admin_works_on_a_script_of_no_account_in_its_scope(
    scripts: httpx.AsyncClient, client_for: ClientFor, secured_client: ClientFor, between_services: Recorder
) -> None:
    """A script made with no identity checked belongs to no account; an admin changing it numbers in
    that script's own scope (of no account), not in a new one of the admin's."""
    made = await client_for("core_script").post("/v2/scripts", json={"title": "Before accounts"})
    script_id = _created(made)["scriptId"]
    between_services.requests.clear()
    heading = _created(await scripts.post(f"/v2/scripts/{script_id}/sections", json={"title": "I"}, headers=ROOT))
    assert heading["sequenceNumber"] == 2
    assert between_services.requests
    for request in between_services.requests:
        assert request.headers[ACTING_FOR_HEADER] == ""
    elements = await client_for("central_sequence").get(f"/v2/scopes/script-{script_id}/elements")
    assert [(e["elementType"], e["sequenceNumber"]) for e in elements.json()["items"]] == [
        ("script", 1),
        ("section", 2),
    ]
    in_admins_own = await secured_client("central_sequence").get(
        f"/v2/scopes/script-{script_id}/elements", headers=ROOT
    )
    assert in_admins_own.json()["items"] == []


async def test_a_sweep_deletes_an_abandoned_scope_where_its_owner_has_it(
    secured: Settings, secured_client: ClientFor, between_services: Recorder, engine: AsyncEngine
) -> None:
    """A create of alice's that died after opening its scope (in alice's namespace) and was never
    retried: the sweep, with identities checked, deletes that scope and leaves bob's of the same name."""
    sequence = secured_client("central_sequence")
    abandoned = 880_001
    scope = f"/v2/scopes/script-{abandoned}/elements"
    for who in (ALICE, BOB):
        opened = await sequence.post(scope, json={"elementType": "script", "elementId": abandoned}, headers=who)
        assert opened.status_code == 201, opened.text
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO core_script.script_reservations (script_id, owner, attempted_at)"
                " VALUES (:id, 'alice', now() - interval '25 hours')"
            ),
            {"id": abandoned},
        )
    swept = await sweep_abandoned_creates(engine, Upstreams(secured, between_services))
    assert swept == [f"script {abandoned}: never created; scope script-{abandoned} deleted"]
    assert (await sequence.get(scope, headers=ALICE)).json()["items"] == []
    assert [e["elementId"] for e in (await sequence.get(scope, headers=BOB)).json()["items"]] == [abandoned]
