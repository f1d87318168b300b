"""Test fixtures: one embedded PostgreSQL for the session, every service migrated into it.

The server lives in a temporary folder of its own, so a test run never touches ./var or a
configured database.
"""

import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
import structlog
from alembic import command
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fountain_cli import registry
from fountain_common.embedded_postgres import embedded_url, stop_server
from fountain_common.migrations import alembic_config
from fountain_common.observability import configure_logging
from fountain_common.settings import Settings
from tests import in_process

# The fixtures of services that check identities (secured, secured_client), for any test module.
pytest_plugins = ["tests.identities"]


class _CurrentStderr:
    """sys.stderr as it is when a line is logged: pytest (and mutmut, which runs pytest several times
    in one process) swap it, and a stream bound at import time may be closed by then."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


configure_logging("WARNING", "console")
structlog.configure(logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()))  # type: ignore[arg-type]

# Property-based tests draw the same cases on every run by default, so CI is reproducible; set
# FOUNTAIN_HYPOTHESIS_PROFILE=explore to draw new ones (and more of them) on each run.
settings.register_profile("repeatable", max_examples=50, derandomize=True, database=None)
settings.register_profile("explore", max_examples=300, database=None)
settings.load_profile(os.environ.get("FOUNTAIN_HYPOTHESIS_PROFILE", "repeatable"))


def migrate(url: str) -> None:
    for service in registry.all_services():
        command.upgrade(alembic_config(service, url), "head")


@pytest.fixture(scope="session")
def postgres_dir() -> Iterator[Path]:
    """Data folder of the test run's own embedded PostgreSQL server. Not under pytest's basetemp:
    another pytest run on the machine prunes old basetemps, and with them a running server's data."""
    folder = Path(tempfile.mkdtemp(prefix="fountain-test-pg-"))
    yield folder
    stop_server(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _free_mutation_database() -> tuple[str, IO[bytes]] | None:
    """make mutation runs mutants side by side, each worker's tests with a database of its own: the
    first of FOUNTAIN_TEST_DATABASE_URLS whose lock no other process holds, and that lock."""
    urls = os.environ.get("FOUNTAIN_TEST_DATABASE_URLS", "").split()
    for slot, url in enumerate(urls):
        lock = (Path(os.environ["FOUNTAIN_TEST_DATABASE_LOCKS"]) / f"database-{slot}.lock").open("wb")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return url, lock
    if urls:
        raise RuntimeError("every mutation test database is taken: more mutants run than databases were made")
    return None


@pytest.fixture(scope="session")
def database_url(postgres_dir: Path) -> Iterator[str]:
    # A database that outlives the run, already migrated, for runs of a few tests each many times over
    # (make mutation: tests/mutation.py).
    held = _free_mutation_database()
    shared = held[0] if held else os.environ.get("FOUNTAIN_TEST_DATABASE_URL")
    url = shared or embedded_url(postgres_dir, "fountain_test")
    previous = os.environ.get("FOUNTAIN_DATABASE_URL")
    os.environ["FOUNTAIN_DATABASE_URL"] = url  # for service processes the tests start
    if not shared:
        migrate(url)
    yield url
    if held:
        held[1].close()  # the database is free for the next mutant's tests
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


service_app = in_process.service_app


@pytest.fixture(scope="session")
def gateway_transport(settings: Settings, engine: AsyncEngine) -> httpx.ASGITransport:
    return in_process.gateway(settings, engine)


@pytest.fixture
async def client_for(
    settings: Settings, engine: AsyncEngine, gateway_transport: httpx.ASGITransport
) -> AsyncIterator[object]:
    """client_for("central_sequence") -> an HTTP client talking to that service in-process; the
    service reaches the other services in-process too (`gateway_transport`)."""
    clients = in_process.Clients()
    yield lambda name: clients.of(service_app(name, settings, engine, gateway_transport))
    await clients.aclose()
