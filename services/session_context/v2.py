"""Session and Context /v2: sessions and the character contexts they hold, with filters, pages,
ETags and Idempotency-Key. A session's `context` text is the same column /v1 writes."""

from typing import Optional

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.etags import etag
from fountain_common.pagination import fetch_page
from fountain_common.routes import Reply

from . import store
from .generated.api import Operations
from .generated.models import (
    Context,
    ContextCreate,
    ContextData,
    ContextPage,
    ContextPatch,
    UserSession,
    UserSessionCreate,
    UserSessionPage,
    UserSessionPatch,
)


def _user_session(row: RowMapping) -> UserSession:
    return UserSession(
        sessionId=row["id"],
        userId=row["user_id"],
        context=row["context"],
        createdAt=row["created_at"],
        updatedAt=row["updated_at"],
    )


def _context(row: RowMapping) -> Context:
    return Context(
        contextId=row["id"],
        sessionId=row["session_id"],
        characterId=row["character_id"],
        data=ContextData(root=row["data"]),
        createdAt=row["created_at"],
        updatedAt=row["updated_at"],
    )


class SessionContextV2(Operations):
    # --- sessions ----------------------------------------------------------------------------------
    async def create_user_session(self, conn: AsyncConnection, *, body: UserSessionCreate) -> Reply[UserSession]:
        store.refuse_nulls(body, "context")
        row = await store.insert_session(conn, body.userId, body.context or "")
        return Reply(_user_session(row), location=f"/v2/sessions/{row['id']}", etag=etag(row))

    async def list_user_sessions(
        self, conn: AsyncConnection, *, user_id: Optional[int], limit: int, offset: int
    ) -> UserSessionPage:
        page = await fetch_page(conn, store.sessions_query(user_id), limit=limit, offset=offset)
        return UserSessionPage(
            items=[_user_session(r) for r in page.rows], total=page.total, limit=limit, offset=offset
        )

    async def get_user_session(self, conn: AsyncConnection, *, session_id: int) -> Reply[UserSession]:
        row = await store.get_session(conn, session_id)
        return Reply(_user_session(row), etag=etag(row))

    async def update_user_session(
        self, conn: AsyncConnection, *, session_id: int, if_match: Optional[str], body: UserSessionPatch
    ) -> Reply[UserSession]:
        store.refuse_nulls(body, "context")
        row = await store.update_session(conn, session_id, body.context, if_match)
        return Reply(_user_session(row), etag=etag(row))

    async def delete_user_session(self, conn: AsyncConnection, *, session_id: int, if_match: Optional[str]) -> None:
        await store.delete_session(conn, session_id, if_match)

    # --- character contexts ------------------------------------------------------------------------
    async def create_context(self, conn: AsyncConnection, *, session_id: int, body: ContextCreate) -> Reply[Context]:
        store.refuse_nulls(body, "data")
        data = {key: value.root for key, value in body.data.root.items()} if body.data is not None else {}
        store.check_keys(data)
        row = await store.insert_context(conn, session_id, body.characterId, data)
        return Reply(_context(row), location=f"/v2/contexts/{row['id']}", etag=etag(row))

    async def list_session_contexts(
        self,
        conn: AsyncConnection,
        *,
        session_id: int,
        character_id: Optional[set[int]],
        limit: int,
        offset: int,
    ) -> ContextPage:
        await store.get_session(conn, session_id)
        page = await fetch_page(conn, store.contexts_query(session_id, character_id), limit=limit, offset=offset)
        return ContextPage(items=[_context(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def list_contexts(
        self,
        conn: AsyncConnection,
        *,
        session_id: Optional[int],
        character_id: Optional[set[int]],
        context_id: Optional[set[int]],
        limit: int,
        offset: int,
    ) -> ContextPage:
        query = store.contexts_query(session_id, character_id, context_id)
        page = await fetch_page(conn, query, limit=limit, offset=offset)
        return ContextPage(items=[_context(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_context(self, conn: AsyncConnection, *, context_id: int) -> Reply[Context]:
        row = await store.get_context(conn, context_id)
        return Reply(_context(row), etag=etag(row))

    async def update_context(
        self, conn: AsyncConnection, *, context_id: int, if_match: Optional[str], body: ContextPatch
    ) -> Reply[Context]:
        store.refuse_nulls(body, "data")
        changes = body.data.root if body.data is not None else {}
        if changes is None:  # the generated model lets `"data": null` through; the spec does not
            raise store.null_refused("data")
        patch = {key: (value.root if value is not None else None) for key, value in (changes or {}).items()}
        store.check_keys(patch)
        row = await store.merge_context(conn, context_id, patch, if_match)
        return Reply(_context(row), etag=etag(row))

    async def delete_context(self, conn: AsyncConnection, *, context_id: int, if_match: Optional[str]) -> None:
        await store.delete_context(conn, context_id, if_match)
