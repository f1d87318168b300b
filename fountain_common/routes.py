"""What every generated route calls: its connection, its transaction, its Idempotency-Key, its reply.

The generator (codegen/) emits one `Route` per operation from what the spec says — the success
status, the body's type, the query parameters it takes, whether it declares Idempotency-Key — and a
route function that asks the Route for a connection and turns what the hand-written operation
returns into the HTTP response. So an operation receives its parameters, body and connection and
returns its result; it never touches the Response object.

Connections, by what the operation does (the spec's method, or its `x-fountain-connection`):
- `read`: a pooled connection outside any transaction (database.ReadConnection): one round trip per
  statement, no BEGIN/ROLLBACK; a PreparedRead skips SQLAlchemy's execution path on it.
- `snapshot`: one REPEATABLE READ, READ ONLY transaction: every statement sees the same data.
- `write`: one transaction, run again on a deadlock or serialization failure (database.py); the
  Idempotency-Key, where declared, is claimed in that transaction and its reply stored there too.
- `statement`: a write of ONE statement (a single-row INSERT ... RETURNING), on a pooled connection
  in autocommit: PostgreSQL makes the statement atomic by itself, so it is one round trip, without
  BEGIN and COMMIT; run again on a deadlock or serialization failure. No Idempotency-Key.
- `none`: the operation reads no database of its own (a probe, or a service that only calls others).
"""

import asyncio
import csv
import io
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel, TypeAdapter
from pydantic_core import PydanticSerializationError, to_jsonable_python
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fountain_common.database import (
    RETRYABLE_SQLSTATES,
    ReadConnection,
    open_read_connection,
    run_in_transaction,
    sqlstate,
)
from fountain_common.id_lists import parse_id_list
from fountain_common.idempotency import caller_key, claim, fingerprint, record
from fountain_common.metrics import record_replay
from fountain_common.problems import Problem, invalid
from fountain_common.request_limits import decode_utf8

T = TypeVar("T")
Connection = Literal["none", "read", "snapshot", "write", "statement"]
_COMPENSATIONS = "fountain_compensations"
_IDEMPOTENCY_KEY = "fountain_idempotency_key"
_JSON = "application/json"
_NAMED_AT_MOST = 10
_REPLAYED = "idempotent-replayed"


@dataclass(frozen=True)
class Reply(Generic[T]):
    """A result with more to say than its body: a status other than the spec's success status (v1's
    200 for a number asked for again, 304), a Location, an ETag; or a JSON body serialized already
    (`json`, instead of `body`), for a large answer built without a model per row; its operation's
    tests check it against the spec's model."""

    body: T | None = None
    status: int | None = None
    location: str | None = None
    etag: str | None = None
    json: bytes | None = None


def on_rollback(conn: AsyncConnection, undo: Callable[[], Awaitable[None]]) -> None:
    """Ask for `undo` to run if the write transaction of `conn` finally fails (after its retries):
    for changes already made in another service that this transaction cannot roll back."""
    conn.info.setdefault(_COMPENSATIONS, []).append(undo)


def idempotency_key_of(conn: AsyncConnection) -> str | None:
    """The Idempotency-Key of the request whose write transaction `conn` runs, if it sent one: for an
    operation whose retries must find what an attempt that never committed left elsewhere."""
    key: str | None = conn.info.get(_IDEMPOTENCY_KEY)
    return key


def _quality(accept: str, media_type: str) -> float:
    """How much `accept` wants `media_type` (its q, by the most specific range that matches)."""
    kind = media_type.split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for part in accept.split(","):
        name, *params = [piece.strip() for piece in part.split(";")]
        specificity = {media_type: 2, f"{kind}/*": 1, "*/*": 0}.get(name.lower(), -1)
        if specificity > best[0]:
            quality = 1.0
            for param in params:
                key, _, value = param.partition("=")
                if key.strip().lower() == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            best = (specificity, quality)
    return best[1]


