"""Sessions and character contexts on a database connection: the rules both API versions share.

Every change bumps the row's `revision` (its /v2 ETag) in the same statement that makes it, and only
when something really changed. Writes guarded by If-Match lock the row first (SELECT ... FOR UPDATE),
so of two writers holding the same ETag one wins and the other sees the new revision and gets 412.

A session belongs to the account that made it (`owner`), its contexts with it. A caller reaches only
its account's sessions and their contexts (admins all, and everyone when no identity is checked); any
other is answered exactly as a missing one, and lists leave it out.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.etags import check_etag
from fountain_common.id_lists import one_of
from fountain_common.ownership import may_touch, owner_of_new_rows, restrict, sees_every_row, visible
from fountain_common.problems import Problem, conflict, invalid, not_found

from .tables import DATA_KEY_MAX_LENGTH, DATA_MAX_KEYS, contexts, sessions

SESSION_COLUMNS = (
    sessions.c.id,
    sessions.c.owner,
    sessions.c.user_id,
    sessions.c.context,
    sessions.c.revision,
    sessions.c.created_at,
    sessions.c.updated_at,
)
CONTEXT_COLUMNS = (
    contexts.c.id,
    contexts.c.session_id,
    contexts.c.character_id,
    contexts.c.data,
    contexts.c.revision,
    contexts.c.created_at,
    contexts.c.updated_at,
)


# --- sessions -----------------------------------------------------------------------------------
def session_not_found(session_id: int) -> Problem:
    return not_found(f"Session {session_id} not found.")


async def insert_session(conn: AsyncConnection, user_id: int, context: str) -> RowMapping:
    inserted = await conn.execute(
        sessions.insert()
        .values(owner=owner_of_new_rows(), user_id=user_id, context=context)
        .returning(*SESSION_COLUMNS)
    )
    return inserted.mappings().one()


async def get_session(conn: AsyncConnection, session_id: int, *, lock: bool = False) -> RowMapping:
    query = select(*SESSION_COLUMNS).where(sessions.c.id == session_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).mappings().first()
    if row is None or not may_touch(row["owner"]):
        raise session_not_found(session_id)
    return row


async def set_session_context(conn: AsyncConnection, session_id: int, context: str | None) -> RowMapping:
    """v1 PUT: last writer wins, in one atomic statement; a missing context changes nothing."""
    if context is None:
        return await get_session(conn, session_id)
    changed = sessions.c.context != context
    updated = await conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id, visible(sessions.c.owner))
        .values(
            context=context,
            revision=case((changed, sessions.c.revision + 1), else_=sessions.c.revision),
            updated_at=case((changed, func.now()), else_=sessions.c.updated_at),
        )
        .returning(*SESSION_COLUMNS)
    )
    row = updated.mappings().first()
    if row is None:
        raise session_not_found(session_id)
    return row


async def update_session(
    conn: AsyncConnection, session_id: int, context: str | None, if_match: str | None
) -> RowMapping:
    """v2 PATCH: like the v1 PUT, but refused with 412 when If-Match names an older revision."""
    row = await get_session(conn, session_id, lock=True)
    check_etag(row, if_match, what="Session")
    if context is None or context == row["context"]:
        return row
    updated = await conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id)
        .values(context=context, revision=sessions.c.revision + 1, updated_at=func.now())
        .returning(*SESSION_COLUMNS)
    )
    return updated.mappings().one()


async def delete_session(conn: AsyncConnection, session_id: int, if_match: str | None) -> None:
    """Deletes the session; its contexts go with it (ON DELETE CASCADE), in the same transaction."""
    row = await get_session(conn, session_id, lock=True)
    check_etag(row, if_match, what="Session")
    await conn.execute(sessions.delete().where(sessions.c.id == session_id))


def sessions_query(user_id: int | None = None) -> Select[Any]:
    query = restrict(select(*SESSION_COLUMNS).order_by(sessions.c.id), sessions.c.owner)
    if user_id is not None:
        query = query.where(sessions.c.user_id == user_id)
    return query


# --- character contexts -------------------------------------------------------------------------
async def insert_context(
    conn: AsyncConnection, session_id: int, character_id: int, data: Mapping[str, str]
) -> RowMapping:
    """One context per (session, character): a second one is 409, also when two requests race."""
    # FOR KEY SHARE keeps the session from being deleted until this transaction ends.
    found = await conn.execute(
        select(sessions.c.owner).where(sessions.c.id == session_id).with_for_update(key_share=True)
    )
    owner = found.scalar_one_or_none()
    if owner is None or not may_touch(owner):
        raise session_not_found(session_id)
    inserted = await conn.execute(
        insert(contexts)
        .values(session_id=session_id, character_id=character_id, data=dict(data))
        .on_conflict_do_nothing(index_elements=["session_id", "character_id"])
        .returning(*CONTEXT_COLUMNS)
    )
    row = inserted.mappings().first()
    if row is None:
        existing = await conn.execute(
            select(contexts.c.id).where(contexts.c.session_id == session_id, contexts.c.character_id == character_id)
        )
        raise conflict(
            f"Session {session_id} already holds context {existing.scalar_one()} for character {character_id}."
        )
    return row


async def get_context(conn: AsyncConnection, context_id: int, *, lock: bool = False) -> RowMapping:
    """A context with its session's owner (`owner`), whose account it belongs to."""
    query = (
        select(*CONTEXT_COLUMNS, sessions.c.owner)
        .select_from(contexts.join(sessions, sessions.c.id == contexts.c.session_id))
        .where(contexts.c.id == context_id)
    )
    if lock:
        query = query.with_for_update(of=contexts)
    row = (await conn.execute(query)).mappings().first()
    if row is None or not may_touch(row["owner"]):
        raise not_found(f"Context {context_id} not found.")
    return row


