"""Structured logs (JSON objects, or console lines on a terminal) carrying the request id of the request
being served, and each request's metrics (metrics.py)."""

import logging
import os
import sys
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fountain_common.metrics import RequestMetrics

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_HEADER = REQUEST_ID_HEADER.encode()
# (request id, service) of the request being served: one context variable, set and reset once a
# request (structlog's bind_contextvars makes one per key, at several times the cost).
_REQUEST: ContextVar[tuple[str, str] | None] = ContextVar("fountain_request", default=None)
_access_log = True  # whether access lines (INFO) are written at the configured level


def current_request_id() -> str | None:
    """The id of the request being served, for calls it makes to other services."""
    request = _REQUEST.get()
    return request[0] if request is not None else None


def _add_request(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Every log line written while serving a request names it and its service."""
    request = _REQUEST.get()
    if request is not None:
        event.setdefault("request_id", request[0])
        event.setdefault("service", request[1])
    return event


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """`fmt` json, console, or auto: console lines for a person watching a terminal, JSON for log
    collectors otherwise (the logs go to stderr, so that is the stream looked at)."""
    global _access_log
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    _access_log = logging.getLevelName(level.upper()) <= logging.INFO
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


class RequestContextMiddleware:
    """Gives each request an id (the caller's X-Request-ID, or a new one), binds it to every log line
    written while serving it, returns it as X-Request-ID, logs one access line per request and records
    its duration by operation and status."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.log = structlog.get_logger("fountain.access")
        self.metrics = RequestMetrics(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_HEADER:
                request_id = value.decode("latin-1")[:128]
                break
        request_id = request_id or os.urandom(16).hex()  # a uuid4's randomness, at a fifth of its cost
        scope.setdefault("state", {})["request_id"] = request_id
        bound = _REQUEST.set((request_id, self.service))
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0].lower() != _REQUEST_ID_HEADER]
                headers.append((_REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            self.metrics.observe(scope, status, duration)
            if _access_log:
                self.log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round(duration * 1000, 2),
                )
            # Back to what was set before (nothing, under a server: each request has its task).
            _REQUEST.reset(bound)
