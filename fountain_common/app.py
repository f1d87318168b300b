"""Assembles a service's FastAPI app: spec metadata, generated routes, problem handlers, request ids,
and the database engine for the app's lifetime."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import yaml
from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.database import create_engine
from fountain_common.observability import RequestContextMiddleware
from fountain_common.problems import install_problem_handlers
from fountain_common.query_parameters import reject_unknown_query_parameters
from fountain_common.service import ServiceDefinition
from fountain_common.settings import Settings, get_settings
from fountain_common.upstream import Upstreams


def create_service_app(
    service: ServiceDefinition,
    *,
    settings: Settings | None = None,
    engine: AsyncEngine | None = None,
    pool_size: int | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The app for `service`. With `engine` given the caller owns it; otherwise the app creates one
    at startup (starting the embedded PostgreSQL if no database URL is configured) and disposes of it.
    `upstream_transport` replaces the network for calls to other services (tests route them in-process)."""
    settings = settings or get_settings()
    spec: dict[str, Any] = yaml.safe_load(service.spec_path.read_text())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or create_engine(settings, pool_size=pool_size)
        if app.state.upstreams.client.is_closed:  # started again after a shutdown (e.g. by a test client)
            app.state.upstreams = Upstreams(settings, upstream_transport)
        try:
            yield
        finally:
            await app.state.upstreams.aclose()
            if own_engine:
                await app.state.engine.dispose()

    app = FastAPI(
        title=spec["info"]["title"],
        version=spec["info"]["version"],
        description=spec["info"].get("description", ""),
        servers=spec.get("servers"),
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.upstreams = Upstreams(settings, upstream_transport)
    if engine is not None:
        app.state.engine = engine
    install_problem_handlers(app)
    app.include_router(service.build_router(), dependencies=[Depends(reject_unknown_query_parameters)])
    app.openapi = lambda: _contract_openapi(app, spec)  # type: ignore[method-assign]
    app.add_middleware(RequestContextMiddleware, service=service.name)
    return app


def _contract_openapi(app: FastAPI, spec: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document, less the 422 it adds to every route with input: a /v1 route answers
    invalid input with 400, so only the statuses the spec declares are documented."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes, servers=app.servers
        )
        declared = {
            operation["operationId"]: set(map(str, operation.get("responses", {})))
            for item in spec.get("paths", {}).values()
            for operation in item.values()
            if isinstance(operation, dict) and "operationId" in operation
        }
        for item in document.get("paths", {}).values():
            for operation in item.values():
                keep = declared.get(operation.get("operationId"), set())
                operation["responses"] = {k: v for k, v in operation["responses"].items() if k in keep}
        app.openapi_schema = document
    return app.openapi_schema
