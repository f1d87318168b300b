"""`fountain serve` checks API keys itself, as Kong does in front of the Docker Compose deployment.

Which requests need a key and which roles they admit is `gateway.access_groups`, the answer
kong/kong.yml is generated from. The key comes in the `apikey` header; it is looked up among the
accounts file's keys (fountain_cli/accounts.py, read again whenever the file changes, so a revoked key
is refused at once) and the consumers of GATEWAY_CONSUMERS. A token (`Authorization: Bearer <jwt>`,
fountain_cli/tokens.py) is the other way in, as Kong's jwt plugin beside key-auth: signed by the
deployment's token signing key, unexpired, of a known account and issued after its tokens were last
revoked; the role is the account's. Then, as Kong's key-auth plugin does, the key (or token) is
removed from the request and the consumer is named to the service in X-Consumer-ID,
X-Consumer-Username and X-Credential-Identifier; any such header the client sent is dropped first,
so a forged identity never reaches a service. The caller's role goes in X-Consumer-Groups, as Kong's
acl plugin sends it, and the proof that the gateway named the caller in X-Fountain-Gateway (the
server's FOUNTAIN_GATEWAY_SECRET): the services check both against their spec (fountain_common/identity.py).

In the all-in-one server the services call each other through this same check. Such a call carries
the proof and the identity of the request it serves: the identity is passed on as it is, so the
called service acts for the original caller, never with more rights.
"""

import hmac
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from fountain_cli import accounts, gateway, tokens
from fountain_common import identity as caller_identity
from fountain_common.problems import Problem, problem_response

API_KEY_HEADER = gateway.API_KEY_HEADER.encode()
AUTHORIZATION_HEADER = b"authorization"
TOKEN_CREDENTIAL = "token:"  # X-Credential-Identifier of a token's caller: token:<jti>
# Both ways in, as RFC 7235 lists several challenges: a key in `apikey`, or a bearer token.
CHALLENGES = f'apikey header="{gateway.API_KEY_HEADER}", Bearer realm="fountain"'
BAD_TOKEN_CHALLENGE = CHALLENGES + ', error="invalid_token"'
# What Kong's key-auth and ACL plugins tell the upstream service; a client may set none of them.
IDENTITY_HEADER_PREFIXES = (
    b"x-consumer-",
    b"x-credential-",
    b"x-anonymous-",
    b"x-authenticated-",
    caller_identity.ACTING_FOR_HEADER.lower().encode(),
)
PROOF_HEADER = caller_identity.PROOF_HEADER.lower().encode()
# Kong names a consumer by a UUID; here one derived from the name, the same in every process.
CONSUMER_NAMESPACE = uuid.UUID("6f1c1d3e-6a47-4b8e-9c55-0f7f3b1d2a90")
INTERNAL_CONSUMER = "fountain-serve"
log = structlog.get_logger("fountain.keys")


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    key_id: str

    def headers(self) -> list[tuple[bytes, bytes]]:
        """What Kong's key-auth tells the service about the consumer."""
        return [
            (b"x-consumer-id", str(uuid.uuid5(CONSUMER_NAMESPACE, self.name)).encode()),
            (b"x-consumer-username", self.name.encode()),
            (b"x-credential-identifier", self.key_id.encode()),
            (caller_identity.GROUPS_HEADER.lower().encode(), self.role.encode()),
        ]


class Keyring:
    """Every key `fountain serve` accepts, by SHA-256: the accounts file's active keys (reloaded when
    the file changes) and the consumers given in GATEWAY_CONSUMERS or added by the server itself."""

    def __init__(
        self,
        accounts_file: Path,
        consumers: list[gateway.Consumer] | None = None,
        token_key_file: Path | None = None,
    ) -> None:
        self.accounts_file = accounts_file
        self.fixed: dict[bytes, Identity] = {}
        # Tokens of GATEWAY_CONSUMERS names are accepted too (Kong gives each of them a jwt credential).
        self.consumer_roles: dict[str, str] = {}
        for consumer in consumers or []:
            self.add(consumer, key_id=f"{gateway.CONSUMERS_VARIABLE}:{consumer.name}")
            self.consumer_roles[consumer.name] = consumer.role
        self.tokens = tokens.TokenVerifier(token_key_file or accounts_file.parent / tokens.KEY_FILE_NAME)
        self._file_state: tuple[int, int, int] | None = None
        self._from_file: dict[bytes, Identity] = {}
        self._accounts: dict[str, accounts.Account] = {}
        self._headers: dict[Identity, list[tuple[bytes, bytes]]] = {}
        self._reload_if_changed(serving=False)

    def add(self, consumer: gateway.Consumer, key_id: str) -> None:
        self.fixed[accounts.key_digest(consumer.key).encode()] = Identity(consumer.name, consumer.role, key_id)

    def _reload_if_changed(self, serving: bool = True) -> None:
        try:
            status = os.stat(self.accounts_file)
            state: tuple[int, int, int] | None = (status.st_ino, status.st_mtime_ns, status.st_size)
        except FileNotFoundError:
            state = None
        if state == self._file_state:
            return
        self._file_state = state
        try:
            loaded = accounts.load(self.accounts_file)
        except accounts.AccountError as error:
            if not serving:
                raise
            # Broken while serving (by hand: the CLI replaces it in one step): keep the keys read last.
            log.warning("accounts file unreadable, keeping the keys read before", error=str(error))
            return
        self._from_file = {
            key.sha256.encode(): Identity(account.name, account.role, key.id)
            for account in loaded.values()
            for key in account.active_keys()
        }
        self._accounts = loaded

    def headers(self, identity: Identity) -> list[tuple[bytes, bytes]]:
        if identity not in self._headers:
            self._headers[identity] = identity.headers()
        return self._headers[identity]

    def __len__(self) -> int:
        self._reload_if_changed()
        return len(self.fixed) + len(self._from_file)

    def identify(self, key: str) -> Identity | None:
        self._reload_if_changed()
        digest = accounts.key_digest(key).encode()
        found = None
        # Every stored hash compared in constant time, none skipped: how long the check takes says
        # nothing about which key, or how much of one, matched.
        for known, identity in (*self._from_file.items(), *self.fixed.items()):
            if hmac.compare_digest(known, digest):
                found = identity
        return found

    def identify_token(self, token: str) -> Identity:
        """The caller a token names; raises tokens.TokenRefused. The role is the account's now, and a
        token of a removed account, or issued before the account's tokens were revoked, is refused."""
        claims = self.tokens.verify(token)
        self._reload_if_changed()
        account = self._accounts.get(claims.name)
        if account is not None:
            if claims.issued_at <= account.tokens_revoked_at():
                raise tokens.TokenRefused("The token is not valid.")
            role = account.role
        elif claims.name in self.consumer_roles:
            role = self.consumer_roles[claims.name]
        else:
            raise tokens.TokenRefused("The token is not valid.")
        return Identity(claims.name, role, f"{TOKEN_CREDENTIAL}{claims.token_id}")


