"""Numbering stays unique and gapless in every scope with three service processes on one database
and 32 concurrent clients allocating, re-allocating, inserting, moving, deleting, reordering and
versioning, in the /v1 scope and in several story scopes at once."""

import asyncio
import random
from collections import defaultdict

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.central_sequence.conftest import reset_numbering
from tests.service_processes import serve

PROCESSES = 3
CLIENTS = 32
ALLOCATIONS_PER_CLIENT = 80  # 2,560 allocations in phase 1
MIXED_PER_CLIENT = 40  # 1,280 mixed operations in phase 2
ELEMENT_IDS = 1500  # fewer ids than allocations: many requests number an element already numbered

pytestmark = pytest.mark.slow


STORIES = [f"story-{n}" for n in range(1, 5)]


async def assert_gapless(engine: AsyncEngine) -> dict[str, int]:
    """Each scope holds exactly the numbers 1..n, and its counter says n; answers n by scope."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT s.name, s.last_value, count(e.id) AS n, count(DISTINCT e.sequence_number) AS distinct_numbers,"
                    " coalesce(min(e.sequence_number), 1) AS low, coalesce(max(e.sequence_number), 0) AS high"
                    " FROM central_sequence.scopes s LEFT JOIN central_sequence.elements e ON e.scope_id = s.id"
                    " GROUP BY s.id"
                )
            )
        ).all()
    for row in rows:
        assert row.n == row.distinct_numbers, f"two elements of {row.name} hold the same number"
        assert (row.low, row.high) == (1, row.n), f"numbers of {row.name} are not 1..{row.n}: {row.low}..{row.high}"
        assert row.last_value == row.n, f"the counter of {row.name} says {row.last_value}, it holds {row.n}"
    return {row.name: int(row.n) for row in rows}


async def test_many_processes_and_clients_keep_numbers_unique_and_gapless(
    engine: AsyncEngine, database_url: str
) -> None:
    await reset_numbering(engine)
    with serve(["central_sequence"], database_url, count=PROCESSES) as urls:
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            # Phase 1: allocations only; many clients race to number the same elements.
            answers: dict[tuple[str, int], set[int]] = defaultdict(set)
            created: list[tuple[str, int]] = []

            async def allocate(client: int) -> None:
                rng = random.Random(client)
                for n in range(ALLOCATIONS_PER_CLIENT):
                    key = (rng.choice(["script", "section", "character"]), rng.randint(1, ELEMENT_IDS))
                    url = urls[(client + n) % PROCESSES]
                    response = await http.post(f"{url}/v1/sequence", json={"elementType": key[0], "elementId": key[1]})
                    assert response.status_code in (200, 201), response.text
                    answers[key].add(response.json()["sequenceNumber"])
                    if response.status_code == 201:
                        created.append(key)

            await asyncio.gather(*(allocate(c) for c in range(CLIENTS)))
            assert all(len(numbers) == 1 for numbers in answers.values()), "an element was answered two numbers"
            assert sorted(created) == sorted(answers), "an element was created twice, or numbered without a 201"
            total = (await assert_gapless(engine))["default"]
            assert total == len(answers)

            # Phase 2: everything at once.
            keys = sorted(answers)
            outcomes: dict[str, int] = defaultdict(int)
            in_stories: list[tuple[str, int]] = []  # (story, line id) numbered there, some deleted since

            async def mixed(client: int) -> None:
                rng = random.Random(1000 + client)
                for n in range(MIXED_PER_CLIENT):
                    url = urls[(client + n) % PROCESSES]
                    choice = rng.random()
                    a, b = rng.sample(keys, 2)
                    fresh_id = client * 1000 + n + 1
                    if choice < 0.2:
                        response = await http.post(
                            f"{url}/v1/sequence", json={"elementType": "action", "elementId": fresh_id}
                        )
                    elif choice < 0.3:
                        response = await http.post(
                            f"{url}/v2/scopes/default/elements",
                            json={
                                "elementType": "spokenWord",
                                "elementId": fresh_id,
                                "sequenceNumber": rng.randint(1, total),
                            },
                        )
                    elif choice < 0.4:
                        response = await http.post(
                            f"{url}/v2/scopes/default/elements/{a[0]}/{a[1]}/move",
                            json={"sequenceNumber": rng.randint(1, total)},
                        )
                    elif choice < 0.55:  # stories: insert at the front or append
                        story = rng.choice(STORIES)
                        at_front = {"sequenceNumber": 1} if rng.random() < 0.5 else {}
                        response = await http.post(
                            f"{url}/v2/scopes/{story}/elements",
                            json={"elementType": "line", "elementId": fresh_id, **at_front},
                        )
                        if response.status_code == 201:
                            in_stories.append((story, fresh_id))
                    elif choice < 0.65 and in_stories:  # stories: move to the front, or delete
                        story, line = rng.choice(in_stories)
                        element = f"{url}/v2/scopes/{story}/elements/line/{line}"
                        if rng.random() < 0.6:
                            response = await http.post(f"{element}/move", json={"sequenceNumber": 1})
                        else:
                            response = await http.delete(element)
                        # 404: another client deleted it first.
                        assert response.status_code in (200, 204, 404), response.text
                    elif choice < 0.85:
                        if choice < 0.75:  # v1: two elements of one type
                            b = rng.choice([k for k in keys if k[0] == a[0] and k != a])
                        held = [
                            (await http.get(f"{url}/v2/scopes/default/elements/{k[0]}/{k[1]}")).json()["sequenceNumber"]
                            for k in (a, b)
                        ]
                        if choice < 0.75:
                            response = await http.post(
                                f"{url}/v1/sequence/reorder",
                                json={
                                    "elementType": a[0],
                                    "elements": [
                                        {"elementId": a[1], "newSequence": held[1]},
                                        {"elementId": b[1], "newSequence": held[0]},
                                    ],
                                },
                            )
                        else:
                            response = await http.post(
                                f"{url}/v2/scopes/default/reorder",
                                json={
                                    "elements": [
                                        {"elementType": a[0], "elementId": a[1], "sequenceNumber": held[1]},
                                        {"elementType": b[0], "elementId": b[1], "sequenceNumber": held[0]},
                                    ]
                                },
                            )
                    else:
                        response = await http.post(
                            f"{url}/v1/sequence/version",
                            json={"elementType": a[0], "elementId": a[1], "newVersionData": {"by": client, "n": n}},
                        )
                    # 400 (v1) / 422 (v2): a reorder built from numbers that changed before it ran;
                    # nothing is applied.
                    in_a_story = "/scopes/story-" in response.request.url.path
                    assert response.status_code in (200, 201, 204, 400, 422) or (
                        in_a_story and response.status_code == 404
                    ), response.text
                    outcomes[f"{response.request.url.path.split('/')[-1]} {response.status_code}"] += 1

            await asyncio.gather(*(mixed(c) for c in range(CLIENTS)))
    refused = sum(v for k, v in outcomes.items() if k.endswith(("400", "422")))
    assert refused < CLIENTS * MIXED_PER_CLIENT // 4, outcomes
    assert outcomes["reorder 200"] > 0, outcomes
    assert outcomes["elements 201"] > 0 and outcomes["move 200"] > 0, outcomes
    assert any(k.endswith(" 204") for k in outcomes), outcomes
    held = await assert_gapless(engine)
    assert all(held[story] > 0 for story in STORIES), held
    async with engine.connect() as conn:
        broken = (
            await conn.execute(
                text(
                    """
                    SELECT e.element_type, e.element_id FROM central_sequence.elements e
                    LEFT JOIN central_sequence.element_versions v ON v.element_pk = e.id
                    GROUP BY e.id HAVING e.version <> 1 + count(v.version)
                        OR coalesce(max(v.version), 1) <> e.version
                        OR coalesce(min(v.version), 2) <> 2
                    """
                )
            )
        ).all()
    assert broken == [], f"version numbers skipped or repeated for {broken[:5]}"
