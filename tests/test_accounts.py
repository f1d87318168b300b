"""`fountain accounts` and the key check of `fountain serve`: keys stored hashed, rotation and
revocation that take effect at once, 401/403 as Kong answers them, the caller named to the service
and a forged identity never passed on."""

import asyncio
import json
import re
import secrets
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Receive, Scope, Send
from typer.testing import CliRunner

from fountain_cli import accounts, gateway, registry, servers, tokens
from fountain_cli.host_dispatch import HostDispatcher
from fountain_cli.key_check import KeyCheckMiddleware, Keyring
from fountain_cli.main import app
from fountain_cli.servers import with_key_check
from fountain_common.settings import Settings, get_settings
from tests.identities import caller
from tests.in_process import service_app
from tests.tokens import hs256_signed, unsigned

runner = CliRunner()
SEQUENCE_HOST = registry.load_service("central_sequence").host


@pytest.fixture
def accounts_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "state" / "accounts.json"
    monkeypatch.setenv("FOUNTAIN_ACCOUNTS_FILE", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def fountain(*args: str) -> str:
    result = runner.invoke(app, ["accounts", *args])
    assert result.exit_code == 0, result.output
    return result.output


def printed_key(output: str) -> str:
    keys = re.findall(r"^[A-Za-z0-9_-]{43}$", output, re.MULTILINE)
    assert len(keys) == 1, output
    return keys[0]


def key_ids(path: Path, name: str) -> list[tuple[str, bool]]:
    document = json.loads(path.read_text())
    (account,) = [a for a in document["accounts"] if a["name"] == name]
    return [(k["id"], k["revoked"] is None) for k in account["keys"]]


def test_accounts_round_trip_keeps_only_hashes(accounts_file: Path) -> None:
    first = printed_key(fountain("add", "alice", "--role", "writer"))
    reader = printed_key(fountain("add", "bob", "--role", "reader"))
    text = accounts_file.read_text()
    assert first not in text and reader not in text
    assert stat.S_IMODE(accounts_file.stat().st_mode) == 0o600
    left = [p.name for p in accounts_file.parent.iterdir() if p != accounts_file]
    assert left == [".accounts.json.lock"], "a temporary file was left"

    second = printed_key(fountain("key", "alice"))
    assert [active for _, active in key_ids(accounts_file, "alice")] == [True, True]
    third = printed_key(fountain("key", "alice", "--revoke-old"))
    assert [active for _, active in key_ids(accounts_file, "alice")] == [False, False, True]
    assert len({first, second, third}) == 3

    listing = fountain("list")
    assert "alice  writer" in listing and "bob  reader" in listing
    for key_id, _ in key_ids(accounts_file, "alice"):
        assert key_id in listing
    assert all(key not in listing for key in (first, second, third, reader))

    (bob_key,) = key_ids(accounts_file, "bob")
    fountain("revoke", "bob", "--key-id", bob_key[0])
    assert key_ids(accounts_file, "bob") == [(bob_key[0], False)]
    fountain("remove", "bob")
    assert "bob" not in fountain("list")


def test_changes_made_at_once_are_all_kept(accounts_file: Path) -> None:
    names = [f"writer-{n}" for n in range(12)]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        keys = list(pool.map(lambda name: accounts.add_account(accounts_file, name, "writer"), names))
    stored = accounts.load(accounts_file)
    assert sorted(stored) == sorted(names)
    assert {stored[name].keys[0].sha256 for name in names} == {accounts.key_digest(key) for key in keys}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "alice", "--role", "owner"], "role 'owner' is not one of reader, writer, admin"),
        (["add", "Alice Smith"], "account name 'Alice Smith' must be"),
        (["add", "alice"], "account 'alice' exists already"),
        (["key", "carol"], "no account 'carol' (accounts: alice)"),
        (["revoke", "alice", "--key-id", "feedbeef"], "account 'alice' has no key 'feedbeef'"),
        (["remove", "carol"], "no account 'carol'"),
    ],
)
def test_accounts_errors_are_clear(accounts_file: Path, args: list[str], message: str) -> None:
    fountain("add", "alice")
    before = accounts_file.read_text()
    result = runner.invoke(app, ["accounts", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert accounts_file.read_text() == before


def test_an_unreadable_accounts_file_is_reported(accounts_file: Path) -> None:
    accounts_file.parent.mkdir(parents=True)
    accounts_file.write_text("alice:writer\n")
    result = runner.invoke(app, ["accounts", "list"])
    assert result.exit_code == 2 and "is not an accounts file" in result.output


@pytest.mark.parametrize("command", [[], ["add"], ["key"], ["revoke"], ["remove"], ["list"]])
def test_accounts_help_has_examples(command: list[str]) -> None:
    result = runner.invoke(app, ["accounts", *command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_gateway_new_key_still_prints_a_key_gateway_consumers_takes() -> None:
    result = runner.invoke(app, ["gateway", "new-key"])
    key = result.output.strip()
    assert gateway.parse_consumers(f"ci:admin:{key}") == [gateway.Consumer("ci", "admin", key)]


@pytest.fixture
async def served(
    accounts_file: Path, settings: Settings, engine: AsyncEngine
) -> AsyncIterator[tuple[httpx.AsyncClient, Keyring]]:
    """Central Sequence as `fountain serve` runs it, with keys checked: the accounts file and one
    consumer of GATEWAY_CONSUMERS."""
    keyring = Keyring(accounts_file, gateway.parse_consumers(f"ci:writer:{'c' * 43}"))
    dispatcher = HostDispatcher(
        {SEQUENCE_HOST: with_key_check(service_app("central_sequence", settings, engine), keyring)}
    )
    transport = httpx.ASGITransport(app=dispatcher)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers={"Host": SEQUENCE_HOST}) as http:
        yield http, keyring


async def test_keys_are_checked_as_the_gateway_checks_them(served: tuple[httpx.AsyncClient, Keyring]) -> None:
    http, _ = served
    writer = printed_key(fountain("add", "alice", "--role", "writer"))
    reader = printed_key(fountain("add", "bob", "--role", "reader"))
    admin = printed_key(fountain("add", "root", "--role", "admin"))
    scope = {"scope": "auth-test", "elementType": "line", "elementId": 1}

    missing = await http.post("/v2/scopes/auth-test/elements", json=scope)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith("apikey")
    unknown = await http.post("/v2/scopes/auth-test/elements", json=scope, headers={"apikey": "x" * 43})
    assert unknown.status_code == 401

    forbidden = await http.post("/v2/scopes/auth-test/elements", json=scope, headers={"apikey": reader})
    assert forbidden.status_code == 403
    assert "reader" in forbidden.json()["detail"]
    listed = await http.get("/v2/scopes", headers={"apikey": reader})
    assert listed.status_code == 200

    for key in (writer, admin, "c" * 43):
        numbered = await http.post(
            "/v1/sequence", json={"elementType": "script", "elementId": 5}, headers={"apikey": key}
        )
        assert numbered.status_code in (200, 201), numbered.text  # 200: numbered before, the same number

    for open_path in ("/health", "/ready", "/docs", "/openapi.json"):
        assert (await http.get(open_path)).status_code == 200, open_path


async def test_rotated_out_and_revoked_keys_are_refused_at_once(served: tuple[httpx.AsyncClient, Keyring]) -> None:
    http, _ = served
    old = printed_key(fountain("add", "alice"))
    assert (await http.get("/v2/scopes", headers={"apikey": old})).status_code == 200
    new = printed_key(fountain("key", "alice", "--revoke-old"))
    refused = await http.get("/v2/scopes", headers={"apikey": old})
    unknown = await http.get("/v2/scopes", headers={"apikey": "y" * 43})
    assert refused.status_code == unknown.status_code == 401
    assert refused.json()["detail"] == unknown.json()["detail"], "the answer tells a revoked key from an unknown one"
    assert (await http.get("/v2/scopes", headers={"apikey": new})).status_code == 200
    fountain("revoke", "alice")
    assert (await http.get("/v2/scopes", headers={"apikey": new})).status_code == 401


async def _echo_headers(scope: Scope, receive: Receive, send: Send) -> None:
    """What a service behind the check receives: its request headers, as JSON."""
    body = json.dumps({name.decode(): value.decode() for name, value in scope["headers"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def test_the_service_learns_the_caller_and_never_a_forged_identity(accounts_file: Path) -> None:
    key = printed_key(fountain("add", "alice", "--role", "writer"))
    (key_id, _), *_ = key_ids(accounts_file, "alice")
    forged = {
        "X-Consumer-Username": "root",
        "X-Consumer-ID": "00000000-0000-0000-0000-000000000000",
        "X-Consumer-Custom-ID": "root",
        "X-Credential-Identifier": "stolen",
        "X-Anonymous-Consumer": "false",
    }
    checked = httpx.ASGITransport(app=KeyCheckMiddleware(_echo_headers, Keyring(accounts_file)))
    async with httpx.AsyncClient(transport=checked, base_url="http://test") as http:
        received = (await http.post("/v2/anything", headers={"apikey": key, **forged})).json()
        assert received["x-consumer-username"] == "alice"
        assert received["x-credential-identifier"] == key_id
        assert received["x-consumer-id"] != forged["X-Consumer-ID"]
        assert "x-consumer-custom-id" not in received and "x-anonymous-consumer" not in received
        assert "apikey" not in received, "the key was passed on to the service"
        # An open path checks nothing, and passes no client-made identity either.
        received = (await http.get("/health", headers=forged)).json()
        assert not [name for name in received if name.startswith(("x-consumer", "x-credential", "x-anonymous"))]

    unchecked = httpx.ASGITransport(app=KeyCheckMiddleware(_echo_headers, None))  # --no-auth
    async with httpx.AsyncClient(transport=unchecked, base_url="http://test") as http:
        received = (await http.post("/v2/anything", headers=forged)).json()
        assert not [name for name in received if name.startswith(("x-consumer", "x-credential", "x-anonymous"))]


async def test_each_worker_of_one_service_checks_keys_unless_behind_the_gateway(
    accounts_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fountain serve NAME --workers N`: uvicorn builds the app in each worker from the factory's name."""
    key = printed_key(fountain("add", "alice", "--role", "reader"))
    checked = getattr(servers, servers.one_service_app_factory("central_sequence", servers.Auth.KEYS))()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=checked), base_url="http://test") as http:
        assert (await http.get("/v2/scopes")).status_code == 401
        assert (await http.post("/v1/sequence", json={}, headers={"apikey": key})).status_code == 403
    behind_gateway = getattr(servers, servers.one_service_app_factory("central_sequence", servers.Auth.GATEWAY))()
    assert not [m for m in behind_gateway.user_middleware if m.cls is KeyCheckMiddleware]
    unchecked = getattr(servers, servers.one_service_app_factory("central_sequence", servers.Auth.NONE))()
    assert [m.kwargs for m in unchecked.user_middleware if m.cls is KeyCheckMiddleware] == [{"keyring": None}]


async def test_claim_gives_rows_of_no_account_to_one(
    client_for: Callable[[str], httpx.AsyncClient],
    secured_client: Callable[[str], httpx.AsyncClient],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows made with no identity checked belong to no account: hidden from other accounts until one
    claims them; --from moves one account's rows to another; a move the database refuses moves nothing."""
    run = secrets.token_hex(3)
    claimer, heir = f"claimer-{run}", f"heir-{run}"
    unowned = await client_for("character").post("/v2/characters", json={"name": "Nobody's", "description": "x"})
    path = f"/v2/characters/{unowned.json()['characterId']}"
    characters = secured_client("character")
    assert (await characters.get(path, headers=caller(claimer, "writer"))).status_code == 404
    monkeypatch.setenv("FOUNTAIN_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        # The claimer numbers in a scope "default" of its own, so moving the unowned "default" to it
        # would make two of one name: refused, and nothing at all is moved.
        await client_for("central_sequence").post("/v1/sequence", json={"elementType": "script", "elementId": 1})
        sequence = secured_client("central_sequence")
        numbered = await sequence.post(
            "/v1/sequence", json={"elementType": "script", "elementId": 1}, headers=caller(claimer, "writer")
        )
        assert numbered.status_code == 201, numbered.text
        refused = await asyncio.to_thread(runner.invoke, app, ["accounts", "claim", claimer])
        assert refused.exit_code == 1, refused.output
        assert "nothing was moved" in refused.output and "central_sequence.scopes" in refused.output
        assert (await characters.get(path, headers=caller(claimer, "writer"))).status_code == 404

        moved = await asyncio.to_thread(runner.invoke, app, ["accounts", "claim", heir])
        assert moved.exit_code == 0, moved.output
        assert re.search(r"character\.characters: [1-9]\d* row\(s\)", moved.output)
        assert (await characters.get(path, headers=caller(heir, "writer"))).status_code == 200
        successor = f"successor-{run}"
        handed_on = await asyncio.to_thread(runner.invoke, app, ["accounts", "claim", successor, "--from", heir])
        assert handed_on.exit_code == 0, handed_on.output
        assert (await characters.get(path, headers=caller(heir, "writer"))).status_code == 404
        assert (await characters.get(path, headers=caller(successor, "writer"))).status_code == 200
        bad = await asyncio.to_thread(runner.invoke, app, ["accounts", "claim", "Not A Name"])
        assert bad.exit_code == 2 and "not an account name" in bad.output
    finally:
        get_settings.cache_clear()


# Tokens: `fountain accounts token` and the key check's `Authorization: Bearer`.


def printed_token(output: str) -> str:
    found = re.findall(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", output, re.MULTILINE)
    assert len(found) == 1, output
    return found[0]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_names_the_account_and_its_key_file_is_private(accounts_file: Path) -> None:
    fountain("add", "alice", "--role", "reader")
    token = printed_token(fountain("token", "alice", "--ttl", "15m"))
    key_file = accounts_file.parent / tokens.KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    public = tokens.public_key_from_text(fountain("token-key", "--pem"))
    claims = jwt.decode(token, public, algorithms=["RS256"])
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert (claims["iss"], claims["sub"]) == ("alice", "alice")
    assert 899 < claims["exp"] - claims["iat"] <= 900
    assert claims["jti"] and "role" not in claims and "reader" not in json.dumps(claims)
    assert token not in accounts_file.read_text() and token not in key_file.read_text()
    # The same key signs the next token; --rotate makes another one.
    assert tokens.public_key_from_text(fountain("token-key", "--pem")) == public
    rotated = fountain("token-key", "--rotate")
    assert "GATEWAY_TOKEN_PUBLIC_KEY=" in rotated
    assert tokens.public_key_from_text(rotated.split("GATEWAY_TOKEN_PUBLIC_KEY=")[1]) != public


def test_the_token_key_file_setting_is_used(
    accounts_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fountain("add", "alice")
    elsewhere = tmp_path / "secrets" / "signing.pem"
    monkeypatch.setenv("FOUNTAIN_TOKEN_KEY_FILE", str(elsewhere))
    get_settings.cache_clear()
    token = printed_token(fountain("token", "alice"))
    assert elsewhere.exists() and not (accounts_file.parent / tokens.KEY_FILE_NAME).exists()
    assert jwt.decode(token, tokens.public_key_from_text(fountain("token-key", "--pem")), algorithms=["RS256"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "alice", "--ttl", "0"], "ttl '0' must be longer than 0"),
        (["token", "alice", "--ttl", "-5m"], "ttl '-5m' must be longer than 0"),
        (["token", "alice", "--ttl", "1.5h"], "ttl '1.5h' is not a duration such as 90s, 15m, 1h or 7d"),
        (["token", "alice", "--ttl", "31d"], "longer than the maximum, 30d"),
        (["token", "alice", "--ttl", "9" * 30 + "d"], "longer than the maximum, 30d"),
        (["token", "alice", "--ttl", "soon"], "ttl 'soon' is not a duration"),
        (["token", "carol"], "no account 'carol' (accounts: alice)"),
    ],
)
def test_token_errors_are_clear(accounts_file: Path, args: list[str], message: str) -> None:
    fountain("add", "alice")
    result = runner.invoke(app, ["accounts", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not (accounts_file.parent / tokens.KEY_FILE_NAME).exists()


def test_an_unreadable_token_key_is_reported(accounts_file: Path) -> None:
    fountain("add", "alice")
    (accounts_file.parent / tokens.KEY_FILE_NAME).write_text("not a key\n")
    result = runner.invoke(app, ["accounts", "token", "alice"])
    assert result.exit_code == 2 and "is not an unencrypted PEM private key" in result.output


@pytest.mark.parametrize("command", [["token"], ["token-key"]])
def test_token_help_has_examples(command: list[str]) -> None:
    result = runner.invoke(app, ["accounts", *command, "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def _signing_key(accounts_file: Path) -> tokens.rsa.RSAPrivateKey:
    key = tokens.read_key(accounts_file.parent / tokens.KEY_FILE_NAME)
    assert key is not None
    return key


async def test_tokens_are_checked_as_keys_are(served: tuple[httpx.AsyncClient, Keyring], accounts_file: Path) -> None:
    http, _ = served
    fountain("add", "alice", "--role", "writer")
    fountain("add", "bob", "--role", "reader")
    writer = printed_token(fountain("token", "alice"))
    reader = printed_token(fountain("token", "bob"))
    body = {"elementType": "script", "elementId": 9}
    numbered = await http.post("/v1/sequence", json=body, headers=bearer(writer))
    assert numbered.status_code in (200, 201), numbered.text
    assert (await http.get("/v2/scopes", headers=bearer(reader))).status_code == 200
    refused = await http.post("/v1/sequence", json=body, headers=bearer(reader))
    assert refused.status_code == 403 and "reader" in refused.json()["detail"]
    # The role is the account's at each request, not the one it had when the token was made.
    fountain("remove", "bob")
    fountain("add", "bob", "--role", "admin")
    assert (await http.get("/v2/scopes", headers=bearer(reader))).status_code == 401, "a token outlived its account"
    # A consumer of GATEWAY_CONSUMERS may have tokens too.
    ci = tokens.issue(_signing_key(accounts_file), "ci", timedelta(minutes=5))
    assert (await http.post("/v1/sequence", json=body, headers=bearer(ci))).status_code in (200, 201)

    missing = await http.get("/v2/scopes")
    assert missing.status_code == 401
    assert "Bearer" in missing.headers["www-authenticate"] and "apikey" in missing.headers["www-authenticate"]
    assert "Authorization: Bearer" in missing.json()["detail"]


async def test_bad_tokens_get_the_answer_of_a_bad_key(
    served: tuple[httpx.AsyncClient, Keyring], accounts_file: Path
) -> None:
    http, _ = served
    fountain("add", "alice", "--role", "writer")
    printed_token(fountain("token", "alice"))
    key = _signing_key(accounts_file)
    # Made after the account (a token dated before it was no token of this account).
    claims = {"iss": "alice", "sub": "alice", "iat": time.time(), "exp": int(time.time()) + 600, "jti": "a1"}
    public_pem = tokens.public_pem(key).encode()
    forged_key = tokens.rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = {
        "wrong signature": tokens.issue(forged_key, "alice", timedelta(minutes=5)),
        "alg none": unsigned(claims),
        "HS256 with the public key": hs256_signed(claims, public_pem),
        "unknown account": tokens.issue(key, "mallory", timedelta(minutes=5)),
        "iss is not sub": jwt.encode({**claims, "sub": "root"}, key, algorithm="RS256"),
        "no jti": jwt.encode({k: v for k, v in claims.items() if k != "jti"}, key, algorithm="RS256"),
        "not a token": "a.b.c",
    }
    unknown_key = await http.get("/v2/scopes", headers={"apikey": "y" * 43})
    for what, token in bad.items():
        refused = await http.get("/v2/scopes", headers=bearer(token))
        assert refused.status_code == 401, what
        assert refused.json()["detail"] == "The token is not valid.", what
        assert refused.headers["www-authenticate"].startswith(unknown_key.headers["www-authenticate"]), what
    # The same claims signed by the deployment's key pass: each refusal above is the token's doing.
    assert (await http.get("/v2/scopes", headers=bearer(jwt.encode(claims, key, algorithm="RS256")))).status_code == 200

    # Expired an hour ago: 401 saying so; a few seconds late is forgiven (clocks differ).
    expired = tokens.issue(key, "alice", timedelta(hours=1), now=time.time() - 7200)
    late = await http.get("/v2/scopes", headers=bearer(expired))
    assert late.status_code == 401 and "expired" in late.json()["detail"]
    stored = accounts.load(accounts_file)
    stored["alice"].tokens_revoked = None  # as if the account were older than the token
    accounts.save(accounts_file, stored)
    just_expired = tokens.issue(key, "alice", timedelta(seconds=60), now=time.time() - 65)
    assert (await http.get("/v2/scopes", headers=bearer(just_expired))).status_code == 200


async def test_revoking_an_account_or_rotating_the_key_ends_its_tokens(
    served: tuple[httpx.AsyncClient, Keyring], accounts_file: Path
) -> None:
    http, _ = served
    fountain("add", "alice", "--role", "writer")
    fountain("add", "bob", "--role", "writer")
    before = printed_token(fountain("token", "alice"))
    bobs = printed_token(fountain("token", "bob"))
    assert (await http.get("/v2/scopes", headers=bearer(before))).status_code == 200
    output = fountain("revoke", "alice")
    assert "Tokens of alice issued until now are refused" in output
    assert (await http.get("/v2/scopes", headers=bearer(before))).status_code == 401
    assert (await http.get("/v2/scopes", headers=bearer(bobs))).status_code == 200, "another account's token ended"
    # Even with no key left, a token made after the revocation works, at once.
    after = printed_token(fountain("token", "alice"))
    assert (await http.get("/v2/scopes", headers=bearer(after))).status_code == 200
    # An account of the same name made anew: the tokens of the old one are not its tokens.
    fountain("remove", "alice")
    assert (await http.get("/v2/scopes", headers=bearer(after))).status_code == 401
    fountain("add", "alice", "--role", "writer")
    assert (await http.get("/v2/scopes", headers=bearer(after))).status_code == 401
    # A new signing key: every token signed by the old one is refused, new ones pass.
    fountain("token-key", "--rotate")
    assert (await http.get("/v2/scopes", headers=bearer(bobs))).status_code == 401
    fresh = printed_token(fountain("token", "bob"))
    assert (await http.get("/v2/scopes", headers=bearer(fresh))).status_code == 200


async def test_the_service_learns_the_token_s_caller_and_never_the_token(accounts_file: Path) -> None:
    fountain("add", "alice", "--role", "writer")
    token = printed_token(fountain("token", "alice"))
    checked = httpx.ASGITransport(app=KeyCheckMiddleware(_echo_headers, Keyring(accounts_file)))
    async with httpx.AsyncClient(transport=checked, base_url="http://test") as http:
        received = (await http.post("/v2/anything", headers={**bearer(token), "X-Consumer-Username": "root"})).json()
    assert received["x-consumer-username"] == "alice" and received["x-consumer-groups"] == "writer"
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert received["x-credential-identifier"] == f"token:{jti}"
    assert "authorization" not in received, "the token was passed on to the service"
