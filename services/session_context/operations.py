"""The Session and Context Service's operations: HTTP models in, the shared rules of store.py out.

/v1 and /v2 read and write the same rows: a session's `context` text is one column whichever version
writes it, and every change to it moves the session's /v2 ETag.
"""

from typing import Optional

from pydantic import BaseModel
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.database import run_in_transaction
from fountain_common.etags import etag
from fountain_common.operations import RequestScope
from fountain_common.pagination import fetch_page
from fountain_common.problems import Problem, invalid

from . import store
from .generated.api import Operations
from .generated.models import (
    Context,
    ContextCreate,
    ContextData,
    ContextPage,
    ContextPatch,
    Session,
    SessionContextResponse,
    SessionRequest,
    SessionResponse,
    SessionUpdateRequest,
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


def _refuse_nulls(body: BaseModel, *fields: str) -> None:
    """An optional field may be left out but not sent as null: the spec does not allow null there."""
    nulls = [name for name in fields if name in body.model_fields_set and getattr(body, name) is None]
    if nulls:
        raise _null_refused(*nulls)


def _null_refused(*fields: str) -> Problem:
    errors = [{"location": f"body.{name}", "message": "Input should not be null"} for name in fields]
    return invalid("; ".join(f"{e['location']}: {e['message']}" for e in errors), errors)


class SessionContextOperations(RequestScope, Operations):
    # --- v1 -------------------------------------------------------------------------------------
    async def create_session(self, *, body: SessionRequest) -> SessionResponse:
        _refuse_nulls(body, "context")
        row = await run_in_transaction(
            self.engine, lambda conn: store.insert_session(conn, body.userId, body.context or "")
        )
        return SessionResponse(sessionId=row["id"], userId=row["user_id"], context=row["context"])

    async def list_sessions(self) -> list[Session]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(store.sessions_query())).mappings().all()
        return [Session(sessionId=r["id"], userId=r["user_id"], context=r["context"]) for r in rows]

    async def update_session(self, *, session_id: int, body: SessionUpdateRequest) -> SessionResponse:
        _refuse_nulls(body, "context")
        row = await run_in_transaction(
            self.engine, lambda conn: store.set_session_context(conn, session_id, body.context)
        )
        return SessionResponse(sessionId=row["id"], userId=row["user_id"], context=row["context"])

    async def get_session_context(self, *, session_id: int) -> SessionContextResponse:
        async with self.engine.connect() as conn:
            row = await store.get_session(conn, session_id)
        return SessionContextResponse(sessionId=row["id"], context=row["context"])

    # --- v2: sessions ---------------------------------------------------------------------------
    async def create_user_session(self, *, idempotency_key: Optional[str], body: UserSessionCreate) -> UserSession:
        _refuse_nulls(body, "context")

        async def work(conn: AsyncConnection) -> UserSession:
            async def insert() -> UserSession:
                row = await store.insert_session(conn, body.userId, body.context or "")
                self.created(f"/v2/sessions/{row['id']}")
                self.response.headers["ETag"] = etag(row)
                return _user_session(row)

            return await self.idempotent(conn, idempotency_key, body, UserSession, insert)

        return await run_in_transaction(self.engine, work)

    async def list_user_sessions(self, *, user_id: Optional[int], limit: int, offset: int) -> UserSessionPage:
        async with self.engine.connect() as conn:
            page = await fetch_page(conn, store.sessions_query(user_id), limit=limit, offset=offset)
        return UserSessionPage(
            items=[_user_session(r) for r in page.rows], total=page.total, limit=limit, offset=offset
        )

    async def get_user_session(self, *, session_id: int) -> UserSession:
        async with self.engine.connect() as conn:
            row = await store.get_session(conn, session_id)
        self.response.headers["ETag"] = etag(row)
        return _user_session(row)

    async def update_user_session(
        self, *, session_id: int, if_match: Optional[str], body: UserSessionPatch
    ) -> UserSession:
        _refuse_nulls(body, "context")
        row = await run_in_transaction(
            self.engine, lambda conn: store.update_session(conn, session_id, body.context, if_match)
        )
        self.response.headers["ETag"] = etag(row)
        return _user_session(row)

    async def delete_user_session(self, *, session_id: int, if_match: Optional[str]) -> None:
        await run_in_transaction(self.engine, lambda conn: store.delete_session(conn, session_id, if_match))
        self.response.status_code = 204

    # --- v2: character contexts -----------------------------------------------------------------
    async def create_context(self, *, session_id: int, idempotency_key: Optional[str], body: ContextCreate) -> Context:
        _refuse_nulls(body, "data")
        data = {key: value.root for key, value in body.data.root.items()} if body.data is not None else {}
        store.check_keys(data)

        async def work(conn: AsyncConnection) -> Context:
            async def insert() -> Context:
                row = await store.insert_context(conn, session_id, body.characterId, data)
                self.created(f"/v2/contexts/{row['id']}")
                self.response.headers["ETag"] = etag(row)
                return _context(row)

            return await self.idempotent(conn, idempotency_key, body, Context, insert)

        return await run_in_transaction(self.engine, work)

    async def list_session_contexts(
        self, *, session_id: int, character_id: Optional[str], limit: int, offset: int
    ) -> ContextPage:
        character_ids = self.id_filter("characterId", max_ids=store.ID_LIST_MAX)
        async with self.engine.connect() as conn:
            await store.get_session(conn, session_id)
            page = await fetch_page(conn, store.contexts_query(session_id, character_ids), limit=limit, offset=offset)
        return ContextPage(items=[_context(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def list_contexts(
        self,
        *,
        session_id: Optional[int],
        character_id: Optional[str],
        context_id: Optional[str],
        limit: int,
        offset: int,
    ) -> ContextPage:
        query = store.contexts_query(
            session_id,
            self.id_filter("characterId", max_ids=store.ID_LIST_MAX),
            self.id_filter("contextId", max_ids=store.ID_LIST_MAX),
        )
        async with self.engine.connect() as conn:
            page = await fetch_page(conn, query, limit=limit, offset=offset)
        return ContextPage(items=[_context(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_context(self, *, context_id: int) -> Context:
        async with self.engine.connect() as conn:
            row = await store.get_context(conn, context_id)
        self.response.headers["ETag"] = etag(row)
        return _context(row)

    async def update_context(self, *, context_id: int, if_match: Optional[str], body: ContextPatch) -> Context:
        _refuse_nulls(body, "data")
        changes = body.data.root if body.data is not None else {}
        if changes is None:  # the generated model lets `"data": null` through; the spec does not
            raise _null_refused("data")
        patch = {key: (value.root if value is not None else None) for key, value in (changes or {}).items()}
        store.check_keys(patch)
        row = await run_in_transaction(self.engine, lambda conn: store.merge_context(conn, context_id, patch, if_match))
        self.response.headers["ETag"] = etag(row)
        return _context(row)

    async def delete_context(self, *, context_id: int, if_match: Optional[str]) -> None:
        await run_in_transaction(self.engine, lambda conn: store.delete_context(conn, context_id, if_match))
        self.response.status_code = 204