def _unauthorized(detail: str, challenges: str = CHALLENGES) -> Problem:
    problem = caller_identity.unauthorized(detail)
    problem.headers["WWW-Authenticate"] = challenges
    return problem


def _bearer_token(value: bytes) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None for any other scheme."""
    scheme, _, token = value.decode("latin-1").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class KeyCheckMiddleware:
    """Pure ASGI: refuses a request its key does not allow (401/403 problem details) before the
    service reads it, and names the caller to the service as the gateway does."""

    def __init__(self, app: ASGIApp, keyring: Keyring | None, secret: str | None = None) -> None:
        self.app = app
        self.keyring = keyring  # None: nothing is checked (`fountain serve --no-auth`)
        # The services' FOUNTAIN_GATEWAY_SECRET: sent as the proof beside the identity it names.
        self.proof = [(PROOF_HEADER, secret.encode())] if secret else []
        self.secret = secret.encode() if secret else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = None
        token = None
        proof = None
        headers = []
        forwarded = []
        for name, value in scope["headers"]:
            if name == API_KEY_HEADER:
                key = value.decode("latin-1")
            elif name == AUTHORIZATION_HEADER and (bearer := _bearer_token(value)) is not None:
                token = bearer  # the credential, hidden from the service as the key is
            elif name == PROOF_HEADER:
                proof = value
            elif name.startswith(IDENTITY_HEADER_PREFIXES):
                forwarded.append((name, value))
            else:
                headers.append((name, value))
        if self.secret is not None and forwarded and caller_identity.proof_is_valid(proof, self.secret):
            # A service of this process calling another for the caller it serves: already checked.
            await self.app({**scope, "headers": headers + forwarded + self.proof}, receive, send)
            return
        if self.keyring is None:
            await self.app({**scope, "headers": headers}, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"].removeprefix(root) if root and scope["path"].startswith(root) else scope["path"]
        groups = gateway.access_groups(path, scope["method"])
        if groups is None:
            await self.app({**scope, "headers": headers}, receive, send)
            return
        identity = None
        refused = None
        if token:
            try:
                identity = self.keyring.identify_token(token)
            except tokens.TokenRefused as error:
                refused = error
        if identity is None and key:
            identity = self.keyring.identify(key)
        if identity is None:
            # Unknown and revoked keys (and tokens) get the same answer: nothing tells which.
            if refused is not None and not key:
                problem = _unauthorized(refused.detail, BAD_TOKEN_CHALLENGE)
            elif refused is not None:
                problem = _unauthorized("Neither the API key nor the token is valid.", BAD_TOKEN_CHALLENGE)
            elif key:
                problem = _unauthorized("The API key is not valid.")
            else:
                problem = _unauthorized(
                    f"This request needs an API key in the `{gateway.API_KEY_HEADER}` header "
                    "or a token in `Authorization: Bearer <token>`."
                )
            await problem_response(Request(scope), problem)(scope, receive, send)
            return
        if identity.role not in groups:
            forbidden = caller_identity.forbidden(identity.role, scope["method"], groups)
            await problem_response(Request(scope), forbidden)(scope, receive, send)
            return
        # A token's identity names the token, one of many: not worth keeping.
        headers += (
            identity.headers() if identity.key_id.startswith(TOKEN_CREDENTIAL) else self.keyring.headers(identity)
        )
        headers += self.proof
        await self.app({**scope, "headers": headers}, receive, send)