def prefers_csv(accept: str) -> bool:
    """Whether an Accept header wants text/csv more than JSON (a tie, such as */*, is JSON)."""
    return _quality(accept, "text/csv") > _quality(accept, _JSON)


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as RFC 4180 CSV: a header of the fields, then one line per row; null is an empty cell,
    true/false as written in JSON, and a nested value (an embedded row, an array, JSON) as its JSON."""
    if not rows:
        return ""  # no row, no fields to name
    fields = list(dict.fromkeys(name for row in rows for name in row))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in fields])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Route:
    """One operation as the spec declares it; the generator writes one per operation."""

    operation_id: str
    status: int
    body: TypeAdapter[Any] | None = None  # the success body's type; None: no body
    query: frozenset[str] = frozenset()
    connection: Connection = "read"
    idempotency: bool = False  # the operation declares the Idempotency-Key header
    text: bool = False  # a success body sent as it is (a str as UTF-8, or bytes), not as JSON
    media_type: str = "text/plain; charset=utf-8"  # the Content-Type of such a body
    omit_null: bool = False  # optional fields without a value are left out instead of sent as null
    omit_unset: bool = False  # fields the operation did not set are left out (a read's select=)
    csv: bool = False  # also answers text/csv, to a client whose Accept prefers it (a list's items)
    # The roles the spec's `security` admits (checked by SpecRoute when FOUNTAIN_GATEWAY_SECRET is
    # set, fountain_common/identity.py); None: open to anyone (the probes).
    roles: tuple[str, ...] | None = None

    # --- the request ------------------------------------------------------------------------------
    def check_query(self, request: Request) -> None:
        """Unknown query parameters are refused, as unknown body fields are: a misspelt `?limt=5`
        answered as if it were absent hides the client's mistake (422 on /v2, 400 on /v1)."""
        if not request.query_params:
            return
        unknown = sorted(set(request.query_params.keys()) - self.query)
        if unknown:
            takes = ", ".join(sorted(self.query)) or "none"
            # Thousands of unknown names are named by the first few: the answer stays small.
            named = ", ".join(map(repr, unknown[:_NAMED_AT_MOST]))
            more = f" and {len(unknown) - _NAMED_AT_MOST} more" if len(unknown) > _NAMED_AT_MOST else ""
            raise invalid(
                f"Unknown query parameter{'s' if len(unknown) > 1 else ''} {named}{more}; this operation takes: {takes}.",
                [
                    {"location": f"query.{name}", "message": "Unknown query parameter."}
                    for name in unknown[:_NAMED_AT_MOST]
                ],
            )

    @staticmethod
    def id_list(request: Request, name: str, *, max_ids: int) -> set[int] | None:
        """Every occurrence of an id-list query parameter (`?ids=3,1&ids=7`); FastAPI keeps the last."""
        return parse_id_list(name, request.query_params.getlist(name), max_ids=max_ids)

    @staticmethod
    async def text_body(request: Request) -> str:
        """A text/plain body decoded as UTF-8: another media type or charset is 415, bytes that are not
        UTF-8 are 400 naming the first one. (Its size is bounded by request_limits before it is read.)"""
        media_type, _, parameters = request.headers.get("content-type", "text/plain").partition(";")
        charset = next(
            (value.strip().strip('"').lower() for name, _, value in (p.partition("=") for p in parameters.split(";"))
             if name.strip().lower() == "charset"),
            "utf-8",
        )  # fmt: skip
        if media_type.strip().lower() != "text/plain" or charset not in ("utf-8", "utf8"):
            raise Problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"This operation takes text/plain; charset=utf-8, not {request.headers.get('content-type')!r}.",
            )
        return decode_utf8(await request.body())

    # --- the connection ---------------------------------------------------------------------------
    async def connect(self, request: Request) -> AsyncConnection:
        """The connection of a `read` or `snapshot` operation; `disconnect` gives it back. (Not a
        context manager: on the hottest path its two extra frames a request are worth saving.)"""
        engine: AsyncEngine = request.app.state.engine
        if self.connection != "snapshot":
            return await open_read_connection(engine)
        conn = await engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            await conn.begin()
            await conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        except BaseException:
            await conn.close()
            raise
        return conn

    @staticmethod
    async def disconnect(conn: AsyncConnection) -> None:
        if isinstance(conn, ReadConnection):
            await conn.release()
        else:
            await conn.close()  # a snapshot only read: ending it rolls nothing back

    async def statement(
        self, request: Request, operation: Callable[[AsyncConnection], Awaitable[T]], *, attempts: int = 5
    ) -> T:
        """Run `operation`, a write of one statement, on a pooled connection in autocommit (one round
        trip: the statement commits by itself, or fails whole); again on deadlock or serialization failure."""
        engine: AsyncEngine = request.app.state.engine
        for attempt in range(1, attempts + 1):
            conn = await open_read_connection(engine)
            try:
                return await operation(conn)
            except DBAPIError as error:
                if sqlstate(error) not in RETRYABLE_SQLSTATES or attempt == attempts:
                    raise
            finally:
                await conn.release()
            await asyncio.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    async def write(
        self,
        request: Request,
        operation: Callable[[AsyncConnection], Awaitable[T | Reply[T]]],
        *,
        idempotency_key: str | None = None,
        body: BaseModel | Sequence[BaseModel] | str | None = None,
        if_match: str | None = None,
    ) -> Response:
        """Run `operation` in one transaction (again on deadlock) and answer its reply; with an
        Idempotency-Key, once per key: a retry gets the stored reply."""
        engine: AsyncEngine = request.app.state.engine
        compensations: list[Callable[[], Awaitable[None]]] = []

        async def transaction(conn: AsyncConnection) -> Response:
            conn.info[_COMPENSATIONS] = compensations
            if self.idempotency and idempotency_key is not None:
                conn.info[_IDEMPOTENCY_KEY] = idempotency_key
            try:
                return await self._transaction(request, conn, operation, idempotency_key, body, if_match)
            finally:
                del conn.info[_COMPENSATIONS]  # the dict lives as long as the pooled connection
                conn.info.pop(_IDEMPOTENCY_KEY, None)

        try:
            response = await run_in_transaction(engine, transaction)
        except Exception:  # not on cancellation: the client is gone, the transaction rolled back
            for undo in reversed(compensations):
                await undo()
            raise
        if _REPLAYED in response.headers:  # counted once committed, not per attempt of the transaction
            record_replay(request.app.state.service.name, self.operation_id)
        return response

    async def _transaction(
        self,
        request: Request,
        conn: AsyncConnection,
        operation: Callable[[AsyncConnection], Awaitable[T | Reply[T]]],
        idempotency_key: str | None,
        body: BaseModel | Sequence[BaseModel] | str | None,
        if_match: str | None,
    ) -> Response:
        table: Table | None = None
        if self.idempotency and idempotency_key is not None:
            idempotency_key = caller_key(idempotency_key)
            service = request.app.state.service
            table = service.metadata.tables[f"{service.schema}.idempotency_keys"]
            stored = await claim(
                conn,
                table,
                key=idempotency_key,
                request_fingerprint=fingerprint(request.method, request.url.path, body, if_match),
                ttl_hours=request.app.state.settings.idempotency_ttl_hours,
            )
            if stored is not None:
                return self._replay(*stored)
        response = self.respond(await operation(conn))
        if table is not None and idempotency_key is not None:
            stored_body = json.loads(bytes(response.body)) if response.body else None
            headers = {name: response.headers[name] for name in ("etag", "location") if name in response.headers}
            await record(conn, table, idempotency_key, response.status_code, stored_body, headers)
        return response

    # --- the reply --------------------------------------------------------------------------------
    def respond(self, result: Any, *, accept: str | None = None) -> Response:
        """The HTTP response for what the operation returned: its body, or a Reply; as CSV when the
        operation offers it and `accept` (the request's Accept) prefers it."""
        reply = result if isinstance(result, Reply) else Reply(body=result)
        status = reply.status or self.status
        headers: dict[str, str] = {}
        if reply.location:
            headers["location"] = reply.location
        if reply.etag:
            headers["etag"] = reply.etag
        if status in (204, 304) or self.body is None:
            return Response(status_code=status, headers=headers)
        if self.text:
            content = reply.body if isinstance(reply.body, bytes) else str(reply.body)
            return Response(content, status_code=status, headers=headers, media_type=self.media_type)
        if self.csv and accept and prefers_csv(accept):
            if reply.json is not None:
                rows = json.loads(reply.json)
            else:
                rows = self.body.dump_python(reply.body, mode="json", by_alias=True, exclude_unset=self.omit_unset)
            return Response(
                csv_text(rows["items"] if isinstance(rows, dict) else rows),
                status_code=status,
                headers=headers,
                media_type="text/csv; charset=utf-8",
            )
        if reply.json is not None:
            return Response(reply.json, status_code=status, headers=headers, media_type=_JSON)
        try:
            content = self.body.dump_json(
                reply.body, by_alias=True, exclude_none=self.omit_null, exclude_unset=self.omit_unset
            )
        except PydanticSerializationError:
            content = self._dump_deep(reply.body)
        return Response(content, status_code=status, headers=headers, media_type=_JSON)

    def _dump_deep(self, body: Any) -> bytes:
        """The body serialized by the standard library, for a value nested deeper than pydantic
        serializes (~250 levels): one stored before bodies were limited to FOUNTAIN_MAX_JSON_DEPTH
        must still be readable. Scalars are rendered as pydantic renders them."""
        assert self.body is not None
        python = self.body.dump_python(body, by_alias=True, exclude_none=self.omit_null, exclude_unset=self.omit_unset)
        return json.dumps(python, default=to_jsonable_python, ensure_ascii=False, separators=(",", ":")).encode()

    def _replay(self, status: int, stored_body: Any, headers: dict[str, str]) -> Response:
        """The stored reply, in the field order the operation's model gives it (JSONB keeps none)."""
        replayed = {**headers, _REPLAYED: "true"}
        if self.body is None or stored_body is None:
            return Response(status_code=status, headers=replayed)
        content = self.body.dump_json(
            self.body.validate_python(stored_body),
            by_alias=True,
            exclude_none=self.omit_null,
            exclude_unset=self.omit_unset,
        )
        return Response(content, status_code=status, headers=replayed, media_type=_JSON)
