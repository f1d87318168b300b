"""`fountain serve`: all five services in one process, dispatched by Host header as the gateway
does, checking API keys; and one service alone."""

import time
from datetime import timedelta
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from fountain_cli import accounts, gateway, registry, tokens
from tests.central_sequence.conftest import reset_numbering
from tests.service_processes import serve
from tests.tokens import hs256_signed, unsigned


async def test_all_services_answer_on_one_port_by_host(engine, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await reset_numbering(engine)
    accounts_file = tmp_path / "accounts.json"
    reader_key = accounts.add_account(accounts_file, "dashboard", gateway.READER)
    writer_key = gateway.new_api_key()
    env = {"FOUNTAIN_ACCOUNTS_FILE": str(accounts_file), gateway.CONSUMERS_VARIABLE: f"ci:writer:{writer_key}"}
    sequence = {"Host": "centralsequence.fountain.coach"}
    with serve([], database_url, host_header=sequence["Host"], auth=[], env=env) as (url,):
        async with httpx.AsyncClient(base_url=url) as http:
            # The README's example, as curl sends it.
            numbered = await http.post(
                "/v1/sequence",
                json={"elementType": "script", "elementId": 1},
                headers={**sequence, "apikey": writer_key},
            )
            assert (numbered.status_code, numbered.json()) == (201, {"sequenceNumber": 1})
            without_key = await http.post(
                "/v1/sequence", json={"elementType": "script", "elementId": 2}, headers=sequence
            )
            assert without_key.status_code == 401
            as_reader = {**sequence, "apikey": reader_key}
            refused = await http.post("/v1/sequence", json={"elementType": "script", "elementId": 2}, headers=as_reader)
            assert refused.status_code == 403
            assert (await http.get("/v2/scopes", headers=as_reader)).status_code == 200
            # Core Script numbers the script through Central Sequence, through this process: with its own key.
            script = await http.post(
                "/v2/scripts",
                json={"title": "Keys"},
                headers={"Host": registry.load_service("core_script").host, "apikey": writer_key},
            )
            assert script.status_code == 201, script.text
            # Revoked while the server runs: refused from the next request on.
            accounts.revoke(accounts_file, "dashboard")
            assert (await http.get("/v2/scopes", headers=as_reader)).status_code == 401
            for service in registry.all_services():
                ready = await http.get("/ready", headers={"Host": service.host})
                assert ready.json() == {"status": "ok", "service": service.name}
            unknown = await http.get("/ready", headers={"Host": "example.com"})
            assert unknown.status_code == 404
            assert "centralsequence.fountain.coach" in unknown.json()["detail"]


async def test_one_service_alone_without_checks_on_loopback(engine, database_url: str) -> None:  # type: ignore[no-untyped-def]
    await reset_numbering(engine)
    with serve(["central_sequence"], database_url, auth=["--no-auth", "--host", "127.0.0.1"]) as (url,):
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.post("/v1/sequence", json={"elementType": "script", "elementId": 7})
            assert response.json() == {"sequenceNumber": 1}
            assert response.headers["x-request-id"]
            echoed = await http.get("/health", headers={"X-Request-ID": "trace-me"})
            assert echoed.headers["x-request-id"] == "trace-me"


async def test_all_services_act_for_the_caller_of_the_key(engine, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The key check names the caller to the services with the server's own proof; Story Factory then
    reads Core Script as that caller (a reader, of the story shared with it), and a forged identity
    sent past the check is refused."""
    await reset_numbering(engine)
    accounts_file = tmp_path / "accounts.json"
    reader_key = accounts.add_account(accounts_file, "dashboard", gateway.READER)
    writer_key = accounts.add_account(accounts_file, "ada", gateway.WRITER)
    stories = {"Host": registry.load_service("story_factory").host}
    screenplay = {**stories, "Content-Type": "text/plain; charset=utf-8"}
    text = "Title: Through the server\n\nINT. ROOM - DAY\n\nA door opens.\n"
    env = {"FOUNTAIN_ACCOUNTS_FILE": str(accounts_file)}
    with serve([], database_url, host_header=stories["Host"], auth=[], env=env) as (url,):
        async with httpx.AsyncClient(base_url=url) as http:
            imported = await http.post("/v2/stories", content=text, headers={**screenplay, "apikey": writer_key})
            assert imported.status_code == 201, imported.text
            story = f"/v2/stories/{imported.json()['scriptId']}"
            # ada's story is hers until she shares it.
            assert (await http.get(story, headers={**stories, "apikey": reader_key})).status_code == 404
            shared = await http.put(
                f"/v2/scripts/{imported.json()['scriptId']}/shares/dashboard",
                json={"role": "reader"},
                headers={"Host": registry.load_service("core_script").host, "apikey": writer_key},
            )
            assert shared.status_code == 201, shared.text
            read = await http.get(story, headers={**stories, "apikey": reader_key})
            assert read.status_code == 200, read.text
            refused = await http.post("/v2/stories", content=text, headers={**screenplay, "apikey": reader_key})
            assert refused.status_code == 403
            forged = {
                **stories,
                "X-Fountain-Gateway": "a guess",
                "X-Consumer-Username": "ada",
                "X-Consumer-ID": "1",
                "X-Consumer-Groups": "admin",
            }
            assert (await http.get(story, headers=forged)).status_code == 401
            as_more_than_reader = {**forged, "apikey": reader_key}
            assert (await http.post("/v2/stories", content=text, headers=as_more_than_reader)).status_code == 403


async def test_one_service_behind_the_gateway_trusts_only_its_proof(engine, database_url: str) -> None:  # type: ignore[no-untyped-def]
    await reset_numbering(engine)
    secret = gateway.new_api_key()
    env = {"FOUNTAIN_GATEWAY_SECRET": secret}
    named = {"X-Consumer-Username": "ci", "X-Consumer-ID": "1", "X-Consumer-Groups": "writer"}
    body = {"elementType": "script", "elementId": 1}
    with serve(["central_sequence"], database_url, auth=["--behind-gateway"], env=env) as (url,):
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.post("/v1/sequence", json=body, headers=named)).status_code == 401
            proven = {**named, "X-Fountain-Gateway": secret}
            numbered = await http.post("/v1/sequence", json=body, headers=proven)
            assert (numbered.status_code, numbered.json()) == (201, {"sequenceNumber": 1})
            assert (await http.get("/health")).status_code == 200


async def test_tokens_log_in_as_keys_do(engine, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`fountain serve` takes `Authorization: Bearer <token>` of `fountain accounts token` beside
    `apikey`, and refuses the tokens it must, while it runs."""
    await reset_numbering(engine)
    accounts_file = tmp_path / "accounts.json"
    accounts.add_account(accounts_file, "ada", gateway.WRITER)
    accounts.add_account(accounts_file, "dashboard", gateway.READER)
    key_file = tmp_path / "signing.pem"
    key, _ = tokens.signing_key(key_file)
    writer, reader = (tokens.issue(key, name, timedelta(minutes=10)) for name in ("ada", "dashboard"))
    claims = {"iss": "ada", "sub": "ada", "iat": time.time(), "exp": int(time.time()) + 600, "jti": "t1"}
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "expired": tokens.issue(key, "ada", timedelta(minutes=1), now=time.time() - 3600),
        "wrong signature": tokens.issue(forger, "ada", timedelta(minutes=10)),
        "alg none": unsigned(claims),
        "HS256 with the public key": hs256_signed(claims, tokens.public_pem(key).encode()),
    }
    env = {"FOUNTAIN_ACCOUNTS_FILE": str(accounts_file), "FOUNTAIN_TOKEN_KEY_FILE": str(key_file)}
    sequence = {"Host": "centralsequence.fountain.coach"}
    body = {"elementType": "script", "elementId": 3}

    def bearer(token: str) -> dict[str, str]:
        return {**sequence, "Authorization": f"Bearer {token}"}

    with serve([], database_url, host_header=sequence["Host"], auth=[], env=env) as (url,):
        async with httpx.AsyncClient(base_url=url) as http:
            numbered = await http.post("/v1/sequence", json=body, headers=bearer(writer))
            assert (numbered.status_code, numbered.json()) == (201, {"sequenceNumber": 1})
            assert (await http.get("/v2/scopes", headers=bearer(reader))).status_code == 200
            assert (await http.post("/v1/sequence", json=body, headers=bearer(reader))).status_code == 403
            for what, token in refused.items():
                answer = await http.get("/v2/scopes", headers=bearer(token))
                assert answer.status_code == 401, what
                assert "Bearer" in answer.headers["www-authenticate"], what
            expired = await http.get("/v2/scopes", headers=bearer(refused["expired"]))
            assert "expired" in expired.json()["detail"]
            # The accounts file and the key file change while the server runs: at once.
            accounts.revoke(accounts_file, "dashboard")
            assert (await http.get("/v2/scopes", headers=bearer(reader))).status_code == 401
            assert (await http.get("/v2/scopes", headers=bearer(writer))).status_code == 200
            tokens.signing_key(key_file, rotate=True)
            assert (await http.get("/v2/scopes", headers=bearer(writer))).status_code == 401
