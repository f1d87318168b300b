"""Accounts and their API keys for `fountain serve`, kept in one JSON file with hashes, never keys.

An account has a name, a role (reader, writer or admin: the groups kong/kong.yml admits, see
fountain_cli/gateway.py), keys, and the time before which its tokens (fountain_cli/tokens.py) are no
longer accepted. A key is shown once, when it is made; the file keeps its id, its SHA-256, when it was
made and when it was revoked. Every change replaces the file in one step
(a temporary file renamed over it), readable by its owner only.
"""

import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from fountain_cli import gateway
from fountain_cli.files import replace_file
from fountain_common.settings import Settings, get_settings

FORMAT_VERSION = 1
ACCOUNTS_FILE_NAME = "accounts.json"


class AccountError(ValueError):
    """A request the accounts file cannot satisfy (taken or unknown name, bad role, unreadable file)."""


def key_digest(key: str) -> str:
    """SHA-256 of a key, hex. Keys are 256 random bits, so a fast hash is enough: nobody can guess one
    from its hash, and a slow password hash would only add work to every request."""
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Key:
    id: str
    sha256: str
    created: str
    revoked: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked is None


@dataclass
class Account:
    name: str
    role: str
    keys: list[Key] = field(default_factory=list)
    # Tokens issued (`iat`) at or before this time are refused: set when the account is made (a token
    # of an earlier account of the same name is no token of this one) and when all its keys are
    # revoked. None in files written before tokens existed: no token was issued then.
    tokens_revoked: str | None = None

    def active_keys(self) -> list[Key]:
        return [key for key in self.keys if key.active]

    def tokens_revoked_at(self) -> float:
        """tokens_revoked in seconds since the epoch, as a token's `iat`; 0 when never."""
        if self.tokens_revoked is None:
            return 0.0
        return datetime.fromisoformat(self.tokens_revoked).timestamp()


def _precise_now() -> str:
    """Now to the millisecond, as tokens date themselves: a token made right after a revocation is
    told apart from one made right before it."""
    return datetime.fromtimestamp(round(time.time(), 3), UTC).isoformat(timespec="milliseconds")


