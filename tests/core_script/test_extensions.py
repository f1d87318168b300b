"""A cue's extensions, each as written: `extensions` a list, `extension` one of them in a request and
all of them joined by `, ` in an answer, for clients of one extension. Through Core Script /v2 against
the real services in-process, and the migration that turns the one extension into a list."""

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy.exc import DBAPIError, IntegrityError

from fountain_cli import registry
from fountain_common.embedded_postgres import embedded_url
from fountain_common.migrations import alembic_config
from tests import test_screenplays
from tests.test_migrations import _run as run
from tests.test_screenplays import World

world = test_screenplays.world  # the fixture: Core Script and Character Management over empty tables


async def _section(world: World) -> tuple[int, int, dict[str, Any]]:
    """A script with one section, and the parts of a dialogue by Bob."""
    script_id = int((await world.core.post("/v2/scripts", json={"title": "Cues"})).json()["scriptId"])
    heading = await world.core.post(f"/v2/scripts/{script_id}/sections", json={"title": "INT. HOUSE - DAY"})
    bob = {"characterId": await world.character_named("Bob"), "spokenWordId": await world.words("Hello.")}
    return script_id, int(heading.json()["headingId"]), bob


async def test_extensions_are_kept_each_as_written(world: World) -> None:
    script_id, heading_id, bob = await _section(world)
    two = await world.line(script_id, heading_id, {**bob, "extensions": ["V.O.", "CONT'D"]})
    assert (two["extensions"], two["extension"]) == (["V.O.", "CONT'D"], "V.O., CONT'D")
    # One extension holding a comma stays one.
    one = await world.line(script_id, heading_id, {**bob, "extension": "O.S., PRELAP"})
    assert (one["extensions"], one["extension"]) == (["O.S., PRELAP"], "O.S., PRELAP")
    agreeing = await world.line(
        script_id, heading_id, {**bob, "extension": "V.O., CONT'D", "extensions": ["V.O.", "CONT'D"]}
    )
    assert agreeing["extensions"] == ["V.O.", "CONT'D"]
    none = await world.line(script_id, heading_id, bob)
    assert (none["extensions"], none["extension"]) == ([], None)
    content = (await world.core.get(f"/v2/scripts/{script_id}/content")).json()
    assert [line["extensions"] for line in content["sections"][0]["lines"]] == [
        ["V.O.", "CONT'D"],
        ["O.S., PRELAP"],
        ["V.O.", "CONT'D"],
        [],
    ]


async def test_extension_and_extensions_that_disagree_are_refused(world: World) -> None:
    script_id, heading_id, bob = await _section(world)
    problem = await world.line(script_id, heading_id, {**bob, "extension": "V.O.", "extensions": ["O.S."]}, expect=422)
    assert [e["location"] for e in problem["errors"]] == ["body.extension"]
    six = await world.line(script_id, heading_id, {**bob, "extensions": ["A", "B", "C", "D", "E", "F"]}, expect=422)
    assert six["errors"][0]["location"] == "body.extensions"
    bracket = await world.line(script_id, heading_id, {**bob, "extensions": ["V.O.)"]}, expect=422)
    assert bracket["errors"][0]["location"].startswith("body.extensions")
    action = {"kind": "action", "actionId": await world.action("Rain."), "extensions": ["V.O."]}
    problem = await world.line(script_id, heading_id, action, expect=422)
    assert [e["location"] for e in problem["errors"]] == ["body.extensions"]
    assert (await world.core.get(f"/v2/scripts/{script_id}/lines")).json()["total"] == 0


async def test_editing_sets_or_clears_the_extensions(world: World) -> None:
    script_id, heading_id, bob = await _section(world)
    line = await world.line(script_id, heading_id, {**bob, "extensions": ["V.O.", "CONT'D"]})
    url = f"/v2/scripts/{script_id}/sections/{heading_id}/lines/{line['lineId']}"
    one = await world.core.patch(url, json={"extension": "O.S."})
    assert one.status_code == 200 and one.json()["extensions"] == ["O.S."], one.text
    many = await world.core.patch(url, json={"extensions": ["V.O.", "PRELAP"]})
    assert many.status_code == 200 and many.json()["extension"] == "V.O., PRELAP", many.text
    cleared = await world.core.patch(url, json={"extension": None})
    assert cleared.status_code == 200 and cleared.json()["extensions"] == [], cleared.text


def test_the_migration_to_0007_makes_a_list_of_the_one_extension(postgres_dir: Path) -> None:
    url = embedded_url(postgres_dir, "fountain_extensions_migration")
    core = alembic_config(registry.load_service("core_script"), url)
    command.upgrade(core, "0006")
    run(
        url,
        "INSERT INTO core_script.scripts (id, title, sequence_number) VALUES (1, 'One', 1)",
        "INSERT INTO core_script.section_headings (id, script_id, title, sequence_number) VALUES (1, 1, 'a', 2)",
        "INSERT INTO core_script.story_lines (id, script_id, heading_id, position, kind, character_id, "
        "spoken_word_id, extension) VALUES (1, 1, 1, 1, 'dialogue', 10, 30, 'V.O., CONT''D'), "
        "(2, 1, 1, 2, 'dialogue', 11, 31, NULL)",
    )
    command.upgrade(core, "0007")
    assert run(url, "SELECT id, extensions FROM core_script.story_lines ORDER BY id")[0] == [
        (1, ["V.O., CONT'D"]),
        (2, []),
    ]
    # The database itself refuses what the API refuses.
    for bad in ("'\"V.O.\"'", "'[\"(V.O.)\"]'", "'[1]'", '\'["a","b","c","d","e","f"]\''):
        with pytest.raises(IntegrityError, match="story_lines_extensions"):
            run(url, f"UPDATE core_script.story_lines SET extensions = {bad}::jsonb WHERE id = 2")
    run(url, "UPDATE core_script.story_lines SET extensions = '[\"V.O.\", \"CONT''D\"]'::jsonb WHERE id = 2")
    with pytest.raises(DBAPIError, match="cannot downgrade core_script below 0007: 1 story line"):
        command.downgrade(core, "0006")
    run(url, "UPDATE core_script.story_lines SET extensions = '[\"V.O.\"]'::jsonb WHERE id = 2")
    command.downgrade(core, "0006")
    assert run(url, "SELECT id, extension FROM core_script.story_lines ORDER BY id")[0] == [
        (1, "V.O., CONT'D"),
        (2, "V.O."),
    ]
    command.upgrade(core, "head")
