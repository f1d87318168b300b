"""Property-based contract tests: schemathesis drives every Session and Context operation (v1 and v2,
positive and negative data) in-process against the spec file, with all of its checks: no 500, no
undocumented status, no response that breaks its schema, invalid input rejected. Stateful runs follow
the spec's OpenAPI links: start a session, add a context to it, read, change and delete them."""

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fountain_cli import registry
from fountain_common.app import create_service_app
from fountain_common.settings import Settings
from tests.session_context.conftest import reset_sessions

SERVICE = registry.load_service("session_context")
schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(scope="module")
def contract_schema(database_url: str) -> Iterator[schemathesis.BaseSchema]:
    loaded = schemathesis.openapi.from_path(str(SERVICE.spec_path))
    # The app creates its own engine at startup, on the event loop schemathesis serves it from.
    loaded.app = create_service_app(SERVICE, settings=Settings(database_url=database_url))
    yield loaded


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_stateful_sequences_through_links_keep_the_contract(
    contract_schema: schemathesis.BaseSchema, database_url: str
) -> None:
    """Start a session, then read, change and delete it, add a context and read, merge and delete that."""

    class Workflow(contract_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Every run starts with no sessions, so a replayed run meets the same state.
            asyncio.run(_reset(database_url))

    run_state_machine_as_test(
        Workflow,
        settings=settings(stateful_step_count=6, deadline=None, suppress_health_check=list(HealthCheck)),
    )


# The character-context workflow alone: with every operation in one state machine, a run of a few
# steps seldom gets from a new session to a change of one of its contexts. listSessions stays in:
# schemathesis starts runs only at operations whose inputs some operation produces, and it is the
# one that answers the userId a new session needs.
CONTEXT_WORKFLOW = {
    "listSessions",
    "createUserSession",
    "deleteUserSession",
    "createContext",
    "getContext",
    "updateContext",
    "deleteContext",
    "listContexts",
    "listSessionContexts",
}


def test_stateful_context_workflow_keeps_the_contract(database_url: str) -> None:
    """Start a session, add contexts, merge into them with the ETag just answered, read them in bulk,
    delete them or their session."""
    spec = yaml.safe_load(SERVICE.spec_path.read_text())
    for path, item in list(spec["paths"].items()):
        for method in [m for m in item if m != "parameters"]:
            if item[method]["operationId"] not in CONTEXT_WORKFLOW:
                del item[method]
            else:
                for response in item[method]["responses"].values():
                    links = response.get("links", {})
                    for name in [n for n, link in links.items() if link["operationId"] not in CONTEXT_WORKFLOW]:
                        del links[name]
        if set(item) <= {"parameters"}:
            del spec["paths"][path]
    workflow = schemathesis.openapi.from_dict(spec)
    workflow.app = create_service_app(SERVICE, settings=Settings(database_url=database_url))

    class Workflow(workflow.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            asyncio.run(_reset(database_url))

    run_state_machine_as_test(
        Workflow,
        settings=settings(stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck)),
    )


async def _reset(database_url: str) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        await reset_sessions(engine)
    finally:
        await engine.dispose()
