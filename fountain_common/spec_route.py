"""The route class of every generated route (`APIRouter(route_class=SpecRoute)`): FastAPI's route,
with two costs of FastAPI's request handling taken off the common case.

- Matching. The router tries its routes in order, and FastAPI's `matches` costs about 2 µs a route:
  reaching the 17th route of a service cost more CPU than reading the row. A SpecRoute first compares
  the request path's shape (segment count and first two segments) with its own, which rules out
  almost every other route for a fraction of that.
- Parameters. FastAPI solves each request's parameters through its dependency machinery. For an
  operation without a body whose parameters are all integers, strings or enums (every read and
  delete of the specs), a SpecRoute reads them straight from the request, and calls the same
  generated route function with them. It does so only when every value is plainly valid: a value
  outside its bounds, not written in digits, repeated, an unknown query parameter, anything else
  it does not take as is, and the request goes through FastAPI's own handling unchanged, which
  answers it (and its 422s) exactly as before. tests/test_spec_route.py checks that every value it
  accepts is the value FastAPI would have given.

Before either, a route whose operation admits only some roles (its `security` in the spec, bound by
`bind_routes`) checks the caller the gateway named, when the service has FOUNTAIN_GATEWAY_SECRET:
401/403 before anything of the request is read (fountain_common/identity.py).
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import parse_qsl

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from fastapi.routing import APIRoute, APIRouter
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from fountain_common.identity import authorize, reset_caller, set_caller
from fountain_common.request_limits import INTEGER_TEXT
from fountain_common.routes import Route

_SHAPE = "fountain.path_shape"  # scope key: (path, its shape), computed once a request
_INVALID = object()  # a value a parameter does not take as it is
# Patterns Python's `re` and pydantic's Rust regex read alike: literal characters, classes of them,
# \xNN and escaped punctuation, groups without flags, the usual quantifiers and anchors. No \d, \w,
# \s, \b, \p (Unicode classes differ) and no `(?` extensions.
_PORTABLE_PATTERN = re.compile(r"(?:[^\\(]|\\x[0-9A-Fa-f]{2}|\\[^A-Za-z0-9]|\((?!\?))*")

Shape = tuple[int, str, str]


def _shape_of(path: str) -> Shape:
    parts = path.split("/")
    return len(parts), parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""


def _route_shape(path: str) -> Shape | None:
    """The shape every path this route matches has, or None when its first two segments are not
    literal or a parameter may span segments (`{name:path}`)."""
    shape = _shape_of(path)
    if ":path}" in path or "{" in shape[1] or "{" in shape[2]:
        return None
    return shape


def _request_shape(scope: Scope) -> Shape:
    path = get_route_path(scope)
    cached = scope.get(_SHAPE)
    if cached is not None and cached[0] == path:
        shape: Shape = cached[1]
        return shape
    shape = _shape_of(path)
    scope[_SHAPE] = (path, shape)  # the router's trailing-slash retry copies the scope: path differs
    return shape


@dataclass(frozen=True)
class _Parameter:
    name: str  # the route function's argument
    alias: str  # the name in the request
    location: Literal["path", "query", "header"]
    required: bool
    default: Any
    convert: Callable[[str], Any]  # the value, or _INVALID


class ParameterReader:
    """Reads the parameters of one route from a request, or gives up (None) for FastAPI to answer."""

    def __init__(self, parameters: Sequence[_Parameter]) -> None:
        self.path = tuple(p for p in parameters if p.location == "path")
        self.query = {p.alias: p for p in parameters if p.location == "query"}
        self.headers = {p.alias.lower().encode("latin-1"): p for p in parameters if p.location == "header"}

    @classmethod
    def of(cls, route: APIRoute) -> "ParameterReader | None":
        """The reader for `route`, or None when FastAPI must read its every request (a body, a
        dependency, a cookie, or a parameter of a type this does not read)."""
        dependant = route.dependant
        if route.body_field is not None or dependant.dependencies or dependant.cookie_params:
            return None
        parameters = []
        for location, fields in (
            ("path", dependant.path_params),
            ("query", dependant.query_params),
            ("header", dependant.header_params),
        ):
            for field in fields:
                convert = _converter(field.field_info.annotation, field.field_info.metadata)
                default = None if field.field_info.is_required() else field.field_info.default
                if convert is None or not isinstance(default, (NoneType, int, str)):
                    return None
                parameters.append(
                    _Parameter(field.name, field.alias, location, field.field_info.is_required(), default, convert)  # type: ignore[arg-type]
                )
        return cls(parameters)

    def read(self, scope: Scope) -> dict[str, Any] | None:
        """The route function's arguments from `scope`, or None to leave the request to FastAPI."""
        arguments: dict[str, Any] = {}
        path_params = scope["path_params"]
        for parameter in self.path:
            value = parameter.convert(path_params[parameter.alias])
            if value is _INVALID:
                return None
            arguments[parameter.name] = value
        query_string: bytes = scope["query_string"]
        if query_string or self.query:
            found: dict[str, str] = {}
            for name, raw in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
                if name not in self.query or name in found:
                    return None  # unknown or repeated: FastAPI and the route's own checks answer it
                found[name] = raw
            for alias, parameter in self.query.items():
                if not self._take(parameter, found.get(alias), arguments):
                    return None
        if self.headers:
            sent: dict[bytes, str] = {}
            for name, raw_bytes in scope["headers"]:
                if name in self.headers:
                    if name in sent:
                        return None
                    sent[name] = raw_bytes.decode("latin-1")
            for key, parameter in self.headers.items():
                if not self._take(parameter, sent.get(key), arguments):
                    return None
        return arguments

    @staticmethod
    def _take(parameter: _Parameter, raw: str | None, arguments: dict[str, Any]) -> bool:
        if raw is None:
            if parameter.required:
                return False
            arguments[parameter.name] = parameter.default
            return True
        value = parameter.convert(raw)
        if value is _INVALID:
            return False
        arguments[parameter.name] = value
        return True


