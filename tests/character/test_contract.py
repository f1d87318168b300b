"""Property-based contract tests: schemathesis drives every Character Management operation (v1 and
v2, positive and negative data) in-process against the spec file, with all of its checks: no 500, no
undocumented status, no response that breaks its schema, invalid input rejected."""

import pytest
import schemathesis
from hypothesis import settings

from tests.character.conftest import reset_characters
from tests.contract import QUIET, run_stateful, served_schema

schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(scope="module")
def contract_schema(database_url: str) -> schemathesis.BaseSchema:
    return served_schema("character", database_url)


# 44 operations, most of them the same shape three times over: half the profile's examples each
# keeps the run near that of the other services while the explore profile still draws more.
@schema.parametrize()
@settings(max_examples=max(10, settings.default.max_examples // 2), deadline=None, suppress_health_check=QUIET)
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_stateful_sequences_through_links_keep_the_contract(
    contract_schema: schemathesis.BaseSchema, database_url: str
) -> None:
    """Create a character, action or spoken word, then read, change, delete it, add paraphrases to it
    and read, change and delete those (OpenAPI links)."""
    run_stateful(contract_schema, database_url, reset_characters)
