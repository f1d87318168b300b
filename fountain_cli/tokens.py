"""Token logins: signed JWTs for accounts, beside API keys.

`fountain accounts token NAME` signs a JWT (RS256) with the deployment's token signing key, a private
RSA key in a file made on first use (FOUNTAIN_TOKEN_KEY_FILE, by default beside the accounts file,
mode 0600). Its claims: `iss` and `sub` the account's name (Kong's jwt plugin finds the consumer by
`iss`), `iat`, `exp` and `jti`. The role is not in the token: it is the account's, looked up at each
request, so a changed role or a removed account takes effect at once.

Checking a token (`TokenVerifier`, used by `fountain serve`'s key check): the signature with the
public half of the key file (RS256 only: `alg: none` and HS256 made with the public key are refused),
`exp` with a small leeway, a known account, and `iat` after the account's `tokens_revoked`
(fountain_cli/accounts.py: set by `fountain accounts revoke NAME`). `iat` is given to the millisecond
(RFC 7519 allows a fraction), so a token made just after a revocation is told from one made before. `fountain accounts token-key
--rotate` replaces the key: every token signed by the old one is refused.
"""

import base64
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fountain_cli import accounts, gateway
from fountain_cli.files import replace_file
from fountain_common.settings import Settings, get_settings

ALGORITHM = gateway.TOKEN_ALGORITHM
KEY_FILE_NAME = "token-signing-key.pem"
KEY_BITS = 2048
# A token cannot be revoked alone, only with every other token of its account: keep them short-lived.
MAX_TTL = timedelta(seconds=gateway.TOKEN_MAX_SECONDS)
# Clocks of the machine that signs and the one that checks may differ a little.
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ["iss", "sub", "iat", "exp", "jti"]
_TTL = re.compile(r"^\s*(-?\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_TOKEN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
log = structlog.get_logger("fountain.tokens")


class TokenError(accounts.AccountError):
    """A token that cannot be issued (bad ttl, unknown account, unreadable key file)."""


def key_path(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.token_key_file or accounts.accounts_path(settings).parent / KEY_FILE_NAME


def parse_ttl(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `7d` or a number of seconds; more than 0 and at most MAX_TTL."""
    match = _TTL.match(text)
    if not match:
        raise TokenError(f"ttl {text!r} is not a duration such as 90s, 15m, 1h or 7d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise TokenError(f"ttl {text!r} must be longer than 0")
    if seconds > MAX_TTL.total_seconds():
        raise TokenError(f"ttl {text!r} is longer than the maximum, {MAX_TTL.days}d")
    return timedelta(seconds=seconds)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    """Replace `path` in one step, readable by its owner only."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    replace_file(path, pem, 0o600)


def read_key(path: Path) -> rsa.RSAPrivateKey | None:
    """The signing key of `path`; None when there is no such file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise TokenError(f"cannot read the token signing key {path}: {error.strerror}") from error
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise TokenError(f"{path} is not an unencrypted PEM private key ({error})") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TokenError(f"{path} is not an RSA private key; RS256 needs one")
    return key


def signing_key(path: Path, rotate: bool = False) -> tuple[rsa.RSAPrivateKey, bool]:
    """The signing key of `path`, made when there is none (or a new one with `rotate`); and whether
    it was made now. The accounts' lock file keeps two commands from making two keys at once."""
    with accounts.locked(path):
        key = None if rotate else read_key(path)
        if key is not None:
            return key, False
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        _write_key(path, key)
        return key, True


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_key_line(key: rsa.RSAPrivateKey) -> str:
    """The public key on one line (the PEM's base64 body), for GATEWAY_TOKEN_PUBLIC_KEY in .env."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def public_key_from_text(text: str) -> rsa.RSAPublicKey:
    """A public key given as PEM or as public_key_line gives it; raises TokenError."""
    text = text.strip().replace("\\n", "\n")
    if not text.startswith("-----BEGIN"):
        body = "".join(text.split())
        text = "-----BEGIN PUBLIC KEY-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        text += "\n-----END PUBLIC KEY-----\n"
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError) as error:
        raise TokenError("not a public key (print it with `fountain accounts token-key`)") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise TokenError("not an RSA public key; RS256 needs one")
    return key


def role_of(name: str, accounts_file: Path, consumers: list[Any]) -> str:
    """The role of the account or GATEWAY_CONSUMERS consumer `name`; raises TokenError for an unknown name."""
    try:
        known = accounts.load(accounts_file)
    except accounts.AccountError as error:
        raise TokenError(str(error)) from error
    if name in known:
        return known[name].role
    for consumer in consumers:
        if consumer.name == name:
            return str(consumer.role)
    names = ", ".join(sorted({*known, *(c.name for c in consumers)})) or "none yet"
    raise TokenError(f"no account {name!r} (accounts: {names})")


def issue(key: rsa.RSAPrivateKey, name: str, ttl: timedelta, now: float | None = None) -> str:
    """A token of account `name` valid for `ttl` from `now` (by default the present)."""
    issued_at = round(now if now is not None else time.time(), 3)
    claims = {
        "iss": name,
        "sub": name,
        "iat": issued_at,
        "exp": int(issued_at) + int(ttl.total_seconds()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


@dataclass(frozen=True)
class TokenClaims:
    name: str
    token_id: str
    issued_at: float


class TokenRefused(Exception):
    """A token that is not accepted; `expired` when it was genuine but its time is over."""

    def __init__(self, detail: str, expired: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.expired = expired


class TokenVerifier:
    """Checks tokens against the public half of the key file, read again whenever the file changes
    (so a rotation takes effect at the next request). No key file: no token is accepted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._state: tuple[int, int, int] | None = None
        self._public: rsa.RSAPublicKey | None = None
        self._reload_if_changed(serving=False)

    def _reload_if_changed(self, serving: bool = True) -> None:
        try:
            status = os.stat(self.path)
            state: tuple[int, int, int] | None = (status.st_ino, status.st_mtime_ns, status.st_size)
        except FileNotFoundError:
            state = None
        if state == self._state:
            return
        self._state = state
        try:
            key = read_key(self.path) if state is not None else None
        except TokenError as error:
            if not serving:
                raise
            # Broken while serving (by hand: rotation replaces it in one step): keep the key read last.
            log.warning("token signing key unreadable, keeping the key read before", error=str(error))
            return
        self._public = key.public_key() if key is not None else None

    def verify(self, token: str) -> TokenClaims:
        """The claims of a genuine, unexpired token; raises TokenRefused."""
        self._reload_if_changed()
        if self._public is None:
            raise TokenRefused("The token is not valid.")
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=[ALGORITHM],
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenRefused(
                "The token has expired; get a new one (fountain accounts token NAME).", expired=True
            ) from error
        except jwt.PyJWTError as error:
            raise TokenRefused("The token is not valid.") from error
        name, subject, token_id, issued_at = claims["iss"], claims["sub"], claims["jti"], claims["iat"]
        if not (isinstance(name, str) and name == subject and isinstance(token_id, str) and _TOKEN_ID.match(token_id)):
            raise TokenRefused("The token is not valid.")
        if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
            raise TokenRefused("The token is not valid.")
        return TokenClaims(name, token_id, issued_at)
