"""Property-based contract tests: schemathesis drives every Core Script Management operation (v1 and
v2, positive and negative data) in-process against the spec file, with all of its checks: no 500, no
undocumented status, no response that breaks its schema, invalid input rejected. The service's calls to
Central Sequence, Character Management and Session and Context reach the real services, in-process.
Stateful runs follow the spec's OpenAPI links: create a script, add sections to it, lines to those,
and read, change, move and delete them."""

import pytest
import schemathesis
import yaml
from hypothesis import settings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli import registry
from tests.character.conftest import reset_characters
from tests.contract import QUIET, only_operations, run_stateful, served_schema
from tests.core_script.conftest import reset_scripts
from tests.session_context.conftest import reset_sessions

schema = schemathesis.pytest.from_fixture("contract_schema")


async def reset_with_cast(engine: AsyncEngine) -> None:
    """No scripts, and the ids the spec's examples name (character, action, spoken word and context 1)
    held by the services that own them, so stateful runs can add lines and go on with them."""
    await reset_scripts(engine)
    await reset_characters(engine)
    await reset_sessions(engine)
    async with engine.begin() as conn:
        for statement in (
            "INSERT INTO character.characters (name, description) VALUES ('Juliet', '')",
            "INSERT INTO character.actions (description) VALUES ('Appears above at a window.')",
            "INSERT INTO character.spoken_words (text) VALUES ('O Romeo, Romeo!')",
            "INSERT INTO session_context.sessions (user_id) VALUES (1)",
            "INSERT INTO session_context.contexts (session_id, character_id) VALUES (1, 1)",
        ):
            await conn.execute(text(statement))


@pytest.fixture(scope="module")
def contract_schema(database_url: str) -> schemathesis.BaseSchema:
    return served_schema("core_script", database_url)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=QUIET)
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_stateful_sequences_through_links_keep_the_contract(database_url: str) -> None:
    """Create a script, then read, edit and read it whole, add sections and read, edit and move them."""
    # An app of its own: the module's app closed its client for upstream calls when its run ended.
    run_stateful(served_schema("core_script", database_url), database_url, reset_with_cast)


# The section and line workflow alone: with every operation in one state machine, a run of a few steps
# seldom gets from a new script to a move of one of its lines.
LINE_WORKFLOW = {"addScript", "addSection", "moveSection", "addLine", "getLine", "editLine", "moveLine", "deleteLine"}


def test_stateful_line_workflow_keeps_the_contract(database_url: str) -> None:
    """Create a script, add a section and lines to it, then read, change, move and delete the lines."""
    spec = yaml.safe_load(registry.load_service("core_script").spec_path.read_text())
    workflow = served_schema("core_script", database_url, only_operations(spec, LINE_WORKFLOW))
    run_stateful(workflow, database_url, reset_with_cast, steps=8)
