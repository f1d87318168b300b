"""What one request may ask of a process, and what it must spell exactly: the size of its body, how
deeply its JSON nests, and integers in its path and query written in digits.

A body larger than `max_body_bytes` is refused with 413 before it is read (a declared Content-Length)
or as soon as it grows past the limit (a chunked body), so one client cannot make a process hold
hundreds of megabytes or stall its other requests while parsing them. (Not FastAPI's `max_body_size`:
it answers text/plain.)

JSON bodies are parsed strictly: UTF-8 only, no NaN or Infinity (nor a number that would read as
infinity, `1e400`), at most `max_json_depth` levels of arrays and objects. A value nested deeper
could be stored but not answered again (pydantic serializes ~250 levels), so it is refused on the
way in. Every parse failure is raised as a
`json.JSONDecodeError` with the character offset of the fault, which FastAPI reports as
`malformed-request` (problems.py).
"""

import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.routing import APIRoute, request_response
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fountain_common.problems import Problem, invalid, problem_response, too_large

# A JSON string, or a token that matters to a check; strings are matched whole so that brackets and
# digits inside them are skipped.
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_BRACKETS = re.compile(_STRING + r"|[\[\]{}]")
_NUMBERS = re.compile(_STRING + r"|-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_CONSTANTS = re.compile(_STRING + r"|NaN|-?Infinity")
INTEGER_TEXT = re.compile(r"-?[0-9]+")


class _NotJson(ValueError):
    """A constant Python's parser takes but JSON does not have."""


class _OutOfRange(ValueError):
    """A number past the largest a 64-bit float holds (`1e400`): Python reads it as infinity, which
    JSON cannot answer back."""


def _finite(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise _OutOfRange(token)
    return value


def _is_out_of_range(token: str) -> bool:
    return any(mark in token for mark in ".eE") and math.isinf(float(token))


def _refuse_constant(name: str) -> Any:
    raise _NotJson(name)


def decode_utf8(body: bytes) -> str:
    """A text body as str, or 400 malformed-request naming the line, column and byte offset of the
    first byte that is not UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        before = body[: error.start].decode("utf-8")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        reason = f"Invalid UTF-8 at line {line}, column {column} (byte {error.start})"
        raise Problem(
            400,
            "malformed-request",
            "Malformed request",
            f"The body is not UTF-8 text: {reason}. Send it as text/plain; charset=utf-8.",
            errors=[{"location": f"body.{error.start}", "message": reason}],
        ) from None


def parse_json(body: bytes, *, max_depth: int) -> Any:
    """`body` as JSON, or json.JSONDecodeError saying what is wrong and where (a character offset)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        prefix = body[: error.start].decode("utf-8")
        raise json.JSONDecodeError("Invalid UTF-8", prefix, len(prefix)) from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise _too_deep(text, max_depth) from None
    except _NotJson as error:
        raise _at_first(text, _CONSTANTS, f"{error} is not a JSON value") from None
    except _OutOfRange:
        raise _at_first(
            text, _NUMBERS, "Number out of range: larger than a 64-bit float holds", _is_out_of_range
        ) from None
    except ValueError as error:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        raise _at_first(text, _NUMBERS, f"Number too long: {error}", _is_long_integer) from None
    # Fewer openers than the limit cannot nest past it: most bodies need no walk.
    if text.count("[") + text.count("{") > max_depth and _nests_deeper(value, max_depth):
        raise _too_deep(text, max_depth)
    return value


def _nests_deeper(value: Any, max_depth: int) -> bool:
    stack = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        if not isinstance(container, (dict, list)):
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in (container.values() if isinstance(container, dict) else container))
    return False


def _too_deep(text: str, max_depth: int) -> json.JSONDecodeError:
    depth = 0
    for token in _BRACKETS.finditer(text):
        opener = token.group()
        if opener in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return json.JSONDecodeError(f"Nested deeper than {max_depth} levels", text, token.start())
        elif opener in ("]", "}"):
            depth -= 1
    return json.JSONDecodeError(f"Nested deeper than {max_depth} levels", text, 0)


def _is_long_integer(token: str) -> bool:
    return not any(mark in token for mark in ".eE") and len(token.lstrip("-")) > 4300


def _at_first(
    text: str, tokens: re.Pattern[str], message: str, wanted: Callable[[str], bool] = lambda token: True
) -> json.JSONDecodeError:
    for token in tokens.finditer(text):
        if not token.group().startswith('"') and wanted(token.group()):
            return json.JSONDecodeError(message, text, token.start())
    return json.JSONDecodeError(message, text, 0)


class LimitedRequest(Request):
    """A request whose JSON body is parsed by `parse_json` with the app's depth limit."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            max_depth = self.app.state.settings.max_json_depth
            self._json = parse_json(await self.body(), max_depth=max_depth)
        return self._json


def _numeric_parameters(route: APIRoute) -> tuple[tuple[str, str], ...]:
    """(location, name) of each integer path and query parameter of `route`."""
    located = [("path", field) for field in route.dependant.path_params]
    located += [("query", field) for field in route.dependant.query_params]
    return tuple(
        (location, field.alias)
        for location, field in located
        if field.field_info.annotation is int or int in get_args(field.field_info.annotation)
    )


def _check_numbers(request: Request, numeric: tuple[tuple[str, str], ...]) -> None:
    """Refuse an integer parameter written other than in digits: pydantic reads ' 1', '+1', '1 '
    and '1_0' as numbers, so `DELETE /characters/%201` would delete character 1."""
    for location, name in numeric:
        values = [request.path_params[name]] if location == "path" else request.query_params.getlist(name)
        for value in values:
            if not INTEGER_TEXT.fullmatch(value):
                message = "Must be an integer written in digits only (no spaces, '+' or '_')"
                raise invalid(
                    f"{location}.{name}: {message}, got {value[:40]!r}.",
                    [{"location": f"{location}.{name}", "message": message}],
                )


def _checked(
    handler: Callable[[Request], Awaitable[Response]], numeric: tuple[tuple[str, str], ...], takes_body: bool
) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        _check_numbers(request, numeric)
        return await handler(LimitedRequest(request.scope, request.receive) if takes_body else request)

    return handle


def check_requests_strictly(app: FastAPI) -> None:
    """Make every route of `app` refuse integers not written in digits, and parse its JSON body, if
    it takes one, with `parse_json`. Routes with neither are left as they are (no cost)."""
    for route in app.router.routes:
        if not isinstance(route, APIRoute):
            continue
        numeric = _numeric_parameters(route)
        takes_body = route.body_field is not None
        if numeric or takes_body:
            route.app = request_response(_checked(route.get_route_handler(), numeric, takes_body))


class BodyTooLarge(HTTPException):
    """Raised to the reader of a body that grew past the limit; answered as problems.too_large."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodySizeLimitMiddleware:
    """413 for a body larger than `max_body_bytes`: at once for a declared Content-Length, before any
    of it is read; for a chunked body as soon as it grows past the limit."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_body_bytes:
                    response = problem_response(Request(scope, receive), too_large(self.max_body_bytes))
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        await self.app(scope, receive_within_limit, send)