def refuse_nulls(body: BaseModel, *fields: str) -> None:
    """An optional field may be left out but not sent as null: the spec does not allow null there."""
    nulls = [name for name in fields if name in body.model_fields_set and getattr(body, name) is None]
    if nulls:
        raise null_refused(*nulls)


def null_refused(*fields: str) -> Problem:
    errors = [{"location": f"body.{name}", "message": "Input should not be null"} for name in fields]
    return invalid("; ".join(f"{e['location']}: {e['message']}" for e in errors), errors)


def check_keys(keys: Iterable[str]) -> None:
    """Keys of context data: 1-200 characters, no NUL (a bound JSON Schema states only in words here)."""
    errors = [
        {"location": f"body.data.{key[:40]}", "message": f"Keys must have 1-{DATA_KEY_MAX_LENGTH} characters, no NUL"}
        for key in keys
        if not 1 <= len(key) <= DATA_KEY_MAX_LENGTH or "\x00" in key
    ]
    if errors:
        raise invalid(
            f"{len(errors)} key(s) of data are empty, longer than {DATA_KEY_MAX_LENGTH} characters or hold NUL.", errors
        )


def merged(data: Mapping[str, str], patch: Mapping[str, str | None]) -> dict[str, str]:
    """JSON merge patch (RFC 7396) of a flat map: a string sets the key, null removes it."""
    result = dict(data)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


async def merge_context(
    conn: AsyncConnection, context_id: int, patch: Mapping[str, str | None], if_match: str | None
) -> RowMapping:
    row = await get_context(conn, context_id, lock=True)
    check_etag(row, if_match, what="Context")
    data = merged(row["data"], patch)
    if len(data) > DATA_MAX_KEYS:
        raise invalid(
            f"After the merge the context would hold {len(data)} keys; at most {DATA_MAX_KEYS} are allowed.",
            errors=[{"location": "body.data", "message": f"At most {DATA_MAX_KEYS} keys after the merge"}],
        )
    if data == row["data"]:
        return row
    updated = await conn.execute(
        contexts.update()
        .where(contexts.c.id == context_id)
        .values(data=data, revision=contexts.c.revision + 1, updated_at=func.now())
        .returning(*CONTEXT_COLUMNS)
    )
    return updated.mappings().one()


async def delete_context(conn: AsyncConnection, context_id: int, if_match: str | None) -> None:
    row = await get_context(conn, context_id, lock=True)
    check_etag(row, if_match, what="Context")
    await conn.execute(contexts.delete().where(contexts.c.id == context_id))


def contexts_query(
    session_id: int | None = None,
    character_ids: Iterable[int] | None = None,
    context_ids: Iterable[int] | None = None,
) -> Select[Any]:
    query = select(*CONTEXT_COLUMNS).order_by(contexts.c.id)
    if not sees_every_row():  # a context is its session's account's
        query = query.join(sessions, sessions.c.id == contexts.c.session_id).where(visible(sessions.c.owner))
    if session_id is not None:
        query = query.where(contexts.c.session_id == session_id)
    if character_ids is not None:
        query = query.where(one_of(contexts.c.character_id, character_ids))
    if context_ids is not None:
        query = query.where(one_of(contexts.c.id, context_ids))
    return query
