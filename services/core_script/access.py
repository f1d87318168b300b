"""Who may do what with a script: its owner, the accounts it is shared with, and admins.

- An admin, and the script's owner (`caller.owner`), do everything with it, sharing included; so does
  every caller when the service checks no identity.
- An account the script is shared with (by its username, `script_shares`) reads it as a reader, and
  reads and changes it as a writer, but never deletes it or sees or changes its shares (403: it
  knows the script).
- Anyone else is answered as if the script did not exist (404, the same message), so nobody learns
  another account's script ids. A reader share's write is 403.

A script's section headings and lines belong to it: reaching them is reaching the script. Everything
done for a script in another service (reference checks, numbering in its scope, deleting that scope)
is done `acting_for` its owner (`Access.acting`), with writing rights only for a caller that may
write the script, so a line may name only the owner's parts and the scope lives in the owner's
namespace, whoever works on it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.identity import current_caller
from fountain_common.ownership import acting_for
from fountain_common.problems import Problem, not_found

from . import store
from .tables import script_shares

OWNER = "owner"
ADMIN = "admin"
WRITER = "writer"
READER = "reader"


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def level_without_share(owner: str) -> str | None:
    """The caller's access to a script owned by `owner` as owner or admin; None when only a share
    could let it in."""
    caller = current_caller()
    if caller is None or owner == caller.owner:
        return OWNER
    if caller.is_admin:
        return ADMIN
    return None


def access_level(owner: str, shared_as: str | None) -> str | None:
    """The caller's access to a script owned by `owner` and shared with the caller as `shared_as`
    (None: not shared with it); None when the caller may not reach the script."""
    return level_without_share(owner) or shared_as


async def shared_role(conn: AsyncConnection, script_id: int) -> str | None:
    """The role the script is shared with the caller as, if it is."""
    caller = current_caller()
    if caller is None:
        return None
    query = select(script_shares.c.role).where(
        script_shares.c.script_id == script_id, script_shares.c.account == caller.username
    )
    role: str | None = (await conn.execute(query)).scalar_one_or_none()
    return role


@dataclass(frozen=True)
class Access:
    """A script the caller may reach, and how."""

    script: RowMapping
    level: str

    @property
    def owner(self) -> str:
        return str(self.script["owner"])

    @property
    def may_write(self) -> bool:
        return self.level != READER

    @contextmanager
    def acting(self) -> Iterator[None]:
        """Calls to other services within are in the owner's work, writing only if the caller may."""
        with acting_for(self.owner, write=self.may_write):
            yield


async def script_access(
    conn: AsyncConnection, script_id: int, *, write: bool = False, owners_only: str = "", lock: bool = False
) -> Access:
    """The script, if the caller may reach it for what it asks: to read, to `write` it, or to do what
    only its owner and admins may (`owners_only` says what, for the 403). 404 when it may not reach it
    at all (or there is no such script), 403 when it may read it but not do that."""
    row = await store.get_script(conn, script_id, lock=lock)
    level = level_without_share(row["owner"]) or await shared_role(conn, script_id)
    if level is None:
        raise not_found(f"Script {script_id} not found.")
    caller = current_caller()
    name = caller.username if caller is not None else ""
    if owners_only and level in (READER, WRITER):
        raise forbidden(f"Script {script_id} is shared with {name}; only its owner and admins {owners_only}.")
    if write and level == READER:
        raise forbidden(f"Script {script_id} is shared with {name} for reading only; changing it needs a writer share.")
    return Access(row, level)