def accounts_path(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.accounts_file or settings.data_dir / ACCOUNTS_FILE_NAME


def load(path: Path) -> dict[str, Account]:
    """The accounts of `path` by name; none when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise AccountError(f"cannot read {path}: {error.strerror}") from error
    try:
        document = json.loads(text)
        if document.get("version") != FORMAT_VERSION:
            raise AccountError(f"{path}: unknown format version {document.get('version')!r}")
        accounts = {}
        for entry in document["accounts"]:
            keys = [Key(k["id"], k["sha256"], k["created"], k.get("revoked")) for k in entry["keys"]]
            account = Account(entry["name"], entry["role"], keys, entry.get("tokens_revoked"))
            account.tokens_revoked_at()  # a malformed date is reported here, not at a request
            accounts[entry["name"]] = account
        return accounts
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        if isinstance(error, AccountError):
            raise
        raise AccountError(f"{path} is not an accounts file ({error}); restore it from a backup") from error


def save(path: Path, accounts: dict[str, Account]) -> None:
    """Replace `path` in one step with mode 0600: a crash leaves the old file or the new one."""
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "accounts": [
            {
                "name": account.name,
                "role": account.role,
                "keys": [
                    {"id": k.id, "sha256": k.sha256, "created": k.created, "revoked": k.revoked} for k in account.keys
                ],
                "tokens_revoked": account.tokens_revoked,
            }
            for account in sorted(accounts.values(), key=lambda a: a.name)
        ],
    }
    replace_file(path, (json.dumps(document, indent=2) + "\n").encode(), 0o600)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """`path` for this process alone until the block ends (a lock file beside it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(f".{path.name}.lock")
    with open(os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600), "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def _changing(path: Path) -> Iterator[dict[str, Account]]:
    """The accounts of `path` to change, saved when the block ends without error. One change at a
    time, so two commands at once cannot lose each other's change."""
    with locked(path):
        accounts = load(path)
        yield accounts
        save(path, accounts)


def _new_key(account: Account) -> str:
    key = gateway.new_api_key()
    taken = {k.id for k in account.keys}
    key_id = secrets.token_hex(4)
    while key_id in taken:
        key_id = secrets.token_hex(4)
    account.keys.append(Key(key_id, key_digest(key), _now()))
    return key


def _check_role(role: str) -> None:
    if role not in gateway.ROLES:
        raise AccountError(f"role {role!r} is not one of {', '.join(gateway.ROLES)}")


def _account(accounts: dict[str, Account], name: str) -> Account:
    if name not in accounts:
        known = ", ".join(sorted(accounts)) or "none yet"
        raise AccountError(f"no account {name!r} (accounts: {known})")
    return accounts[name]


def add_account(path: Path, name: str, role: str) -> str:
    """Create account `name` with one key; return the key (the file keeps its hash only)."""
    _check_role(role)
    if not gateway.CONSUMER_NAME.match(name):
        raise AccountError(
            f"account name {name!r} must be 1-64 lower-case letters, digits, . _ - (starting with a letter or digit)"
        )
    with _changing(path) as accounts:
        if name in accounts:
            raise AccountError(f"account {name!r} exists already (a new key for it: fountain accounts key {name})")
        account = Account(name, role, tokens_revoked=_precise_now())
        key = _new_key(account)
        accounts[name] = account
    return key


def new_key(path: Path, name: str, revoke_old: bool = False) -> tuple[str, list[str]]:
    """A new key for `name`; with `revoke_old` every other key is revoked. The key and the ids revoked."""
    with _changing(path) as accounts:
        account = _account(accounts, name)
        revoked = []
        if revoke_old:
            now = _now()
            for old in account.active_keys():
                old.revoked = now
                revoked.append(old.id)
        key = _new_key(account)
    return key, revoked


def revoke(path: Path, name: str, key_id: str | None = None) -> list[str]:
    """Revoke one key of `name`, or, when `key_id` is None, every active one and every token issued
    until now; the ids of the keys revoked."""
    with _changing(path) as accounts:
        account = _account(accounts, name)
        if key_id is not None:
            matching = [k for k in account.keys if k.id == key_id]
            if not matching:
                ids = ", ".join(k.id for k in account.keys) or "none"
                raise AccountError(f"account {name!r} has no key {key_id!r} (its keys: {ids})")
            if not matching[0].active:
                raise AccountError(f"key {key_id} of {name!r} was revoked already, at {matching[0].revoked}")
            targets = matching
        else:
            # With no active key left, this still ends the account's tokens.
            targets = account.active_keys()
            account.tokens_revoked = _precise_now()
        now = _now()
        for key in targets:
            key.revoked = now
    return [key.id for key in targets]


def remove(path: Path, name: str) -> None:
    with _changing(path) as accounts:
        _account(accounts, name)
        del accounts[name]


accounts_app = typer.Typer(
    help="Accounts, their API keys (stored hashed in the accounts file) and tokens, which `fountain serve` "
    "and Kong check.\n\n"
    "The file is FOUNTAIN_ACCOUNTS_FILE, by default accounts.json under FOUNTAIN_DATA_DIR (var/).\n\n"
    "Example: fountain accounts add alice --role writer   then   curl -H 'apikey: <key>' ...",
    no_args_is_help=True,
)

NameArg = Annotated[
    str, typer.Argument(help="The account's name: lower-case letters, digits, . _ -", show_default=False)
]


def _fail(error: AccountError) -> None:
    typer.secho(f"Error: {error}.", fg="red", err=True)
    raise typer.Exit(2) from error


def _print_key(name: str, key: str) -> None:
    typer.echo(f"New key of {name} (shown once, only its hash is kept; send it as the `apikey` header):")
    typer.echo(key)


@accounts_app.command("add")
def add_command(
    name: NameArg,
    role: Annotated[
        str, typer.Option(help="reader (GET only), writer (every method) or admin (every method).")
    ] = gateway.WRITER,
) -> None:
    """Create an account and print its first key, once.

    Example: fountain accounts add alice --role writer
    """
    path = accounts_path()
    try:
        key = add_account(path, name, role)
    except AccountError as error:
        _fail(error)
    typer.echo(f"Account {name} ({role}) added to {path}.")
    _print_key(name, key)


@accounts_app.command("key")
def key_command(
    name: NameArg,
    revoke_old: Annotated[
        bool, typer.Option("--revoke-old", help="Revoke the account's other keys (rotation done in one step).")
    ] = False,
) -> None:
    """Make a new key for an account (rotation) and print it, once.

    The old keys keep working until revoked: hand out the new one, then
    `fountain accounts revoke NAME --key-id OLD`, or revoke them at once with --revoke-old.

    Example: fountain accounts key alice --revoke-old
    """
    path = accounts_path()
    try:
        key, revoked = new_key(path, name, revoke_old)
    except AccountError as error:
        _fail(error)
    if revoked:
        typer.echo(f"Revoked {', '.join(revoked)}.")
    _print_key(name, key)


@accounts_app.command("revoke")
def revoke_command(
    name: NameArg,
    key_id: Annotated[
        Optional[str],
        typer.Option("--key-id", help="The key to revoke (`fountain accounts list` shows ids); all when left out."),
    ] = None,
) -> None:
    """Revoke keys of an account: a running `fountain serve` refuses them at once.

    Without --key-id: every key of the account, and every token issued to it
    until now.

    Example: fountain accounts revoke alice --key-id 3f9a61c2
    """
    try:
        revoked = revoke(accounts_path(), name, key_id)
    except AccountError as error:
        _fail(error)
    if revoked:
        typer.echo(f"Revoked key(s) {', '.join(revoked)} of {name}.")
    if key_id is None:
        typer.echo(f"Tokens of {name} issued until now are refused.")


@accounts_app.command("remove")
def remove_command(name: NameArg) -> None:
    """Delete an account, all its keys and the use of its tokens.

    Example: fountain accounts remove alice
    """
    try:
        remove(accounts_path(), name)
    except AccountError as error:
        _fail(error)
    typer.echo(f"Account {name} removed.")


@accounts_app.command("claim")
def claim_command(
    name: NameArg,
    from_account: Annotated[
        str,
        typer.Option(
            "--from",
            help="Take the rows of this account instead of those belonging to no account.",
            show_default=False,
        ),
    ] = "",
) -> None:
    """Give rows to an account: those that belong to no account (made before accounts existed, or by
    `fountain serve --no-auth`), or another account's with --from.

    Every service's rows move in one transaction: all of them or none. Example: fountain accounts claim alice
    """
    from fountain_cli.db import database_errors_reported
    from fountain_cli.ownership_transfer import TransferRefused, run_transfer
    from fountain_common.database import async_database_url

    for account_name in (name, from_account) if from_account else (name,):
        if not gateway.CONSUMER_NAME.match(account_name):
            _fail(AccountError(f"{account_name!r} is not an account name (1-64 lower-case letters, digits, . _ -)"))
    if from_account == name:
        _fail(AccountError(f"the rows of {name!r} are {name!r}'s already"))
    try:
        with database_errors_reported("accounts claim"):
            moved = run_transfer(async_database_url(get_settings()), name, from_account)
    except TransferRefused as error:
        typer.secho(f"Error: nothing was moved: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    source = f"of {from_account}" if from_account else "belonging to no account"
    for entry in moved:
        typer.echo(f"{entry.table}: {entry.rows} row(s)")
    typer.echo(f"{sum(entry.rows for entry in moved)} row(s) {source} now belong to {name}.")


@accounts_app.command("list")
def list_command() -> None:
    """Names, roles, key ids with their dates, and since when tokens are accepted (never a key or a token).

    Example: fountain accounts list
    """
    path = accounts_path()
    try:
        accounts = load(path)
    except AccountError as error:
        _fail(error)
    if not accounts:
        typer.echo(f"No account in {path}. Create one: fountain accounts add NAME --role writer")
        return
    for account in sorted(accounts.values(), key=lambda a: a.name):
        typer.echo(f"{account.name}  {account.role}")
        if account.tokens_revoked:
            typer.echo(f"  tokens accepted if issued after {account.tokens_revoked}")
        for key in account.keys:
            state = f"revoked {key.revoked}" if key.revoked else "active"
            typer.echo(f"  key {key.id}  created {key.created}  {state}")


@accounts_app.command("token")
def token_command(
    name: NameArg,
    ttl: Annotated[
        str,
        typer.Option(help="How long the token is valid: 90s, 15m, 1h, 7d (at most 30d)."),
    ] = "1h",
) -> None:
    """Print a signed token (JWT) for an account, once: send it as `Authorization: Bearer <token>`.

    The account is one of the accounts file or of GATEWAY_CONSUMERS. The token
    says who; the role is the account's, at each request. The signing key
    (FOUNTAIN_TOKEN_KEY_FILE, by default beside the accounts file) is made on
    first use. `fountain accounts revoke NAME` ends every token issued before.

    Example: fountain accounts token alice --ttl 15m
    """
    from fountain_cli import tokens

    try:
        lifetime = tokens.parse_ttl(ttl)
        tokens.role_of(name, accounts_path(), _environment_consumers())
        path = tokens.key_path()
        key, made = tokens.signing_key(path)
    except tokens.TokenError as error:
        _fail(error)
    except gateway.ConsumerError as error:
        _fail(AccountError(f"{gateway.CONSUMERS_VARIABLE}: {error}"))
    if made:
        typer.echo(f"Made the token signing key {path} (mode 0600; back it up with the accounts file).", err=True)
    typer.echo(f"Token of {name}, valid for {ttl.strip()} (shown once; send it as `Authorization: Bearer <token>`):")
    typer.echo(tokens.issue(key, name, lifetime))


@accounts_app.command("token-key")
def token_key_command(
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace the key: every token signed by the old one is refused.")
    ] = False,
    pem: Annotated[bool, typer.Option("--pem", help="Print only the public key, as PEM.")] = False,
) -> None:
    """Show the public half of the token signing key (made when there is none), or rotate it.

    Kong checks tokens with it: put the line it prints into .env
    (GATEWAY_TOKEN_PUBLIC_KEY=...).

    Example: fountain accounts token-key --rotate
    """
    from fountain_cli import tokens

    path = tokens.key_path()
    try:
        key, made = tokens.signing_key(path, rotate=rotate)
    except tokens.TokenError as error:
        _fail(error)
    if pem:
        typer.echo(tokens.public_pem(key), nl=False)
        return
    if rotate:
        typer.echo(f"New token signing key in {path}: every token signed by the old one is refused.")
    elif made:
        typer.echo(f"Made the token signing key {path} (mode 0600; back it up with the accounts file).")
    else:
        typer.echo(f"Token signing key: {path}")
    typer.echo("Public key, for Kong (.env; restart gateway-config and kong after a change):")
    typer.echo(f"GATEWAY_TOKEN_PUBLIC_KEY={tokens.public_key_line(key)}")


def _environment_consumers() -> list[gateway.Consumer]:
    text = os.environ.get(gateway.CONSUMERS_VARIABLE, "")
    return gateway.parse_consumers(text) if text.strip() else []
