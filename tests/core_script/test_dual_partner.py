"""A dual dialogue keeps its partner: a change that would leave the right-hand side of a dual dialogue
without a dialogue (not dual itself) just before it in its section is refused with 409 naming the line,
and changes nothing. Through the HTTP API of Core Script against the real services in-process."""

from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy.exc import IntegrityError

from fountain_cli import registry
from fountain_common.embedded_postgres import embedded_url
from fountain_common.migrations import alembic_config
from tests import test_screenplays
from tests.test_migrations import _run as run
from tests.test_screenplays import ClientFor, World, acts_and_songs, parsed

world = test_screenplays.world  # the fixture: Core Script and Character Management over empty tables


def _lines_url(script_id: int, heading_id: int) -> str:
    return f"/v2/scripts/{script_id}/sections/{heading_id}/lines"


async def _state(world: World, script_id: int) -> list[tuple[int, int, int, int]]:
    """Every line of the script as (heading, position, line, revision), in story order."""
    response = await world.core.get(f"/v2/scripts/{script_id}/lines", params={"limit": 100})
    assert response.status_code == 200, response.text
    return [(i["headingId"], i["position"], i["lineId"], i["revision"]) for i in response.json()["items"]]


def _refused(response: httpx.Response, dual_line: int) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert f"line {dual_line} of section" in detail and "Nothing was changed" in detail, detail


async def _second_section(world: World, script_id: int) -> int:
    """A second section holding one action; answers its id."""
    heading = await world.core.post(f"/v2/scripts/{script_id}/sections", json={"title": "INT. BAR - NIGHT"})
    assert heading.status_code == 201, heading.text
    heading_id = int(heading.json()["headingId"])
    await world.line(script_id, heading_id, {"kind": "action", "actionId": await world.action("Dark.")})
    return heading_id


async def test_deleting_or_moving_the_partner_away_is_refused_and_changes_nothing(world: World) -> None:
    script_id, heading_id, lines = await acts_and_songs(world)
    partner, dual = lines[4], lines[5]  # BRICK, then STEEL as the right-hand side
    other = await _second_section(world, script_id)
    url = _lines_url(script_id, heading_id)
    before = await _state(world, script_id)

    _refused(await world.core.delete(f"{url}/{partner}"), dual)
    _refused(await world.core.post(f"{url}/{partner}/move", json={"position": 1}), dual)
    _refused(await world.core.post(f"{url}/{partner}/move", json={"position": 2, "headingId": other}), dual)
    # A line moved or inserted between the two would stand where the partner is.
    _refused(await world.core.post(f"{url}/{lines[6]}/move", json={"position": 6}), dual)
    action = {"kind": "action", "actionId": await world.action("A beat."), "position": 6}
    _refused(await world.core.post(url, json=action), dual)
    assert await _state(world, script_id) == before


async def test_a_line_that_pairs_as_left_hand_side_cannot_become_dual_itself(world: World) -> None:
    script_id, heading_id, lines = await acts_and_songs(world)
    url = _lines_url(script_id, heading_id)
    # BRICK, DOC (new, before STEEL), STEEL dual: DOC becoming dual leaves STEEL after a dual dialogue.
    doc = await world.line(
        script_id,
        heading_id,
        {"characterId": await world.character_named("Doc"), "spokenWordId": await world.words("Hi."), "position": 6},
    )
    before = await _state(world, script_id)
    _refused(await world.core.patch(f"{url}/{doc['lineId']}", json={"dual": True}), lines[5])
    assert await _state(world, script_id) == before


async def test_the_dual_line_itself_cannot_move_to_the_top_of_a_section(world: World) -> None:
    script_id, heading_id, lines = await acts_and_songs(world)
    other = await _second_section(world, script_id)
    url = _lines_url(script_id, heading_id)
    before = await _state(world, script_id)
    for target in ({"position": 1}, {"position": 1, "headingId": other}, {"position": 2, "headingId": other}):
        moved = await world.core.post(f"{url}/{lines[5]}/move", json=target)
        assert moved.status_code == 422, moved.text
        assert moved.json()["errors"][0]["location"] == "body.dual"
    assert await _state(world, script_id) == before


