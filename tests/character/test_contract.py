"""Property-based contract tests: schemathesis drives every Character Management operation (v1 and
v2, positive and negative data) in-process against the spec file, with all of its checks: no 500, no
undocumented status, no response that breaks its schema, invalid input rejected."""

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fountain_cli import registry
from fountain_common.app import create_service_app
from fountain_common.settings import Settings
from tests.character.conftest import reset_characters

SERVICE = registry.load_service("character")
schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(scope="module")
def contract_schema(database_url: str) -> Iterator[schemathesis.BaseSchema]:
    loaded = schemathesis.openapi.from_path(str(SERVICE.spec_path))
    # The app creates its own engine at startup, on the event loop schemathesis serves it from.
    loaded.app = create_service_app(SERVICE, settings=Settings(database_url=database_url))
    yield loaded


# 44 operations, most of them the same shape three times over: half the profile's examples each
# keeps the run near that of the other services while the explore profile still draws more.
@schema.parametrize()
@settings(
    max_examples=max(10, settings.default.max_examples // 2), deadline=None, suppress_health_check=list(HealthCheck)
)
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_stateful_sequences_through_links_keep_the_contract(
    contract_schema: schemathesis.BaseSchema, database_url: str
) -> None:
    """Create a character, action or spoken word, then read, change, delete it, add paraphrases to it
    and read, change and delete those (OpenAPI links)."""

    class Workflow(contract_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Every run starts from empty tables, so a replayed run meets the same state.
            asyncio.run(_reset(database_url))

    run_state_machine_as_test(
        Workflow,
        settings=settings(stateful_step_count=6, deadline=None, suppress_health_check=list(HealthCheck)),
    )


async def _reset(database_url: str) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        await reset_characters(engine)
    finally:
        await engine.dispose()
