"""When the database cannot be reached, clients get a 503 problem they can retry, never a 500,
and the operator gets one readable line instead of a traceback."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from fountain_cli import registry
from fountain_cli.main import app as cli
from fountain_common.app import create_service_app
from fountain_common.settings import Settings

UNREACHABLE = "postgresql+asyncpg://fountain@127.0.0.1:1/fountain"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    engine = create_async_engine(UNREACHABLE)
    app = create_service_app(
        registry.load_service("central_sequence"), settings=Settings(database_url=UNREACHABLE), engine=engine
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http
    await engine.dispose()


async def test_requests_answer_503_with_retry_after(client: httpx.AsyncClient) -> None:
    v1 = await client.post("/v1/sequence", json={"elementType": "script", "elementId": 1})
    assert v1.status_code == 503
    assert v1.headers["retry-after"] == "5"
    assert v1.json()["message"] == "The database is unavailable."
    v2 = await client.get("/v2/scopes/story-1/elements")
    assert v2.status_code == 503 and v2.headers["content-type"] == "application/problem+json"


async def test_probes_tell_live_from_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200
    ready = await client.get("/ready")
    assert ready.status_code == 503
    assert "not reachable or not migrated" in ready.json()["detail"]


def test_migrating_an_unreachable_database_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUNTAIN_DATABASE_URL", "postgresql://fountain@127.0.0.1:1/fountain")
    from fountain_common.settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["db", "upgrade", "central_sequence"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "central_sequence: cannot use the database (ConnectionRefusedError" in result.output
    assert "Traceback" not in result.output


async def test_a_request_that_finds_every_connection_busy_is_503(database_url: str) -> None:
    """A pool of one connection, held elsewhere: the request waits the pool's timeout, then gets a
    503 it can retry, not a 500."""
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    app = create_service_app(
        registry.load_service("central_sequence"), settings=Settings(database_url=database_url), engine=engine
    )
    try:
        async with app.router.lifespan_context(app), engine.connect() as held:  # shut down: out of the metrics
            await held.exec_driver_sql("SELECT 1")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
                busy = await http.get("/v2/scopes/story-1/elements")
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "5"
        assert busy.json()["detail"] == "Every database connection of this service is busy."
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            assert (await http.get("/v2/scopes/story-1/elements")).status_code == 200  # free again
    finally:
        await engine.dispose()
