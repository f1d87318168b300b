"""Session and Context /v1: the upstream contract's sessions, each with one `context` text, over the
same rows as /v2 (store.py): a /v1 write moves the session's /v2 ETag too."""

from sqlalchemy.ext.asyncio import AsyncConnection

from . import store
from .generated.api import Operations
from .generated.models import (
    Session,
    SessionContextResponse,
    SessionRequest,
    SessionResponse,
    SessionUpdateRequest,
)


class SessionContextV1(Operations):
    async def create_session(self, conn: AsyncConnection, *, body: SessionRequest) -> SessionResponse:
        store.refuse_nulls(body, "context")
        row = await store.insert_session(conn, body.userId, body.context or "")
        return SessionResponse(sessionId=row["id"], userId=row["user_id"], context=row["context"])

    async def list_sessions(self, conn: AsyncConnection) -> list[Session]:
        rows = (await conn.execute(store.sessions_query())).mappings().all()
        return [Session(sessionId=r["id"], userId=r["user_id"], context=r["context"]) for r in rows]

    async def update_session(
        self, conn: AsyncConnection, *, session_id: int, body: SessionUpdateRequest
    ) -> SessionResponse:
        store.refuse_nulls(body, "context")
        row = await store.set_session_context(conn, session_id, body.context)
        return SessionResponse(sessionId=row["id"], userId=row["user_id"], context=row["context"])

    async def get_session_context(self, conn: AsyncConnection, *, session_id: int) -> SessionContextResponse:
        row = await store.get_session(conn, session_id)
        return SessionContextResponse(sessionId=row["id"], context=row["context"])
