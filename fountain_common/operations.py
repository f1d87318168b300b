"""Base of every hand-written implementation: the request-scoped things an operation needs.

A service's implementation class derives from this and from its generated `Operations`; FastAPI
builds one per request (the generated routes depend on the class), passing the request and the
response whose status and headers the operation may set.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fountain_common.health import check_ready
from fountain_common.id_lists import parse_id_list
from fountain_common.idempotency import fingerprint, idempotent
from fountain_common.service import ServiceDefinition
from fountain_common.settings import Settings
from fountain_common.upstream import Upstreams

M = TypeVar("M", bound=BaseModel)


class RequestScope:
    def __init__(self, request: Request, response: Response) -> None:
        self.request = request
        self.response = response
        self.engine: AsyncEngine = request.app.state.engine
        self.settings: Settings = request.app.state.settings
        self.service: ServiceDefinition = request.app.state.service
        self.upstreams: Upstreams = request.app.state.upstreams

    # The probes every spec declares (getHealth, getReadiness), answered the same way by every service.
    async def get_health(self) -> Any:
        return {"status": "ok", "service": self.service.name}

    async def get_readiness(self) -> Any:
        """503 unless the database answers and this service's schema is fully migrated."""
        await check_ready(self.engine, self.service)
        return {"status": "ok", "service": self.service.name}

    async def call_upstream(
        self,
        service_name: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """A request to another service carrying this request's id (see fountain_common/upstream.py)."""
        return await self.upstreams.request(
            service_name,
            method,
            path,
            params=params,
            json=json,
            headers=headers,
            idempotent=idempotent,
            request_id=getattr(self.request.state, "request_id", None),
        )

    def id_filter(self, name: str, *, max_ids: int) -> set[int] | None:
        """The ids of an id-list query parameter (`?ids=3,1,7`), from every occurrence of it."""
        return parse_id_list(name, self.request.query_params.getlist(name), max_ids=max_ids)

    def created(self, location: str | None = None) -> None:
        self.response.status_code = 201
        if location:
            self.response.headers["Location"] = location

    async def idempotent(
        self,
        conn: AsyncConnection,
        key: str | None,
        body: BaseModel | None,
        model: type[M],
        operation: Callable[[], Awaitable[M]],
    ) -> M:
        """Run `operation` (inside `conn`'s transaction) once per Idempotency-Key; replay it otherwise."""
        table: Table = self.service.metadata.tables[f"{self.service.schema}.idempotency_keys"]
        return await idempotent(
            conn,
            table,
            key=key,
            request_fingerprint=fingerprint(
                self.request.method, self.request.url.path, body, self.request.headers.get("if-match")
            ),
            response=self.response,
            model=model,
            operation=operation,
            ttl_hours=self.settings.idempotency_ttl_hours,
        )
