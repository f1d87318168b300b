"""Test fixtures: one embedded PostgreSQL for the session, every service migrated into it.

The server lives in a temporary folder of its own, so a test run never touches ./var or a
configured database.
"""

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from fastapi import FastAPI
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fountain_cli import registry
from fountain_common.app import create_service_app
from fountain_common.embedded_postgres import embedded_url, stop_server
from fountain_common.migrations import alembic_config
from fountain_common.observability import configure_logging
from fountain_common.settings import Settings

configure_logging("WARNING", "console")

# Property-based tests draw the same cases on every run by default, so CI is reproducible; set
# FOUNTAIN_HYPOTHESIS_PROFILE=explore to draw new ones (and more of them) on each run.
settings.register_profile("repeatable", max_examples=50, derandomize=True, database=None)
settings.register_profile("explore", max_examples=300, database=None)
settings.load_profile(os.environ.get("FOUNTAIN_HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def postgres_dir() -> Iterator[Path]:
    """Data folder of the test run's own embedded PostgreSQL server. Not under pytest's basetemp:
    another pytest run on the machine prunes old basetemps, and with them a running server's data."""
    folder = Path(tempfile.mkdtemp(prefix="fountain-test-pg-"))
    yield folder
    stop_server(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres_dir: Path) -> Iterator[str]:
    url = embedded_url(postgres_dir, "fountain_test")
    previous = os.environ.get("FOUNTAIN_DATABASE_URL")
    os.environ["FOUNTAIN_DATABASE_URL"] = url  # for service processes the tests start
    for service in registry.all_services():
        command.upgrade(alembic_config(service, url), "head")
    yield url
    if previous is None:
        os.environ.pop("FOUNTAIN_DATABASE_URL", None)
    else:
        os.environ["FOUNTAIN_DATABASE_URL"] = previous


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=10)
    yield engine
    await engine.dispose()


def service_app(name: str, settings: Settings, engine: AsyncEngine) -> FastAPI:
    return create_service_app(registry.load_service(name), settings=settings, engine=engine)


@pytest.fixture
async def client_for(settings: Settings, engine: AsyncEngine) -> AsyncIterator[object]:
    """client_for("central_sequence") -> an HTTP client talking to that service in-process."""
    clients: list[httpx.AsyncClient] = []

    def make(name: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=service_app(name, settings, engine))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
