"""Property-based contract tests: schemathesis drives every Session and Context operation (v1 and v2,
positive and negative data) in-process against the spec file, with all of its checks: no 500, no
undocumented status, no response that breaks its schema, invalid input rejected. Stateful runs follow
the spec's OpenAPI links: start a session, add a context to it, read, change and delete them."""

import pytest
import schemathesis
import yaml
from hypothesis import settings

from fountain_cli import registry
from tests.contract import QUIET, only_operations, run_stateful, served_schema
from tests.session_context.conftest import reset_sessions

schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(scope="module")
def contract_schema(database_url: str) -> schemathesis.BaseSchema:
    return served_schema("session_context", database_url)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=QUIET)
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_stateful_sequences_through_links_keep_the_contract(
    contract_schema: schemathesis.BaseSchema, database_url: str
) -> None:
    """Start a session, then read, change and delete it, add a context and read, merge and delete that."""
    run_stateful(contract_schema, database_url, reset_sessions)


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
    spec = yaml.safe_load(registry.load_service("session_context").spec_path.read_text())
    workflow = served_schema("session_context", database_url, only_operations(spec, CONTEXT_WORKFLOW))
    run_stateful(workflow, database_url, reset_sessions, steps=8)
