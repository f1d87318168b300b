"""Fixtures of the Core Script Management tests: empty scripts and an empty numbering, and a Core Script
app whose calls to the Central Sequence Service can be made to fail or time out on demand."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.settings import Settings
from tests.central_sequence.conftest import reset_numbering
from tests.in_process import service_app

CENTRAL_SEQUENCE_HOST = "centralsequence.fountain.coach"


async def reset_scripts(engine: AsyncEngine) -> None:
    """No scripts here, and no numbers in the Central Sequence Service: numbers start again at 1."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE core_script.story_lines, core_script.section_headings, core_script.scripts, "
                "core_script.idempotency_keys, core_script.script_reservations RESTART IDENTITY CASCADE"
            )
        )
    await reset_numbering(engine)


async def count_rows(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM core_script.{table}"))).scalar_one())


@pytest.fixture
async def client(
    engine: AsyncEngine, client_for: Callable[[str], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of Core Script Management over empty tables; its calls reach the real services."""
    await reset_scripts(engine)
    yield client_for("core_script")


@pytest.fixture
async def sequence(client_for: Callable[[str], httpx.AsyncClient]) -> httpx.AsyncClient:
    """A client of the Central Sequence Service, to read back the numbers it holds."""
    return client_for("central_sequence")


class FailingCentralSequence(httpx.AsyncBaseTransport):
    """Forwards every call to the in-process services, except calls to the Central Sequence Service
    while `failure` is set: "down" answers 503, "timeout" raises a read timeout, "unreachable" a
    connection error, "slow" answers nothing until the caller's read timeout passes, and "lost-answer"
    forwards the call and then loses its answer (a read timeout).
    `remaining` limits how many calls fail; `calls` counts the calls that failed."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.failure: str | None = None
        self.paths: set[str] | None = None  # fail only these paths; None: every path
        self.remaining: int | None = None
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        failing = request.headers.get("host") == CENTRAL_SEQUENCE_HOST and self.failure is not None
        if failing and (self.paths is None or request.url.path in self.paths) and self.remaining != 0:
            self.calls += 1
            if self.remaining is not None:
                self.remaining -= 1
            if self.failure == "lost-answer":
                await self.inner.handle_async_request(request)
                raise httpx.ReadTimeout("answer lost", request=request)
            if self.failure == "slow":
                # What a network transport does with a server that never answers: wait out the
                # client's read timeout (the service's upstream_timeout_seconds), then give up.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.sleep(60), timeout=request.extensions["timeout"]["read"])
                raise httpx.ReadTimeout("no answer within the read timeout", request=request)
            if self.failure == "timeout":
                raise httpx.ReadTimeout("no answer", request=request)
            if self.failure == "unreachable":
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(503, json={"message": "The database is unavailable."}, request=request)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def flaky(
    engine: AsyncEngine, settings: Settings, gateway_transport: httpx.ASGITransport
) -> AsyncIterator[tuple[httpx.AsyncClient, FailingCentralSequence]]:
    """A Core Script client whose Central Sequence calls fail while the transport says so."""
    await reset_scripts(engine)
    transport = FailingCentralSequence(gateway_transport)
    quick = settings.model_copy(update={"upstream_timeout_seconds": 0.2, "upstream_retries": 1})
    app = service_app("core_script", quick, engine, transport)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client, transport