def _converter(annotation: Any, metadata: list[Any]) -> Callable[[str], Any] | None:
    """How to read a parameter of type `annotation` with constraints `metadata` from its text, or
    None when this does not read such a parameter (FastAPI then reads every request of its route)."""
    if get_origin(annotation) in (Union, UnionType):
        members = [member for member in get_args(annotation) if member is not NoneType]
        if len(members) != 1:
            return None
        annotation = members[0]
    bounds: dict[type, Any] = {}
    pattern: re.Pattern[str] | None = None
    for constraint in metadata:
        if type(constraint) in (Ge, Gt, Le, Lt, MinLen, MaxLen):
            bounds[type(constraint)] = constraint
        elif _is_pattern_only(constraint) and _PORTABLE_PATTERN.fullmatch(constraint.pattern):
            pattern = re.compile(constraint.pattern)
        else:
            return None  # a multiple-of, a pattern in syntax Python may read otherwise...: left to pydantic
    if annotation is int and not ({MinLen, MaxLen} & bounds.keys()):
        low = bounds[Ge].ge if Ge in bounds else (bounds[Gt].gt + 1 if Gt in bounds else None)
        high = bounds[Le].le if Le in bounds else (bounds[Lt].lt - 1 if Lt in bounds else None)

        def integer(raw: str) -> Any:
            if len(raw) > 20 or not INTEGER_TEXT.fullmatch(raw):
                return _INVALID
            value = int(raw)
            if (low is not None and value < low) or (high is not None and value > high):
                return _INVALID
            return value

        return integer
    if pattern is not None and annotation is not str:
        return None
    if annotation is str and not ({Ge, Gt, Le, Lt} & bounds.keys()):
        shortest = bounds[MinLen].min_length if MinLen in bounds else 0
        longest = bounds[MaxLen].max_length if MaxLen in bounds else None

        def text(raw: str) -> Any:
            if len(raw) < shortest or (longest is not None and len(raw) > longest):
                return _INVALID
            # pydantic searches with Rust's regex, whose `$` is the end of the text; Python's also
            # matches before a final newline: text with a line break is left to pydantic.
            if pattern is not None and ("\n" in raw or "\r" in raw or not pattern.search(raw)):
                return _INVALID
            return raw

        return text
    if get_origin(annotation) is Literal and not bounds and all(isinstance(v, str) for v in get_args(annotation)):
        allowed = frozenset(get_args(annotation))
        return lambda raw: raw if raw in allowed else _INVALID
    return None


def _is_pattern_only(constraint: Any) -> bool:
    """pydantic's metadata holding nothing but a `pattern` (it holds other general constraints too)."""
    fields = getattr(constraint, "__dict__", {})
    return isinstance(fields.get("pattern"), str) and set(fields) == {"pattern"}


class SpecRoute(APIRoute):
    """A generated route: matched by its path's shape first, its parameters read without FastAPI's
    dependency solving when they are plainly valid (see the module's description)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.shape = _route_shape(self.path)
        self.reader = ParameterReader.of(self)
        self.roles: tuple[str, ...] | None = None  # set by bind_routes from the spec

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.shape is not None and scope["type"] == "http" and _request_shape(scope) != self.shape:
            return Match.NONE, {}
        return super().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.roles is not None and (secret := scope["app"].state.settings.gateway_secret):
            # A refusal (a Problem) goes to the app's handlers, as every Problem of a route does.
            token = set_caller(authorize(scope, self.roles, secret))
            try:
                await self._handle(scope, receive, send)
            finally:
                reset_caller(token)
            return
        await self._handle(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.reader is not None and self.methods and scope["method"] in self.methods:
            arguments = self.reader.read(scope)
            if arguments is not None:
                # Exceptions (a Problem) go to the app's handlers, as they do from FastAPI's handling.
                response = await self.endpoint(Request(scope, receive, send), **arguments)
                await response(scope, receive, send)
                return
        await super().handle(scope, receive, send)


def bind_routes(router: APIRouter, routes: Mapping[str, Route]) -> None:
    """Give each SpecRoute of `router` what the spec says of its operation (`routes`, by operationId)
    that the route checks itself: the roles it admits."""
    for route in router.routes:
        if isinstance(route, SpecRoute) and (spec := routes.get(route.operation_id or "")) is not None:
            route.roles = spec.roles
