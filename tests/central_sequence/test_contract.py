"""Property-based contract tests: schemathesis drives every Central Sequence operation (v1 and v2,
positive and negative data) in-process against the spec file, with all of its checks: no 500, no
undocumented status, no response that breaks its schema, invalid input rejected."""

import pytest
import schemathesis
from hypothesis import settings

from tests.central_sequence.conftest import reset_numbering
from tests.contract import QUIET, run_stateful, served_schema

schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(scope="module")
def contract_schema(database_url: str) -> schemathesis.BaseSchema:
    return served_schema("central_sequence", database_url)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=QUIET)
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_stateful_sequences_through_links_keep_the_contract(
    contract_schema: schemathesis.BaseSchema, database_url: str
) -> None:
    """Create an element, then read, move, version and read back the version it names (OpenAPI links)."""
    run_stateful(contract_schema, database_url, reset_numbering)
