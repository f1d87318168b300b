"""Whose work a row is, and which rows the caller of a request may touch.

Every row a caller makes belongs to an account: its `owner` column holds the account's name (the
caller's, or the account whose work the caller was let into; see `acting_for`). A caller reads and
changes only the rows of the account it acts for; an admin reads and changes every row. A row the
caller may not touch is answered as missing (404), never 403, so nobody learns another account's ids.

Rows made with no identity checked (a service without FOUNTAIN_GATEWAY_SECRET: `fountain serve
--no-auth`, tests in one process; and every row made before ownership existed) belong to no account
(`UNOWNED`): with identities checked only admins see them, until `fountain accounts claim` gives them
to an account. With no identity checked every row is visible, as before.

Sharing is decided where the shared thing lives (a script, in Core Script Management): having checked
that the caller may read or write there, a service calls the others `acting_for` the owner, with no
more than the role the share grants, so the parts of a shared script are reached through it and
nothing else of its owner's is.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Select, true

from fountain_common.identity import ADMIN, READER, Caller, current_caller, reset_caller, set_caller

UNOWNED = ""
OWNER_MAX_LENGTH = 64  # an account name (fountain_cli/accounts.py) fits


def owner_of_new_rows() -> str:
    """The owner of what this request makes: the account the caller acts for, or no account."""
    caller = current_caller()
    return UNOWNED if caller is None else caller.owner


def sees_every_row() -> bool:
    """True for an admin and when no identity is checked."""
    caller = current_caller()
    return caller is None or caller.is_admin


def may_touch(owner: str) -> bool:
    """Whether the caller may read (and, with a write role, change) a row owned by `owner`."""
    caller = current_caller()
    return caller is None or caller.is_admin or owner == caller.owner


def visible(column: Any) -> ColumnElement[bool]:
    """A condition on an owner column: the rows the caller may touch."""
    caller = current_caller()
    if caller is None or caller.is_admin:
        return true()
    condition: ColumnElement[bool] = column == caller.owner
    return condition


def restrict(query: Select[Any], column: Any) -> Select[Any]:
    """`query` limited to the rows the caller may touch (unchanged for an admin or no identity)."""
    return query if sees_every_row() else query.where(visible(column))


@contextmanager
def acting_for(owner: str, *, write: bool) -> Iterator[None]:
    """Within the block, calls to other services (and this service's own reads) are in `owner`'s work,
    with the caller's roles cut down to reading unless `write`. Use only after checking the caller
    may do that there. An admin keeps its role: it may touch everything anyway. With no identity
    checked, nothing changes."""
    caller = current_caller()
    if caller is None:
        yield
        return
    roles = caller.roles if write or caller.is_admin else (READER,)
    token = set_caller(replace(caller, acting_for=None if owner == caller.username else owner, roles=roles))
    try:
        yield
    finally:
        reset_caller(token)


@contextmanager
def operator_acting_for(owner: str, *, tool: str) -> Iterator[None]:
    """For an operator's tool run outside any request (`fountain sweep`): within the block, calls to
    the services are the tool's, as an admin, in `owner`'s work. Whoever runs the tool holds the
    gateway's secret already, which is all a service trusts."""
    token = set_caller(Caller(consumer_id=tool, username=tool, credential=tool, roles=(ADMIN,), acting_for=owner))
    try:
        yield
    finally:
        reset_caller(token)
