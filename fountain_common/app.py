"""Assembles a service's FastAPI app: the spec, generated routes, problem handlers, request ids, the
database engine for the app's lifetime, and the one instance of the service's operations."""

import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.database import create_engine
from fountain_common.docs_pages import install_docs_pages
from fountain_common.metrics import forget_app, install_metrics
from fountain_common.observability import RequestContextMiddleware
from fountain_common.problems import install_problem_handlers
from fountain_common.request_limits import BodySizeLimitMiddleware, check_requests_strictly
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
    # JSON's types only (YAML would give dates for unquoted example dates), ready to serve as is.
    spec: dict[str, Any] = json.loads(json.dumps(yaml.safe_load(service.spec_path.read_text()), default=str))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or create_engine(settings, pool_size=pool_size)
        if app.state.upstreams.client.is_closed:  # started again after a shutdown (e.g. by a test client)
            app.state.upstreams = Upstreams(settings, upstream_transport, caller=service.name)
        try:
            yield
        finally:
            forget_app(app)
            await app.state.upstreams.aclose()
            if own_engine:
                await app.state.engine.dispose()

    app = FastAPI(
        title=spec["info"]["title"],
        version=spec["info"]["version"],
        description=spec["info"].get("description", ""),
        servers=spec.get("servers"),
        lifespan=lifespan,
        # The contract is served as written (below), not rebuilt from the routes.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry=None if settings.opentelemetry else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = service
    app.state.settings = settings
    app.state.upstreams = Upstreams(settings, upstream_transport, caller=service.name)
    if engine is not None:
        app.state.engine = engine
    app.state.operations = service.operations(app.state)
    install_problem_handlers(app)
    # The routes join the app's own list: an included router is matched as a branch of its own.
    app.router.routes.extend(service.build_router().routes)
    check_requests_strictly(app)
    app.openapi = lambda: spec  # type: ignore[method-assign]
    _serve_contract(app, spec)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    install_metrics(app)  # not in the spec: the gateway does not publish it
    app.add_middleware(RequestContextMiddleware, service=service.name)
    return app


def _serve_contract(app: FastAPI, spec: dict[str, Any]) -> None:
    """/openapi.json is the spec itself, its servers naming where it was fetched from; /docs and
    /redoc render it."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        document = copy.copy(spec)
        document["servers"] = [{"url": _served_from(request), "description": "Where this document was served"}]
        return JSONResponse(document)

    install_docs_pages(app, "/openapi.json")


def _served_from(request: Request) -> str:
    """The base URL the client used: the gateway's forwarded host and scheme when it sets them, and
    the path prefix the app is served under (`fountain serve` answers /<service>/... too)."""
    headers = request.headers
    scheme = headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = headers.get("x-forwarded-host", headers.get("host", request.url.netloc)).split(",")[0].strip()
    return f"{scheme}://{host}{request.scope.get('root_path', '')}"
