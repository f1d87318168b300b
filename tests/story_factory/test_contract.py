"""Property-based contract tests: schemathesis drives every Story Factory operation (v1 and v2,
positive and negative data) in-process against the spec file, with all of its checks: no 500, no
undocumented status, no response that breaks its schema, invalid input rejected. The service's calls
reach the real Core Script, Character and Session and Context services in-process."""

import pytest
import schemathesis
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.contract import QUIET, run_stateful, served_schema

schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(scope="module")
def contract_schema(database_url: str) -> schemathesis.BaseSchema:
    return served_schema("story_factory", database_url)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=QUIET)
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


async def keep_everything(engine: AsyncEngine) -> None:
    """Story Factory owns no story data: there is nothing of its own to reset."""


def test_stateful_sequences_through_links_keep_the_contract(database_url: str) -> None:
    """Read a story, then read it as a Fountain screenplay (OpenAPI link). An app of its own: the one
    above closed its client for upstream calls when schemathesis shut it down."""
    run_stateful(served_schema("story_factory", database_url), database_url, keep_everything, steps=3, runs=10)