async def test_changes_that_keep_every_pair_are_made(world: World, client_for: ClientFor) -> None:
    script_id, heading_id, lines = await acts_and_songs(world)
    url = _lines_url(script_id, heading_id)
    # Lines before the pair move freely, and the pair follows the lines around it.
    moved = await world.core.post(f"{url}/{lines[3]}/move", json={"position": 8})
    assert moved.status_code == 200, moved.text
    assert (await world.core.delete(f"{url}/{lines[0]}")).status_code == 204
    # The right-hand side may go; its partner is then a dialogue of its own.
    assert (await world.core.delete(f"{url}/{lines[5]}")).status_code == 204
    assert (await world.core.delete(f"{url}/{lines[4]}")).status_code == 204
    fountain = await client_for("story_factory").get(f"/v2/stories/{script_id}/fountain")
    assert fountain.status_code == 200, fountain.text
    assert [element[0] for element in parsed(fountain.text)] == ["scene", "section", "action", "centered", "action"]


async def test_v1_reordering_sections_keeps_the_pairs(world: World, client_for: ClientFor) -> None:
    script_id, heading_id, _ = await acts_and_songs(world)
    other = await _second_section(world, script_id)
    reordered = await world.core.post(
        f"/v1/scripts/{script_id}/sections/reorder",
        json={"elements": [{"headingId": heading_id, "newSequence": 3}, {"headingId": other, "newSequence": 2}]},
    )
    assert reordered.status_code == 200, reordered.text
    fountain = await client_for("story_factory").get(f"/v2/stories/{script_id}/fountain")
    assert fountain.status_code == 200, fountain.text
    # The second section now comes first; the pair is still side by side.
    kinds = [element[0] for element in parsed(fountain.text)]
    assert kinds[:3] == ["scene", "action", "scene"] and kinds.count("dual") == 1


def test_the_database_refuses_a_pair_parted_and_the_migration_unpairs_what_was_parted(postgres_dir: Path) -> None:
    url = embedded_url(postgres_dir, "fountain_dual_partner_migration")
    core = alembic_config(registry.load_service("core_script"), url)
    command.upgrade(core, "0007")
    dialogue = "INSERT INTO core_script.story_lines (id, script_id, heading_id, position, kind, character_id, spoken_word_id, dual) VALUES "
    run(
        url,
        "INSERT INTO core_script.scripts (id, title, sequence_number) VALUES (1, 'One', 1)",
        "INSERT INTO core_script.section_headings (id, script_id, title, sequence_number) VALUES (1, 1, 'a', 2), (2, 1, 'b', 3)",
        # Section 1: a pair; section 2: a dual line an earlier version left first in its section.
        dialogue + "(1, 1, 1, 1, 'dialogue', 10, 30, false), (2, 1, 1, 2, 'dialogue', 11, 31, true), "
        "(3, 1, 2, 1, 'dialogue', 12, 32, true)",
    )
    command.upgrade(core, "0008")
    assert run(url, "SELECT id, dual FROM core_script.story_lines ORDER BY id")[0] == [
        (1, False),
        (2, True),
        (3, False),
    ]
    parting = [
        # The partner deleted and the lines after it moved up.
        (
            "DELETE FROM core_script.story_lines WHERE id = 1",
            "UPDATE core_script.story_lines SET position = 1 WHERE id = 2",
        ),
        # The partner moved to the other section.
        ("UPDATE core_script.story_lines SET heading_id = 2, position = 2 WHERE id = 1",),
        # An action put between the two.
        (
            "UPDATE core_script.story_lines SET position = 3 WHERE id = 2",
            "INSERT INTO core_script.story_lines (id, script_id, heading_id, position, kind, action_id) VALUES (4, 1, 1, 2, 'action', 5)",
        ),
    ]
    for statements in parting:
        with pytest.raises(IntegrityError, match="story_lines_dual_partner|is a dual dialogue without"):
            run(url, *statements)
    assert run(url, "SELECT id, heading_id, position, dual FROM core_script.story_lines ORDER BY id")[0] == [
        (1, 1, 1, False),
        (2, 1, 2, True),
        (3, 2, 1, False),
    ]
    # Deleting the whole section takes both sides: no pair is parted.
    run(url, "DELETE FROM core_script.section_headings WHERE id = 1")
    command.downgrade(core, "0007")
    command.upgrade(core, "head")
