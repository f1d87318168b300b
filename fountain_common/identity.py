"""Who calls a service: the identity the gateway names, trusted only with the gateway's proof.

The gateway (Kong, or the key check of `fountain serve`) identifies the caller by its API key and
names it to the service in X-Consumer-ID, X-Consumer-Username, X-Credential-Identifier and, with its
roles, X-Consumer-Groups (as Kong's key-auth and acl plugins do). A service that anyone on its
network could reach must not believe such headers from anyone: it trusts them only when the request
also carries X-Fountain-Gateway equal to FOUNTAIN_GATEWAY_SECRET, a secret the gateway and the
services share. With the setting unset, a service checks nothing (in-process tests, `--no-auth`).

Each generated route knows the roles its operation admits, from the spec's `security` (the scopes of
the apiKey scheme); `authorize` answers 401 (no proof, a wrong one, or no identity) or 403 (no
admitted role) before the request is read any further. The caller is then `current_caller()` for
the operation, and calls to other services act for it (fountain_common/upstream.py).
"""

import hmac
from contextvars import ContextVar, Token
from dataclasses import dataclass

from starlette.types import Scope

from fountain_common.problems import Problem

READER = "reader"
WRITER = "writer"
ADMIN = "admin"
ROLES = (READER, WRITER, ADMIN)
READ_ROLES = (READER, WRITER, ADMIN)
WRITE_ROLES = (WRITER, ADMIN)
READ_METHODS = frozenset({"GET", "HEAD"})

API_KEY_HEADER = "apikey"
PROOF_HEADER = "X-Fountain-Gateway"
CONSUMER_ID_HEADER = "X-Consumer-ID"
CONSUMER_USERNAME_HEADER = "X-Consumer-Username"
CREDENTIAL_HEADER = "X-Credential-Identifier"
GROUPS_HEADER = "X-Consumer-Groups"  # Kong's acl plugin: the consumer's groups, comma separated
# Set only by a service calling another for a caller it let into someone else's work (a script shared
# with the caller): whose work the call is in. Never from a client: the gateway removes it.
ACTING_FOR_HEADER = "X-Fountain-Acting-For"

_PROOF = PROOF_HEADER.lower().encode()
_CONSUMER_ID = CONSUMER_ID_HEADER.lower().encode()
_USERNAME = CONSUMER_USERNAME_HEADER.lower().encode()
_CREDENTIAL = CREDENTIAL_HEADER.lower().encode()
_GROUPS = GROUPS_HEADER.lower().encode()
_ACTING_FOR = ACTING_FOR_HEADER.lower().encode()


def roles_for_method(method: str) -> tuple[str, ...]:
    """The roles the specs give an operation of `method`: every role reads, writers and admins write."""
    return READ_ROLES if method.upper() in READ_METHODS else WRITE_ROLES


@dataclass(frozen=True)
class Caller:
    """The consumer the gateway identified, as it named it."""

    consumer_id: str
    username: str
    credential: str
    roles: tuple[str, ...]
    # The account whose work this request is in, when it is not the caller's own (None when it is;
    # "" for the rows of no account): set by a service that checked the caller may work there
    # (fountain_common/ownership.py).
    acting_for: str | None = None

    @property
    def owner(self) -> str:
        """The account whose rows this request reads, and to whom the rows it makes belong."""
        return self.username if self.acting_for is None else self.acting_for

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def headers(self) -> dict[str, str]:
        """The identity headers naming this caller to another service (with the proof added by the sender)."""
        headers = {
            CONSUMER_ID_HEADER: self.consumer_id,
            CONSUMER_USERNAME_HEADER: self.username,
            CREDENTIAL_HEADER: self.credential,
            GROUPS_HEADER: ", ".join(self.roles),
        }
        if self.acting_for is not None:
            headers[ACTING_FOR_HEADER] = self.acting_for
        return headers


_CALLER: ContextVar[Caller | None] = ContextVar("fountain_caller", default=None)


def current_caller() -> Caller | None:
    """The caller of the request being handled; None when the service checks no identity (no
    FOUNTAIN_GATEWAY_SECRET) or the operation is open."""
    return _CALLER.get()


def set_caller(caller: Caller | None) -> Token[Caller | None]:
    """Make `caller` the current one; give the returned token to `reset_caller` when the request ends."""
    return _CALLER.set(caller)


def reset_caller(token: Token[Caller | None]) -> None:
    _CALLER.reset(token)


def unauthorized(detail: str) -> Problem:
    return Problem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": f'apikey header="{API_KEY_HEADER}"'}
    )


def forbidden(role_names: str, method: str, roles: tuple[str, ...]) -> Problem:
    return Problem(
        403,
        "forbidden",
        "Forbidden",
        f"Role {role_names} may not {method} here; it needs one of: {', '.join(roles)}.",
    )


def proof_is_valid(sent: bytes | None, secret: bytes) -> bool:
    return sent is not None and hmac.compare_digest(sent, secret)


def authorize(scope: Scope, roles: tuple[str, ...], secret: str) -> Caller:
    """The caller of the request in `scope` when the gateway's proof is right and the caller holds one
    of `roles`; otherwise a 401 or 403 Problem. The answer does not say whether a proof was sent."""
    proof = consumer_id = username = credential = groups = acting_for = None
    for name, value in scope["headers"]:
        if name == _PROOF:
            proof = value
        elif name == _CONSUMER_ID:
            consumer_id = value
        elif name == _USERNAME:
            username = value
        elif name == _CREDENTIAL:
            credential = value
        elif name == _GROUPS:
            groups = value
        elif name == _ACTING_FOR:
            acting_for = value
    if not proof_is_valid(proof, secret.encode()):
        raise unauthorized(f"This request needs an API key in the `{API_KEY_HEADER}` header, checked by the gateway.")
    if not (consumer_id or username):
        raise unauthorized(f"This request needs an API key in the `{API_KEY_HEADER}` header.")
    held = tuple(part.strip() for part in (groups or b"").decode("latin-1").split(",") if part.strip())
    if not set(held) & set(roles):
        raise forbidden(", ".join(held) or "(none)", scope["method"], roles)
    return Caller(
        consumer_id=(consumer_id or b"").decode("latin-1"),
        username=(username or b"").decode("latin-1"),
        credential=(credential or b"").decode("latin-1"),
        roles=held,
        acting_for=None if acting_for is None else acting_for.decode("latin-1"),
    )
