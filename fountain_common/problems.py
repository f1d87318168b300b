"""Errors as RFC 9457 problem details.

/v2 (and unversioned) paths answer `application/problem+json`. /v1 paths answer `application/json`
with the same fields plus the upstream `message`, and report invalid input as 400 as the v1 contract
does. No error ever reaches a client as a stack trace.
"""

import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from fountain_common.database import sqlstate

PROBLEM_TYPE_BASE = "https://fountain.coach/problems/"
log = structlog.get_logger("fountain.problems")


class Problem(Exception):
    """An error a client can act on; raise it anywhere below a route."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extensions: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions or {}  # extra members of the body, e.g. the failing `upstream`

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "instance": instance,
        }
        if self.detail is not None:
            body["detail"] = self.detail
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", "Not found", detail)


def conflict(detail: str) -> Problem:
    return Problem(409, "conflict", "Conflict", detail)


def precondition_failed(detail: str) -> Problem:
    return Problem(412, "precondition-failed", "Precondition failed", detail)


def invalid(detail: str, errors: list[dict[str, str]] | None = None) -> Problem:
    """Well-formed input that breaks a rule: 422 on /v2, 400 on /v1."""
    return Problem(422, "invalid-request", "Invalid request", detail, errors=errors)


def not_implemented(operation_id: str) -> Problem:
    return Problem(
        501,
        "not-implemented",
        "Not implemented",
        f"Operation {operation_id} is declared in the contract but not implemented yet.",
    )


def unavailable(detail: str) -> Problem:
    return Problem(503, "unavailable", "Service unavailable", detail, headers={"Retry-After": "5"})


def too_large(max_body_bytes: int) -> Problem:
    # The rest of the body may still be on its way: the connection cannot carry another request.
    return Problem(
        413,
        "content-too-large",
        "Content too large",
        f"The request body is larger than this service accepts ({max_body_bytes} bytes).",
        headers={"Connection": "close"},
    )


def is_v1(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    body = problem.body(request.url.path)
    status = problem.status
    headers = dict(problem.headers)
    if request_id := getattr(request.state, "request_id", None):
        headers["X-Request-ID"] = request_id
    if status == 500:
        # The server closes the connection after an unhandled error (Starlette raises it again to
        # the server): say so, or a keep-alive client sends its next request on a dead connection.
        headers["Connection"] = "close"
    if is_v1(request):
        if status == 422:  # the v1 contract reports every input fault as 400
            status = body["status"] = 400
        body = {"message": problem.detail or problem.title, **body}
        return JSONResponse(body, status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")


def _field_errors(error: RequestValidationError) -> list[dict[str, str]]:
    return [
        {"location": ".".join(str(part) for part in item["loc"]), "message": str(item["msg"])}
        for item in error.errors()
    ]


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(request, exc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    malformed = [item for item in exc.errors() if item.get("type") == "json_invalid"]
    if malformed:
        # FastAPI's JSON decode error: its location is `body.<character offset>`, its reason in ctx.
        reason = str(malformed[0].get("ctx", {}).get("error", "JSON decode error"))
        offset = malformed[0]["loc"][-1]
        problem = Problem(
            400,
            "malformed-request",
            "Malformed request",
            f"The body is not valid JSON: {reason} at character {offset}.",
            errors=[{"location": f"body.{offset}", "message": reason}],
        )
        return problem_response(request, problem)
    errors = _field_errors(exc)
    summary = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
    return problem_response(request, invalid(summary, errors))


def _allowed_methods(request: Request) -> str:
    """Every method the contract declares at this path (Starlette would name only one route's)."""
    methods: set[str] = set()
    for template, item in request.app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\{[^/]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in item if m in ("get", "put", "post", "delete", "patch")}
    return ", ".join(sorted(methods))


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:  # a body that grew past the limit (request_limits.py)
        return problem_response(request, too_large(request.app.state.settings.max_body_bytes))
    titles = {404: "Not found", 405: "Method not allowed"}
    kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    headers = dict(exc.headers or {})
    detail = str(exc.detail)
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
        detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}."
    problem = Problem(exc.status_code, kind, titles.get(exc.status_code, "HTTP error"), detail, headers=headers)
    return problem_response(request, problem)


def _database_problem(exc: DBAPIError) -> Problem | None:
    code = sqlstate(exc) or ""
    if isinstance(exc, (OperationalError, InterfaceError)) or code.startswith(("08", "57P")):
        return unavailable("The database is unavailable.")
    if code == "57014":  # query_canceled: the statement ran past FOUNTAIN_DATABASE_STATEMENT_TIMEOUT_SECONDS
        return unavailable("The database did not answer in time.")
    if code.startswith("22"):  # data exceptions: out-of-range numbers, NUL bytes in text, ...
        return invalid("A value cannot be stored: " + str(getattr(exc.orig, "args", [""])[0]).splitlines()[0])
    return None


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    problem = _database_problem(exc)
    if problem is None:
        return await _on_unexpected(request, exc)
    log.warning("database_error", sqlstate=sqlstate(exc), error=str(exc.orig), path=request.url.path)
    return problem_response(request, problem)


async def _on_connection_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database_unreachable", error=repr(exc), path=request.url.path)
    return problem_response(request, unavailable("The database is unavailable."))


async def _on_pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    # Every connection of the pool stayed busy for the pool's timeout: overload, worth a retry later.
    log.warning("database_pool_exhausted", error=str(exc).splitlines()[0], path=request.url.path)
    return problem_response(request, unavailable("Every database connection of this service is busy."))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return problem_response(request, Problem(500, "internal", "Internal server error", "Internal server error."))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(DBAPIError, _on_database_error)
    app.add_exception_handler(PoolTimeoutError, _on_pool_timeout)
    app.add_exception_handler(ConnectionError, _on_connection_error)
    app.add_exception_handler(OSError, _on_connection_error)
    app.add_exception_handler(Exception, _on_unexpected)
